package contracts

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxVersionNumber caps each numeric part of a version at JavaScript's
// Number.MAX_SAFE_INTEGER, as npm does, so every consumer reads it exactly.
const maxVersionNumber = 1<<53 - 1

// Version is a semantic version (semver 2.0.0).
type Version struct {
	// Major, Minor and Patch are the numeric core.
	Major, Minor, Patch uint64
	// Prerelease holds the dot-separated prerelease identifiers without the
	// leading "-" (e.g. "beta.2"); empty for a release.
	Prerelease string
	// Build holds the build metadata without the leading "+"; it never
	// affects precedence.
	Build string
}

// ParseVersion parses a strict semver 2.0.0 version such as "1.4.2",
// "2.0.0-rc.1" or "1.0.0+20240102".
func ParseVersion(s string) (Version, error) {
	v, err := parseVersion(s)
	if err != nil {
		return Version{}, fmt.Errorf("%q is not a semantic version (MAJOR.MINOR.PATCH such as \"1.4.2\"): %w", s, err)
	}
	return v, nil
}

func parseVersion(s string) (Version, error) {
	var v Version
	rest, build, hasBuild := strings.Cut(s, "+")
	if hasBuild {
		if err := validIdentifiers("build metadata", build, false); err != nil {
			return Version{}, err
		}
		v.Build = build
	}
	core, pre, hasPre := strings.Cut(rest, "-")
	if hasPre {
		if err := validIdentifiers("prerelease", pre, true); err != nil {
			return Version{}, err
		}
		v.Prerelease = pre
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("expected three dot-separated numbers, got %d", len(parts))
	}
	nums := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, name := range []string{"major", "minor", "patch"} {
		n, err := parseVersionNumber(name, parts[i])
		if err != nil {
			return Version{}, err
		}
		*nums[i] = n
	}
	return v, nil
}

// parseVersionNumber reads one numeric part: digits, no leading zero.
func parseVersionNumber(name, s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("%s number is empty", name)
	}
	if !isDigits(s) {
		return 0, fmt.Errorf("%s %q is not a number", name, s)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%s %q has a leading zero", name, s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > maxVersionNumber {
		return 0, fmt.Errorf("%s %s is larger than %d", name, s, uint64(maxVersionNumber))
	}
	return n, nil
}

