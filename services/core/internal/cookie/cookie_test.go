package cookie

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/go-cache.json")

const peerSecret = "peer-test-secret-0123456789-abcdefghijklmnop"

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err, "regenerate it as testdata/README.md says")
	require.NoError(t, json.Unmarshal(raw, v))
}

func newJar(t testing.TB, o Options) *Jar {
	t.Helper()
	j, err := NewJar([]byte(peerSecret), o)
	require.NoError(t, err)
	return j
}

// The worked example of the contract (§2.3).
func TestContractExample(t *testing.T) {
	j := newJar(t, Options{})
	got, err := j.SetSession(nil, SessionCookies{Token: "k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH", Now: time.Now()})
	require.NoError(t, err)
	require.Equal(t, []string{
		"better-auth.session_token=k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH.TiUHpy3enDDHzS6Z22BY%2BtHTd7%2F0%2BDb83PViltDjAKA%3D; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax",
	}, got)
	sig := "k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH.TiUHpy3enDDHzS6Z22BY+tHTd7/0+Db83PViltDjAKA="
	require.Equal(t, sig, j.Signer().Sign("k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH"))
	tok, ok := j.SessionTokenFrom("better-auth.session_token=k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH.TiUHpy3enDDHzS6Z22BY%2BtHTd7%2F0%2BDb83PViltDjAKA%3D")
	require.True(t, ok)
	require.Equal(t, "k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH", tok)
	// The dont_remember value is constant per secret (transcript).
	require.Equal(t, "true.v8hCNyXSyrSCujjS696iFYz8%2B56Q2YaK3BsjYX%2FJScU%3D", j.dontRememberValue)
}

type transcriptFile struct {
	Secret    string `json:"secret"`
	Exchanges []struct {
		Label         string          `json:"label"`
		Request       string          `json:"request"`
		Cookie        string          `json:"cookie"`
		Authorization string          `json:"authorization"`
		Body          json.RawMessage `json:"body"`
		SetCookie     []string        `json:"setCookie"`
		SetAuthToken  string          `json:"setAuthToken"`
		Token         string          `json:"token"`
	} `json:"exchanges"`
}

// Every cookie and set-auth-token of the recorded better-auth transcript is
// reproduced, and every request cookie / bearer header in it is read back.
func TestTranscript(t *testing.T) {
	var f transcriptFile
	readJSON(t, "transcript.json", &f)
	require.Equal(t, peerSecret, f.Secret)
	j := newJar(t, Options{})
	sessionSets, expirySets, reads := 0, 0, 0
	for _, ex := range f.Exchanges {
		t.Run(ex.Label, func(t *testing.T) {
			if ex.Cookie != "" {
				tok, ok := j.SessionTokenFrom(ex.Cookie)
				if strings.Contains(ex.Label, "tampered") {
					require.False(t, ok)
				} else {
					require.True(t, ok)
					require.Len(t, tok, 32)
					if ex.Token != "" && strings.HasPrefix(ex.Request, "GET /get-session") {
						require.Equal(t, ex.Token, tok)
					}
					reads++
				}
			}
			if ex.Authorization != "" {
				tok, ok := j.Bearer(ex.Authorization)
				require.True(t, ok)
				require.Equal(t, ex.Token, tok)
				reads++
			}
			if len(ex.SetCookie) == 0 {
				return
			}
			if strings.HasPrefix(ex.SetCookie[0], j.SessionToken.Name+"=;") {
				require.Equal(t, ex.SetCookie, j.ExpireSession(nil, ex.Cookie))
				_, ok := j.SetAuthToken(ex.SetCookie)
				require.False(t, ok, "no set-auth-token when cookies are deleted")
				expirySets++
				return
			}
			token, _, _ := strings.Cut(ex.SetAuthToken, ".")
			var body struct {
				RememberMe *bool `json:"rememberMe"`
			}
			if len(ex.Body) > 0 {
				require.NoError(t, json.Unmarshal(ex.Body, &body))
			}
			got, err := j.SetSession(nil, SessionCookies{
				Token:         token,
				DontRemember:  body.RememberMe != nil && !*body.RememberMe,
				RequestCookie: ex.Cookie,
				Now:           time.Now(),
			})
			require.NoError(t, err)
			require.Equal(t, ex.SetCookie, got)
			sat, ok := j.SetAuthToken(got)
			require.True(t, ok)
			require.Equal(t, ex.SetAuthToken, sat)
			sessionSets++
		})
	}
	require.GreaterOrEqual(t, sessionSets, 10)
	require.GreaterOrEqual(t, expirySets, 3)
	require.GreaterOrEqual(t, reads, 30)
}

