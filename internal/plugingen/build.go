package plugingen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
)

// Limits of Load.
const (
	// DefaultPrintManifestTimeout bounds a binary's --print-manifest run.
	DefaultPrintManifestTimeout = 30 * time.Second
	// maxManifestBytes caps what a binary may print as its manifest.
	maxManifestBytes = 4 << 20
	// maxStderrBytes caps the error output kept from a command.
	maxStderrBytes = 64 << 10
)

// printManifestFlag is the SDK's flag (plugin.PrintManifestFlag), repeated
// here so that this package does not link the SDK.
const printManifestFlag = "--print-manifest"

// ErrBuild is wrapped by Load's error when the plugin does not build.
var ErrBuild = errors.New("the plugin does not build")

// LoadOptions say how Load builds and runs a plugin.
type LoadOptions struct {
	// Go is the go command (default "go", found on PATH).
	Go string
	// PrintManifestTimeout bounds the binary's --print-manifest run
	// (default DefaultPrintManifestTimeout).
	PrintManifestTimeout time.Duration
}

// Loaded is a plugin's manifest as Load found it.
type Loaded struct {
	// JSON is the manifest document.
	JSON []byte
	// From says where it came from, in words.
	From string
	// Built is true when Load built a binary from Go sources.
	Built bool
	// Problems are reasons the plugin would not run as it is (its binary
	// fails to print its manifest); the rest was checked on plugin.json.
	Problems []contracts.Problem
	// Notes are remarks for a person (a fallback, a plugin.json that
	// differs from what the binary registers with).
	Notes []string
}

// Load finds the manifest of the plugin at target, which is either a
// directory or an executable. A directory holding Go files is built with
// `go build` (the binary goes to a temporary directory, removed after) and
// a binary is run with --print-manifest, as `authbus dev` does; a directory
// without Go files must hold a plugin.json. When the binary cannot print
// its manifest, its failure is a problem and plugin.json is read instead.
func Load(ctx context.Context, target string, o LoadOptions) (*Loaded, error) {
	if o.Go == "" {
		o.Go = "go"
	}
	if o.PrintManifestTimeout <= 0 {
		o.PrintManifestTimeout = DefaultPrintManifestTimeout
	}
	st, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("load plugin: %w", err)
	}
	if !st.IsDir() {
		if st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("load plugin: %s is neither a directory nor an executable", target)
		}
		b, err := printManifest(ctx, target, o.PrintManifestTimeout)
		if err != nil {
			return nil, fmt.Errorf("load plugin: %w", err)
		}
		return &Loaded{JSON: b, From: "the --print-manifest output of " + target}, nil
	}

	manifestFile := filepath.Join(target, "plugin.json")
	fileJSON, fileErr := os.ReadFile(manifestFile)
	if fileErr != nil && !errors.Is(fileErr, fs.ErrNotExist) {
		return nil, fmt.Errorf("load plugin: %w", fileErr)
	}
	if !hasGoFiles(target) {
		if fileErr != nil {
			return nil, fmt.Errorf("load plugin: %s holds neither a Go main package nor a plugin.json", target)
		}
		return &Loaded{JSON: fileJSON, From: manifestFile,
			Notes: []string{"no Go files in " + target + ": checked plugin.json without building anything"}}, nil
	}

	tmp, err := os.MkdirTemp("", "authbus-plugin-check-")
	if err != nil {
		return nil, fmt.Errorf("load plugin: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "plugin")
	build := exec.CommandContext(ctx, o.Go, "build", "-o", bin, ".")
	build.Dir = target
	out, err := build.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w: go build in %s: %w\n%s", ErrBuild, target, err, bytes.TrimSpace(out))
	}
	l := &Loaded{Built: true}
	b, perr := printManifest(ctx, bin, o.PrintManifestTimeout)
	switch {
	case perr == nil:
		l.JSON, l.From = b, "its --print-manifest output"
	case fileErr == nil:
		l.JSON, l.From = fileJSON, manifestFile
		l.Problems = append(l.Problems, contracts.Problem{Field: "binary", Message: perr.Error()})
		return l, nil
	default:
		return nil, fmt.Errorf("load plugin: %w (and there is no plugin.json)", perr)
	}
	if fileErr == nil {
		if same, err := sameManifest(fileJSON, b); err == nil && !same {
			l.Notes = append(l.Notes, "plugin.json differs from the manifest the binary registers with (--print-manifest); the core sees the binary's: update plugin.json")
		}
	}
	return l, nil
}

// hasGoFiles reports whether dir holds a non-test Go file.
func hasGoFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			return true
		}
	}
	return false
}

// printManifest runs bin --print-manifest and returns what it printed.
func printManifest(ctx context.Context, bin string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, printManifestFlag)
	// If the binary ignores the flag it starts for real: keep it off the ops port.
	cmd.Env = append(os.Environ(), "AUTHBUS_PLUGIN_PRINT_MANIFEST=true", "AUTHBUS_OPS_ADDR=off")
	var stdout, stderr limitedBuffer
	stdout.limit, stderr.limit = maxManifestBytes, maxStderrBytes
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s %s did not print a manifest within %s; is its main plugin.Main?", bin, printManifestFlag, timeout)
	case err != nil:
		return nil, fmt.Errorf("%s %s failed (%v): %s", filepath.Base(bin), printManifestFlag, err, strings.TrimSpace(stderr.String()))
	case stdout.over:
		return nil, fmt.Errorf("%s %s printed more than %d bytes", bin, printManifestFlag, maxManifestBytes)
	}
	return stdout.Bytes(), nil
}

// sameManifest reports whether two manifest documents say the same.
func sameManifest(a, b []byte) (bool, error) {
	ma, err := contracts.ParseManifest(a)
	if err != nil {
		return false, err
	}
	mb, err := contracts.ParseManifest(b)
	if err != nil {
		return false, err
	}
	var va, vb any
	for _, x := range []struct {
		m contracts.Manifest
		v *any
	}{{ma, &va}, {mb, &vb}} {
		raw, err := json.Marshal(x.m)
		if err != nil {
			return false, err
		}
		if err := json.Unmarshal(raw, x.v); err != nil {
			return false, err
		}
	}
	return reflect.DeepEqual(va, vb), nil
}

// limitedBuffer keeps the first limit bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	limit int
	over  bool
}

// Write keeps what fits and reports everything written, so the writer is never blocked.
func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

var _ io.Writer = (*limitedBuffer)(nil)
