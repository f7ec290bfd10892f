// Package api serves the core's better-auth compatible HTTP API under
// /api/auth (contract §0–§3, §10): exact-match routing, body decoding and
// zod-style validation, origin/CSRF and callback checks, session cookies
// (signed, dont_remember, the session_data cookie cache, __Secure- names),
// the bearer plugin's behaviour, and every answer's exact shape. The flows
// themselves are package auth's.
//
// Around every request: request metadata (client IP, user agent, trace) in
// the context, the beforeRequest hook (an abort is the answer), and, after
// the answer was written, afterRequest and onError; OpenTelemetry server
// spans and Prometheus metrics labelled by route pattern; panics become an
// empty 500 and are logged.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/telemetry"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/cookie"
	"github.com/authbus/authbus/services/core/internal/origin"
)

// Defaults of Options.
const (
	// DefaultBasePath is better-auth's basePath.
	DefaultBasePath = "/api/auth"
	// DefaultMaxBodyBytes caps a request body.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultCookieCacheMaxAge is session.cookieCache.maxAge.
	DefaultCookieCacheMaxAge = 5 * time.Minute
)

// Options configure the Handler. The zero value of every field but BaseURL
// and Secret is the documented default.
type Options struct {
	// BaseURL is the public origin of the service, e.g.
	// "https://auth.example.com" (a path is ignored). Its origin is always
	// trusted, an "https://" URL makes cookies __Secure- (unless
	// UseSecureCookies says otherwise), and relative callback URLs resolve
	// against it. Required.
	BaseURL string
	// BasePath is where the API is mounted. Default: "/api/auth".
	BasePath string
	// Secret signs the cookies (its UTF-8 bytes; the same secret as
	// auth.Options.Secret). Required.
	Secret string
	// TrustedOrigins are further trusted origins or patterns (contract §10).
	// Default: none (only BaseURL's origin).
	TrustedOrigins []string
	// CookiePrefix is advanced.cookiePrefix. Default: "better-auth".
	CookiePrefix string
	// UseSecureCookies forces (true) or forbids (false) __Secure- cookies.
	// Default: nil, which decides by BaseURL's scheme.
	UseSecureCookies *bool
	// CookieDomain adds Domain=<CookieDomain> to the cookies
	// (crossSubDomainCookies). Default: "" (no Domain attribute).
	CookieDomain string
	// CookieCache turns on the session_data cookie cache. Default: false.
	CookieCache bool
	// CookieCacheMaxAge is the cache's lifetime. Default: 5 minutes.
	CookieCacheMaxAge time.Duration
	// RequireBearerSignature refuses raw (unsigned) tokens in
	// Authorization: Bearer. Default: false.
	RequireBearerSignature bool
	// DisableCSRFCheck skips the origin checks of cookie-bearing requests and
	// the sign-in/sign-up CSRF check. Default: false.
	DisableCSRFCheck bool
	// DisableOriginCheck skips callback URL validation (and, like
	// better-auth, the CSRF checks). Default: false.
	DisableOriginCheck bool
	// TrustedProxies are the proxies whose X-Forwarded-For is believed (see
	// ParseCIDRs). Default: none: the client is the remote address.
	TrustedProxies []netip.Prefix
	// MaxBodyBytes caps a request body (413 PAYLOAD_TOO_LARGE beyond). Default: 1 MiB.
	MaxBodyBytes int64
	// ErrorURL, when set, makes GET /error redirect there with ?error=…
	// (onAPIError.errorURL). Default: "" (the HTML error page).
	ErrorURL string
	// Fallback serves requests under BasePath that match no route of this
	// API (the plugin gateway: /api/auth/organization/*, ...). Default: nil,
	// a 404 with an empty body.
	Fallback http.Handler
	// Instrumentation records spans and metrics per route. Default: nil (none).
	Instrumentation *telemetry.HTTPInstrumentation
	// Logger receives internal errors and recovered panics. Default: slog.Default().
	Logger *slog.Logger
}

// Handler is the /api/auth HTTP API. It is safe for concurrent use.
type Handler struct {
	svc      *auth.Service
	opts     Options
	jar      *cookie.Jar
	policy   *origin.Policy
	hooks    auth.Hooks
	noHooks  bool
	log      *slog.Logger
	baseURL  *url.URL
	routes   map[string]*route // "METHOD /path"
	paths    map[string]bool   // every routed path, any method
	notFound http.Handler
	fallback http.Handler
}

