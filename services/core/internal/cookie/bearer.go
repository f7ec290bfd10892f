package cookie

import "strings"

// BearerToken returns the session token an Authorization header value
// authenticates, following better-auth's bearer plugin and then the signed
// session-cookie check the request goes through afterwards:
//
//   - the scheme is the first 7 characters, "bearer " in any case;
//   - the rest, trimmed, containing a '.' is a signed token
//     ("token.signature", %-decoded when it contains '%');
//   - without a '.' it is a raw session token (the JSON "token"), accepted
//     unless requireSignature;
//   - a signed token must pass both the plugin's check (HMAC of the first
//     '.'-field against the second, base64 with either alphabet, padding
//     optional) and the cookie check (signature after the last '.', 44
//     characters, standard alphabet, padded). In effect only the form
//     set-auth-token carries authenticates; a URL-alphabet or unpadded
//     signature passes the plugin but then fails the cookie check, so the
//     real server answers as if unauthenticated, and so does this.
//
// ok is false when the header does not authenticate; better-auth then
// ignores it and the request proceeds unauthenticated.
func BearerToken(s *Signer, authorization string, requireSignature bool) (token string, ok bool) {
	if len(authorization) < 7 || !strings.EqualFold(authorization[:7], "bearer ") {
		return "", false
	}
	tok := jsTrim(authorization[7:])
	if tok == "" {
		return "", false
	}
	if strings.IndexByte(tok, '.') < 0 {
		if requireSignature {
			return "", false
		}
		// The plugin signs a raw token itself, so both checks pass by
		// construction.
		return tok, true
	}
	if strings.IndexByte(tok, '%') >= 0 {
		if d, err := DecodeURIComponent(tok); err == nil {
			tok = d
		}
	}
	value, ok := s.Verify(tok)
	if !ok {
		return "", false
	}
	// With exactly one '.', the plugin's check is the one Verify just did.
	if strings.IndexByte(value, '.') >= 0 && !s.verifyLoose(tok) {
		return "", false
	}
	return value, true
}

// SetAuthToken returns the value of the set-auth-token response header the
// bearer plugin adds: the decoded value of the last Set-Cookie for the session
// cookie, when that value is not empty and its Max-Age is not 0. ok is false
// when no such cookie is being set.
func SetAuthToken(sessionCookieName string, setCookies []string) (string, bool) {
	var (
		value string
		found bool
	)
	for _, sc := range setCookies {
		name, v, deleted := parseSetCookie(sc)
		if name != sessionCookieName {
			continue
		}
		if v == "" || deleted {
			value, found = "", false
			continue
		}
		value, found = v, true
	}
	return value, found
}

// parseSetCookie extracts what better-auth's parseSetCookieHeader gives the
// bearer plugin: the name, the unquoted and decoded value, and whether
// Max-Age parses (like parseInt) to 0.
func parseSetCookie(sc string) (name, value string, maxAgeZero bool) {
	nameValue, attrs, _ := strings.Cut(sc, ";")
	nameValue = jsTrim(nameValue)
	name, value, _ = strings.Cut(nameValue, "=")
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	value = tryDecode(value)
	for attrs != "" {
		var attr string
		attr, attrs, _ = strings.Cut(attrs, ";")
		k, v, _ := strings.Cut(attr, "=")
		if strings.EqualFold(jsTrim(k), "max-age") {
			n, ok := parseIntPrefix(jsTrim(v))
			maxAgeZero = ok && n == 0
		}
	}
	return name, value, maxAgeZero
}

// parseIntPrefix is parseInt(s, 10) on an already trimmed string: an
// optional sign and the leading digits.
func parseIntPrefix(s string) (int, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	start, n := i, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if n < 1<<30 {
			n = n*10 + int(s[i]-'0')
		}
		i++
	}
	if i == start {
		return 0, false
	}
	return n, true
}

// ExposeHeaders merges "set-auth-token" into an Access-Control-Expose-Headers
// value like the bearer plugin: names split on ',', trimmed, empty ones and
// duplicates dropped, joined with ", ".
func ExposeHeaders(existing string) string {
	var names []string
	for n := range strings.SplitSeq(existing, ",") {
		n = jsTrim(n)
		if n == "" || contains(names, n) {
			continue
		}
		names = append(names, n)
	}
	if !contains(names, "set-auth-token") {
		names = append(names, "set-auth-token")
	}
	return strings.Join(names, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
