package origin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
)

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err, "regenerate with testdata/gen-vectors.mjs (see testdata/README.md)")
	require.NoError(t, json.Unmarshal(raw, v))
}

// stricterIDNA are hosts node's URL parser accepts but x/net/idna's UTS #46
// Bidi rule refuses. Refusing can only make a URL untrusted, never trusted.
var stricterIDNA = map[string]bool{
	"http://a١.com": true, // Latin letter + Arabic-Indic digit in one label
}

// parseURL agrees with `new URL` (node) on validity, protocol, host and origin.
func TestWHATWGParse(t *testing.T) {
	var f struct {
		Cases []struct {
			Input    string `json:"input"`
			OK       bool   `json:"ok"`
			Protocol string `json:"protocol"`
			Host     string `json:"host"`
			Origin   string `json:"origin"`
		} `json:"cases"`
	}
	readJSON(t, "url.json", &f)
	require.Greater(t, len(f.Cases), 100)
	for _, c := range f.Cases {
		t.Run(c.Input, func(t *testing.T) {
			u, ok := parseURL(c.Input)
			if stricterIDNA[c.Input] {
				require.False(t, ok)
				return
			}
			require.Equal(t, c.OK, ok, "valid")
			if !ok {
				return
			}
			require.Equal(t, c.Protocol, u.scheme+":")
			require.Equal(t, c.Host, u.hostPort())
			switch {
			case u.hasOrigin():
				require.Equal(t, c.Origin, u.origin())
				require.True(t, u.originEquals(c.Origin))
				require.Equal(t, c.Origin, OriginOf(c.Input))
			case u.scheme == "blob":
				// blob: origins (the inner URL's) are not needed by the checks.
			default:
				require.Equal(t, "null", c.Origin)
				require.Empty(t, OriginOf(c.Input))
			}
		})
	}
}

// Every url x pattern gives what better-auth's matchesOriginPattern gives,
// with and without allowRelativePaths — except that script schemes are never
// trusted here.
func TestMatchesOriginPattern(t *testing.T) {
	var f struct {
		Patterns []string `json:"patterns"`
		Cases    []struct {
			URL      string `json:"url"`
			Strict   string `json:"strict"`
			Relative string `json:"relative"`
		} `json:"cases"`
	}
	readJSON(t, "match.json", &f)
	compiled := make([]*Policy, len(f.Patterns))
	for i, p := range f.Patterns {
		compiled[i] = New([]string{p}, Options{})
	}
	checked, deviations := 0, 0
	for _, c := range f.Cases {
		t.Run(c.URL, func(t *testing.T) {
			u, parsed := parseURL(c.URL)
			script := parsed && scriptSchemes[u.scheme]
			if stricterIDNA[c.URL] {
				for i := range f.Patterns {
					require.False(t, compiled[i].match(c.URL, true))
				}
				return
			}
			for i, pat := range f.Patterns {
				for _, mode := range []struct {
					relative bool
					want     byte
				}{{false, c.Strict[i]}, {true, c.Relative[i]}} {
					got := compiled[i].match(c.URL, mode.relative)
					if script {
						require.False(t, got, "script scheme trusted by %q", pat)
						if mode.want == '1' {
							deviations++
						}
						continue
					}
					require.Equal(t, mode.want == '1', got, "pattern %q allowRelativePaths=%v", pat, mode.relative)
					checked++
				}
			}
		})
	}
	require.Greater(t, checked, 5000)
	require.Positive(t, deviations, "the javascript:// vectors show the deliberate difference")
}

type scenario struct {
	Name    string            `json:"name"`
	Rule    string            `json:"rule"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
	Status  int               `json:"status"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
}

// middlewareCodes are the errors of the checks in this package; any other
// answer from the peer means its checks let the request through.
var middlewareCodes = map[string]bool{
	"MISSING_OR_NULL_ORIGIN": true, "INVALID_ORIGIN": true, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED": true,
	"INVALID_CALLBACK_URL": true, "INVALID_REDIRECT_URL": true, "INVALID_ERROR_CALLBACK_URL": true,
	"INVALID_NEW_USER_CALLBACK_URL": true,
}

// deliberate lists scenarios where authbus is stricter than better-auth, and
// what it answers instead.
var deliberate = map[string]contracts.Code{
	// better-auth trusts it through the host-only pattern *.wild.example.com.
	`callbackURL "javascript://x.wild.example.com/%0aalert(1)"`: contracts.CodeInvalidCallbackURL,
}