// Validate reports every problem of o at once.
func (o Options) Validate() error {
	var errs []error
	base, err := url.Parse(o.BaseURL)
	if o.BaseURL == "" || err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		errs = append(errs, fmt.Errorf("BaseURL %q is not an absolute http(s) URL (the public origin, e.g. https://auth.example.com)", o.BaseURL))
	}
	if o.Secret == "" {
		errs = append(errs, errors.New("the Secret option is required"))
	}
	if o.BasePath != "" && (!strings.HasPrefix(o.BasePath, "/") || strings.ContainsAny(o.BasePath, "?#") || strings.Contains(o.BasePath, "//")) {
		errs = append(errs, fmt.Errorf("BasePath %q must be an absolute path such as /api/auth", o.BasePath))
	}
	if o.MaxBodyBytes < 0 || o.CookieCacheMaxAge < 0 {
		errs = append(errs, errors.New("MaxBodyBytes and CookieCacheMaxAge must not be negative"))
	}
	if o.ErrorURL != "" {
		if _, err := url.Parse(o.ErrorURL); err != nil {
			errs = append(errs, fmt.Errorf("ErrorURL: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("api: options: %w", err)
	}
	return nil
}

// New returns the API over svc.
func New(svc *auth.Service, opts Options) (*Handler, error) {
	var errs []error
	if svc == nil {
		errs = append(errs, errors.New("api: the auth service is nil"))
	}
	if err := opts.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	base, _ := url.Parse(opts.BaseURL)
	if opts.BasePath == "" {
		opts.BasePath = DefaultBasePath
	}
	opts.BasePath = "/" + strings.Trim(opts.BasePath, "/")
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.CookieCacheMaxAge <= 0 {
		opts.CookieCacheMaxAge = DefaultCookieCacheMaxAge
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	jar, err := cookie.NewJar([]byte(opts.Secret), cookie.Options{
		Prefix:                 opts.CookiePrefix,
		Secure:                 cookie.UseSecureCookies(opts.UseSecureCookies, opts.BaseURL, false),
		Domain:                 opts.CookieDomain,
		SessionMaxAge:          int(svc.Options().ExpiresIn / time.Second),
		CacheEnabled:           opts.CookieCache,
		CacheMaxAge:            int(opts.CookieCacheMaxAge / time.Second),
		RequireBearerSignature: opts.RequireBearerSignature,
	})
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	trusted := append([]string{origin.OriginOf(opts.BaseURL)}, opts.TrustedOrigins...)
	h := &Handler{
		svc:     svc,
		opts:    opts,
		jar:     jar,
		policy:  origin.New(trusted, origin.Options{DisableCSRFCheck: opts.DisableCSRFCheck, DisableOriginCheck: opts.DisableOriginCheck}),
		hooks:   svc.Hooks(),
		noHooks: auth.IsNoHooks(svc.Hooks()),
		log:     opts.Logger,
		baseURL: base,
		routes:  map[string]*route{},
		paths:   map[string]bool{},
	}
	for _, rt := range h.routeTable() {
		rt := rt
		handler := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, rt) }))
		if opts.Instrumentation != nil {
			handler = opts.Instrumentation.Route(opts.BasePath+rt.path, handler)
		}
		rt.handler = handler
		h.routes[rt.method+" "+rt.path] = rt
		h.paths[rt.path] = true
	}
	h.notFound = h.wrapOther("unmatched", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	if opts.Fallback != nil {
		h.fallback = h.wrapOther(opts.BasePath+"/*", opts.Fallback)
	} else {
		h.fallback = h.notFound
	}
	return h, nil
}

// Jar is the cookie set the API reads and writes.
func (h *Handler) Jar() *cookie.Jar { return h.jar }

// ServeHTTP routes r exactly like better-call: the path must be under
// BasePath, without "//"; an unknown path goes to Fallback; a known path
// with another method is a 404 with an empty body.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	rest, ok := strings.CutPrefix(path, h.opts.BasePath)
	if !ok || !strings.HasPrefix(rest, "/") || strings.Contains(rest, "//") {
		h.notFound.ServeHTTP(w, r)
		return
	}
	if rt := h.match(r.Method, rest); rt != nil {
		rt.handler.ServeHTTP(w, r)
		return
	}
	if h.paths[rest] || isResetPath(rest) {
		h.notFound.ServeHTTP(w, r)
		return
	}
	h.fallback.ServeHTTP(w, r)
}

// match finds the route of method and path (relative to BasePath).
func (h *Handler) match(method, path string) *route {
	if rt, ok := h.routes[method+" "+path]; ok {
		return rt
	}
	if method == http.MethodGet && isResetPath(path) {
		return h.routes["GET "+resetPattern]
	}
	return nil
}

// resetPattern is the one route with a parameter.
const resetPattern = "/reset-password/:token"

