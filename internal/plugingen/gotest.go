package plugingen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// ErrTestsFailed is returned by RunTests when a test or a package failed.
var ErrTestsFailed = errors.New("tests failed")

// TestOptions say how RunTests runs a plugin's tests.
type TestOptions struct {
	// Go is the go command (default "go", found on PATH).
	Go string
	// Race runs the tests with the race detector (default false; the CLI turns it on).
	Race bool
	// Flags are more `go test` flags, such as -run or -count (default none).
	Flags []string
	// Verbose writes every test's output, not only the failures' (default false).
	Verbose bool
	// Out receives test output as it arrives (default discarded).
	Out io.Writer
	// Stderr receives the go command's own error output (default discarded).
	Stderr io.Writer
}

// TestSummary counts what one RunTests saw; subtests count as tests.
type TestSummary struct {
	// Packages is how many packages ran or failed to build.
	Packages int
	// FailedPackages is how many of them failed (a failing test, a build error, a panic).
	FailedPackages int
	// Passed, Failed and Skipped count tests.
	Passed, Failed, Skipped int
	// Failures names each failed test as "package TestName".
	Failures []string
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
}

// String is a one-line summary, e.g. "12 passed, 0 failed, 1 skipped in 1 package(s)".
func (s TestSummary) String() string {
	out := fmt.Sprintf("%d passed, %d failed, %d skipped in %d package(s)", s.Passed, s.Failed, s.Skipped, s.Packages)
	if s.FailedPackages > 0 {
		out += fmt.Sprintf(", %d of them failed", s.FailedPackages)
	}
	return out
}

// testEvent is one line of `go test -json` (cmd/test2json).
type testEvent struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output events
}

// RunTests runs `go test -json [-race] <Flags> ./...` in dir, writes the
// output of failed tests (of all tests when Verbose) and build errors to
// Out as they come, and returns the counts. It returns an error wrapping
// ErrTestsFailed when anything failed, or the go command's error when it
// could not run the tests at all.
func RunTests(ctx context.Context, dir string, o TestOptions) (TestSummary, error) {
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	args := []string{"test", "-json"}
	if o.Race {
		args = append(args, "-race")
	}
	args = append(append(args, o.Flags...), "./...")
	cmd := exec.CommandContext(ctx, o.Go, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = io.MultiWriter(o.Stderr, &stderr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return TestSummary{}, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return TestSummary{}, fmt.Errorf("go test in %s: %w", dir, err)
	}
	sum := summarize(stdout, o.Out, o.Verbose)
	err = cmd.Wait()
	sum.Elapsed = time.Since(start)
	switch {
	case sum.Failed > 0 || sum.FailedPackages > 0:
		return sum, fmt.Errorf("%w: %s", ErrTestsFailed, sum)
	case err != nil && sum.Packages == 0:
		return sum, fmt.Errorf("go test in %s: %w: %s", dir, err, strings.TrimSpace(stderr.String()))
	case err != nil:
		return sum, fmt.Errorf("%w: go test: %w", ErrTestsFailed, err)
	}
	return sum, nil
}

// summarize reads `go test -json` events from r, counts them, and writes
// the output worth showing to out.
func summarize(r io.Reader, out io.Writer, verbose bool) TestSummary {
	var sum TestSummary
	pending := map[string]*strings.Builder{} // package + "\x00" + test → output not yet shown
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev testEvent
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			fmt.Fprintf(out, "%s\n", line) // not an event: show it as is
			continue
		}
		key := ev.Package + "\x00" + ev.Test
		switch ev.Action {
		case "build-output":
			fmt.Fprint(out, ev.Output)
		case "output":
			if verbose {
				fmt.Fprint(out, ev.Output)
				continue
			}
			b := pending[key]
			if b == nil {
				b = &strings.Builder{}
				pending[key] = b
			}
			b.WriteString(ev.Output)
		case "pass", "fail", "skip":
			if ev.Test == "" {
				if ev.Action == "skip" {
					delete(pending, key) // no test files
					continue
				}
				sum.Packages++
				if ev.Action == "fail" {
					sum.FailedPackages++
				}
			} else {
				switch ev.Action {
				case "pass":
					sum.Passed++
				case "fail":
					sum.Failed++
					sum.Failures = append(sum.Failures, ev.Package+" "+ev.Test)
				case "skip":
					sum.Skipped++
				}
			}
			if b := pending[key]; b != nil && ev.Action == "fail" {
				fmt.Fprint(out, b.String())
			}
			delete(pending, key)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "reading go test output: %v\n", err)
	}
	return sum
}