type peerStep struct {
	Name    string `json:"name"`
	Request struct {
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Cookie string          `json:"cookie"`
		Body   json.RawMessage `json:"body"`
	} `json:"request"`
	Status       int             `json:"status"`
	SetCookie    []string        `json:"setCookie"`
	SetAuthToken string          `json:"setAuthToken"`
	Token        string          `json:"token"`
	Response     json.RawMessage `json:"response"`
}

type peerFile struct {
	Secret string     `json:"secret"`
	HTTP   []peerStep `json:"http"`
	HTTPS  []peerStep `json:"https"`
	Probes struct {
		Token   string `json:"token"`
		Signed  string `json:"signed"`
		Cookies []struct {
			Name          string `json:"name"`
			Cookie        string `json:"cookie"`
			Authenticated bool   `json:"authenticated"`
		} `json:"cookies"`
		Bearer []struct {
			Name          string `json:"name"`
			Authorization string `json:"authorization"`
			Authenticated bool   `json:"authenticated"`
		} `json:"bearer"`
	} `json:"probes"`
}

// Cookies captured from the real peer with the cookie cache on
// (PEER_COOKIE_CACHE=1): each Set-Cookie list is reproduced byte for byte —
// session_data included, from its decoded payload — and each cache cookie
// verifies here.
func TestPeerCookieCache(t *testing.T) {
	var f peerFile
	readJSON(t, "peer.json", &f)
	require.Equal(t, peerSecret, f.Secret)
	for _, group := range []struct {
		name   string
		steps  []peerStep
		secure bool
	}{{"http", f.HTTP, false}, {"https", f.HTTPS, true}} {
		j := newJar(t, Options{Secure: group.secure, CacheEnabled: true})
		for _, s := range group.steps {
			t.Run(group.name+"/"+s.Name, func(t *testing.T) {
				require.Equal(t, 200, s.Status)
				checkPeerStep(t, j, s)
			})
		}
	}
}

func checkPeerStep(t *testing.T, j *Jar, s peerStep) {
	switch {
	case s.Request.Method == "GET":
		// get-session answered from the cookie cache: decode it here too.
		tok, ok := j.SessionTokenFrom(s.Request.Cookie)
		require.True(t, ok)
		c, err := j.CacheFrom(s.Request.Cookie)
		require.NoError(t, err)
		var resp struct {
			Session json.RawMessage `json:"session"`
			User    json.RawMessage `json:"user"`
		}
		require.NoError(t, json.Unmarshal(s.Response, &resp))
		require.JSONEq(t, string(resp.Session), string(c.Session))
		require.JSONEq(t, string(resp.User), string(c.User))
		var sess struct {
			Token string `json:"token"`
		}
		require.NoError(t, json.Unmarshal(c.Session, &sess))
		require.Equal(t, tok, sess.Token)
		require.Equal(t, "1", c.Version)
		require.Empty(t, s.SetCookie)

	case strings.HasPrefix(s.Request.Path, "/sign-out"):
		require.Equal(t, s.SetCookie, j.ExpireSession(nil, s.Request.Cookie))

	default:
		var body struct {
			RememberMe *bool `json:"rememberMe"`
		}
		require.NoError(t, json.Unmarshal(s.Request.Body, &body))
		dontRemember := body.RememberMe != nil && !*body.RememberMe

		// Decode the peer's cache from its own Set-Cookie lines.
		c, err := DecodeCache([]byte(peerSecret), cacheValueOf(t, j, s.SetCookie))
		require.NoError(t, err)
		life := int64(300_000)
		if dontRemember {
			life = 60_000
		}
		now := time.UnixMilli(c.ExpiresAt - life)
		require.InDelta(t, c.UpdatedAt, now.UnixMilli(), 1000)

		got, err := j.SetSession(nil, SessionCookies{
			Token:         s.Token,
			DontRemember:  dontRemember,
			RequestCookie: s.Request.Cookie,
			Cache:         &c.CachePayload,
			Now:           now,
		})
		require.NoError(t, err)
		require.Equal(t, s.SetCookie, got)
		sat, ok := j.SetAuthToken(got)
		require.True(t, ok)
		require.Equal(t, s.SetAuthToken, sat)
	}
}

