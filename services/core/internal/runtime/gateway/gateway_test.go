package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/registry"
)

// fixedPlugins is a hand-written registry view.
type fixedPlugins struct{ v *registry.View }

func (f fixedPlugins) View() *registry.View { return f.v }

// headerSessions resolves X-Test-User: "user" or "admin".
type headerSessions struct{}

func (headerSessions) Resolve(r *http.Request) (*contracts.User, *contracts.Session, error) {
	switch r.Header.Get("X-Test-User") {
	case "user":
		return &contracts.User{ID: "u1", Role: "user"}, &contracts.Session{ID: "s1", UserID: "u1"}, nil
	case "admin":
		return &contracts.User{ID: "a1", Role: "admin"}, &contracts.Session{ID: "s2", UserID: "a1"}, nil
	case "broken":
		return nil, nil, contracts.CodeServiceUnavailable.Err()
	}
	return nil, nil, nil
}

// countingCookies records re-issues.
type countingCookies struct{ n atomic.Int32 }

func (c *countingCookies) Reissue(w http.ResponseWriter, _ *http.Request) error {
	c.n.Add(1)
	w.Header().Add("Set-Cookie", "better-auth.session_token=fresh; Path=/; HttpOnly")
	return nil
}

const bigSize = 50 << 20

// stream is a deterministic pseudo-random byte source of a given length.
type stream struct {
	rng  *rand.ChaCha8
	left int64
}

func newStream(seed byte, n int64) *stream {
	var s [32]byte
	s[0] = seed
	return &stream{rng: rand.NewChaCha8(s), left: n}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, _ := s.rng.Read(p)
	s.left -= int64(n)
	return n, nil
}

func digest(r io.Reader) (string, int64) {
	h := sha256.New()
	n, _ := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n
}

// echo is what the test plugin answers for ordinary routes.
type echo struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	Query      string              `json:"query"`
	Header     http.Header         `json:"header"`
	RemoteAddr string              `json:"remoteAddr"`
	User       *contracts.User     `json:"user"`
	Session    *contracts.Session  `json:"session"`
	BodyLen    int64               `json:"bodyLen"`
	BodySHA    string              `json:"bodySha"`
	Streamed   bool                `json:"streamed"`
	Plugin     string              `json:"plugin"`
	Extra      map[string]struct{} `json:"-"`
}

// servePlugin answers gateway requests for id on nc, like a plugin would.
func servePlugin(t *testing.T, nc *nats.Conn, id string) {
	t.Helper()
	sub, err := nc.QueueSubscribe(bus.PluginHTTPSubject("", id), id, func(m *nats.Msg) {
		go func() {
			var req contracts.GatewayRequest
			if err := json.Unmarshal(m.Data, &req); err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var body io.Reader = strings.NewReader(string(req.Body))
			if req.BodyStream != "" {
				br := bus.NewBodyReader(ctx, nc, req.BodyStream, 0)
				defer br.Close()
				body = br
			}
			resp := contracts.GatewayResponse{Status: 200, Header: http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"evil=1"}, "Connection": {"close"}}}
			switch {
			case req.Path == "/slow":
				return
			case strings.HasPrefix(req.Path, "/download/"):
				subject := bus.GatewayBodySubject("", id, req.ID, "res")
				sender, err := bus.NewBodySender(nc, subject, newStream(2, bigSize), 0, 0)
				if err != nil {
					return
				}
				resp.Header = http.Header{"Content-Type": {"application/octet-stream"}}
				resp.BodyStream = subject
				b, _ := json.Marshal(resp)
				_ = m.Respond(b)
				_ = sender.Serve(ctx)
				return
			case req.Path == "/fail":
				resp.Status = 418
				resp.Body = []byte(`{"code":"TEAPOT","message":"short and stout"}`)
			case req.Path == "/foreign-stream":
				resp.BodyStream = "user.created"
			}
			e := echo{Method: req.Method, Path: req.Path, Query: req.Query, Header: req.Header, RemoteAddr: req.RemoteAddr,
				User: req.User, Session: req.Session, Streamed: req.BodyStream != "", Plugin: id}
			e.BodySHA, e.BodyLen = digest(body)
			if resp.Body == nil {
				resp.Body, _ = json.Marshal(e)
			}
			resp.RefreshSession = req.Path == "/refresh"
			b, _ := json.Marshal(resp)
			_ = m.Respond(b)
		}()
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())
}

