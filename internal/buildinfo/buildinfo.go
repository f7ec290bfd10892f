// Package buildinfo tells which authbus build is running.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// version is set at link time: -ldflags "-X github.com/authbus/authbus/internal/buildinfo.version=v0.1.0".
var version = ""

// CoreVersion is the version of the core and of the plugin protocol it
// speaks; plugin manifests' coreVersion ranges are checked against it.
const CoreVersion = "0.1.0"

var once = sync.OnceValues(func() (string, string) {
	v, rev := version, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	if v == "" {
		v = "v" + CoreVersion + "-dev"
	}
	return v, rev
})

// Version is the binary's version ("v0.1.0-dev" for an untagged build).
func Version() string { v, _ := once(); return v }

// Revision is the VCS revision the binary was built from, if known.
func Revision() string { _, r := once(); return r }
