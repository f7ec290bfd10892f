package plugingen

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/authbus/authbus/internal/buildinfo"
	"github.com/authbus/authbus/pkg/contracts"
)

// ResolveOptions are what a person said about where the SDK comes from.
type ResolveOptions struct {
	// AuthbusDir is a checkout of github.com/authbus/authbus to build
	// against (--authbus-dir); default none.
	AuthbusDir string
	// AuthbusVersion is a published version to require (--authbus-version); default none.
	AuthbusVersion string
}

// ResolveRequirement decides how a plugin generated into pluginDir
// reaches github.com/authbus/authbus, taking the first that applies:
//
//  1. o.AuthbusDir: replace the module with that checkout;
//  2. o.AuthbusVersion: require that published version;
//  3. pluginDir lies inside a checkout: replace with it (by a relative path,
//     so the checkout can move);
//  4. this binary was built from a checkout that is still on disk: replace with it;
//  5. this binary is a release (or pseudo-) version: require that version.
//
// It returns the requirement and a sentence saying which rule applied.
func ResolveRequirement(pluginDir string, o ResolveOptions) (Requirement, string, error) {
	abs, err := filepath.Abs(pluginDir)
	if err != nil {
		return Requirement{}, "", fmt.Errorf("resolve %s: %w", pluginDir, err)
	}
	if o.AuthbusDir != "" {
		root, err := filepath.Abs(o.AuthbusDir)
		if err != nil {
			return Requirement{}, "", fmt.Errorf("--authbus-dir: %w", err)
		}
		if !IsCheckout(root) {
			return Requirement{}, "", fmt.Errorf("--authbus-dir %s is not a checkout of %s (no go.mod with that module line)", o.AuthbusDir, ModulePath)
		}
		return Requirement{Replace: replacePath(abs, root)}, "the SDK comes from the checkout " + root + " (--authbus-dir)", nil
	}
	if o.AuthbusVersion != "" {
		v := o.AuthbusVersion
		if !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		if _, err := contracts.ParseVersion(strings.TrimPrefix(v, "v")); err != nil {
			return Requirement{}, "", fmt.Errorf("--authbus-version: %w", err)
		}
		return Requirement{Version: v}, "the SDK is the published " + ModulePath + " " + v + " (--authbus-version)", nil
	}
	if root := FindCheckout(filepath.Dir(abs)); root != "" {
		return Requirement{Replace: replacePath(abs, root)}, "the SDK comes from the enclosing checkout " + root, nil
	}
	if root := SourceCheckout(); root != "" {
		return Requirement{Replace: replacePath(abs, root)}, "the SDK comes from " + root + ", the checkout this authbus binary was built from", nil
	}
	if v, ok := releaseVersion(buildinfo.Version()); ok {
		return Requirement{Version: v}, "the SDK is the published " + ModulePath + " " + v + ", the version of this authbus binary", nil
	}
	return Requirement{}, "", errors.New("cannot tell where the SDK (" + ModulePath + ") comes from: this authbus is a development build " +
		"and the plugin is not inside a checkout; pass --authbus-dir with a checkout or --authbus-version with a published version")
}

// IsCheckout reports whether dir is the root of a checkout of the authbus
// module (a go.mod naming it), not a copy in the module cache.
func IsCheckout(dir string) bool {
	if strings.Contains(filepath.Base(dir), "@") {
		return false // the module cache: read-only, and not the person's source
	}
	return moduleLine(filepath.Join(dir, "go.mod")) == ModulePath
}

// FindCheckout returns the root of the authbus checkout that dir (an
// absolute path) lies in, or "".
func FindCheckout(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if IsCheckout(d) {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// SourceCheckout returns the checkout this binary was compiled from when
// it is still on disk, or "" (a -trimpath build, a module-cache build, or
// a binary copied to another machine).
func SourceCheckout() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(file))) // <root>/internal/plugingen/resolve.go
	if !IsCheckout(root) {
		return ""
	}
	return root
}

// replacePath is the replace target for a plugin at pluginDir: relative
// when the plugin lies inside the checkout, absolute otherwise.
func replacePath(pluginDir, root string) string {
	rel, err := filepath.Rel(pluginDir, root)
	if err == nil && (rel == ".." || strings.HasPrefix(pluginDir, root+string(filepath.Separator))) {
		return filepath.ToSlash(rel)
	}
	return root
}

// releaseVersion reports whether v is a version a go.mod can require: a
// release or pseudo-version, not a "-dev" or "+dirty" local build.
func releaseVersion(v string) (string, bool) {
	if !strings.HasPrefix(v, "v") || strings.HasSuffix(v, "-dev") || strings.Contains(v, "+") {
		return "", false
	}
	if _, err := contracts.ParseVersion(strings.TrimPrefix(v, "v")); err != nil {
		return "", false
	}
	return v, true
}