// cacheValueOf joins the session_data value (or its chunks) being set.
func cacheValueOf(t *testing.T, j *Jar, setCookies []string) string {
	t.Helper()
	var b strings.Builder
	for _, sc := range setCookies {
		name, value, deleted := parseSetCookie(sc)
		if deleted || (name != j.SessionData.Name && !strings.HasPrefix(name, j.SessionData.Name+".")) {
			continue
		}
		b.WriteString(value)
	}
	require.NotZero(t, b.Len(), "no session_data cookie set")
	return b.String()
}

// Variants of a session cookie and of an Authorization header sent to the
// real server: ours authenticates exactly the ones it did.
func TestPeerProbes(t *testing.T) {
	var f peerFile
	readJSON(t, "peer.json", &f)
	j := newJar(t, Options{})
	p := f.Probes
	require.Equal(t, p.Signed, j.Signer().Sign(p.Token))
	for _, c := range p.Cookies {
		t.Run("cookie/"+c.Name, func(t *testing.T) {
			tok, ok := j.SessionTokenFrom(c.Cookie)
			require.Equal(t, c.Authenticated, ok && tok == p.Token, "token %q ok %v", tok, ok)
		})
	}
	for _, c := range p.Bearer {
		t.Run("bearer/"+c.Name, func(t *testing.T) {
			tok, ok := j.Bearer(c.Authorization)
			require.Equal(t, c.Authenticated, ok && tok == p.Token, "token %q ok %v", tok, ok)
		})
	}
}

type betterCallFile struct {
	Secret string `json:"secret"`
	Parse  []struct {
		Header     string      `json:"header"`
		BetterCall [][2]string `json:"betterCall"`
		BetterAuth [][2]string `json:"betterAuth"`
	} `json:"parse"`
	Serialize []struct {
		Name    string `json:"name"`
		Value   string `json:"value"`
		Options struct {
			MaxAge      *int   `json:"maxAge"`
			Domain      string `json:"domain"`
			Path        string `json:"path"`
			Expires     string `json:"expires"`
			HTTPOnly    bool   `json:"httpOnly"`
			Secure      bool   `json:"secure"`
			SameSite    string `json:"sameSite"`
			Partitioned bool   `json:"partitioned"`
		} `json:"options"`
		Result string `json:"result"`
	} `json:"serialize"`
	Signed []struct {
		Value  string `json:"value"`
		Result string `json:"result"`
	} `json:"signed"`
	Decode []struct {
		Input  string `json:"input"`
		OK     bool   `json:"ok"`
		Output string `json:"output"`
	} `json:"decode"`
	Encode []struct {
		Input  string `json:"input"`
		Output string `json:"output"`
	} `json:"encode"`
	SetAuthToken []struct {
		SetCookie []string `json:"setCookie"`
		OK        bool     `json:"ok"`
		Token     string   `json:"token"`
	} `json:"setAuthToken"`
}

// latin1 maps a JavaScript test string whose characters are all <= U+00FF to
// the header bytes Node would have decoded it from.
func latin1(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = append(b, byte(r))
	}
	return string(b)
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

