package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/internal/wire"
)

// routeDecl is one Route registration.
type routeDecl struct {
	method string
	path   string
}

// routeMethods are the methods a route may declare (as contracts.RouteDecl).
var routeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// Route serves h for method and path through the core's gateway; the route
// must be declared in the manifest's routes with the same method and path.
// path is relative to the plugin's mount, and a final "/*" matches every
// path below it; otherwise it follows http.ServeMux (so "{id}" segments are
// read with r.PathValue).
//
// h gets a normal *http.Request: method, path, query, the headers the core
// forwards, and the body (streamed from the core when large). Its context
// carries the caller's deadline, the resolved user and session (UserFrom,
// SessionFrom) and the plugin Context (ContextFrom). h writes a normal
// response; one larger than contracts.GatewayInlineBodyLimit is streamed
// back to the core as h writes it. Route panics on a method other than
// GET, POST, PUT, PATCH and DELETE, a path not starting with "/", a nil
// handler or a route registered twice.
func (p *Plugin[Cfg]) Route(method, path string, h http.Handler) {
	if !slices.Contains(routeMethods, method) {
		panic(fmt.Sprintf("plugin.Route: method %q is not one of %s", method, strings.Join(routeMethods, ", ")))
	}
	if !strings.HasPrefix(path, "/") {
		panic(fmt.Sprintf("plugin.Route: path %q must start with \"/\"", path))
	}
	if h == nil {
		panic("plugin.Route: nil handler for " + method + " " + path)
	}
	name := method + " " + path
	p.register("route "+name, func() {
		if slices.Contains(p.routes, routeDecl{method, path}) {
			panic("plugin.Route: second handler for " + name)
		}
		p.routes = append(p.routes, routeDecl{method, path})
		p.routeMux.Handle(method+" "+muxPath(path), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if st, ok := r.Context().Value(keyRoute).(*routeState); ok {
				st.route = name
			}
			h.ServeHTTP(w, r)
		}))
	})
}

// muxPath turns a declared route path into an http.ServeMux pattern path.
func muxPath(path string) string {
	switch {
	case strings.HasSuffix(path, "/*"):
		return strings.TrimSuffix(path, "*") + "{rest...}"
	case strings.HasSuffix(path, "/"):
		return path + "{$}"
	}
	return path
}

// routeState is what one gateway request carries in its context.
type routeState struct {
	user    *contracts.User
	session *contracts.Session
	refresh atomic.Bool
	id      string // the gateway request id
	route   string // declared "METHOD path", set when a route matched
}

// UserFrom returns the signed-in user of a route request, or nil when the
// caller has no session (routes declared with auth "none") or ctx is not a
// route request's.
func UserFrom(ctx context.Context) *contracts.User {
	if st, ok := ctx.Value(keyRoute).(*routeState); ok {
		return st.user
	}
	return nil
}

// SessionFrom returns the caller's session of a route request, or nil.
func SessionFrom(ctx context.Context) *contracts.Session {
	if st, ok := ctx.Value(keyRoute).(*routeState); ok {
		return st.session
	}
	return nil
}

// RefreshSession asks the core to re-issue the caller's session cookie with
// the response, after the route changed a session field (such as the
// active organization) with Sessions.SetField. Call it before writing the
// body, at least before the body outgrows contracts.GatewayInlineBodyLimit.
// Outside a route request it does nothing.
func RefreshSession(ctx context.Context) {
	if st, ok := ctx.Value(keyRoute).(*routeState); ok {
		st.refresh.Store(true)
	}
}

// serveGateway answers one gateway request with h; it returns the matched
// route (for metrics), the status answered, and an error when the handler
// panicked or the answer could not be sent.
func serveGateway(ctx context.Context, nc *nats.Conn, prefix, pluginID string, h http.Handler, m *nats.Msg) (string, int, error) {
	var req contracts.GatewayRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		_ = wire.RespondError(m, contracts.CodeBadRequest.Errorf("gateway request does not decode: %v", err))
		return "invalid", http.StatusBadRequest, err
	}
	if !strings.HasPrefix(req.Path, "/") || !validName(req.ID) || req.Method == "" {
		err := errors.New("gateway request needs an id, a method and a path starting with \"/\"")
		_ = wire.RespondError(m, contracts.CodeBadRequest.Errorf("%v", err))
		return "invalid", http.StatusBadRequest, err
	}
	st := &routeState{user: req.User, session: req.Session, id: req.ID, route: "unmatched"}
	ctx = context.WithValue(ctx, keyRoute, st)
	r := gatewayHTTPRequest(ctx, nc, req)
	defer r.Body.Close()
	w := &gatewayWriter{ctx: ctx, nc: nc, msg: m, state: st, header: http.Header{},
		bodySubject: bus.GatewayBodySubject(prefix, pluginID, req.ID, "res")}
	herr := serveRecovered(h, w, r)
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	if herr != nil && w.pw == nil {
		status = http.StatusInternalServerError
	}
	return st.route, status, errors.Join(herr, w.finish(herr))
}

