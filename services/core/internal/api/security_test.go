package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/telemetry"
	"github.com/authbus/authbus/services/core/internal/api"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/auth/authtest"
	"github.com/authbus/authbus/services/core/internal/store"
)

// TestOriginAndCSRFMatrix is contract §10 in better-auth's order: the origin
// check of cookie-bearing requests, the URL parameters, the login CSRF check.
func TestOriginAndCSRFMatrix(t *testing.T) {
	e := newEnv(t, authtest.Backends()[0], func(c *config) {
		c.api.TrustedOrigins = []string{"https://app.example.com", "https://*.tenant.example.com", "myapp://"}
	})
	signedIn := e.client()
	signedIn.signUp("o@example.com", "password123")
	cookie := signedIn.cookieHeader()
	signInBody := `{"email":"o@example.com","password":"password123"}`

	cases := []struct {
		name   string
		path   string
		body   string
		header map[string]string
		status int
		code   contracts.Code
	}{
		{"cookie, no Origin", "/update-user", `{"name":"x"}`, map[string]string{"Cookie": cookie}, 403, contracts.CodeMissingOrNullOrigin},
		{"cookie, Origin null", "/update-user", `{"name":"x"}`, map[string]string{"Cookie": cookie, "Origin": "null"}, 403, contracts.CodeMissingOrNullOrigin},
		{"cookie, Origin null from the same origin", "/update-user", `{"name":"x"}`,
			map[string]string{"Cookie": cookie, "Origin": "null", "Sec-Fetch-Site": "same-origin"}, 200, ""},
		{"cookie, untrusted Origin", "/update-user", `{"name":"x"}`, map[string]string{"Cookie": cookie, "Origin": "https://evil.example.org"}, 403, contracts.CodeInvalidOrigin},
		{"cookie, trusted Origin", "/update-user", `{"name":"x"}`, map[string]string{"Cookie": cookie, "Origin": "https://app.example.com"}, 200, ""},
		{"cookie, wildcard Origin", "/update-user", `{"name":"x"}`, map[string]string{"Cookie": cookie, "Origin": "https://a.tenant.example.com"}, 200, ""},
		{"cookie, custom scheme", "/update-user", `{"name":"x"}`, map[string]string{"Cookie": cookie, "Origin": "myapp://"}, 200, ""},
		{"cookie, Referer instead of Origin", "/update-user", `{"name":"x"}`, map[string]string{"Cookie": cookie, "Referer": e.origin + "/settings"}, 200, ""},
		{"cookie, untrusted Referer", "/update-user", `{"name":"x"}`, map[string]string{"Cookie": cookie, "Referer": "https://evil.example.org/x"}, 403, contracts.CodeInvalidOrigin},
		{"no cookie, no check", "/update-user", `{"name":"x"}`, map[string]string{"Origin": "https://evil.example.org"}, 401, contracts.CodeUnauthorized},
		{"untrusted callbackURL without cookie", "/sign-out", `{"callbackURL":"https://evil.example.org/"}`, nil, 403, contracts.CodeInvalidCallbackURL},
		{"protocol-relative callbackURL", "/sign-out", `{"callbackURL":"//evil.example.org/"}`, nil, 403, contracts.CodeInvalidCallbackURL},
		{"query callbackURL", "/sign-out?callbackURL=https%3A%2F%2Fevil.example.org", `{}`, nil, 403, contracts.CodeInvalidCallbackURL},
		{"trusted absolute callbackURL", "/sign-out", `{"callbackURL":"https://app.example.com/bye"}`, nil, 200, ""},
		{"errorCallbackURL", "/sign-out", `{"errorCallbackURL":"https://evil.example.org"}`, nil, 403, contracts.CodeInvalidErrorCallbackURL},
		{"newUserCallbackURL", "/sign-out", `{"newUserCallbackURL":"https://evil.example.org"}`, nil, 403, contracts.CodeInvalidNewUserCallbackURL},
		{"sign-in, cross-site navigation", "/sign-in/email", signInBody, map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, 403, contracts.CodeCrossSiteNavigationLoginBlocked},
		{"sign-in, cross-site fetch without Origin", "/sign-in/email", signInBody, map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}, 403, contracts.CodeMissingOrNullOrigin},
		{"sign-in, untrusted Origin, no cookie", "/sign-in/email", signInBody, map[string]string{"Origin": "https://evil.example.org"}, 403, contracts.CodeInvalidOrigin},
		{"sign-in, trusted Origin", "/sign-in/email", signInBody, map[string]string{"Origin": "https://app.example.com", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}, 200, ""},
		{"sign-in, API client without browser headers", "/sign-in/email", signInBody, nil, 200, ""},
		{"sign-up, untrusted Origin", "/sign-up/email", `{"name":"X","email":"csrf@example.com","password":"password123"}`, map[string]string{"Origin": "https://evil.example.org"}, 403, contracts.CodeInvalidOrigin},
		{"sign-in with a cookie and no Origin", "/sign-in/email", signInBody, map[string]string{"Cookie": cookie}, 403, contracts.CodeMissingOrNullOrigin},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json"}
			for k, v := range tc.header {
				h[k] = v
			}
			r := e.rawRequest(http.MethodPost, "/api/auth"+tc.path, strings.NewReader(tc.body), h)
			if tc.code == "" {
				require.Equal(t, tc.status, r.Status, "%s", r.Body)
				return
			}
			r.requireError(t, tc.status, tc.code, "")
		})
	}
	t.Run("GET redirect endpoints check callbackURL", func(t *testing.T) {
		for _, path := range []string{
			"/verify-email?token=x&callbackURL=https%3A%2F%2Fevil.example.org",
			"/reset-password/abc?callbackURL=https%3A%2F%2Fevil.example.org",
			"/delete-user/callback?token=x&callbackURL=https%3A%2F%2Fevil.example.org",
		} {
			e.rawRequest(http.MethodGet, "/api/auth"+path, nil, nil).requireError(t, 403, contracts.CodeInvalidCallbackURL, "Invalid callbackURL")
		}
	})
}

