package origin

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// urlParts is what better-auth reads from `new URL(s)`: the scheme, the
// serialised host and the port. parseURL implements the WHATWG URL parser as
// far as these need it — including every way it fails — for an absolute URL
// without a base.
type urlParts struct {
	scheme  string // lower-case, without ':'
	host    string // serialised host; "" when the URL has none or it is empty
	port    string // decimal, "" when absent or the scheme's default
	special bool   // http, https, ws, wss, ftp, file
}

// defaultPorts are the special schemes (file has no port).
var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21", "file": ""}

// hostPort is URL.host: host, and ":port" when there is a non-default port.
func (u urlParts) hostPort() string {
	if u.port == "" {
		return u.host
	}
	return u.host + ":" + u.port
}

// hasOrigin reports whether URL.origin is a tuple origin (not "null"); only
// http(s), ws(s) and ftp URLs have one here (blob: is not resolved).
func (u urlParts) hasOrigin() bool {
	return u.special && u.scheme != "file"
}

// origin is URL.origin for a URL with hasOrigin.
func (u urlParts) origin() string {
	return u.scheme + "://" + u.hostPort()
}

// originEquals reports whether s == u.origin() without building the string.
func (u urlParts) originEquals(s string) bool {
	rest, ok := strings.CutPrefix(s, u.scheme)
	if !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(rest, "://"); !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(rest, u.host); !ok {
		return false
	}
	if u.port == "" {
		return rest == ""
	}
	return len(rest) == len(u.port)+1 && rest[0] == ':' && rest[1:] == u.port
}

// parseURL parses s like `new URL(s)`; ok is false where it would throw.
func parseURL(s string) (u urlParts, ok bool) {
	s = trimC0Space(s)
	if strings.ContainsAny(s, "\t\n\r") {
		s = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(s)
	}
	if s == "" || !isAlpha(s[0]) {
		return u, false
	}
	i := 1
	for i < len(s) && (isAlpha(s[i]) || isDigit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.') {
		i++
	}
	if i == len(s) || s[i] != ':' {
		return u, false // no scheme, and there is no base URL
	}
	u.scheme = lowerASCII(s[:i])
	rest := s[i+1:]
	_, u.special = defaultPorts[u.scheme]

	switch {
	case u.scheme == "file":
		return parseFile(u, rest)
	case u.special:
		// "special authority ignore slashes": any run of '/' and '\'.
		return parseAuthority(u, strings.TrimLeft(rest, `/\`))
	case strings.HasPrefix(rest, "//"):
		return parseAuthority(u, rest[2:])
	default:
		return u, true // a path or an opaque path: never fails
	}
}

// parseAuthority handles the authority, host and port states.
func parseAuthority(u urlParts, rest string) (urlParts, bool) {
	delims := "/?#"
	if u.special {
		delims = `/?#\`
	}
	if end := strings.IndexAny(rest, delims); end >= 0 {
		rest = rest[:end]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
		if rest == "" {
			return u, false // credentials without a host
		}
	}
	hostStr, portStr, hasPort := rest, "", false
	inBrackets := false
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '[':
			inBrackets = true
		case ']':
			inBrackets = false
		case ':':
			if !inBrackets {
				hostStr, portStr, hasPort = rest[:i], rest[i+1:], true
			}
		}
		if hasPort {
			break
		}
	}
	if hostStr == "" && (hasPort || u.special) {
		return u, false
	}
	host, ok := parseHost(hostStr, u.special)
	if !ok {
		return u, false
	}
	u.host = host
	if portStr != "" {
		port, ok := parsePort(portStr)
		if !ok {
			return u, false
		}
		if port != defaultPorts[u.scheme] || !u.special {
			u.port = port
		}
	}
	return u, true
}

// parsePort accepts ASCII digits up to 65535 and returns the canonical decimal.
func parsePort(s string) (string, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return "", false
		}
		n = n*10 + int(s[i]-'0')
		if n > 65535 {
			return "", false
		}
	}
	if s[0] != '0' || len(s) == 1 {
		return s, true
	}
	return strconv.Itoa(n), true
}

