package origin

import (
	"regexp"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// pattern is one trusted-origin entry, compiled once.
type pattern struct {
	raw         string
	hasWildcard bool
	hostOnly    bool        // wildcard without "://": matched against URL.host
	glob        *glob       // the whole pattern, for hostOnly and http(s) wildcard matching
	ipv4Part    string      // the pattern part isAllowedIPv4Host looks at (http(s) wildcards)
	canonical   bool        // no wildcard and raw is already a serialised http(s) origin
	custom      customParts // the pattern parsed as a custom-scheme origin
	customOK    bool
	authGlob    *glob // custom wildcard authority
	pathGlob    *glob // custom wildcard path
}

func compilePattern(raw string) pattern {
	p := pattern{raw: raw, hasWildcard: strings.ContainsAny(raw, "*?")}
	if p.hasWildcard {
		p.glob = compileGlob(raw)
		if i := strings.Index(raw, "://"); i >= 0 {
			p.ipv4Part = raw[i+3:]
		} else {
			p.hostOnly = true
		}
	} else if u, ok := parseURL(raw); ok && (u.scheme == "http" || u.scheme == "https") {
		p.canonical = u.originEquals(raw)
	}
	p.custom, p.customOK = parseCustomSchemeOrigin(raw, p.hasWildcard)
	if p.customOK && p.hasWildcard {
		if p.custom.authority != "" {
			p.authGlob = compileGlob(p.custom.authority)
		}
		if p.custom.path != "" {
			p.pathGlob = compileGlob(p.custom.path)
		}
	}
	return p
}

// glob is better-auth's wildcardMatch(pattern) without a separator: '*' is
// any run and '?' any one UTF-16 code unit (neither matches a JavaScript line
// terminator), '\' makes the next character literal, anchored at both ends,
// case-sensitive.
type glob struct {
	toks []globTok
	re   *regexp.Regexp // the same as a regexp, for the rare input with line terminators
}

type globTok struct {
	kind byte // 'l' literal, '?' one unit, '*' any run
	unit uint16
}

func compileGlob(g string) *glob {
	const anyUnit = `[^\n\r\x{2028}\x{2029}]`
	out := &glob{}
	var re strings.Builder
	re.WriteString(`^`)
	rs := []rune(g)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\\':
			if i+1 < len(rs) {
				i++
				out.addLiteral(rs[i])
				re.WriteString(regexp.QuoteMeta(string(rs[i])))
			}
		case '?':
			out.toks = append(out.toks, globTok{kind: '?'})
			re.WriteString(anyUnit)
		case '*':
			out.toks = append(out.toks, globTok{kind: '*'})
			re.WriteString(anyUnit + `*`)
		default:
			out.addLiteral(r)
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString(`$`)
	out.re = regexp.MustCompile(re.String())
	return out
}

func (g *glob) addLiteral(r rune) {
	var buf [2]uint16
	n := utf16.AppendRune(buf[:0], r)
	for _, u := range n {
		g.toks = append(g.toks, globTok{kind: 'l', unit: u})
	}
}

// MatchString reports whether s matches the whole pattern.
func (g *glob) MatchString(s string) bool {
	if strings.ContainsAny(s, "\n\r\u2028\u2029") {
		return g.re.MatchString(s)
	}
	if isASCII(s) {
		return g.matchUnits(len(s), func(i int) uint16 { return uint16(s[i]) })
	}
	units := utf16.Encode([]rune(s))
	return g.matchUnits(len(units), func(i int) uint16 { return units[i] })
}

// matchUnits is the classic wildcard match with back-tracking to the last
// '*'; without line terminators in the input '*' and '?' match any unit.
func (g *glob) matchUnits(n int, at func(int) uint16) bool {
	toks := g.toks
	si, pi, starP, starS := 0, 0, -1, 0
	for si < n {
		switch {
		case pi < len(toks) && (toks[pi].kind == '?' || toks[pi].kind == 'l' && toks[pi].unit == at(si)):
			si++
			pi++
		case pi < len(toks) && toks[pi].kind == '*':
			starP, starS = pi, si
			pi++
		case starP >= 0:
			pi = starP + 1
			starS++
			si = starS
		default:
			return false
		}
	}
	for pi < len(toks) && toks[pi].kind == '*' {
		pi++
	}
	return pi == len(toks)
}

// scriptSchemes can never be trusted redirect targets. better-auth lets a
// host-only wildcard such as "*.example.com" accept
// "javascript://x.example.com/%0aalert(1)" (URL.host is x.example.com), which
// its client then assigns to window.location; authbus refuses these schemes
// outright. This is the one deliberate difference from matchesOriginPattern.
var scriptSchemes = map[string]bool{"javascript": true, "vbscript": true, "data": true}

// matches is better-auth's matchesOriginPattern(url, pattern,
// {allowRelativePaths}), except for script schemes (see scriptSchemes).
// u and parsed are url parsed by parseURL (shared between patterns).
func (p *pattern) matches(url string, u urlParts, parsed bool, allowRelative bool, originStr *string) bool {
	if strings.HasPrefix(url, "/") {
		return allowRelative && isSafeRelativeURL(url)
	}
	if parsed && scriptSchemes[u.scheme] {
		return false
	}
	if p.hostOnly {
		if !parsed {
			return false
		}
		host := u.hostPort()
		return host != "" && p.glob.MatchString(host) && allowedIPv4Host(p.raw, host)
	}
	if !parsed || u.scheme == "http" || u.scheme == "https" {
		if !parsed {
			return false // getOrigin(url) is null
		}
		if !p.hasWildcard {
			return u.originEquals(p.raw)
		}
		if *originStr == "" {
			*originStr = u.origin()
		}
		o := *originStr
		if !p.glob.MatchString(o) {
			return false
		}
		return allowedIPv4Host(p.ipv4Part, o[strings.Index(o, "://")+3:])
	}
	c, ok := parseCustomSchemeOrigin(url, false)
	if !ok || !p.customOK || c.scheme != p.custom.scheme {
		return false
	}
	if p.hasWildcard {
		if strings.IndexByte(c.authority, '@') >= 0 {
			return false
		}
		if p.custom.authority != "" && !(p.authGlob.MatchString(c.authority) && allowedIPv4Host(p.custom.authority, c.authority)) {
			return false
		}
		if p.custom.path == "" {
			return true
		}
		path := c.path
		if path == "" {
			path = "/"
		}
		return p.pathGlob.MatchString(path)
	}
	if p.custom.authority != "" && c.authority != p.custom.authority {
		return false
	}
	if p.custom.path == "" {
		return true
	}
	return c.path == p.custom.path || strings.HasPrefix(c.path, p.custom.path+"/")
}

// isSafeRelativeURL is better-auth's check for a root-relative redirect: one
// leading '/', no '\', no control characters, no encoded '/' or '\' in the
// path. (Such a value always resolves against any base to the base's origin,
// which is the rest of better-auth's check.)
func isSafeRelativeURL(v string) bool {
	if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.IndexByte(v, '\\') >= 0 || hasControl(v) {
		return false
	}
	path := v
	if i := strings.IndexAny(v, "?#"); i >= 0 {
		path = v[:i]
	}
	for i := 0; i+2 < len(path); i++ {
		if path[i] == '%' && (path[i+1] == '2' && (path[i+2] == 'f' || path[i+2] == 'F') ||
			path[i+1] == '5' && (path[i+2] == 'c' || path[i+2] == 'C')) {
			return false
		}
	}
	return true
}

// hasControl reports C0 controls, DEL and C1 controls (U+0000–U+001F,
// U+007F–U+009F), better-auth's CONTROL_CHARACTER_PATTERN.
func hasControl(s string) bool {
	for _, r := range s {
		if r <= 0x1F || (r >= 0x7F && r <= 0x9F) {
			return true
		}
	}
	return false
}

// allowedIPv4Host is better-auth's isAllowedIPv4Host: a wildcard host made of
// digits, dots and wildcards only (e.g. 192.168.*.*) admits only an IPv4
// address.
func allowedIPv4Host(patternAuthority, authority string) bool {
	ph, _, _ := strings.Cut(patternAuthority, ":")
	if !isIPWildcardHost(ph) {
		return true
	}
	h, _, _ := strings.Cut(authority, ":")
	return isDottedIPv4(h)
}

// isIPWildcardHost is /^(?=.*\d)[\d*?.]+$/.
func isIPWildcardHost(s string) bool {
	digit := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			digit = true
		case c == '*' || c == '?' || c == '.':
		default:
			return false
		}
	}
	return digit
}

