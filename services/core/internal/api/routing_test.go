package api_test

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/telemetry"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/auth/authtest"
)

// rawRequest sends a request exactly as given (no jar, no Origin).
func (e *env) rawRequest(method, path string, body io.Reader, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.origin+path, body)
	require.NoError(e.t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := httpClient.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

func TestRouting(t *testing.T) {
	e := newEnv(t, authtest.Backends()[0])
	for _, tc := range []struct {
		name, method, path string
	}{
		{"unknown path", "GET", "/api/auth/does-not-exist"},
		{"trailing slash", "GET", "/api/auth/ok/"},
		{"double slash", "GET", "/api/auth//ok"},
		{"case", "GET", "/api/auth/OK"},
		{"base path itself", "GET", "/api/auth"},
		{"base path slash", "GET", "/api/auth/"},
		{"outside the base path", "GET", "/ok"},
		{"wrong method", "PUT", "/api/auth/sign-out"},
		{"GET on a POST route", "GET", "/api/auth/sign-in/email"},
		{"OPTIONS", "OPTIONS", "/api/auth/sign-out"},
		{"HEAD", "HEAD", "/api/auth/ok"},
		{"reset-password without token", "GET", "/api/auth/reset-password/"},
		{"reset-password two segments", "GET", "/api/auth/reset-password/abc/def?callbackURL=/x"},
		{"double slash in plugin path", "GET", "/api/auth/organization//list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.rawRequest(tc.method, tc.path, nil, nil)
			require.Equal(t, http.StatusNotFound, r.Status)
			require.Empty(t, r.Body)
			require.Empty(t, r.Header.Get("Content-Type"))
			require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
		})
	}
	r := e.rawRequest("GET", "/api/auth/ok?x=1", nil, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, `{"ok":true}`, string(r.Body))
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
}

func TestFallbackServesPluginMounts(t *testing.T) {
	var seen atomic.Value
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(auth.RequestFrom(r.Context()).Info)
		if strings.HasPrefix(r.URL.Path, "/api/auth/organization/") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"plugin":true}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	e := newEnv(t, authtest.Backends()[0], func(c *config) { c.api.Fallback = fallback })
	r := e.rawRequest("GET", "/api/auth/organization/list", nil, map[string]string{"User-Agent": "fallback-test"})
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, `{"plugin":true}`, string(r.Body))
	info := seen.Load().(contracts.RequestInfo)
	require.Equal(t, "fallback-test", info.UserAgent)
	require.Equal(t, "127.0.0.1", info.IPAddress)
	require.NotNil(t, e.hooks.Last(contracts.HookBeforeRequest))

	// A core path with another method is the core's 404, not the plugin's.
	seen.Store(contracts.RequestInfo{})
	r = e.rawRequest("DELETE", "/api/auth/sign-out", nil, map[string]string{"User-Agent": "core"})
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, contracts.RequestInfo{}, seen.Load())
}