// parseFile handles file: URLs (their origin is opaque; only validity and
// the host matter here).
func parseFile(u urlParts, rest string) (urlParts, bool) {
	if len(rest) < 2 || !isSlash(rest[0]) || !isSlash(rest[1]) {
		return u, true // a path, no host
	}
	rest = rest[2:]
	if end := strings.IndexAny(rest, `/\?#`); end >= 0 {
		rest = rest[:end]
	}
	if len(rest) == 2 && isAlpha(rest[0]) && (rest[1] == ':' || rest[1] == '|') {
		return u, true // a Windows drive letter, not a host
	}
	if rest == "" {
		return u, true
	}
	host, ok := parseHost(rest, true)
	if !ok {
		return u, false
	}
	if host != "localhost" {
		u.host = host
	}
	return u, true
}

// parseHost is the WHATWG host parser.
func parseHost(h string, special bool) (string, bool) {
	if strings.HasPrefix(h, "[") {
		if !strings.HasSuffix(h, "]") || len(h) < 2 {
			return "", false
		}
		a, ok := parseIPv6(h[1 : len(h)-1])
		if !ok {
			return "", false
		}
		return "[" + serializeIPv6(a) + "]", true
	}
	if !special {
		return parseOpaqueHost(h)
	}
	domain := h
	if strings.IndexByte(h, '%') >= 0 {
		domain = strings.ToValidUTF8(percentDecode(h), "\uFFFD")
	} else if !utf8.ValidString(domain) {
		domain = strings.ToValidUTF8(domain, "\uFFFD")
	}
	ascii, ok := domainToASCII(domain)
	if !ok {
		return "", false
	}
	if endsInNumber(ascii) {
		return parseIPv4(ascii)
	}
	return ascii, true
}

// lookup is UTS #46 ToASCII with the WHATWG URL settings: non-transitional,
// CheckHyphens off, CheckBidi and CheckJoiners on, UseSTD3ASCIIRules off,
// VerifyDnsLength off.
var lookup = idna.New(
	idna.MapForLookup(),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
	idna.CheckJoiners(true),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.VerifyDNSLength(false),
)

// domainToASCII is the WHATWG "domain to ASCII" with beStrict false.
func domainToASCII(domain string) (string, bool) {
	var out string
	if isASCII(domain) && !hasACELabel(domain) {
		out = lowerASCII(domain) // the spec's fast path: same result as UTS #46 here
	} else {
		for label := range strings.SplitSeq(domain, ".") {
			if strings.EqualFold(label, "xn--") {
				return "", false // UTS #46: a Punycode label that decodes to nothing
			}
		}
		r, err := lookup.ToASCII(domain)
		if err != nil || r == "" {
			return "", false
		}
		out = r
	}
	for i := 0; i < len(out); i++ {
		if forbiddenDomain(out[i]) {
			return "", false
		}
	}
	return out, true
}

func hasACELabel(d string) bool {
	for label := range strings.SplitSeq(d, ".") {
		if len(label) >= 4 && strings.EqualFold(label[:4], "xn--") {
			return true
		}
	}
	return false
}

// forbiddenHost is the WHATWG forbidden host code point set.
func forbiddenHost(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\r', ' ', '#', '/', ':', '<', '>', '?', '@', '[', '\\', ']', '^', '|':
		return true
	}
	return false
}

// forbiddenDomain adds C0 controls, '%' and DEL to the forbidden host set.
func forbiddenDomain(c byte) bool {
	return forbiddenHost(c) || c <= 0x1F || c == '%' || c == 0x7F
}

// parseOpaqueHost is the host of a non-special URL: refused if it has a
// forbidden host code point, else percent-encoded (C0 controls and non-ASCII).
func parseOpaqueHost(h string) (string, bool) {
	enc := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		if forbiddenHost(c) {
			return "", false
		}
		if c <= 0x1F || c >= 0x7F {
			enc++
		}
	}
	if enc == 0 {
		return h, true
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(h) + 2*enc)
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= 0x1F || c >= 0x7F {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// percentDecode decodes every valid %XX, leaving anything else as is.
func percentDecode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// endsInNumber is the WHATWG "ends in a number" check.
func endsInNumber(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return false
	}
	last := s[strings.LastIndexByte(s, '.')+1:]
	if last == "" {
		return false
	}
	if allDigits(last) {
		return true
	}
	_, ok := parseIPv4Number(last)
	return ok
}