type fixture struct {
	srv     *httptest.Server
	cookies *countingCookies
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	_, nc := bustest.RunJetStream(t)
	files := contracts.Manifest{ID: "files", Routes: []contracts.RouteDecl{
		{Method: "GET", Path: "/public", Auth: contracts.AuthNone},
		{Method: "GET", Path: "/me"},
		{Method: "GET", Path: "/admin", Auth: contracts.AuthAdmin},
		{Method: "POST", Path: "/small", Auth: contracts.AuthNone},
		{Method: "POST", Path: "/upload", MaxBodyBytes: 64 << 20},
		{Method: "GET", Path: "/download/*"},
		{Method: "GET", Path: "/slow", Auth: contracts.AuthNone},
		{Method: "GET", Path: "/fail", Auth: contracts.AuthNone},
		{Method: "GET", Path: "/foreign-stream", Auth: contracts.AuthNone},
		{Method: "POST", Path: "/refresh"},
		{Method: "GET", Path: "/", Auth: contracts.AuthNone},
	}}
	orgs := contracts.Manifest{ID: "orgs", Mount: "/api/auth/organization", Routes: []contracts.RouteDecl{
		{Method: "POST", Path: "/create"}, {Method: "GET", Path: "/list"},
	}}
	ghost := contracts.Manifest{ID: "ghost", Routes: []contracts.RouteDecl{{Method: "GET", Path: "/x", Auth: contracts.AuthNone}}}
	waiting := contracts.Manifest{ID: "waiting", Routes: []contracts.RouteDecl{{Method: "GET", Path: "/x", Auth: contracts.AuthNone}}}
	view := &registry.View{Plugins: map[string]*registry.Plugin{
		"files":   {ID: "files", State: registry.StateActive, Manifest: files},
		"orgs":    {ID: "orgs", State: registry.StateActive, Manifest: orgs, Granted: []contracts.Permission{"http:mount:/api/auth/organization"}},
		"ghost":   {ID: "ghost", State: registry.StateDown, Manifest: ghost},
		"waiting": {ID: "waiting", State: registry.StateWaiting, Manifest: waiting},
	}}
	servePlugin(t, nc, "files")
	servePlugin(t, nc, "orgs")
	cookies := &countingCookies{}
	g, err := New(Config{Conn: nc, Plugins: fixedPlugins{view}, Sessions: headerSessions{}, Cookies: cookies,
		Logger: slog.New(slog.DiscardHandler), Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	core := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot) // stands for the core's own /api/auth handler
	})
	srv := httptest.NewServer(g.Wrap(core))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, cookies: cookies}
}