// isDottedIPv4 is zod's ipv4 format: four decimal octets 0-255, no leading zeros.
func isDottedIPv4(s string) bool {
	parts := 0
	for part := range strings.SplitSeq(s, ".") {
		parts++
		if parts > 4 || part == "" || len(part) > 3 || !allDigits(part) || (len(part) > 1 && part[0] == '0') {
			return false
		}
		n := 0
		for i := 0; i < len(part); i++ {
			n = n*10 + int(part[i]-'0')
		}
		if n > 255 {
			return false
		}
	}
	return parts == 4
}

// customParts is better-auth's parseCustomSchemeOrigin result.
type customParts struct {
	scheme, authority, path string
}

// parseCustomSchemeOrigin splits "scheme://authority/path" with plain string
// operations (scheme and authority lower-cased, path percent-decoded with
// "." and ".." resolved), as better-auth does for non-http(s) origins.
func parseCustomSchemeOrigin(v string, wildcard bool) (customParts, bool) {
	if hasControl(v) {
		return customParts{}, false
	}
	end := strings.IndexByte(v, ':')
	if end <= 0 {
		return customParts{}, false
	}
	c := customParts{scheme: strings.ToLower(v[:end])}
	rest := v[end+1:]
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
		delims := "/?#"
		if wildcard {
			delims = "/#"
		}
		if i := strings.IndexAny(rest, delims); i >= 0 {
			c.authority, rest = rest[:i], rest[i:]
		} else {
			c.authority, rest = rest, ""
		}
		c.authority = strings.ToLower(c.authority)
	}
	delims := "?#"
	if wildcard {
		delims = "#"
	}
	if i := strings.IndexAny(rest, delims); i >= 0 {
		rest = rest[:i]
	}
	c.path = normalizePath(rest)
	return c, true
}

