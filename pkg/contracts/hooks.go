package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// HookPoint names a place in a flow where plugins are called synchronously.
type HookPoint string

// Every hook point. before* points (and sessionValidate, beforeRequest) run
// in sequence and may abort or patch; after* points, afterRequest and onError
// run in parallel and cannot undo what happened.
const (
	HookBeforeSignIn         HookPoint = "beforeSignIn"
	HookAfterSignIn          HookPoint = "afterSignIn"
	HookBeforeSignUp         HookPoint = "beforeSignUp"
	HookAfterSignUp          HookPoint = "afterSignUp"
	HookBeforeSignOut        HookPoint = "beforeSignOut"
	HookAfterSignOut         HookPoint = "afterSignOut"
	HookBeforeSessionCreate  HookPoint = "beforeSessionCreate"
	HookAfterSessionCreate   HookPoint = "afterSessionCreate"
	HookBeforeSessionDestroy HookPoint = "beforeSessionDestroy"
	HookAfterSessionDestroy  HookPoint = "afterSessionDestroy"
	HookSessionValidate      HookPoint = "sessionValidate"
	HookBeforeUserCreate     HookPoint = "beforeUserCreate"
	HookAfterUserCreate      HookPoint = "afterUserCreate"
	HookBeforeUserUpdate     HookPoint = "beforeUserUpdate"
	HookAfterUserUpdate      HookPoint = "afterUserUpdate"
	HookBeforeUserDelete     HookPoint = "beforeUserDelete"
	HookAfterUserDelete      HookPoint = "afterUserDelete"
	HookBeforeOrgCreate      HookPoint = "beforeOrgCreate"
	HookAfterOrgCreate       HookPoint = "afterOrgCreate"
	HookBeforeOrgUpdate      HookPoint = "beforeOrgUpdate"
	HookAfterOrgUpdate       HookPoint = "afterOrgUpdate"
	HookBeforeRequest        HookPoint = "beforeRequest"
	HookAfterRequest         HookPoint = "afterRequest"
	HookOnError              HookPoint = "onError"
	HookBeforeEmailSend      HookPoint = "beforeEmailSend"
	HookAfterEmailSend       HookPoint = "afterEmailSend"
)

// HookMode says how a hook point's plugins are called.
type HookMode string

const (
	// Sequential points call plugins one after another in order; each may
	// patch the context or abort the flow.
	Sequential HookMode = "sequential"
	// Parallel points fan out to every plugin and wait for all within the
	// deadline; replies cannot change or stop anything.
	Parallel HookMode = "parallel"
)

// HookSpec describes a hook point.
type HookSpec struct {
	// Point is the hook point's name.
	Point HookPoint
	// Mode is Sequential or Parallel.
	Mode HookMode
	// Context is a zero value of the context type sent to plugins.
	Context any
	// Patchable lists the dotted JSON paths of the context a reply may patch.
	Patchable []string
	// Caller names the service that calls the point ("core" or a plugin id).
	Caller string
	// Description says when the point is called.
	Description string
}