func TestSecurePrefixFollowsBaseURL(t *testing.T) {
	svc, err := auth.New(authtest.OpenSQLite(t), &authtest.FastHasher{}, auth.Options{BaseURL: "https://auth.example.com/api/auth", Secret: authtest.Secret})
	require.NoError(t, err)
	for base, want := range map[string]string{
		"https://auth.example.com": "__Secure-better-auth.session_token",
		"http://127.0.0.1:3000":    "better-auth.session_token",
	} {
		h, err := api.New(svc, api.Options{BaseURL: base, Secret: authtest.Secret})
		require.NoError(t, err)
		require.Equal(t, want, h.Jar().SessionToken.Name, base)
	}
	_, err = api.New(svc, api.Options{BaseURL: "not a url", Secret: ""})
	require.ErrorContains(t, err, "BaseURL")
	require.ErrorContains(t, err, "Secret")
}

// TestEventsOverHTTP: the events a sequence of requests writes, with the
// request's address, agent and trace in their extensions and no password.
func TestEventsOverHTTP(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		instr, err := telemetry.NewHTTPInstrumentation(prometheus.NewRegistry())
		require.NoError(t, err)
		e := newEnv(t, b, func(c *config) { c.api.Instrumentation = instr; c.auth.DeleteUser = true })
		const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		c := e.client().withHeader("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01").withHeader("User-Agent", "events-test/2")
		const pw = "Unique-Pa55word-For-Events"
		tok := c.signUp("ev@example.com", pw)["token"].(string)
		c.post("/sign-in/email", map[string]any{"email": "ev@example.com", "password": "wrong-" + pw})
		c.post("/sign-in/email", map[string]any{"email": "ghost@example.com", "password": pw})
		c.post("/update-user", map[string]any{"name": "Evelyn"})
		c.post("/change-password", map[string]any{"currentPassword": pw, "newPassword": pw + "-2"})
		c.post("/sign-out", map[string]any{})
		c.signIn("ev@example.com", pw+"-2")
		c.post("/delete-user", map[string]any{"password": pw + "-2"})

		events := e.events()
		require.Equal(t, []contracts.EventType{
			contracts.EventUserCreated, contracts.EventSessionCreated,
			contracts.EventLoginFailed, contracts.EventLoginFailed,
			contracts.EventUserUpdated,
			contracts.EventPasswordChanged,
			contracts.EventLogout, contracts.EventSessionRevoked,
			contracts.EventSessionCreated, contracts.EventLoginSucceeded,
			contracts.EventSessionRevoked, contracts.EventUserDeleted,
		}, authtest.Types(events))
		uid := ""
		for _, ev := range events {
			raw, err := json.Marshal(ev)
			require.NoError(t, err)
			require.NotContains(t, string(raw), "Pa55word", "%s must not carry the password", ev.Type)
			require.NotContains(t, string(raw), tok, "%s must not carry a session token", ev.Type)
			require.Equal(t, "127.0.0.1", ev.IP)
			require.Equal(t, "events-test/2", ev.UserAgent)
			require.True(t, strings.HasPrefix(ev.TraceParent, "00-"+traceID+"-"), "%s traceparent %q", ev.Type, ev.TraceParent)
			if ev.Type == contracts.EventUserCreated {
				uid = ev.Subject
			}
		}
		require.NotEmpty(t, uid)
		var failed contracts.LoginFailed
		require.NoError(t, events[3].DecodeData(&failed))
		require.Equal(t, "ghost@example.com", failed.Email)
		require.Equal(t, contracts.CodeInvalidEmailOrPassword, failed.Reason)
	})
}