func (f *fixture) do(t *testing.T, method, path, who string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	require.NoError(t, err)
	if who != "" {
		req.Header.Set("X-Test-User", who)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func TestGatewayAuthAndRouting(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		method   string
		path     string
		who      string
		status   int
		body     string // exact body, or "" to check echo
		echoPath string
	}{
		{name: "none, anonymous", method: "GET", path: "/api/plugins/files/public?x=1", status: 200, echoPath: "/public"},
		{name: "none, signed in", method: "GET", path: "/api/plugins/files/public", who: "user", status: 200, echoPath: "/public"},
		{name: "session, anonymous", method: "GET", path: "/api/plugins/files/me", status: 401, body: `{"code":"UNAUTHORIZED","message":"Unauthorized"}`},
		{name: "session, signed in", method: "GET", path: "/api/plugins/files/me", who: "user", status: 200, echoPath: "/me"},
		{name: "admin, anonymous", method: "GET", path: "/api/plugins/files/admin", status: 401, body: `{"code":"UNAUTHORIZED","message":"Unauthorized"}`},
		{name: "admin, user", method: "GET", path: "/api/plugins/files/admin", who: "user", status: 403, body: `{"code":"FORBIDDEN","message":"Forbidden"}`},
		{name: "admin, admin", method: "GET", path: "/api/plugins/files/admin", who: "admin", status: 200, echoPath: "/admin"},
		{name: "prefix route", method: "GET", path: "/api/plugins/files/download", who: "user", status: 200},
		{name: "root route", method: "GET", path: "/api/plugins/files", status: 200, echoPath: "/"},
		{name: "unknown path", method: "GET", path: "/api/plugins/files/nope", status: 404, body: ""},
		{name: "wrong method", method: "DELETE", path: "/api/plugins/files/public", status: 404, body: ""},
		{name: "unknown plugin", method: "GET", path: "/api/plugins/nobody/x", status: 404, body: ""},
		{name: "waiting plugin is not routed", method: "GET", path: "/api/plugins/waiting/x", status: 404, body: ""},
		{name: "unclean path", method: "GET", path: "/api/plugins/files/./public", status: 404, body: ""},
		{name: "mounted route", method: "POST", path: "/api/auth/organization/create", who: "user", status: 200, echoPath: "/create"},
		{name: "mount also under plugins", method: "GET", path: "/api/plugins/orgs/list", who: "user", status: 200, echoPath: "/list"},
		{name: "unmatched path under a mount goes to the core", method: "GET", path: "/api/auth/organization/other", status: 418, body: ""},
		{name: "core paths go to the core", method: "GET", path: "/api/auth/get-session", status: 418, body: ""},
		{name: "no responders", method: "GET", path: "/api/plugins/ghost/x", status: 503, body: `{"code":"PLUGIN_UNAVAILABLE","message":"plugin \"ghost\" has no running instance"}`},
		{name: "timeout", method: "GET", path: "/api/plugins/files/slow", status: 504, body: `{"code":"PLUGIN_TIMEOUT","message":"plugin \"files\" did not answer in time"}`},
		{name: "plugin status and body pass through", method: "GET", path: "/api/plugins/files/fail", status: 418, body: `{"code":"TEAPOT","message":"short and stout"}`},
		{name: "foreign body stream refused", method: "GET", path: "/api/plugins/files/foreign-stream", status: 502, body: `{"code":"PLUGIN_ERROR","message":"A plugin returned an invalid answer"}`},
		{name: "resolver failure", method: "GET", path: "/api/plugins/files/public", who: "broken", status: 503, body: `{"code":"SERVICE_UNAVAILABLE","message":"Service temporarily unavailable"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, tt.method, tt.path, tt.who, nil, nil)
			require.Equal(t, tt.status, resp.StatusCode, string(body))
			if tt.echoPath == "" {
				if tt.status != 200 {
					require.Equal(t, tt.body, string(body))
				}
				return
			}
			var e echo
			require.NoError(t, json.Unmarshal(body, &e), string(body))
			require.Equal(t, tt.echoPath, e.Path)
			require.Equal(t, tt.method, e.Method)
			require.Equal(t, "127.0.0.1", e.RemoteAddr)
			if tt.who != "" {
				require.NotNil(t, e.User)
				require.NotNil(t, e.Session)
			} else {
				require.Nil(t, e.User)
			}
			require.Empty(t, resp.Header.Values("Set-Cookie"), "a plugin never sets cookies")
		})
	}
}

func TestGatewayForwardsOnlyAllowedHeaders(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "GET", "/api/plugins/files/public?a=1&b=2", "user", nil, map[string]string{
		"Cookie": "better-auth.session_token=secret", "Authorization": "Bearer secret", "Proxy-Authorization": "x",
		"X-Custom": "kept", "Connection": "X-Hop", "X-Hop": "dropped", "Accept-Language": "de",
	})
	require.Equal(t, 200, resp.StatusCode)
	var e echo
	require.NoError(t, json.Unmarshal(body, &e))
	require.Equal(t, "a=1&b=2", e.Query)
	require.Equal(t, "kept", e.Header.Get("X-Custom"))
	require.Equal(t, "de", e.Header.Get("Accept-Language"))
	for _, h := range []string{"Cookie", "Authorization", "Proxy-Authorization", "Connection", "X-Hop", "X-Test-User-Never"} {
		require.Empty(t, e.Header.Get(h), h)
	}
	require.Equal(t, "u1", e.User.ID)
	require.Equal(t, "s1", e.Session.ID)
}

func TestGatewayBodies(t *testing.T) {
	f := newFixture(t)
	small := strings.Repeat("a", 1000)
	resp, body := f.do(t, "POST", "/api/plugins/files/small", "", strings.NewReader(small), nil)
	require.Equal(t, 200, resp.StatusCode)
	var e echo
	require.NoError(t, json.Unmarshal(body, &e))
	require.Equal(t, int64(1000), e.BodyLen)
	require.False(t, e.Streamed)

	// Above the inline limit but within the route's 1 MiB default: streamed.
	mid := strings.Repeat("b", contracts.GatewayInlineBodyLimit+10)
	resp, body = f.do(t, "POST", "/api/plugins/files/small", "", strings.NewReader(mid), nil)
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, json.Unmarshal(body, &e))
	require.Equal(t, int64(len(mid)), e.BodyLen)
	require.True(t, e.Streamed)

	// Over the limit with a Content-Length: refused before anything is sent.
	resp, body = f.do(t, "POST", "/api/plugins/files/small", "", strings.NewReader(strings.Repeat("c", 2<<20)), nil)
	require.Equal(t, 413, resp.StatusCode)
	require.Contains(t, string(body), "PAYLOAD_TOO_LARGE")

	// Over the limit without a Content-Length (chunked): caught while streaming.
	resp, body = f.do(t, "POST", "/api/plugins/files/small", "", io.MultiReader(newStream(9, 3<<20)), nil)
	require.Equal(t, 413, resp.StatusCode, string(body))
	require.Contains(t, string(body), "PAYLOAD_TOO_LARGE")
}

func TestGatewayRefreshSession(t *testing.T) {
	f := newFixture(t)
	resp, _ := f.do(t, "POST", "/api/plugins/files/refresh", "user", nil, nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, int32(1), f.cookies.n.Load())
	require.Equal(t, []string{"better-auth.session_token=fresh; Path=/; HttpOnly"}, resp.Header.Values("Set-Cookie"))
}

// peakHeap samples the heap until stop is closed.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				out <- peak
				return
			case <-tk.C:
			}
		}
	}()
	return out
}

func TestGatewayStreams50MiBBothWays(t *testing.T) {
	f := newFixture(t)
	wantUp, _ := digest(newStream(1, bigSize))
	wantDown, _ := digest(newStream(2, bigSize))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	stop := make(chan struct{})
	peak := peakHeap(stop)

	var wg sync.WaitGroup
	var upResp echo
	var upStatus int
	var downSHA string
	var downLen int64
	var downStatus int
	wg.Go(func() {
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/plugins/files/upload", newStream(1, bigSize))
		req.ContentLength = bigSize
		req.Header.Set("X-Test-User", "user")
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		upStatus = resp.StatusCode
		_ = json.NewDecoder(resp.Body).Decode(&upResp)
	})
	wg.Go(func() {
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/plugins/files/download/big.bin", nil)
		req.Header.Set("X-Test-User", "user")
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		downStatus = resp.StatusCode
		downSHA, downLen = digest(resp.Body)
	})
	wg.Wait()
	close(stop)
	p := <-peak

	require.Equal(t, 200, upStatus)
	require.True(t, upResp.Streamed)
	require.Equal(t, int64(bigSize), upResp.BodyLen)
	require.Equal(t, wantUp, upResp.BodySHA)
	require.Equal(t, 200, downStatus)
	require.Equal(t, int64(bigSize), downLen)
	require.Equal(t, wantDown, downSHA)
	// Both directions at once moved 100 MiB; the heap grew by far less than one body.
	growth := int64(p) - int64(base)
	require.Less(t, growth, int64(24<<20), fmt.Sprintf("heap grew by %d MiB while streaming", growth>>20))
	t.Logf("heap growth while streaming 2×50 MiB: %.1f MiB", float64(growth)/(1<<20))
}
