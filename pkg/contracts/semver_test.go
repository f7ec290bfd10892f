package contracts

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Version
		err  string
	}{
		{name: "release", in: "1.4.2", want: Version{Major: 1, Minor: 4, Patch: 2}},
		{name: "zero", in: "0.0.0", want: Version{}},
		{name: "prerelease", in: "2.0.0-rc.1", want: Version{Major: 2, Prerelease: "rc.1"}},
		{name: "prerelease with hyphens", in: "1.0.0-x-y-z.--", want: Version{Major: 1, Prerelease: "x-y-z.--"}},
		{name: "build", in: "1.0.0+20240102.sha-5114f85", want: Version{Major: 1, Build: "20240102.sha-5114f85"}},
		{name: "build with leading zero", in: "1.0.0+001", want: Version{Major: 1, Build: "001"}},
		{name: "prerelease and build", in: "1.0.0-alpha.1+exp.sha.5114f85", want: Version{Major: 1, Prerelease: "alpha.1", Build: "exp.sha.5114f85"}},
		{name: "largest safe number", in: "9007199254740991.0.0", want: Version{Major: 9007199254740991}},
		{name: "two numbers", in: "1.2", err: "expected three dot-separated numbers, got 2"},
		{name: "four numbers", in: "1.2.3.4", err: "expected three dot-separated numbers, got 4"},
		{name: "empty", in: "", err: "expected three dot-separated numbers, got 1"},
		{name: "leading v", in: "v1.2.3", err: `major "v1" is not a number`},
		{name: "leading zero", in: "01.2.3", err: `major "01" has a leading zero`},
		{name: "empty minor", in: "1..3", err: "minor number is empty"},
		{name: "negative", in: "1.-2.3", err: "expected three dot-separated numbers, got 2"},
		{name: "too large", in: "9007199254740992.0.0", err: "major 9007199254740992 is larger than 9007199254740991"},
		{name: "prerelease leading zero", in: "1.2.3-01", err: `prerelease identifier "01" has a leading zero`},
		{name: "empty prerelease identifier", in: "1.2.3-alpha..1", err: `prerelease "alpha..1" has an empty identifier`},
		{name: "bad prerelease character", in: "1.2.3-beta_1", err: `prerelease "beta_1" may only hold`},
		{name: "empty build", in: "1.2.3+", err: `build metadata "" has an empty identifier`},
		{name: "spaces", in: " 1.2.3", err: `major " 1" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVersion(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.ErrorContains(t, err, "is not a semantic version")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.in, got.String())
		})
	}
}

func TestVersionCompare(t *testing.T) {
	// Each version has lower precedence than the next (semver.org §11).
	ordered := []string{
		"0.0.0-0", "0.0.0", "0.0.1", "0.1.0", "0.9.9", "0.10.0",
		"1.0.0-0", "1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-alpha", "1.0.0-alpha.1",
		"1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0",
		"1.0.1", "1.1.0", "2.0.0", "10.0.0",
	}
	for i := range ordered {
		for j := range ordered {
			a, err := ParseVersion(ordered[i])
			require.NoError(t, err)
			b, err := ParseVersion(ordered[j])
			require.NoError(t, err)
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			require.Equal(t, want, a.Compare(b), "%s vs %s", ordered[i], ordered[j])
		}
	}
	t.Run("build is ignored", func(t *testing.T) {
		a, _ := ParseVersion("1.0.0+a")
		b, _ := ParseVersion("1.0.0+b")
		require.Equal(t, 0, a.Compare(b))
	})
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the expanded form
	}{
		{name: "exact", in: "1.2.3", want: "1.2.3"},
		{name: "exact with =", in: "=1.2.3", want: "1.2.3"},
		{name: "exact prerelease", in: "1.2.3-beta.1", want: "1.2.3-beta.1"},
		{name: "build ignored", in: "1.2.3+build.7", want: "1.2.3"},
		{name: "leading v", in: "v1.2.3", want: "1.2.3"},
		{name: "greater", in: ">1.2.3", want: ">1.2.3"},
		{name: "greater or equal", in: ">=1.2.3", want: ">=1.2.3"},
		{name: "less", in: "<1.2.3", want: "<1.2.3"},
		{name: "less or equal", in: "<=1.2.3", want: "<=1.2.3"},
		{name: "operator apart from version", in: ">= 1.2.3  < 2", want: ">=1.2.3 <2.0.0-0"},
		{name: "caret", in: "^1.2.3", want: ">=1.2.3 <2.0.0-0"},
		{name: "caret zero major", in: "^0.2.3", want: ">=0.2.3 <0.3.0-0"},
		{name: "caret zero minor", in: "^0.0.3", want: ">=0.0.3 <0.0.4-0"},
		{name: "caret prerelease", in: "^1.2.3-beta.2", want: ">=1.2.3-beta.2 <2.0.0-0"},
		{name: "caret zero prerelease", in: "^0.0.3-beta", want: ">=0.0.3-beta <0.0.4-0"},
		{name: "caret major only", in: "^1", want: ">=1.0.0 <2.0.0-0"},
		{name: "caret x minor", in: "^1.x", want: ">=1.0.0 <2.0.0-0"},
		{name: "caret zero", in: "^0", want: "<1.0.0-0"},
		{name: "caret minor", in: "^1.2", want: ">=1.2.0 <2.0.0-0"},
		{name: "caret zero minor only", in: "^0.2", want: ">=0.2.0 <0.3.0-0"},
		{name: "caret zero zero", in: "^0.0", want: "<0.1.0-0"},
		{name: "caret zero zero x", in: "^0.0.x", want: "<0.1.0-0"},
		{name: "caret star", in: "^*", want: "*"},
		{name: "tilde", in: "~1.2.3", want: ">=1.2.3 <1.3.0-0"},
		{name: "tilde arrow", in: "~>1.2.3", want: ">=1.2.3 <1.3.0-0"},
		{name: "tilde minor", in: "~1.2", want: ">=1.2.0 <1.3.0-0"},
		{name: "tilde major", in: "~1", want: ">=1.0.0 <2.0.0-0"},
		{name: "tilde zero", in: "~0.2.3", want: ">=0.2.3 <0.3.0-0"},
		{name: "tilde prerelease", in: "~1.2.3-beta.2", want: ">=1.2.3-beta.2 <1.3.0-0"},
		{name: "tilde apart", in: "~ 1.2.3", want: ">=1.2.3 <1.3.0-0"},
		{name: "star", in: "*", want: "*"},
		{name: "empty", in: "", want: "*"},
		{name: "blank", in: "   ", want: "*"},
		{name: "x", in: "x", want: "*"},
		{name: "major x", in: "1.x", want: ">=1.0.0 <2.0.0-0"},
		{name: "major x x", in: "1.x.x", want: ">=1.0.0 <2.0.0-0"},
		{name: "major only", in: "1", want: ">=1.0.0 <2.0.0-0"},
		{name: "minor star", in: "1.2.*", want: ">=1.2.0 <1.3.0-0"},
		{name: "minor only", in: "1.2", want: ">=1.2.0 <1.3.0-0"},
		{name: "upper X", in: "1.X", want: ">=1.0.0 <2.0.0-0"},
		{name: "equal x", in: "=1.2.x", want: ">=1.2.0 <1.3.0-0"},
		{name: "greater partial major", in: ">1", want: ">=2.0.0"},
		{name: "greater partial minor", in: ">1.2", want: ">=1.3.0"},
		{name: "greater or equal partial", in: ">=1.2", want: ">=1.2.0"},
		{name: "greater or equal x", in: ">=1.x", want: ">=1.0.0"},
		{name: "less partial", in: "<1.2", want: "<1.2.0-0"},
		{name: "less partial major", in: "<1", want: "<1.0.0-0"},
		{name: "less or equal partial", in: "<=1.2", want: "<1.3.0-0"},
		{name: "less or equal partial major", in: "<=1", want: "<2.0.0-0"},
		{name: "greater star matches nothing", in: ">*", want: "<0.0.0-0"},
		{name: "less star matches nothing", in: "<*", want: "<0.0.0-0"},
		{name: "greater or equal star", in: ">=*", want: "*"},
		{name: "hyphen", in: "1.2.3 - 2.3.4", want: ">=1.2.3 <=2.3.4"},
		{name: "hyphen partial from", in: "1.2 - 2.3.4", want: ">=1.2.0 <=2.3.4"},
		{name: "hyphen partial to minor", in: "1.2.3 - 2.3", want: ">=1.2.3 <2.4.0-0"},
		{name: "hyphen partial to major", in: "1.2.3 - 2", want: ">=1.2.3 <3.0.0-0"},
		{name: "hyphen star from", in: "* - 2", want: "<3.0.0-0"},
		{name: "hyphen prerelease", in: "1.2.3-pre - 2.0.0-rc.1", want: ">=1.2.3-pre <=2.0.0-rc.1"},
		{name: "and", in: ">=1.2.7 <1.3.0", want: ">=1.2.7 <1.3.0"},
		{name: "or", in: "1.2.7 || >=1.2.9 <2.0.0", want: "1.2.7 || >=1.2.9 <2.0.0"},
		{name: "or without spaces", in: "^1.0.0||^2.0.0", want: ">=1.0.0 <2.0.0-0 || >=2.0.0 <3.0.0-0"},
		{name: "or with empty side", in: "1.2.3 ||", want: "*"},
		{name: "or drops the null set", in: ">* || 1.2.3", want: "1.2.3"},
		{name: "null set wins within a set", in: ">=1.0.0 <*", want: "<0.0.0-0"},
		{name: "repeated comparator", in: ">=1.0.0 >=1.0.0", want: ">=1.0.0"},
		{name: "greater or equal zero is any", in: ">=0.0.0 <2", want: "<2.0.0-0"},
		{name: "or hyphen", in: "1.0.0 - 1.5.0 || 2.x", want: ">=1.0.0 <=1.5.0 || >=2.0.0 <3.0.0-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRange(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, r.String())
			again, err := ParseRange(r.String())
			require.NoError(t, err, "the expanded form parses again")
			require.Equal(t, tt.want, again.String())
		})
	}
}

func TestParseRangeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  string
	}{
		{name: "four numbers", in: "^1.2.3.4", err: `"1.2.3.4" has more than three numbers`},
		{name: "number after wildcard", in: "1.x.3", err: `"1.x.3" has a number after a wildcard`},
		{name: "prerelease on partial", in: "1.2-beta", err: `"1.2-beta": a prerelease or build needs all three numbers`},
		{name: "word", in: "latest", err: `major "latest" is not a number`},
		{name: "leading zero", in: ">=01.0.0", err: `major "01" has a leading zero`},
		{name: "dangling operator", in: ">=1.0.0 <", err: `operator "<" needs a version after it`},
		{name: "lone caret", in: "^", err: `operator "^" needs a version after it`},
		{name: "hyphen without spaces on one side", in: "1.2.3 -2.0.0", err: `"-2.0.0"`},
		{name: "hyphen in a longer set", in: "1 - 2 - 3", err: `"-"`},
		{name: "double operator", in: ">>1.2.3", err: `major ">1" is not a number`},
		{name: "bad prerelease", in: "^1.2.3-beta_1", err: `prerelease "beta_1" may only hold`},
		{name: "too large to bump", in: "^9007199254740992.0.0", err: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRange(tt.in)
			require.ErrorContains(t, err, tt.err)
			require.ErrorContains(t, err, "is not a version range")
		})
	}
}

func TestRangeSatisfies(t *testing.T) {
	tests := []struct {
		rng string
		in  []string
		out []string
	}{
		{rng: "1.2.3", in: []string{"1.2.3", "1.2.3+build"}, out: []string{"1.2.4", "1.2.2", "1.2.3-beta"}},
		{rng: "^1.2.3", in: []string{"1.2.3", "1.9.9", "1.2.4"}, out: []string{"2.0.0", "1.2.2", "2.0.0-0", "1.2.4-beta", "1.2.3-beta"}},
		{rng: "^1.2.3-beta.2", in: []string{"1.2.3-beta.2", "1.2.3-beta.10", "1.2.3", "1.3.0"}, out: []string{"1.2.3-beta.1", "1.2.4-beta.3", "2.0.0-0", "2.0.0"}},
		{rng: "^0.2.3", in: []string{"0.2.3", "0.2.9"}, out: []string{"0.3.0", "0.2.2"}},
		{rng: "^0.0.3", in: []string{"0.0.3"}, out: []string{"0.0.4", "0.0.2"}},
		{rng: "~1.2.3", in: []string{"1.2.3", "1.2.99"}, out: []string{"1.3.0", "1.3.0-0", "1.2.2"}},
		{rng: "~1", in: []string{"1.0.0", "1.99.0"}, out: []string{"2.0.0", "0.9.0"}},
		{rng: "1.x", in: []string{"1.0.0", "1.5.1"}, out: []string{"2.0.0", "0.1.0", "1.5.1-rc.1"}},
		{rng: "*", in: []string{"0.0.0", "1.0.0", "99.1.1"}, out: []string{"1.0.0-beta", "0.0.0-0"}},
		{rng: "", in: []string{"3.2.1"}, out: []string{"3.2.1-alpha"}},
		{rng: ">1.2", in: []string{"1.3.0", "2.0.0"}, out: []string{"1.2.9", "1.2.0"}},
		{rng: "<=1.2", in: []string{"1.2.9", "0.0.1"}, out: []string{"1.3.0", "1.3.0-0"}},
		{rng: "<1.2.3", in: []string{"1.2.2"}, out: []string{"1.2.3", "1.2.3-beta"}},
		{rng: "<1.2.3-rc.1", in: []string{"1.2.3-beta", "1.2.2"}, out: []string{"1.2.3-rc.1", "1.2.3"}},
		{rng: ">*", in: nil, out: []string{"0.0.0", "1.2.3"}},
		{rng: "1.2.3 - 2.3.4", in: []string{"1.2.3", "2.3.4", "2.0.0"}, out: []string{"2.3.5", "1.2.2", "2.3.4-beta"}},
		{rng: "1.2 - 2.3", in: []string{"1.2.0", "2.3.9"}, out: []string{"2.4.0", "1.1.9"}},
		{rng: ">=1.2.7 <1.3.0", in: []string{"1.2.7", "1.2.8", "1.2.99"}, out: []string{"1.2.6", "1.3.0", "1.1.0"}},
		{rng: "1.2.7 || >=1.2.9 <2.0.0", in: []string{"1.2.7", "1.2.9", "1.4.6"}, out: []string{"1.2.8", "2.0.0"}},
		{rng: ">1.2.3-alpha.3", in: []string{"1.2.3-alpha.7", "3.4.5"}, out: []string{"3.4.5-alpha.9", "1.2.3-alpha.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			r, err := ParseRange(tt.rng)
			require.NoError(t, err)
			for _, s := range tt.in {
				v, err := ParseVersion(s)
				require.NoError(t, err)
				require.True(t, r.Satisfies(v), "%s should satisfy %q", s, tt.rng)
			}
			for _, s := range tt.out {
				v, err := ParseVersion(s)
				require.NoError(t, err)
				require.False(t, r.Satisfies(v), "%s should not satisfy %q", s, tt.rng)
			}
		})
	}
	t.Run("zero range matches nothing", func(t *testing.T) {
		require.False(t, Range{}.Satisfies(Version{Major: 1}))
	})
}