func TestNoUserEnumerationBySignIn(t *testing.T) {
	e := newEnv(t, authtest.Backends()[0])
	e.client().signUp("known@example.com", "password123")
	for _, tc := range []struct{ name, email, password string }{
		{"unknown email", "unknown@example.com", "password123"},
		{"known email, wrong password", "known@example.com", "wrong-password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h0, v0 := e.hasher.Work()
			r := e.client().post("/sign-in/email", map[string]any{"email": tc.email, "password": tc.password})
			r.requireError(t, http.StatusUnauthorized, contracts.CodeInvalidEmailOrPassword, "Invalid email or password")
			h1, v1 := e.hasher.Work()
			require.Equal(t, int64(0), h1-h0)
			require.Equal(t, int64(1), v1-v0, "exactly one scrypt verification either way")
		})
	}
}

// failingStore fails one kind of write inside every transaction.
type failingStore struct {
	store.Store
	failOn string
}

func (s *failingStore) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.Store.InTx(ctx, func(tx store.Tx) error { return fn(&failingTx{Tx: tx, failOn: s.failOn}) })
}

type failingTx struct {
	store.Tx
	failOn string
}

var errInjected = errors.New("injected failure")

func (t *failingTx) CreateAccount(ctx context.Context, a store.Account) (store.Account, error) {
	if t.failOn == "CreateAccount" {
		return store.Account{}, errInjected
	}
	return t.Tx.CreateAccount(ctx, a)
}

func (t *failingTx) AppendOutbox(ctx context.Context, events ...contracts.Envelope) error {
	if t.failOn == "AppendOutbox" {
		return errInjected
	}
	return t.Tx.AppendOutbox(ctx, events...)
}

func TestFailedRequestLeavesNoRows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		for _, failOn := range []string{"CreateAccount", "AppendOutbox"} {
			t.Run(failOn, func(t *testing.T) {
				e := newEnv(t, b, func(c *config) {
					c.wrapStore = func(s store.Store) store.Store { return &failingStore{Store: s, failOn: failOn} }
				})
				r := e.client().post("/sign-up/email", map[string]any{"name": "A", "email": "atomic@example.com", "password": "password123"})
				r.requireError(t, http.StatusInternalServerError, contracts.CodeInternalServerError, "Internal Server Error")
				require.Empty(t, r.Cookies())
				_, err := e.st.UserByEmail(context.Background(), "atomic@example.com")
				require.ErrorIs(t, err, store.ErrNotFound)
				page, err := e.st.ListUsers(context.Background(), store.ListUsersOptions{})
				require.NoError(t, err)
				require.Zero(t, page.Total)
				require.Empty(t, e.events())
			})
		}
	})
}