func TestBetterCallVectors(t *testing.T) {
	var f betterCallFile
	readJSON(t, "bettercall.json", &f)

	for _, c := range f.Parse {
		t.Run("parse/"+c.Header, func(t *testing.T) {
			// Raw non-ASCII header characters reach JavaScript as latin-1
			// bytes; escaped ones are decoded as UTF-8.
			conv := func(s string) string { return s }
			if hasNonASCII(c.Header) {
				conv = latin1
			}
			header := conv(c.Header)
			var want []Pair
			for _, kv := range c.BetterCall {
				want = append(want, Pair{Name: conv(kv[0]), Value: conv(kv[1])})
			}
			require.Equal(t, want, Parse(header))
			for _, p := range want {
				v, ok := Get(header, p.Name)
				require.True(t, ok)
				require.Equal(t, p.Value, v)
			}
			var strict []strictPair
			for _, kv := range c.BetterAuth {
				strict = append(strict, strictPair{conv(kv[0]), conv(kv[1])})
			}
			require.Equal(t, strict, parseStrict(header))
		})
	}
	for _, c := range f.Serialize {
		t.Run("serialize/"+c.Result, func(t *testing.T) {
			a := Attributes{Domain: c.Options.Domain, Path: c.Options.Path, HTTPOnly: c.Options.HTTPOnly,
				Secure: c.Options.Secure, SameSite: c.Options.SameSite, Partitioned: c.Options.Partitioned}
			if m := c.Options.MaxAge; m != nil {
				a.MaxAge = *m
				if *m == 0 {
					a.MaxAge = -1
				}
			}
			if c.Options.Expires != "" {
				exp, err := time.Parse(time.RFC3339, c.Options.Expires)
				require.NoError(t, err)
				a.Expires = exp
			}
			got, err := Serialize(c.Name, c.Value, a)
			require.NoError(t, err)
			require.Equal(t, c.Result, got)
		})
	}
	s := NewSigner([]byte(f.Secret))
	for _, c := range f.Signed {
		t.Run("signed/"+c.Value, func(t *testing.T) {
			require.Equal(t, strings.TrimPrefix(c.Result, "c="), s.Encode(c.Value))
			v, ok := s.Verify(tryDecode(strings.TrimPrefix(c.Result, "c=")))
			require.Equal(t, c.Value != "", ok, "an empty value cannot verify (lastIndexOf('.') < 1)")
			if ok {
				require.Equal(t, c.Value, v)
			}
		})
	}
	for _, c := range f.Decode {
		t.Run("decode/"+c.Input, func(t *testing.T) {
			got, err := DecodeURIComponent(c.Input)
			require.Equal(t, c.OK, err == nil)
			require.Equal(t, c.Output, got)
		})
	}
	for _, c := range f.Encode {
		t.Run("encode/"+c.Input, func(t *testing.T) {
			require.Equal(t, c.Output, EncodeURIComponent(c.Input))
		})
	}
	for _, c := range f.SetAuthToken {
		t.Run("set-auth-token/"+strings.Join(c.SetCookie, " | "), func(t *testing.T) {
			tok, ok := SetAuthToken("better-auth.session_token", c.SetCookie)
			require.Equal(t, c.OK, ok)
			require.Equal(t, c.Token, tok)
		})
	}
}