// isResetPath reports whether path is /reset-password/<one non-empty segment>.
func isResetPath(path string) bool {
	tok, ok := strings.CutPrefix(path, "/reset-password/")
	return ok && tok != "" && !strings.Contains(tok, "/")
}

// requestInfo describes r for hooks and events.
func (h *Handler) requestInfo(r *http.Request) contracts.RequestInfo {
	return contracts.RequestInfo{
		Method:    r.Method,
		Path:      r.URL.Path,
		IPAddress: clientIP(r, h.opts.TrustedProxies),
		UserAgent: r.UserAgent(),
		Origin:    r.Header.Get("Origin"),
	}
}

// withRequest puts the request metadata into r's context.
func (h *Handler) withRequest(r *http.Request) (context.Context, contracts.RequestInfo) {
	info := h.requestInfo(r)
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(r.Context(), carrier)
	return auth.WithRequest(r.Context(), auth.Request{Info: info, TraceParent: carrier.Get("traceparent")}), info
}

// wrapOther serves a request that is not one of the API's routes (404,
// Fallback) with the same metadata, hooks and instrumentation.
func (h *Handler) wrapOther(label string, next http.Handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, info := h.withRequest(r)
		if err := h.hooks.Before(ctx, contracts.HookBeforeRequest, &contracts.RequestContext{Request: info, Query: r.URL.RawQuery}); err != nil {
			rp := newReply()
			rp.fail(contracts.AsError(err))
			h.write(w, rp)
			h.afterRequest(ctx, w, info, rp.status, rp.err, "", start)
			return
		}
		sw := &statusRecorder{ResponseWriter: w}
		h.recoverInto(sw, r, func() { next.ServeHTTP(sw, r.WithContext(ctx)) })
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		var e *contracts.Error
		if status >= 400 {
			e = &contracts.Error{Status: status, Message: http.StatusText(status)}
		}
		h.afterRequest(ctx, w, info, status, e, "", start)
	})
	if h.opts.Instrumentation != nil {
		return h.opts.Instrumentation.Route(label, inner)
	}
	return inner
}

// serve runs one route: beforeRequest, the route's pipeline, the answer,
// then afterRequest/onError.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rt *route) {
	start := time.Now()
	ctx, info := h.withRequest(r)
	c := &call{h: h, r: r, ctx: ctx, rt: rt, rp: newReply()}
	written := false
	defer func() {
		if p := recover(); p != nil {
			h.log.ErrorContext(ctx, "api: panic", "route", rt.path, "panic", p, "stack", stack())
			if !written {
				w.WriteHeader(http.StatusInternalServerError)
			}
			h.afterRequest(ctx, w, info, http.StatusInternalServerError, contracts.CodeInternalServerError.Err(), c.userID(), start)
		}
	}()
	if err := h.hooks.Before(ctx, contracts.HookBeforeRequest, &contracts.RequestContext{Request: info, Query: r.URL.RawQuery}); err != nil {
		c.rp.fail(contracts.AsError(err))
	} else if err := c.run(w); err != nil {
		c.failWith(err)
	}
	written = true
	h.write(w, c.rp)
	h.afterRequest(ctx, w, info, c.rp.status, c.rp.err, c.userID(), start)
}

// afterRequest runs afterRequest (and onError for an error) once the answer
// is on its way: the response is flushed first so the client does not wait
// for the hooks.
func (h *Handler) afterRequest(ctx context.Context, w http.ResponseWriter, info contracts.RequestInfo, status int, e *contracts.Error, userID string, start time.Time) {
	if h.noHooks {
		return
	}
	_ = http.NewResponseController(w).Flush()
	ctx = context.WithoutCancel(ctx)
	h.hooks.After(ctx, contracts.HookAfterRequest, &contracts.ResponseContext{
		Request: info, Status: status, DurationMs: float64(time.Since(start).Microseconds()) / 1000, UserID: userID,
	})
	if status >= 400 {
		if e == nil {
			e = &contracts.Error{Status: status, Message: http.StatusText(status)}
		}
		h.hooks.After(ctx, contracts.HookOnError, &contracts.ErrorContext{Request: info, Error: *e, UserID: userID})
	}
}

// recoverInto runs fn; a panic becomes an empty 500 (when nothing was
// written yet) and is logged.
func (h *Handler) recoverInto(w *statusRecorder, r *http.Request, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			h.log.ErrorContext(r.Context(), "api: panic", "path", r.URL.Path, "panic", p, "stack", stack())
			if w.status == 0 {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}
	}()
	fn()
}

// statusRecorder remembers the status written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