// The real server's answers to the middleware scenarios (§10 rules 1, 2, 4)
// are reproduced by running the same checks in better-auth's order: the
// origin check, the URL parameters, then (sign-in/up) the form CSRF check.
func TestPeerScenarios(t *testing.T) {
	var f struct {
		TrustedOrigins []string   `json:"trustedOrigins"`
		Scenarios      []scenario `json:"scenarios"`
	}
	readJSON(t, "peer.json", &f)
	p := New(f.TrustedOrigins, Options{})
	for _, s := range f.Scenarios {
		t.Run(s.Rule+"/"+s.Name, func(t *testing.T) {
			got := runChecks(t, p, s)
			want := expected(s)
			if code, ok := deliberate[s.Name]; ok {
				require.Nil(t, want, "the peer let it through")
				want = code.Err()
			}
			require.Equal(t, want, got)
		})
	}
}

func expected(s scenario) *contracts.Error {
	switch {
	case s.Status == http.StatusForbidden && middlewareCodes[s.Code]:
		e := contracts.Code(s.Code).Err()
		e.Message = s.Message
		return e
	case s.Status == http.StatusBadRequest && strings.HasSuffix(s.Message, ": expected a string"):
		return &contracts.Error{Status: http.StatusBadRequest, Code: contracts.Code(s.Code), Message: s.Message}
	}
	return nil
}

func runChecks(t *testing.T, p *Policy, s scenario) *contracts.Error {
	h := http.Header{}
	for k, v := range s.Headers {
		if k != "host" {
			h.Set(k, v)
		}
	}
	self := SelfOrigin("http", s.Headers["host"])

	var body map[string]any
	if len(s.Body) > 0 && string(s.Body) != "null" {
		require.NoError(t, json.Unmarshal(s.Body, &body))
	}
	params := Params{
		CallbackURL:        body["callbackURL"],
		RedirectTo:         body["redirectTo"],
		ErrorCallbackURL:   body["errorCallbackURL"],
		NewUserCallbackURL: body["newUserCallbackURL"],
	}
	if _, rawQuery, ok := strings.Cut(s.Path, "?"); ok {
		q, err := url.ParseQuery(rawQuery)
		require.NoError(t, err)
		switch v := q["callbackURL"]; len(v) {
		case 0:
		case 1:
			params.QueryCallbackURL = v[0]
		default:
			params.QueryCallbackURL = v
		}
	}
	if err := p.CheckRequest(s.Method, h, self); err != nil {
		return err
	}
	if err := p.CheckParams(s.Method, params); err != nil {
		return err
	}
	path, _, _ := strings.Cut(s.Path, "?")
	if path == "/sign-in/email" || path == "/sign-up/email" {
		return p.CheckFormCSRF(h, self)
	}
	return nil
}

func TestIsTrustedURL(t *testing.T) {
	p := New([]string{"http://localhost:3000", "https://*.example.com", "*.wild.test", "myapp://cb"}, Options{})
	tests := []struct {
		url  string
		want bool
	}{
		{"/dashboard", true},
		{"/a?next=//x", true},
		{"//evil.com", false},
		{`/\evil.com`, false},
		{"/%2fevil.com", false},
		{"/%5Cevil.com", false},
		{"/ok%2Fin-query?x=%2F", false},
		{"/x?y=%2F", true},
		{"/x\x00", false},
		{"/x\u0085", false},
		{"dashboard", false},
		{"http://localhost:3000/x", true},
		{"HTTP://LOCALHOST:3000", true},
		{"http://localhost:3001", false},
		{"https://a.example.com/x", true},
		{"https://a.b.example.com", true},
		{"http://a.example.com", false},
		{"https://example.com", false},
		{"https://evil.com/.example.com", false},
		{"https://a.example.com@evil.com", false},
		{`https://evil.com\@a.example.com`, false},
		{"https://x.wild.test:8080/cb", false},
		{"https://x.wild.test/cb", true},
		{"myapp://cb/done", true},
		{"myapp://other", false},
		{"javascript://x.wild.test/%0aalert(1)", false},
		{"data://x.wild.test/,x", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			require.Equal(t, tc.want, p.IsTrustedURL(tc.url))
		})
	}
	require.False(t, p.IsTrusted("/dashboard"), "relative paths are never a trusted origin")
	require.False(t, New(nil, Options{}).IsTrustedURL("/x"), "nothing is trusted without patterns")
}