// validIdentifiers checks dot-separated identifiers of [0-9A-Za-z-];
// numeric prerelease identifiers may not have leading zeros.
func validIdentifiers(what, s string, noLeadingZero bool) error {
	for id := range strings.SplitSeq(s, ".") {
		if id == "" {
			return fmt.Errorf("%s %q has an empty identifier", what, s)
		}
		for _, r := range id {
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
				return fmt.Errorf("%s %q may only hold 0-9, A-Z, a-z, '-' and '.'", what, s)
			}
		}
		if noLeadingZero && len(id) > 1 && id[0] == '0' && isDigits(id) {
			return fmt.Errorf("%s identifier %q has a leading zero", what, id)
		}
	}
	return nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// String renders the version in its canonical form.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Prerelease != "" {
		s += "-" + v.Prerelease
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// Compare returns -1, 0 or +1 as v has lower, equal or higher precedence
// than w. Build metadata is ignored; a prerelease precedes its release.
func (v Version) Compare(w Version) int {
	if c := cmp.Compare(v.Major, w.Major); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Minor, w.Minor); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Patch, w.Patch); c != 0 {
		return c
	}
	switch {
	case v.Prerelease == w.Prerelease:
		return 0
	case v.Prerelease == "":
		return 1
	case w.Prerelease == "":
		return -1
	}
	a, b := strings.Split(v.Prerelease, "."), strings.Split(w.Prerelease, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := compareIdentifier(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// compareIdentifier orders prerelease identifiers: numeric ones by value and
// before alphanumeric ones, alphanumeric ones in ASCII order.
func compareIdentifier(a, b string) int {
	an, bn := isDigits(a), isDigits(b)
	switch {
	case an && bn:
		// No leading zeros, so the longer number is the larger.
		if c := cmp.Compare(len(a), len(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

// Range is a set of accepted versions written in npm's syntax: exact
// versions ("1.2.3", "=1.2.3"), comparators (">", ">=", "<", "<="), caret
// ("^1.2.3") and tilde ("~1.2.3") ranges, x-ranges ("1.x", "1.2.*", "*", ""),
// hyphen ranges ("1.2.3 - 2.3.4"); space means AND, "||" means OR. The zero
// Range matches nothing; build one with ParseRange.
type Range struct {
	sets [][]comparator
}

// comparator is one primitive constraint such as ">=1.2.3".
type comparator struct {
	op string // "=", "<", "<=", ">", ">="
	v  Version
}

// ParseRange parses an npm-style version range.
func ParseRange(s string) (Range, error) {
	var sets [][]comparator
	for part := range strings.SplitSeq(s, "||") {
		set, err := parseComparatorSet(part)
		if err != nil {
			return Range{}, fmt.Errorf("%q is not a version range: %w", s, err)
		}
		sets = append(sets, set)
	}
	// npm's simplifications: a set matching every release makes the whole
	// range "*"; sets matching nothing are dropped unless all are.
	var kept [][]comparator
	for _, set := range sets {
		if len(set) == 0 {
			return Range{sets: [][]comparator{set}}, nil
		}
		if !isNullSet(set) {
			kept = append(kept, set)
		}
	}
	if len(kept) == 0 {
		kept = sets[:1]
	}
	return Range{sets: kept}, nil
}

// nullSet is the comparator that matches no version at all.
var nullSet = below(0, 0, 0)

func isNullSet(set []comparator) bool { return len(set) == 1 && set[0] == nullSet }

// rangeOperators are the tokens that may stand apart from their version ("> 1.2").
var rangeOperators = map[string]bool{"<": true, "<=": true, ">": true, ">=": true, "=": true, "~": true, "~>": true, "^": true}

// parseComparatorSet parses the space-separated (AND) part of a range. An
// empty result matches every release.
func parseComparatorSet(s string) ([]comparator, error) {
	toks := strings.Fields(s)
	if len(toks) == 3 && toks[1] == "-" {
		return hyphenRange(toks[0], toks[2])
	}
	var set []comparator
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		if rangeOperators[tok] && i+1 < len(toks) {
			i++
			tok += toks[i]
		}
		cs, err := parseSimple(tok)
		if err != nil {
			return nil, err
		}
		set = append(set, cs...)
	}
	return simplifySet(set), nil
}

// simplifySet applies npm's rules: ">=0.0.0" means any version and is
// dropped, a set holding the null set is just the null set, and repeated
// comparators count once.
func simplifySet(set []comparator) []comparator {
	out := []comparator{}
	for _, c := range set {
		switch {
		case c == nullSet:
			return []comparator{nullSet}
		case c == atLeast(0, 0, 0), slices.Contains(out, c):
		default:
			out = append(out, c)
		}
	}
	return out
}

// partialVersion is a version whose trailing numbers may be wildcards
// ("1", "1.2", "1.x", "*"); a missing number counts as a wildcard.
type partialVersion struct {
	Version
	xMajor, xMinor, xPatch bool
}

func parsePartial(s string) (partialVersion, error) {
	s = strings.TrimPrefix(s, "v")
	if s == "" {
		return partialVersion{xMajor: true, xMinor: true, xPatch: true}, nil
	}
	core, _, _ := strings.Cut(s, "+")
	core, _, _ = strings.Cut(core, "-")
	parts := strings.Split(core, ".")
	if len(parts) > 3 {
		return partialVersion{}, fmt.Errorf("%q has more than three numbers", s)
	}
	var p partialVersion
	xs := [3]*bool{&p.xMajor, &p.xMinor, &p.xPatch}
	nums := [3]*uint64{&p.Major, &p.Minor, &p.Patch}
	wild := false
	for i, name := range []string{"major", "minor", "patch"} {
		if i >= len(parts) || parts[i] == "x" || parts[i] == "X" || parts[i] == "*" {
			wild = true
			*xs[i] = true
			continue
		}
		if wild {
			return partialVersion{}, fmt.Errorf("%q has a number after a wildcard", s)
		}
		n, err := parseVersionNumber(name, parts[i])
		if err != nil {
			return partialVersion{}, fmt.Errorf("%q: %w", s, err)
		}
		*nums[i] = n
	}
	if core != s { // a prerelease or build follows
		if wild {
			return partialVersion{}, fmt.Errorf("%q: a prerelease or build needs all three numbers", s)
		}
		full, err := parseVersion(s)
		if err != nil {
			return partialVersion{}, fmt.Errorf("%q: %w", s, err)
		}
		full.Build = "" // build metadata never constrains
		p.Version = full
	}
	return p, nil
}

// The bounds ranges expand to. "-0" is the lowest prerelease of a version,
// so "<2.0.0-0" excludes every 2.0.0 prerelease.
func atLeast(major, minor, patch uint64) comparator {
	return comparator{">=", Version{Major: major, Minor: minor, Patch: patch}}
}

func below(major, minor, patch uint64) comparator {
	return comparator{"<", Version{Major: major, Minor: minor, Patch: patch, Prerelease: "0"}}
}

// parseSimple expands one primitive, tilde, caret or x-range token.
func parseSimple(tok string) ([]comparator, error) {
	var op string
	for _, o := range []string{"~>", "~", "^", ">=", "<=", ">", "<", "="} {
		if rest, ok := strings.CutPrefix(tok, o); ok {
			op, tok = o, rest
			break
		}
	}
	if op != "" && tok == "" {
		return nil, fmt.Errorf("operator %q needs a version after it", op)
	}
	p, err := parsePartial(tok)
	if err != nil {
		return nil, err
	}
	switch op {
	case "~", "~>":
		return tildeRange(p), nil
	case "^":
		return caretRange(p), nil
	}
	return xRange(op, p), nil
}

// tildeRange allows patch-level changes when a minor version is given,
// minor-level changes otherwise.
func tildeRange(p partialVersion) []comparator {
	switch {
	case p.xMajor:
		return nil
	case p.xMinor:
		return []comparator{atLeast(p.Major, 0, 0), below(p.Major+1, 0, 0)}
	case p.xPatch:
		return []comparator{atLeast(p.Major, p.Minor, 0), below(p.Major, p.Minor+1, 0)}
	}
	return []comparator{{">=", p.Version}, below(p.Major, p.Minor+1, 0)}
}

// caretRange allows changes that do not modify the left-most non-zero number.
func caretRange(p partialVersion) []comparator {
	switch {
	case p.xMajor:
		return nil
	case p.xMinor:
		return []comparator{atLeast(p.Major, 0, 0), below(p.Major+1, 0, 0)}
	case p.xPatch:
		if p.Major == 0 {
			return []comparator{atLeast(0, p.Minor, 0), below(0, p.Minor+1, 0)}
		}
		return []comparator{atLeast(p.Major, p.Minor, 0), below(p.Major+1, 0, 0)}
	}
	lo := comparator{">=", p.Version}
	switch {
	case p.Major > 0:
		return []comparator{lo, below(p.Major+1, 0, 0)}
	case p.Minor > 0:
		return []comparator{lo, below(0, p.Minor+1, 0)}
	}
	return []comparator{lo, below(0, 0, p.Patch+1)}
}

// xRange expands a primitive comparator whose version may hold wildcards.
func xRange(op string, p partialVersion) []comparator {
	anyX := p.xMajor || p.xMinor || p.xPatch
	if !anyX {
		if op == "" {
			op = "="
		}
		return []comparator{{op, p.Version}}
	}
	if op == "=" {
		op = ""
	}
	if p.xMajor {
		if op == ">" || op == "<" {
			return []comparator{nullSet} // nothing is above or below every version
		}
		return nil
	}
	major, minor := p.Major, p.Minor
	if p.xMinor {
		minor = 0
	}
	switch op {
	case "":
		if p.xMinor {
			return []comparator{atLeast(major, 0, 0), below(major+1, 0, 0)}
		}
		return []comparator{atLeast(major, minor, 0), below(major, minor+1, 0)}
	case ">":
		if p.xMinor {
			return []comparator{atLeast(major+1, 0, 0)}
		}
		return []comparator{atLeast(major, minor+1, 0)}
	case ">=":
		return []comparator{atLeast(major, minor, 0)}
	case "<":
		return []comparator{below(major, minor, 0)}
	default: // "<="
		if p.xMinor {
			return []comparator{below(major+1, 0, 0)}
		}
		return []comparator{below(major, minor+1, 0)}
	}
}

// hyphenRange expands "from - to": inclusive at both ends, a partial upper
// end accepts everything it covers ("1.2 - 2.3" accepts 2.3.9).
func hyphenRange(fromTok, toTok string) ([]comparator, error) {
	from, err := parsePartial(fromTok)
	if err != nil {
		return nil, err
	}
	to, err := parsePartial(toTok)
	if err != nil {
		return nil, err
	}
	var set []comparator
	switch {
	case from.xMajor:
	case from.xMinor:
		set = append(set, atLeast(from.Major, 0, 0))
	case from.xPatch:
		set = append(set, atLeast(from.Major, from.Minor, 0))
	default:
		set = append(set, comparator{">=", from.Version})
	}
	switch {
	case to.xMajor:
	case to.xMinor:
		set = append(set, below(to.Major+1, 0, 0))
	case to.xPatch:
		set = append(set, below(to.Major, to.Minor+1, 0))
	default:
		set = append(set, comparator{"<=", to.Version})
	}
	return simplifySet(set), nil
}

// Satisfies reports whether v is in the range. A prerelease version
// satisfies a comparator set only if one of its comparators names the same
// MAJOR.MINOR.PATCH with a prerelease (npm's rule: "^1.2.3-beta.1" accepts
// 1.2.3-beta.2 but not 1.2.4-beta.1).
func (r Range) Satisfies(v Version) bool {
	for _, set := range r.sets {
		if setSatisfied(set, v) {
			return true
		}
	}
	return false
}

func setSatisfied(set []comparator, v Version) bool {
	for _, c := range set {
		if !c.matches(v) {
			return false
		}
	}
	if v.Prerelease == "" {
		return true
	}
	for _, c := range set {
		if c.v.Prerelease != "" && c.v.Major == v.Major && c.v.Minor == v.Minor && c.v.Patch == v.Patch {
			return true
		}
	}
	return false
}

func (c comparator) matches(v Version) bool {
	n := v.Compare(c.v)
	switch c.op {
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	case ">=":
		return n >= 0
	}
	return n == 0
}

// String renders the expanded range, e.g. ">=1.2.3 <2.0.0-0" for "^1.2.3";
// "*" stands for every release.
func (r Range) String() string {
	sets := make([]string, len(r.sets))
	for i, set := range r.sets {
		if len(set) == 0 {
			sets[i] = "*"
			continue
		}
		cs := make([]string, len(set))
		for j, c := range set {
			op := c.op
			if op == "=" {
				op = ""
			}
			cs[j] = op + c.v.String()
		}
		sets[i] = strings.Join(cs, " ")
	}
	return strings.Join(sets, " || ")
}