var hookSpecs = []HookSpec{
	{HookBeforeSignIn, Sequential, SignInContext{}, nil, "core", "Before credentials are checked on sign-in; abort to refuse (rate limiting, lock-out)."},
	{HookAfterSignIn, Parallel, SessionEventContext{}, nil, "core", "After a successful sign-in created a session."},
	{HookBeforeSignUp, Sequential, SignUpContext{}, []string{"name", "image"}, "core", "Before an account is created by sign-up; abort to refuse, patch name or image."},
	{HookAfterSignUp, Parallel, SessionEventContext{}, nil, "core", "After sign-up created the account (and a session when signing in automatically)."},
	{HookBeforeSignOut, Sequential, SessionEventContext{}, nil, "core", "Before a session is ended by sign-out; abort to refuse."},
	{HookAfterSignOut, Parallel, SessionEventContext{}, nil, "core", "After sign-out ended a session."},
	{HookBeforeSessionCreate, Sequential, SessionCreateContext{}, []string{"session.expiresAt"}, "core", "Before a session is stored; abort to refuse, patch expiresAt to shorten it."},
	{HookAfterSessionCreate, Parallel, SessionEventContext{}, nil, "core", "After a session was stored."},
	{HookBeforeSessionDestroy, Sequential, SessionDestroyContext{}, nil, "core", "Before a session is deleted (sign-out, revoke); abort to keep it."},
	{HookAfterSessionDestroy, Parallel, SessionDestroyContext{}, nil, "core", "After a session was deleted."},
	{HookSessionValidate, Sequential, SessionEventContext{}, nil, "core", "Each time a request's session is resolved; abort to reject the request."},
	{HookBeforeUserCreate, Sequential, UserCreateContext{}, []string{"user.name", "user.image"}, "core", "Before any user row is written (sign-up, import); abort to refuse, patch name or image."},
	{HookAfterUserCreate, Parallel, UserEventContext{}, nil, "core", "After a user was created."},
	{HookBeforeUserUpdate, Sequential, UserUpdateContext{}, []string{"changes.name", "changes.image"}, "core", "Before a user's profile changes; abort to refuse, patch the changes."},
	{HookAfterUserUpdate, Parallel, UserEventContext{}, nil, "core", "After a user's profile changed."},
	{HookBeforeUserDelete, Sequential, UserEventContext{}, nil, "core", "Before a user is deleted; abort to keep the account."},
	{HookAfterUserDelete, Parallel, UserEventContext{}, nil, "core", "After a user was deleted."},
	{HookBeforeOrgCreate, Sequential, OrgCreateContext{}, []string{"organization.name", "organization.slug", "organization.logo", "organization.metadata"}, "orgs", "Before an organization is created; abort to refuse, patch its fields."},
	{HookAfterOrgCreate, Parallel, OrgEventContext{}, nil, "orgs", "After an organization was created."},
	{HookBeforeOrgUpdate, Sequential, OrgUpdateContext{}, []string{"changes.name", "changes.slug", "changes.logo", "changes.metadata"}, "orgs", "Before an organization changes; abort to refuse, patch the changes."},
	{HookAfterOrgUpdate, Parallel, OrgEventContext{}, nil, "orgs", "After an organization changed."},
	{HookBeforeRequest, Sequential, RequestContext{}, nil, "core", "Before every HTTP request is routed; abort to refuse it (rate limiting, IP rules)."},
	{HookAfterRequest, Parallel, ResponseContext{}, nil, "core", "After every HTTP request was answered."},
	{HookOnError, Parallel, ErrorContext{}, nil, "core", "After a request was answered with an error."},
	{HookBeforeEmailSend, Sequential, EmailContext{}, []string{"email.subject", "email.text", "email.html"}, "core", "Before an email is handed to the mailer; abort to drop it, patch subject or bodies."},
	{HookAfterEmailSend, Parallel, EmailSentContext{}, nil, "core", "After the mailer accepted or refused an email."},
}

var hookIndex = func() map[HookPoint]HookSpec {
	m := make(map[HookPoint]HookSpec, len(hookSpecs))
	for _, h := range hookSpecs {
		m[h.Point] = h
	}
	return m
}()

// Hooks returns every hook point's spec in a stable order.
func Hooks() []HookSpec {
	out := make([]HookSpec, len(hookSpecs))
	copy(out, hookSpecs)
	return out
}

// LookupHook returns the spec of a hook point.
func LookupHook(p HookPoint) (HookSpec, bool) {
	s, ok := hookIndex[p]
	return s, ok
}

// Known reports whether p is a hook point.
func (p HookPoint) Known() bool {
	_, ok := hookIndex[p]
	return ok
}

// Subject is the NATS subject on which plugin pluginID serves p:
// "hook.<point>.<pluginId>".
func (p HookPoint) Subject(pluginID string) string {
	return "hook." + string(p) + "." + pluginID
}

// RequestInfo describes the HTTP request a hook call happens within.
type RequestInfo struct {
	// Method is the HTTP method.
	Method string `json:"method,omitempty"`
	// Path is the request path, without the query.
	Path string `json:"path,omitempty"`
	// IPAddress is the client address.
	IPAddress string `json:"ipAddress,omitempty"`
	// UserAgent is the client's user agent.
	UserAgent string `json:"userAgent,omitempty"`
	// Origin is the Origin header, if any.
	Origin string `json:"origin,omitempty"`
}

// SignInContext is sent to beforeSignIn.
type SignInContext struct {
	// Email is the lower-cased address being signed in.
	Email string `json:"email"`
	// RememberMe is the requested persistence of the session.
	RememberMe bool `json:"rememberMe"`
	// Request is the HTTP request.
	Request RequestInfo `json:"request"`
}