// normalizePath percent-decodes a path (when it decodes) and resolves "."
// and ".." so traversal cannot escape a path-pinned pattern; "" for a root.
func normalizePath(p string) string {
	if d, ok := decodeURIComponent(p); ok {
		p = d
	}
	var segs []string
	for s := range strings.SplitSeq(p, "/") {
		switch s {
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		case ".", "":
		default:
			segs = append(segs, s)
		}
	}
	if len(segs) == 0 {
		return ""
	}
	return "/" + strings.Join(segs, "/")
}

// decodeURIComponent is JavaScript's decodeURIComponent; ok is false where it
// throws (a malformed escape, or escaped bytes that are not valid UTF-8).
func decodeURIComponent(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] != '%' {
			b.WriteByte(s[i])
			i++
			continue
		}
		v, ok := hexByte(s, i)
		if !ok {
			return "", false
		}
		i += 3
		if v < utf8.RuneSelf {
			b.WriteByte(v)
			continue
		}
		n := 0
		switch {
		case v&0xE0 == 0xC0:
			n = 2
		case v&0xF0 == 0xE0:
			n = 3
		case v&0xF8 == 0xF0:
			n = 4
		default:
			return "", false
		}
		seq := []byte{v}
		for k := 1; k < n; k++ {
			w, ok := hexByte(s, i)
			if !ok || w&0xC0 != 0x80 {
				return "", false
			}
			seq = append(seq, w)
			i += 3
		}
		if !utf8.Valid(seq) {
			return "", false
		}
		b.Write(seq)
	}
	return b.String(), true
}

func hexByte(s string, i int) (byte, bool) {
	if i+2 >= len(s) || s[i] != '%' || !isHex(s[i+1]) || !isHex(s[i+2]) {
		return 0, false
	}
	return unhex(s[i+1])<<4 | unhex(s[i+2]), true
}