func TestBodyDecoding(t *testing.T) {
	e := newEnv(t, authtest.Backends()[0], func(c *config) { c.api.MaxBodyBytes = 1024 })
	t.Run("too large", func(t *testing.T) {
		big := `{"name":"` + strings.Repeat("x", 2000) + `","email":"a@b.co","password":"password123"}`
		r := e.rawRequest("POST", "/api/auth/sign-up/email", strings.NewReader(big), map[string]string{"Content-Type": "application/json"})
		r.requireError(t, http.StatusRequestEntityTooLarge, contracts.CodePayloadTooLarge, "")
	})
	t.Run("too large without a length", func(t *testing.T) {
		big := `{"name":"` + strings.Repeat("x", 2000) + `"}`
		pr, pw := io.Pipe()
		go func() { _, _ = io.WriteString(pw, big); pw.Close() }()
		r := e.rawRequest("POST", "/api/auth/sign-up/email", pr, map[string]string{"Content-Type": "application/json"})
		r.requireError(t, http.StatusRequestEntityTooLarge, contracts.CodePayloadTooLarge, "")
	})
	t.Run("no content type is no body", func(t *testing.T) {
		r := e.rawRequest("POST", "/api/auth/revoke-session", strings.NewReader(`{"token":"x"}`), nil)
		r.requireError(t, http.StatusBadRequest, contracts.CodeValidationError, "[body] Invalid input: expected object, received undefined")
	})
	t.Run("byte-order mark and charset", func(t *testing.T) {
		body := "\xef\xbb\xbf" + `{"name":"Bom","email":"bom@example.com","password":"password123"}`
		r := e.rawRequest("POST", "/api/auth/sign-up/email", strings.NewReader(body), map[string]string{"Content-Type": "Application/JSON; charset=utf-8"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	})
	t.Run("form sign-up", func(t *testing.T) {
		r := e.rawRequest("POST", "/api/auth/sign-up/email", strings.NewReader("name=Form+User&email=form%40example.com&password=password123"),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.Equal(t, "Form User", r.Obj(t)["user"].(map[string]any)["name"])
	})
	t.Run("extra keys are ignored", func(t *testing.T) {
		r := e.client().post("/sign-up/email", map[string]any{"name": "X", "email": "y@example.com", "password": "password123", "emailVerified": true, "role": "admin"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.Equal(t, false, r.Obj(t)["user"].(map[string]any)["emailVerified"])
		u, err := e.st.UserByEmail(context.Background(), "y@example.com")
		require.NoError(t, err)
		require.Equal(t, "user", u.Role)
	})
}

func TestErrorPage(t *testing.T) {
	e := newEnv(t, authtest.Backends()[0])
	for _, tc := range []struct{ query, golden string }{
		{"?error=ZQ'QZ", "testdata/errorpage-peer-default.html"},
		{"?error=ZQ'QZ&error_description=ZDESCZ", "testdata/errorpage-peer-description.html"},
	} {
		want, err := os.ReadFile(tc.golden)
		require.NoError(t, err)
		r := e.rawRequest("GET", "/api/auth/error"+tc.query, nil, nil)
		require.Equal(t, http.StatusOK, r.Status)
		require.Equal(t, "text/html", r.Header.Get("Content-Type"))
		require.Equal(t, string(want), string(r.Body), "same page as the real server")
	}
	r := e.rawRequest("GET", "/api/auth/error?error=<script>&error_description=%3Cb%3Ex%26y", nil, nil)
	require.Contains(t, string(r.Body), "UNKNOWN")
	require.NotContains(t, string(r.Body), "<script>")
	require.Contains(t, string(r.Body), "&lt;b&gt;x&amp;y")

	e2 := newEnv(t, authtest.Backends()[0], func(c *config) { c.api.ErrorURL = "https://app.example.com/oops" })
	r = e2.rawRequest("GET", "/api/auth/error?error=BAD_THING&error_description=d", nil, nil)
	require.Equal(t, http.StatusFound, r.Status)
	require.Equal(t, "https://app.example.com/oops?error=BAD_THING&error_description=d", r.Header.Get("Location"))
}

func TestPanicBecomesEmpty500(t *testing.T) {
	e := newEnv(t, authtest.Backends()[0])
	e.hooks.Patch(contracts.HookBeforeSignUp, func(any) { panic("plugin bug") })
	r := e.client().post("/sign-up/email", map[string]any{"name": "X", "email": "p@example.com", "password": "password123"})
	require.Equal(t, http.StatusInternalServerError, r.Status)
	require.Empty(t, r.Body)
	e.hooks.Reset()
	r = e.rawRequest("GET", "/api/auth/ok", nil, nil)
	require.Equal(t, http.StatusOK, r.Status, "the server still works")
}

func TestRequestHooks(t *testing.T) {
	e := newEnv(t, authtest.Backends()[0])
	t.Run("beforeRequest abort is the answer", func(t *testing.T) {
		e.hooks.Reset()
		e.hooks.Abort(contracts.HookBeforeRequest, &contracts.Error{Status: 429, Code: contracts.CodeRateLimited, Message: "Too many requests. Please try again later."})
		r := e.rawRequest("GET", "/api/auth/ok", nil, nil)
		r.requireError(t, 429, contracts.CodeRateLimited, "Too many requests. Please try again later.")
		r = e.rawRequest("GET", "/api/auth/organization/list", nil, nil)
		require.Equal(t, 429, r.Status, "also before the fallback")
	})
	t.Run("afterRequest and onError", func(t *testing.T) {
		e.hooks.Reset()
		c := e.client().withHeader("User-Agent", "after-hooks-1")
		r := c.post("/sign-in/email", map[string]any{"email": "nobody@example.com", "password": "password123"})
		require.Equal(t, 401, r.Status)
		byAgent := func(ua string) func(any) bool {
			return func(c any) bool {
				switch x := c.(type) {
				case contracts.ResponseContext:
					return x.Request.UserAgent == ua
				case contracts.ErrorContext:
					return x.Request.UserAgent == ua
				}
				return false
			}
		}
		rc := e.hooks.Await(t, contracts.HookAfterRequest, byAgent("after-hooks-1")).(contracts.ResponseContext)
		require.Equal(t, 401, rc.Status)
		require.Equal(t, "/api/auth/sign-in/email", rc.Request.Path)
		require.Equal(t, "POST", rc.Request.Method)
		ec := e.hooks.Await(t, contracts.HookOnError, byAgent("after-hooks-1")).(contracts.ErrorContext)
		require.Equal(t, contracts.CodeInvalidEmailOrPassword, ec.Error.Code)
		require.Equal(t, 401, ec.Error.Status)

		c = e.client().withHeader("User-Agent", "after-hooks-2")
		c.signUp("hooked@example.com", "password123")
		rc = e.hooks.Await(t, contracts.HookAfterRequest, byAgent("after-hooks-2")).(contracts.ResponseContext)
		require.Equal(t, 200, rc.Status)
		require.NotEmpty(t, rc.UserID)
		for _, call := range e.hooks.Calls() {
			if call.Point == contracts.HookOnError {
				require.False(t, byAgent("after-hooks-2")(call.Context), "no onError for a success")
			}
		}
	})
}

func TestClientAddress(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		xff     string
		want    string
	}{
		{"no trusted proxy ignores X-Forwarded-For", nil, "198.51.100.9", "127.0.0.1"},
		{"trusted proxy", []string{"127.0.0.1/32"}, "198.51.100.9", "198.51.100.9"},
		{"right-most untrusted hop", []string{"127.0.0.0/8", "10.0.0.0/8"}, "203.0.113.1, 198.51.100.9, 10.1.2.3", "198.51.100.9"},
		{"garbage stops the walk", []string{"127.0.0.1"}, "203.0.113.1, not-an-ip", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, authtest.Backends()[0], func(c *config) {
				var err error
				c.api.TrustedProxies, err = parseCIDRs(tc.trusted)
				require.NoError(t, err)
			})
			c := e.client().withHeader("X-Forwarded-For", tc.xff)
			c.signUp("ip@example.com", "password123")
			r := c.get("/get-session")
			require.Equal(t, tc.want, r.Obj(t)["session"].(map[string]any)["ipAddress"])
		})
	}
}

func TestMetricsByRoute(t *testing.T) {
	reg := prometheus.NewRegistry()
	instr, err := telemetry.NewHTTPInstrumentation(reg)
	require.NoError(t, err)
	e := newEnv(t, authtest.Backends()[0], func(c *config) { c.api.Instrumentation = instr })
	e.rawRequest("GET", "/api/auth/ok", nil, nil)
	e.rawRequest("GET", "/api/auth/reset-password/abc?callbackURL=/x", nil, nil)
	e.rawRequest("GET", "/api/auth/nope-1", nil, nil)
	e.rawRequest("GET", "/api/auth/nope-2", nil, nil)
	fams, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "http_server_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["method"]+" "+labels["route"]+" "+labels["status"]] = m.GetCounter().GetValue()
		}
	}
	require.Equal(t, map[string]float64{
		"GET /api/auth/ok 200":                    1,
		"GET /api/auth/reset-password/:token 302": 1,
		"GET unmatched 404":                       2,
	}, got, "one series per route pattern, never the raw path")
}

func parseCIDRs(list []string) ([]netip.Prefix, error) {
	if list == nil {
		return nil, nil
	}
	return apiParseCIDRs(list)
}