// SignUpContext is sent to beforeSignUp.
type SignUpContext struct {
	// Email is the lower-cased address of the new account.
	Email string `json:"email"`
	// Name is the requested display name (patchable).
	Name string `json:"name"`
	// Image is the requested avatar URL (patchable).
	Image *string `json:"image"`
	// Request is the HTTP request.
	Request RequestInfo `json:"request"`
}

// SessionEventContext is sent to points about a user and one of their sessions.
type SessionEventContext struct {
	// User is the session's owner.
	User User `json:"user"`
	// Session is the session, when there is one (nil after sign-up without auto sign-in).
	Session *Session `json:"session,omitempty"`
	// Request is the HTTP request.
	Request RequestInfo `json:"request"`
}

// SessionCreateContext is sent to beforeSessionCreate.
type SessionCreateContext struct {
	// User is the future owner.
	User User `json:"user"`
	// Session is the session about to be stored; expiresAt may be patched (only shortened).
	Session Session `json:"session"`
	// Request is the HTTP request.
	Request RequestInfo `json:"request"`
}

// SessionDestroyContext is sent to beforeSessionDestroy and afterSessionDestroy.
type SessionDestroyContext struct {
	// Session is the session being deleted.
	Session Session `json:"session"`
	// Reason is one of the Revoke* constants.
	Reason string `json:"reason"`
	// Request is the HTTP request, when there is one.
	Request RequestInfo `json:"request"`
}

// UserCreateContext is sent to beforeUserCreate.
type UserCreateContext struct {
	// User is the account about to be stored; name and image may be patched.
	User User `json:"user"`
	// Method is "email", "import" or "admin".
	Method string `json:"method"`
	// Request is the HTTP request, when there is one.
	Request RequestInfo `json:"request"`
}

// UserEventContext is sent to points about one user.
type UserEventContext struct {
	// User is the account.
	User User `json:"user"`
	// Request is the HTTP request, when there is one.
	Request RequestInfo `json:"request"`
}

// UserChanges are the profile fields an update sets; nil means unchanged.
type UserChanges struct {
	// Name is the new display name.
	Name *string `json:"name,omitempty"`
	// Image is the new avatar URL; JSON null clears it.
	Image *string `json:"image,omitempty"`
}

// UserUpdateContext is sent to beforeUserUpdate.
type UserUpdateContext struct {
	// User is the account before the change.
	User User `json:"user"`
	// Changes are the requested changes (patchable).
	Changes UserChanges `json:"changes"`
	// Request is the HTTP request, when there is one.
	Request RequestInfo `json:"request"`
}