func TestSecurePrefix(t *testing.T) {
	yes, no := true, false
	require.True(t, UseSecureCookies(nil, "https://auth.example.com", false))
	require.False(t, UseSecureCookies(nil, "http://127.0.0.1:3000", true))
	require.True(t, UseSecureCookies(nil, "", true))
	require.False(t, UseSecureCookies(nil, "", false))
	require.True(t, UseSecureCookies(&yes, "http://127.0.0.1:3000", false))
	require.False(t, UseSecureCookies(&no, "https://auth.example.com", true))
	j := newJar(t, Options{Secure: true, Prefix: "myapp", Domain: "example.com", SessionMaxAge: 3600})
	require.Equal(t, "__Secure-myapp.session_token", j.SessionToken.Name)
	got, err := j.SetSession(nil, SessionCookies{Token: "t0k", DontRemember: true, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.True(t, strings.HasPrefix(got[0], "__Secure-myapp.session_token=t0k."))
	require.True(t, strings.HasSuffix(got[0], "; Domain=example.com; Path=/; HttpOnly; Secure; SameSite=Lax"), got[0])
	require.Equal(t, "__Secure-myapp.dont_remember="+j.dontRememberValue+"; Domain=example.com; Path=/; HttpOnly; Secure; SameSite=Lax", got[1])
	// A secure server ignores the plain cookie name (observed: get-session null).
	plain := "myapp.session_token=" + j.Signer().Encode("t0k")
	_, ok := j.SessionTokenFrom(plain)
	require.False(t, ok)
	tok, ok := j.SessionTokenFrom("__Secure-" + plain)
	require.True(t, ok)
	require.Equal(t, "t0k", tok)
}

func TestNewJarValidation(t *testing.T) {
	_, err := NewJar(nil, Options{SessionMaxAge: 400*24*3600 + 1, CacheMaxAge: -5})
	require.Error(t, err)
	for _, want := range []string{"secret is empty", "session max age", "cache max age"} {
		require.ErrorContains(t, err, want)
	}
}

func TestSerializeTooLong(t *testing.T) {
	_, err := Serialize("n", "v", Attributes{MaxAge: 400*24*3600 + 1})
	require.ErrorIs(t, err, ErrTooLong)
	_, err = Serialize("n", "v", Attributes{Expires: time.Now().Add(401 * 24 * time.Hour)})
	require.ErrorIs(t, err, ErrTooLong)
	_, err = Serialize("n", "v", Attributes{MaxAge: 400 * 24 * 3600})
	require.NoError(t, err)
}

func TestRemoveSetCookie(t *testing.T) {
	in := []string{"a=1; Path=/", "a.0=x", "ab=2", "b=3", "a=; Max-Age=0"}
	require.Equal(t, []string{"ab=2", "b=3"}, RemoveSetCookie(in, "a"))
}

func TestExposeHeaders(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "set-auth-token"},
		{"x-a", "x-a, set-auth-token"},
		{" x-a ,, x-b,x-a", "x-a, x-b, set-auth-token"},
		{"set-auth-token, x-a", "set-auth-token, x-a"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, ExposeHeaders(tc.in))
	}
}

func TestCacheRoundTripAndTamper(t *testing.T) {
	secret := []byte(peerSecret)
	session, err := json.Marshal(map[string]any{"token": "tok", "expiresAt": "2026-11-29T03:43:00.159Z", "note": "<&> \u2028 \ufffd"})
	require.NoError(t, err)
	require.Contains(t, string(session), `\u003c`, "encoding/json escapes HTML")
	p := CachePayload{Session: session, User: json.RawMessage(`{"id":"u", "name" : "x"}`), UpdatedAt: 1795318980168}
	v, err := EncodeCache(secret, p, 1795319280168)
	require.NoError(t, err)

	c, err := DecodeCache(secret, v)
	require.NoError(t, err)
	require.Equal(t, int64(1795319280168), c.ExpiresAt)
	require.Equal(t, int64(1795318980168), c.UpdatedAt)
	require.Equal(t, "1", c.Version)
	require.Contains(t, string(c.Session), "<&> \u2028 \ufffd", "written as JSON.stringify writes it")
	require.Equal(t, `{"id":"u","name":"x"}`, string(c.User))
	require.False(t, c.Expired(time.UnixMilli(1795319280168)))
	require.True(t, c.Expired(time.UnixMilli(1795319280169)))

	_, err = DecodeCache([]byte("another-secret-another-secret-xx"), v)
	require.ErrorIs(t, err, ErrInvalidCache)

	raw, ok := decodeBase64Loose(v)
	require.True(t, ok)
	tampered := []struct {
		name string
		v    string
	}{
		{"payload changed", encodeRaw(strings.Replace(string(raw), `"tok"`, `"tak"`, 1))},
		{"expiry extended", encodeRaw(strings.Replace(string(raw), `1795319280168`, `1895319280168`, 1))},
		{"not base64", "%%%"},
		{"not json", encodeRaw("nope")},
		{"session not object", encodeRaw(`{"session":[],"expiresAt":1,"signature":"x"}`)},
		{"expiresAt float", encodeRaw(`{"session":{},"expiresAt":1.5,"signature":"x"}`)},
		{"signature missing", encodeRaw(`{"session":{},"expiresAt":1}`)},
		{"empty", ""},
	}
	for _, tc := range tampered {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeCache(secret, tc.v)
			require.ErrorIs(t, err, ErrInvalidCache)
		})
	}

	_, err = EncodeCache(secret, CachePayload{Session: json.RawMessage(`[]`), User: json.RawMessage(`{}`)}, 1)
	require.Error(t, err)
}

