package plugin_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

func TestRouteSeesANormalRequest(t *testing.T) {
	core := plugintest.Start(t)
	type seenRequest struct {
		Method, Path, Rest, Query, Header, Cookie, Body, User, Session, Greeting string
		HasDeadline                                                              bool
	}
	got := make(chan seenRequest, 1)
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := seenRequest{Method: r.Method, Path: r.URL.Path, Rest: r.PathValue("rest"), Query: r.URL.Query().Get("q"),
			Header: r.Header.Get("X-Trace-Me"), Cookie: r.Header.Get("Cookie"), Body: string(body),
			Greeting: plugin.ContextFrom[testConfig](r.Context()).Config.Greeting}
		if u := plugin.UserFrom(r.Context()); u != nil {
			s.User = u.ID
		}
		if ss := plugin.SessionFrom(r.Context()); ss != nil {
			s.Session = ss.ID
		}
		_, s.HasDeadline = r.Context().Deadline()
		got <- s
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}
	core.Run(t, newFixture("fixture", fixture{routes: map[string]http.HandlerFunc{
		"POST /echo": handler, "GET /files/*": handler,
	}}))
	gw := core.Gateway("fixture")
	gw.User = &contracts.User{ID: "u1"}
	gw.Session = &contracts.Session{ID: "s1", UserID: "u1"}

	tests := []struct {
		name string
		req  *http.Request
		want seenRequest
	}{
		{name: "post with a body", req: func() *http.Request {
			r := httptest.NewRequest("POST", "/echo?q=1", strings.NewReader("hello"))
			r.Header.Set("X-Trace-Me", "yes")
			r.Header.Set("Cookie", "better-auth.session_token=secret")
			return r
		}(), want: seenRequest{Method: "POST", Path: "/echo", Query: "1", Header: "yes", Body: "hello",
			User: "u1", Session: "s1", Greeting: "hello", HasDeadline: true}},
		{name: "wildcard path", req: httptest.NewRequest("GET", "/files/a/b.txt", nil),
			want: seenRequest{Method: "GET", Path: "/files/a/b.txt", Rest: "a/b.txt",
				User: "u1", Session: "s1", Greeting: "hello", HasDeadline: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			gw.ServeHTTP(rec, tt.req)
			require.Equal(t, http.StatusCreated, rec.Code)
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			require.JSONEq(t, `{"ok":true}`, rec.Body.String())
			require.Equal(t, tt.want, <-got)
		})
	}
}

func TestRouteStreamsLargeBodies(t *testing.T) {
	core := plugintest.Start(t)
	size := 3*contracts.GatewayInlineBodyLimit + 12345
	core.Run(t, newFixture("fixture", fixture{routes: map[string]http.HandlerFunc{
		// Echo the body back, reversed chunk order is not needed: a digest header proves what arrived.
		"POST /echo": func(w http.ResponseWriter, r *http.Request) {
			h := sha256.New()
			var buf bytes.Buffer
			if _, err := io.Copy(io.MultiWriter(h, &buf), r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("X-Sha256", hex.EncodeToString(h.Sum(nil)))
			_, _ = w.Write(buf.Bytes())
		},
	}}))
	body := make([]byte, size)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(rnd.Uint32())
	}
	sum := sha256.Sum256(body)
	srv := httptest.NewServer(core.Gateway("fixture"))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/echo", "application/octet-stream", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(got[:min(len(got), 200)]))
	require.Equal(t, hex.EncodeToString(sum[:]), resp.Header.Get("X-Sha256"), "the plugin read the whole streamed request body")
	require.Equal(t, len(body), len(got))
	require.True(t, bytes.Equal(body, got), "the streamed response is the body")
}

func TestRouteRefreshSession(t *testing.T) {
	core := plugintest.Start(t)
	core.SetSession(contracts.Session{ID: "s1", UserID: "u1", ExpiresAt: time.Now().Add(time.Hour)})
	core.Run(t, newFixture("fixture", fixture{routes: map[string]http.HandlerFunc{
		"POST /echo": func(w http.ResponseWriter, r *http.Request) {
			c := plugin.ContextFrom[testConfig](r.Context())
			s, err := c.Sessions.SetField(r.Context(), plugin.SessionFrom(r.Context()).ID, contracts.SessionFieldActiveOrganization, "org-1")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			plugin.RefreshSession(r.Context())
			_ = json.NewEncoder(w).Encode(s)
		},
	}}))
	gw := core.Gateway("fixture")
	gw.Session = &contracts.Session{ID: "s1", UserID: "u1"}
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest("POST", "/echo", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "true", rec.Header().Get(plugintest.HeaderRefreshSession))
	s, ok := core.Session("s1")
	require.True(t, ok)
	require.Equal(t, "org-1", *s.ActiveOrganizationID)

	rec = httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest("GET", "/hello", nil))
	require.Empty(t, rec.Header().Get(plugintest.HeaderRefreshSession), "only when asked")
}

func TestRouteFailures(t *testing.T) {
	core := plugintest.Start(t)
	core.Run(t, newFixture("fixture", fixture{routes: map[string]http.HandlerFunc{
		"POST /echo": func(http.ResponseWriter, *http.Request) { panic("nil pointer") },
	}}))
	tests := []struct {
		name   string
		req    *http.Request
		status int
		body   string
	}{
		{name: "panic", req: httptest.NewRequest("POST", "/echo", nil), status: http.StatusInternalServerError, body: `"INTERNAL_SERVER_ERROR"`},
		{name: "no such route", req: httptest.NewRequest("GET", "/nope", nil), status: http.StatusNotFound},
		{name: "wrong method", req: httptest.NewRequest("DELETE", "/hello", nil), status: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			core.Gateway("fixture").ServeHTTP(rec, tt.req)
			require.Equal(t, tt.status, rec.Code)
			require.Contains(t, rec.Body.String(), tt.body)
		})
	}
}