// gatewayHTTPRequest builds the *http.Request a route handler sees.
func gatewayHTTPRequest(ctx context.Context, nc *nats.Conn, req contracts.GatewayRequest) *http.Request {
	u := &url.URL{Path: req.Path, RawQuery: req.Query}
	header := req.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	var body io.ReadCloser = http.NoBody
	length := req.ContentLength
	switch {
	case req.BodyStream != "":
		body = bus.NewBodyReader(ctx, nc, req.BodyStream, 0)
	case len(req.Body) > 0:
		body = io.NopCloser(bytes.NewReader(req.Body))
		length = int64(len(req.Body))
	default:
		length = 0
	}
	r := &http.Request{
		Method: req.Method, URL: u, RequestURI: u.RequestURI(),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: header, Body: body, ContentLength: length,
		Host: header.Get("Host"), RemoteAddr: req.RemoteAddr,
	}
	return r.WithContext(ctx)
}

// serveRecovered runs h, turning a panic into an error.
func serveRecovered(h http.Handler, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				err = errors.New("route handler aborted")
				return
			}
			err = fmt.Errorf("route handler panicked: %v", v)
		}
	}()
	h.ServeHTTP(w, r)
	return nil
}

// gatewayWriter is the http.ResponseWriter of a gateway request: it keeps
// the body while it fits in one message and streams it beyond that.
type gatewayWriter struct {
	ctx         context.Context
	nc          *nats.Conn
	msg         *nats.Msg
	state       *routeState
	bodySubject string

	header http.Header
	status int
	buf    bytes.Buffer
	pw     *io.PipeWriter // set once streaming
	served chan error     // the body sender's result
}

// Header returns the response headers.
func (w *gatewayWriter) Header() http.Header { return w.header }

// WriteHeader records the status; only the first call counts.
func (w *gatewayWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
}

// Write buffers b, or streams it once the body outgrows one message.
func (w *gatewayWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.pw != nil {
		return w.pw.Write(b)
	}
	if w.buf.Len()+len(b) <= contracts.GatewayInlineBodyLimit {
		return w.buf.Write(b)
	}
	if err := w.stream(); err != nil {
		return 0, err
	}
	return w.pw.Write(b)
}

// stream answers the request with the headers and a body subject, then
// hands what was buffered to the body sender.
func (w *gatewayWriter) stream() error {
	pr, pw := io.Pipe()
	sender, err := bus.NewBodySender(w.nc, w.bodySubject, pr, 0, 0)
	if err != nil {
		return fmt.Errorf("stream response: %w", err)
	}
	w.pw = pw
	w.served = make(chan error, 1)
	sctx, cancel := context.WithCancel(w.ctx)
	go func() {
		defer cancel()
		err := sender.Serve(sctx)
		// Unblock a handler still writing when the core stopped pulling.
		pr.CloseWithError(errors.Join(errors.New("response stream ended"), err))
		w.served <- err
	}()
	if err := wire.RespondJSON(w.msg, w.response(nil, w.bodySubject)); err != nil {
		cancel() // nobody will pull the body
		pw.CloseWithError(err)
		return fmt.Errorf("stream response: %w", err)
	}
	pending := bytes.Clone(w.buf.Bytes())
	w.buf.Reset()
	if _, err := pw.Write(pending); err != nil {
		return err
	}
	return nil
}

// response is the GatewayResponse for the current state.
func (w *gatewayWriter) response(body []byte, stream string) contracts.GatewayResponse {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	return contracts.GatewayResponse{Status: status, Header: w.header.Clone(), Body: body, BodyStream: stream,
		RefreshSession: w.state.refresh.Load()}
}

// finish sends the response (or ends the stream) once the handler returned;
// herr is the handler's panic, if any.
func (w *gatewayWriter) finish(herr error) error {
	if w.pw == nil {
		if herr != nil {
			return wire.RespondError(w.msg, contracts.CodeInternalServerError.Err())
		}
		return wire.RespondJSON(w.msg, w.response(w.buf.Bytes(), ""))
	}
	if herr != nil {
		w.pw.CloseWithError(herr)
	} else {
		w.pw.Close()
	}
	if err := <-w.served; err != nil {
		return fmt.Errorf("stream response: %w", err)
	}
	return nil
}

var _ http.ResponseWriter = (*gatewayWriter)(nil)