func TestCheckCallbackURL(t *testing.T) {
	p := New([]string{"http://localhost:3000"}, Options{})
	require.Nil(t, p.CheckCallbackURL("/reset"))
	require.Nil(t, p.CheckCallbackURL(""))
	require.Nil(t, p.CheckCallbackURL("http://localhost:3000/done", "/x"))
	err := p.CheckCallbackURL("/ok", "https://evil.example.org")
	require.NotNil(t, err)
	require.Equal(t, contracts.CodeInvalidCallbackURL, err.Code)
	require.Equal(t, http.StatusForbidden, err.Status)
}

func TestOptions(t *testing.T) {
	evil := http.Header{"Cookie": {"x=1"}, "Origin": {"https://evil.example.org"}}
	nav := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}}
	bad := Params{CallbackURL: "https://evil.example.org"}
	tests := []struct {
		name                       string
		opts                       Options
		wantRequest, wantForm, url bool // true: the check rejects
	}{
		{name: "defaults", wantRequest: true, wantForm: true, url: true},
		{name: "disableCSRFCheck", opts: Options{DisableCSRFCheck: true}, url: true},
		{name: "disableOriginCheck", opts: Options{DisableOriginCheck: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New([]string{"http://localhost:3000"}, tc.opts)
			require.Equal(t, tc.wantRequest, p.CheckRequest(http.MethodPost, evil, "") != nil)
			require.Equal(t, tc.wantForm, p.CheckFormCSRF(nav, "") != nil)
			require.Equal(t, tc.url, p.CheckParams(http.MethodPost, bad) != nil)
			require.Equal(t, tc.url, p.CheckCallbackURL("https://evil.example.org") != nil)
		})
	}
}

func TestCheckRequestSkipsSafeMethods(t *testing.T) {
	p := New([]string{"http://localhost:3000"}, Options{})
	h := http.Header{"Cookie": {"x=1"}}
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
		require.Nil(t, p.CheckRequest(m, h, ""), m)
		require.Nil(t, p.CheckParams(m, Params{CallbackURL: "https://evil"}), m)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		require.Equal(t, contracts.CodeMissingOrNullOrigin, p.CheckRequest(m, h, "").Code, m)
	}
}

func TestHeaderDetails(t *testing.T) {
	p := New([]string{"http://localhost:3000"}, Options{})
	// Two Origin headers reach better-auth joined with ", ": not an origin.
	h := http.Header{"Cookie": {"x=1"}, "Origin": {"http://localhost:3000", "http://localhost:3000"}}
	require.Equal(t, contracts.CodeInvalidOrigin, p.CheckRequest(http.MethodPost, h, "").Code)
	// Of two Referer headers Node keeps the first.
	h = http.Header{"Cookie": {"x=1"}, "Referer": {"http://localhost:3000/a", "https://evil.example.org/"}}
	require.Nil(t, p.CheckRequest(http.MethodPost, h, ""))
	// Raw latin-1 bytes are not an origin.
	h = http.Header{"Cookie": {"x=1"}, "Origin": {"http://localhost:3000\xe9"}}
	require.Equal(t, contracts.CodeInvalidOrigin, p.CheckRequest(http.MethodPost, h, "").Code)
}

func TestJSTruthy(t *testing.T) {
	for _, v := range []any{nil, false, "", 0.0, 0, int64(0), json.Number("0")} {
		require.False(t, jsTruthy(v), "%#v", v)
	}
	for _, v := range []any{true, "x", 1.0, -1, json.Number("2"), []any{}, map[string]any{}, []string{}} {
		require.True(t, jsTruthy(v), "%#v", v)
	}
}

func TestSelfAndOriginOf(t *testing.T) {
	require.Equal(t, "http://localhost:3000", SelfOrigin("http", "localhost:3000"))
	require.Equal(t, "https://example.com", SelfOrigin("https", "EXAMPLE.com:443"))
	require.Equal(t, "", SelfOrigin("http", ""))
	require.Equal(t, "https://app.example.com", OriginOf("https://app.example.com/api/auth"))
	require.Equal(t, "", OriginOf("myapp://x"))
}
