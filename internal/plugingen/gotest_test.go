package plugingen

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

const mixedTests = `package fake

import "testing"

func TestPasses(t *testing.T) { t.Log("quiet when passing") }

func TestFails(t *testing.T) { t.Error("the expected failure") }

func TestSkips(t *testing.T) { t.Skip("not here") }

func TestTable(t *testing.T) {
	for _, name := range []string{"one", "two"} {
		t.Run(name, func(t *testing.T) {
			if name == "two" {
				t.Fatal("subtest two failed")
			}
		})
	}
}
`

func TestRunTests(t *testing.T) {
	goTool(t)
	tests := []struct {
		name     string
		files    map[string]string
		opts     TestOptions
		want     TestSummary
		failed   bool
		shows    []string
		notShown []string
	}{
		{name: "passing", files: map[string]string{"fake.go": "package fake\n", "fake_test.go": "package fake\n\nimport \"testing\"\n\nfunc TestOK(t *testing.T) { t.Log(\"hidden\") }\n",
			"sub/sub.go": "package sub\n"}, // a package without tests is not counted
			want: TestSummary{Packages: 1, Passed: 1}, notShown: []string{"hidden"}},
		{name: "verbose shows passing output", files: map[string]string{"fake.go": "package fake\n", "fake_test.go": "package fake\n\nimport \"testing\"\n\nfunc TestOK(t *testing.T) { t.Log(\"shown\") }\n"},
			opts: TestOptions{Verbose: true}, want: TestSummary{Packages: 1, Passed: 1}, shows: []string{"shown"}},
		{name: "failures, skips and subtests", files: map[string]string{"fake.go": "package fake\n", "fake_test.go": mixedTests},
			want: TestSummary{Packages: 1, FailedPackages: 1, Passed: 2, Failed: 3, Skipped: 1,
				Failures: []string{"fake TestFails", "fake TestTable/two", "fake TestTable"}},
			failed: true, shows: []string{"the expected failure", "subtest two failed"}, notShown: []string{"quiet when passing"}},
		{name: "flags reach go test", files: map[string]string{"fake.go": "package fake\n", "fake_test.go": mixedTests},
			opts: TestOptions{Flags: []string{"-run", "TestPasses"}}, want: TestSummary{Packages: 1, Passed: 1}},
		{name: "race detector", files: map[string]string{"fake.go": "package fake\n", "fake_test.go": `package fake

import "testing"

func TestRace(t *testing.T) {
	n := 0
	done := make(chan bool)
	go func() { n++; done <- true }()
	n++
	<-done
}
`}, opts: TestOptions{Race: true}, want: TestSummary{Packages: 1, FailedPackages: 1, Failed: 1, Failures: []string{"fake TestRace"}},
			failed: true, shows: []string{"DATA RACE"}},
		{name: "does not build", files: map[string]string{"fake.go": "package fake\n\nvar x int = \"no\"\n", "fake_test.go": "package fake\n"},
			want: TestSummary{Packages: 1, FailedPackages: 1}, failed: true, shows: []string{"cannot use \"no\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeModule(t, tt.files)
			var out bytes.Buffer
			o := tt.opts
			o.Out = &out
			sum, err := RunTests(context.Background(), dir, o)
			if tt.failed {
				require.ErrorIs(t, err, ErrTestsFailed)
			} else {
				require.NoError(t, err, out.String())
			}
			sum.Elapsed = 0
			require.Equal(t, tt.want, sum, out.String())
			for _, s := range tt.shows {
				require.Contains(t, out.String(), s)
			}
			for _, s := range tt.notShown {
				require.NotContains(t, out.String(), s)
			}
		})
	}
}

func TestRunTestsOutsideAModule(t *testing.T) {
	var out bytes.Buffer
	sum, err := RunTests(context.Background(), t.TempDir(), TestOptions{Out: &out})
	require.ErrorIs(t, err, ErrTestsFailed)
	require.Equal(t, 1, sum.FailedPackages)
	require.Contains(t, out.String(), "does not contain main module", "go's own reason is shown")
}

func TestSummaryString(t *testing.T) {
	require.Equal(t, "3 passed, 1 failed, 0 skipped in 2 package(s), 1 of them failed",
		TestSummary{Packages: 2, FailedPackages: 1, Passed: 3, Failed: 1}.String())
}