// OrgFields are an organization's writable fields.
type OrgFields struct {
	// Name is the display name.
	Name string `json:"name"`
	// Slug is the unique URL-safe name.
	Slug string `json:"slug"`
	// Logo is a logo URL.
	Logo *string `json:"logo,omitempty"`
	// Metadata is free-form JSON.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// OrgCreateContext is sent to beforeOrgCreate.
type OrgCreateContext struct {
	// Organization holds the requested fields (patchable).
	Organization OrgFields `json:"organization"`
	// UserID is the creating user.
	UserID string `json:"userId"`
	// Request is the HTTP request.
	Request RequestInfo `json:"request"`
}

// OrgChanges are the organization fields an update sets; nil means unchanged.
type OrgChanges struct {
	// Name is the new display name.
	Name *string `json:"name,omitempty"`
	// Slug is the new slug.
	Slug *string `json:"slug,omitempty"`
	// Logo is the new logo URL.
	Logo *string `json:"logo,omitempty"`
	// Metadata is the new metadata.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// OrgUpdateContext is sent to beforeOrgUpdate.
type OrgUpdateContext struct {
	// Organization is the organization before the change.
	Organization Organization `json:"organization"`
	// Changes are the requested changes (patchable).
	Changes OrgChanges `json:"changes"`
	// UserID is the member making the change.
	UserID string `json:"userId"`
	// Request is the HTTP request.
	Request RequestInfo `json:"request"`
}

// OrgEventContext is sent to points about one organization.
type OrgEventContext struct {
	// Organization is the organization after the change.
	Organization Organization `json:"organization"`
	// UserID is the member who made the change.
	UserID string `json:"userId"`
	// Request is the HTTP request.
	Request RequestInfo `json:"request"`
}

// RequestContext is sent to beforeRequest.
type RequestContext struct {
	// Request is the HTTP request.
	Request RequestInfo `json:"request"`
	// Query is the raw query string.
	Query string `json:"query,omitempty"`
	// UserID is the signed-in user when the core resolved one already.
	UserID string `json:"userId,omitempty"`
}

// ResponseContext is sent to afterRequest.
type ResponseContext struct {
	// Request is the HTTP request.
	Request RequestInfo `json:"request"`
	// Status is the HTTP status answered.
	Status int `json:"status"`
	// DurationMs is how long the core took to answer.
	DurationMs float64 `json:"durationMs"`
	// UserID is the signed-in user, if any.
	UserID string `json:"userId,omitempty"`
}

// ErrorContext is sent to onError.
type ErrorContext struct {
	// Request is the HTTP request.
	Request RequestInfo `json:"request"`
	// Error is what the client received.
	Error Error `json:"error"`
	// UserID is the signed-in user, if any.
	UserID string `json:"userId,omitempty"`
}

// Kinds of email the core sends (Email.Kind).
const (
	EmailVerification      = "verification"
	EmailPasswordReset     = "password-reset"
	EmailChangeEmail       = "change-email"
	EmailDeleteAccount     = "delete-account"
	EmailPluginMessage     = "plugin"
	EmailChangeEmailNotice = "change-email-confirmation"
)

// Email is a message the core is about to send.
type Email struct {
	// To is the recipient address.
	To string `json:"to"`
	// Subject is the subject line (patchable).
	Subject string `json:"subject"`
	// Text is the plain-text body (patchable).
	Text string `json:"text"`
	// HTML is the HTML body, if any (patchable).
	HTML string `json:"html,omitempty"`
	// Kind is one of the Email* kinds.
	Kind string `json:"kind"`
	// URL is the action link the message carries, if any.
	URL string `json:"url,omitempty"`
	// UserID is the user the message concerns, if any.
	UserID string `json:"userId,omitempty"`
}

// EmailContext is sent to beforeEmailSend.
type EmailContext struct {
	// Email is the message (subject and bodies patchable).
	Email Email `json:"email"`
}

// EmailSentContext is sent to afterEmailSend.
type EmailSentContext struct {
	// Email is the message as sent.
	Email Email `json:"email"`
	// Error is the mailer's error text; empty on success.
	Error string `json:"error,omitempty"`
}

// Headers used on hook requests and replies.
const (
	// HeaderDeadline carries the caller's deadline as RFC 3339 with nanoseconds.
	HeaderDeadline = "Authbus-Deadline"
	// HeaderPluginID names the calling plugin on plugin-to-plugin and core-service calls
	// (informational; identity comes from the NATS user).
	HeaderPluginID = "Authbus-Plugin"
	// HeaderTraceParent is the W3C trace context header.
	HeaderTraceParent = "traceparent"
)

// FormatDeadline renders a deadline for HeaderDeadline.
func FormatDeadline(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ParseDeadline reads HeaderDeadline; ok is false when absent or malformed.
func ParseDeadline(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// HookRequest is the body of a hook call.
type HookRequest struct {
	// Hook is the hook point.
	Hook HookPoint `json:"hook"`
	// ID is unique per call (UUIDv7); idempotency and log correlation key.
	ID string `json:"id"`
	// Context is the point's context type as JSON.
	Context json.RawMessage `json:"context"`
}

// HookAction is a plugin's decision.
type HookAction string

const (
	// ActionContinue lets the flow go on, with the patch applied if any.
	ActionContinue HookAction = "continue"
	// ActionAbort stops the flow; Error is returned to the client as is.
	ActionAbort HookAction = "abort"
)

// HookReply is the body of a hook answer.
type HookReply struct {
	// Action is continue or abort.
	Action HookAction `json:"action"`
	// Patch is a JSON merge patch (RFC 7396) of the context; only the point's
	// Patchable paths may appear in it.
	Patch json.RawMessage `json:"patch,omitempty"`
	// Error is required with abort: what the client receives.
	Error *Error `json:"error,omitempty"`
}

// ErrInvalidHookReply is wrapped by every hook reply validation error.
var ErrInvalidHookReply = errors.New("invalid hook reply")

// Validate checks a reply against a hook point: a known action, an error
// with a 4xx/5xx status on abort, no abort or patch on parallel points, and
// a patch that only touches Patchable paths.
func (r HookReply) Validate(p HookPoint) error {
	spec, ok := LookupHook(p)
	if !ok {
		return fmt.Errorf("%w: unknown hook point %q", ErrInvalidHookReply, p)
	}
	switch r.Action {
	case ActionContinue:
	case ActionAbort:
		if spec.Mode == Parallel {
			return fmt.Errorf("%w: %s runs in parallel and cannot abort", ErrInvalidHookReply, p)
		}
		if r.Error == nil {
			return fmt.Errorf("%w: abort without an error", ErrInvalidHookReply)
		}
		if r.Error.Status < 400 || r.Error.Status > 599 {
			return fmt.Errorf("%w: abort status %d is not 4xx or 5xx", ErrInvalidHookReply, r.Error.Status)
		}
	default:
		return fmt.Errorf("%w: unknown action %q", ErrInvalidHookReply, r.Action)
	}
	if len(r.Patch) == 0 || bytes.Equal(bytes.TrimSpace(r.Patch), []byte("null")) {
		return nil
	}
	if spec.Mode == Parallel {
		return fmt.Errorf("%w: %s runs in parallel and cannot patch", ErrInvalidHookReply, p)
	}
	paths, err := patchPaths(r.Patch)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidHookReply, err)
	}
	var denied []string
	for _, path := range paths {
		if !pathAllowed(path, spec.Patchable) {
			denied = append(denied, path)
		}
	}
	if len(denied) > 0 {
		sort.Strings(denied)
		return fmt.Errorf("%w: %w: %s may not patch %s", ErrInvalidHookReply, ErrPatchNotAllowed, p, strings.Join(denied, ", "))
	}
	return nil
}

// ErrPatchNotAllowed marks a reply that patched a field outside the allowlist.
var ErrPatchNotAllowed = errors.New("patch not allowed")

// pathAllowed reports whether path is an allowed path or lies beneath one.
func pathAllowed(path string, allowed []string) bool {
	for _, a := range allowed {
		if path == a || strings.HasPrefix(path, a+".") {
			return true
		}
	}
	return false
}

// patchPaths lists the leaf paths a merge patch sets. An object value
// under an allowed leaf (e.g. metadata) is reported at that leaf.
func patchPaths(patch json.RawMessage) ([]string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(patch, &obj); err != nil {
		return nil, fmt.Errorf("patch is not a JSON object: %w", err)
	}
	var out, bad []string
	var walk func(prefix string, m map[string]json.RawMessage)
	walk = func(prefix string, m map[string]json.RawMessage) {
		for k, v := range m {
			if strings.Contains(k, ".") {
				bad = append(bad, k)
				continue
			}
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			var sub map[string]json.RawMessage
			if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '{' && json.Unmarshal(v, &sub) == nil && len(sub) > 0 {
				out = append(out, p) // the object itself, allowed if p or a parent is allowed
				walk(p, sub)
				continue
			}
			out = append(out, p)
		}
	}
	walk("", obj)
	if len(bad) > 0 {
		sort.Strings(bad)
		// A merge patch would add such a key verbatim instead of reaching into the object.
		return nil, fmt.Errorf("patch keys may not contain \".\"; nest objects instead: %q", bad)
	}
	// An object node is acceptable if it is itself allowed or any leaf below is;
	// keep only the deepest paths plus objects that are allowed targets.
	sort.Strings(out)
	var leaves []string
	for i, p := range out {
		if i+1 < len(out) && strings.HasPrefix(out[i+1], p+".") {
			continue // p is an intermediate object; its children are checked
		}
		leaves = append(leaves, p)
	}
	return leaves, nil
}

// ApplyPatch applies a JSON merge patch (RFC 7396) to a JSON document and
// returns the result. An empty or null patch leaves doc unchanged (a hook
// reply's "patch": null means no patch); numbers keep their exact text.
// Callers validate the patch with HookReply.Validate first.
func ApplyPatch(doc, patch json.RawMessage) (json.RawMessage, error) {
	if t := bytes.TrimSpace(patch); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return doc, nil
	}
	d, err := decodeJSONValue(doc)
	if err != nil {
		return nil, fmt.Errorf("apply patch: document: %w", err)
	}
	p, err := decodeJSONValue(patch)
	if err != nil {
		return nil, fmt.Errorf("apply patch: patch: %w", err)
	}
	return json.Marshal(mergePatch(d, p))
}

// decodeJSONValue decodes one JSON value, numbers as json.Number.
func decodeJSONValue(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// mergePatch is RFC 7396's MergePatch(Target, Patch).
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}