// parseIPv4 is the WHATWG IPv4 parser (decimal, octal and hex parts, 1 to 4
// of them) returning dotted decimal.
func parseIPv4(s string) (string, bool) {
	if strings.HasSuffix(s, ".") && len(s) > 1 {
		s = s[:len(s)-1]
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return "", false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, ok := parseIPv4Number(p)
		if !ok {
			return "", false
		}
		nums[i] = n
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return "", false
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return "", false
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		v += n << (8 * (3 - i))
	}
	return strconv.FormatUint(v>>24, 10) + "." + strconv.FormatUint(v>>16&255, 10) + "." +
		strconv.FormatUint(v>>8&255, 10) + "." + strconv.FormatUint(v&255, 10), true
}

// parseIPv4Number parses one IPv4 part; values beyond 2^40 saturate (they are
// refused by the caller anyway).
func parseIPv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	radix := uint64(10)
	switch {
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		s, radix = s[2:], 16
	case len(s) >= 2 && s[0] == '0':
		s, radix = s[1:], 8
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		var d uint64
		c := s[i]
		switch {
		case isDigit(c):
			d = uint64(c - '0')
		case radix == 16 && isHex(c):
			d = uint64(unhex(c))
		default:
			return 0, false
		}
		if d >= radix {
			return 0, false
		}
		if n < 1<<40 {
			n = n*radix + d
		}
	}
	return n, true
}

// parseIPv6 is the WHATWG IPv6 parser.
func parseIPv6(s string) (a [8]uint16, ok bool) {
	piece, compress, p := 0, -1, 0
	at := func(i int) int {
		if i < len(s) {
			return int(s[i])
		}
		return -1
	}
	if at(p) == ':' {
		if at(p+1) != ':' {
			return a, false
		}
		p += 2
		piece++
		compress = piece
	}
	for at(p) != -1 {
		if piece == 8 {
			return a, false
		}
		if at(p) == ':' {
			if compress != -1 {
				return a, false
			}
			p++
			piece++
			compress = piece
			continue
		}
		value, length := 0, 0
		for length < 4 && at(p) != -1 && isHex(byte(at(p))) {
			value = value*16 + int(unhex(byte(at(p))))
			p++
			length++
		}
		if at(p) == '.' {
			if length == 0 {
				return a, false
			}
			p -= length
			if piece > 6 {
				return a, false
			}
			seen := 0
			for at(p) != -1 {
				v4 := -1
				if seen > 0 {
					if at(p) == '.' && seen < 4 {
						p++
					} else {
						return a, false
					}
				}
				if at(p) == -1 || !isDigit(byte(at(p))) {
					return a, false
				}
				for at(p) != -1 && isDigit(byte(at(p))) {
					n := at(p) - '0'
					switch v4 {
					case -1:
						v4 = n
					case 0:
						return a, false
					default:
						v4 = v4*10 + n
					}
					if v4 > 255 {
						return a, false
					}
					p++
				}
				a[piece] = a[piece]<<8 | uint16(v4)
				seen++
				if seen == 2 || seen == 4 {
					piece++
				}
			}
			if seen != 4 {
				return a, false
			}
			break
		} else if at(p) == ':' {
			p++
			if at(p) == -1 {
				return a, false
			}
		} else if at(p) != -1 {
			return a, false
		}
		a[piece] = uint16(value)
		piece++
	}
	if compress != -1 {
		swaps := piece - compress
		piece = 7
		for piece != 0 && swaps > 0 {
			a[piece], a[compress+swaps-1] = a[compress+swaps-1], a[piece]
			piece--
			swaps--
		}
	} else if piece != 8 {
		return a, false
	}
	return a, true
}

// serializeIPv6 writes lower-case hex pieces, compressing the first longest
// run (two or more) of zero pieces.
func serializeIPv6(a [8]uint16) string {
	best, bestLen := -1, 1
	for i := 0; i < 8; {
		if a[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && a[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	var b strings.Builder
	for i := 0; i < 8; i++ {
		if i == best {
			b.WriteString("::")
			i += bestLen - 1
			continue
		}
		if i > 0 && i != best+bestLen {
			b.WriteByte(':')
		}
		b.WriteString(strconv.FormatUint(uint64(a[i]), 16))
	}
	return b.String()
}

// trimC0Space strips leading and trailing C0 controls and spaces.
func trimC0Space(s string) string {
	i, j := 0, len(s)
	for i < j && s[i] <= ' ' {
		i++
	}
	for j > i && s[j-1] <= ' ' {
		j--
	}
	return s[i:j]
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s) // ASCII input: ToLower only touches A-Z
		}
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isSlash(c byte) bool { return c == '/' || c == '\\' }
func isHex(c byte) bool   { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