func encodeRaw(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var b strings.Builder
	var buf uint32
	bits := 0
	for i := 0; i < len(s); i++ {
		buf = buf<<8 | uint32(s[i])
		bits += 8
		for bits >= 6 {
			bits -= 6
			b.WriteByte(alphabet[buf>>bits&63])
		}
	}
	if bits > 0 {
		b.WriteByte(alphabet[buf<<(6-bits)&63])
	}
	return b.String()
}

// Chunk boundaries: a value that fits in one 4050-byte cookie is written
// whole, one byte more splits it; stale chunks of the request are expired.
func TestCacheChunking(t *testing.T) {
	j := newJar(t, Options{CacheEnabled: true})
	overhead := len("better-auth.session_data.99=; Max-Age=300; Path=/; HttpOnly; SameSite=Lax")
	size := maxCookieSize - overhead
	now := time.Now()

	got, err := j.appendCache(nil, strings.Repeat("a", size), 300, "", now)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.True(t, strings.HasPrefix(got[0], "better-auth.session_data=aaa"))

	got, err = j.appendCache(nil, strings.Repeat("a", size+1), 300, "better-auth.session_data.3=x; other=1; better-auth.session_data=y", now)
	require.NoError(t, err)
	require.Equal(t, []string{
		"better-auth.session_data.3=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
		"better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
		"better-auth.session_data.0=" + strings.Repeat("a", size) + "; Max-Age=300; Path=/; HttpOnly; SameSite=Lax",
		"better-auth.session_data.1=a; Max-Age=300; Path=/; HttpOnly; SameSite=Lax",
	}, got)
	for _, line := range got {
		require.LessOrEqual(t, len(line), maxCookieSize+1)
	}

	// More than 100 chunks: the cache is skipped, stale cookies still expire.
	got, err = j.appendCache(nil, strings.Repeat("a", size*100+1), 300, "better-auth.session_data=y", now)
	require.NoError(t, err)
	require.Equal(t, []string{"better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"}, got)

	// Reading joins chunks in index order, whatever the header order.
	require.Equal(t, "abc", chunkedValue("x.1=b; x.0=a; x.2=c; x.02=z", "x"))
	require.Equal(t, "whole", chunkedValue("x.0=a; x=whole", "x"))
}

func TestCacheFromErrors(t *testing.T) {
	j := newJar(t, Options{CacheEnabled: true})
	_, err := j.CacheFrom("better-auth.session_token=x")
	require.ErrorIs(t, err, ErrNoCache)
	_, err = j.CacheFrom("better-auth.session_data=bm9wZQ")
	require.True(t, errors.Is(err, ErrInvalidCache))
}

// A cache cookie written here is accepted by better-auth's own
// getCookieCache (testdata/verify-go-cache.mjs; result in testdata/README.md).
func TestGoCacheVector(t *testing.T) {
	path := filepath.Join("testdata", "go-cache.json")
	session := json.RawMessage(`{"id":"s1","token":"GdulJ82ccTIELytbf6xpECb8wmtkQnXn","userId":"u1","expiresAt":"2099-01-01T00:00:00.000Z","createdAt":"2026-11-22T02:31:41.553Z","updatedAt":"2026-11-22T02:31:41.553Z","ipAddress":"","userAgent":"go"}`)
	user, err := json.Marshal(map[string]any{"id": "u1", "name": "Zoë <&> \u2028", "email": "z@example.com", "emailVerified": false, "image": nil,
		"createdAt": "2026-11-22T02:31:40.858Z", "updatedAt": "2026-11-22T02:31:40.858Z"})
	require.NoError(t, err)
	p := CachePayload{Session: session, User: user, UpdatedAt: 1795314701553}
	value, err := EncodeCache([]byte(peerSecret), p, 4070908800000) // 2099-01-01
	require.NoError(t, err)
	if *update {
		out, err := json.MarshalIndent(map[string]any{"secret": peerSecret, "cookie": "better-auth.session_data=" + value}, "", "\t")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(out, '\n'), 0o644))
	}
	var f struct {
		Cookie string `json:"cookie"`
	}
	readJSON(t, "go-cache.json", &f)
	require.Equal(t, "better-auth.session_data="+value, f.Cookie, "EncodeCache output changed; run with -update and re-run verify-go-cache.mjs")
}
