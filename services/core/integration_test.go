package core

// Integration tests: the real core (SQLite, and Postgres for the key ones)
// on a real in-process NATS server, real HTTP, and small plugins written
// with pkg/plugin running in the test process, each on its own connection.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
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
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/services/core/internal/mail/mailtest"
	"github.com/authbus/authbus/services/core/internal/runtime"
	"github.com/authbus/authbus/services/core/internal/store"
)

// noConfig is the config type of the test plugins.
type noConfig = struct{}

// manifest is a test plugin's manifest with the given hooks.
func manifest(id string, hooks ...contracts.HookDecl) contracts.Manifest {
	return contracts.Manifest{ID: id, Name: id, Version: "1.0.0", CoreVersion: "^0.1.0", Hooks: hooks}
}

// hook declares point with a timeout and a failure policy.
func hook(point contracts.HookPoint, timeout time.Duration, policy contracts.FailurePolicy) contracts.HookDecl {
	return contracts.HookDecl{Point: point, Timeout: contracts.Duration(timeout), FailurePolicy: policy}
}

// onHook registers h at point, for handlers that need no plugin Context.
func onHook[C any](p *plugin.Plugin[noConfig], point contracts.HookPoint, h func(ctx context.Context, in C) plugin.Decision) {
	plugin.OnHook(p, point, func(ctx context.Context, _ *plugin.Context[noConfig], in C) plugin.Decision { return h(ctx, in) })
}

// renamer is a plugin that appends its id to the name of every sign-up.
func renamer(m contracts.Manifest) *plugin.Plugin[noConfig] {
	p := plugin.New[noConfig](m)
	onHook(p, contracts.HookBeforeSignUp, func(_ context.Context, in contracts.SignUpContext) plugin.Decision {
		in.Name += "," + m.ID
		return plugin.Patch(in)
	})
	return p
}

// contextCatcher is a lifecycle that keeps the plugin Context and can hold
// Init until released.
type contextCatcher struct {
	release chan struct{} // nil: Init returns at once
	ctx     atomic.Pointer[plugin.Context[noConfig]]
}

func (c *contextCatcher) Init(ctx context.Context, pc *plugin.Context[noConfig]) error {
	c.ctx.Store(pc)
	if c.release == nil {
		return nil
	}
	select {
	case <-c.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ plugin.Initializer[noConfig] = (*contextCatcher)(nil)

// userName is user.name of a sign-up or sign-in answer.
func userName(t testing.TB, r response) string {
	t.Helper()
	u, ok := r.obj(t)["user"].(map[string]any)
	require.True(t, ok, "no user in %s", r.Body)
	return u["name"].(string)
}

// requireNoUser checks that no account exists for email.
func (st *stack) requireNoUser(t testing.TB, email string) {
	t.Helper()
	_, err := st.svc.store.UserByEmail(context.Background(), email)
	require.ErrorIs(t, err, store.ErrNotFound, "no account was written for %s", email)
}

// TestPluginStartupHasNoUnavailableWindow: the core used to put a plugin in
// its hook plan the moment it accepted the registration, before the plugin
// had run Init and subscribed; a sign-up in that gap found no responders
// and failed with 503 under a closed policy. The core now calls a plugin
// from the first heartbeat of one of its instances, which the SDK sends
// once it serves.
func TestPluginStartupHasNoUnavailableWindow(t *testing.T) {
	st := startStack(t, withScrypt())
	catcher := &contextCatcher{release: make(chan struct{})}
	p := plugin.New[noConfig](manifest("gate", hook(contracts.HookBeforeSignUp, 0, contracts.FailClosed)))
	onHook(p, contracts.HookBeforeSignUp, func(_ context.Context, in contracts.SignUpContext) plugin.Decision {
		in.Name = "Checked " + in.Name
		return plugin.Patch(in)
	})
	run := st.launch(t, p, plugin.WithLifecycle(catcher))
	bustest.CheckFor(t, wait, 5*time.Millisecond, func() error {
		if catcher.ctx.Load() == nil {
			return errors.New("Init has not started yet")
		}
		return nil
	})
	require.Equal(t, PluginState("active"), st.svc.runtime.Registry().View().Get("gate").State,
		"the core accepted the registration; the plugin is in Init")

	c := st.client(t)
	r := c.signUp(t, "ada@example.com", "Ada")
	r.requireOK(t)
	require.Equal(t, "Ada", userName(t, r), "a plugin that does not serve yet is not called (no 503)")

	close(catcher.release)
	run.waitServing(t)
	st.waitPlan(t, contracts.HookBeforeSignUp, "gate")
	r = c.signUp(t, "bob@example.com", "Bob")
	r.requireOK(t)
	require.Equal(t, "Checked Bob", userName(t, r), "called once it serves")
}

func TestHookOrderIsDependencyThenManifestOrder(t *testing.T) {
	st := startStack(t)
	// By order alone mid (0) would run first; it requires alpha, so it runs after it.
	alpha := manifest("alpha", contracts.HookDecl{Point: contracts.HookBeforeSignUp, Order: 2})
	mid := manifest("mid", contracts.HookDecl{Point: contracts.HookBeforeSignUp, Order: 0})
	mid.Dependencies.Required = []contracts.DependencyRef{{ID: "alpha"}}
	zeta := manifest("zeta", contracts.HookDecl{Point: contracts.HookBeforeSignUp, Order: 1})
	st.serve(t, renamer(alpha))
	st.serve(t, renamer(mid))
	st.serve(t, renamer(zeta))
	st.waitPlan(t, contracts.HookBeforeSignUp, "zeta", "alpha", "mid")

	r := st.client(t).signUp(t, "ada@example.com", "Ada")
	r.requireOK(t)
	require.Equal(t, "Ada,zeta,alpha,mid", userName(t, r), "each plugin saw the patches of those before it")
}

func TestAbortPassesThroughUnchanged(t *testing.T) {
	forEachStore(t, func(t *testing.T, opts ...stackOption) {
		st := startStack(t, opts...)
		p := plugin.New[noConfig](manifest("allowlist", hook(contracts.HookBeforeSignUp, 0, "")))
		onHook(p, contracts.HookBeforeSignUp, func(_ context.Context, in contracts.SignUpContext) plugin.Decision {
			if strings.HasSuffix(in.Email, "@example.com") {
				return plugin.Continue()
			}
			return plugin.Abort(http.StatusForbidden, "DOMAIN_NOT_ALLOWED", "Sign-ups are open to example.com addresses only")
		})
		st.serve(t, p)
		st.waitPlan(t, contracts.HookBeforeSignUp, "allowlist")

		c := st.client(t)
		c.signUp(t, "eve@evil.test", "Eve").requireError(t, http.StatusForbidden, "DOMAIN_NOT_ALLOWED",
			"Sign-ups are open to example.com addresses only")
		st.requireNoUser(t, "eve@evil.test")

		c.signUp(t, "ada@example.com", "Ada").requireOK(t)
		// The relay publishes in commit order: once Ada's user.created is
		// out, anything the aborted sign-up had recorded would be too.
		st.waitPublished(t, contracts.EventUserCreated, "ada@example.com")
		require.Empty(t, st.eventsMentioning(t, "eve@evil.test"), "an aborted sign-up records no event")
	})
}

func TestPatchAllowlist(t *testing.T) {
	st := startStack(t)

	// An SDK plugin patches name, which beforeSignUp allows.
	st.serve(t, renamer(manifest("namer", contracts.HookDecl{Point: contracts.HookBeforeSignUp, Order: 1})))

	// A plugin speaking the wire protocol itself (another language's SDK)
	// also patches email, which beforeSignUp does not allow: the core
	// refuses that reply's patch, logs it, and goes on unpatched — even
	// under a closed policy. (The Go SDK refuses such a decision before it
	// leaves the plugin; see the open-policy plugin below.)
	// The SDK registers it and heartbeats; its own handler stays silent
	// until the sign-up is over, so the raw reply below is the one the core gets.
	raw := manifest("rogue", contracts.HookDecl{Point: contracts.HookBeforeSignUp, Order: 2, FailurePolicy: contracts.FailClosed})
	rogue := plugin.New[noConfig](raw)
	over := make(chan struct{})
	onHook(rogue, contracts.HookBeforeSignUp, func(context.Context, contracts.SignUpContext) plugin.Decision {
		<-over
		return plugin.Continue()
	})
	nc := st.connect(t, "rogue")
	rawPatches := atomic.Int64{}
	sub, err := nc.Subscribe(bus.HookSubject("", contracts.HookBeforeSignUp, "rogue"), func(m *nats.Msg) {
		rawPatches.Add(1)
		b, _ := json.Marshal(contracts.HookReply{Action: contracts.ActionContinue,
			Patch: json.RawMessage(`{"name":"Mallory","email":"mallory@evil.test"}`)})
		_ = m.Respond(b)
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	st.launchOn(t, rogue, nc).waitServing(t)

	// The SDK refuses a decision that patches a field the point does not
	// allow: it answers with an error and the caller's failure policy
	// applies — open here, so the flow goes on without this plugin.
	sloppy := plugin.New[noConfig](manifest("sloppy", contracts.HookDecl{Point: contracts.HookBeforeSignUp, Order: 3, FailurePolicy: contracts.FailOpen}))
	onHook(sloppy, contracts.HookBeforeSignUp, func(context.Context, contracts.SignUpContext) plugin.Decision {
		return plugin.Patch(map[string]any{"email": "mallory@evil.test"})
	})
	sloppyRun := st.serve(t, sloppy)
	st.waitPlan(t, contracts.HookBeforeSignUp, "namer", "rogue", "sloppy")

	r := st.client(t).signUp(t, "ada@example.com", "Ada")
	close(over)
	r.requireOK(t)
	require.Equal(t, "Ada,namer", userName(t, r), "the allowed patch took effect, the refused ones did not")
	require.Equal(t, "ada@example.com", r.obj(t)["user"].(map[string]any)["email"])
	st.requireNoUser(t, "mallory@evil.test")
	require.Equal(t, int64(1), rawPatches.Load(), "the rogue reply reached the core")
	require.NotEmpty(t, st.logs.WithMessage(t, "hook patch refused"), "the core logs the refused patch")
	require.NotEmpty(t, sloppyRun.logs.WithMessage(t, "hook handler returned a decision its hook point does not allow"))
}

func TestFailurePolicies(t *testing.T) {
	tests := []struct {
		name   string
		policy contracts.FailurePolicy
		silent func(t *testing.T, run *pluginRun) // makes the plugin fail to answer
	}{
		{name: "closed, timeout", policy: contracts.FailClosed},
		{name: "open, timeout", policy: contracts.FailOpen},
		{name: "closed, no responders", policy: contracts.FailClosed, silent: stopPlugin},
		{name: "open, no responders", policy: contracts.FailOpen, silent: stopPlugin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := startStack(t)
			p := plugin.New[noConfig](manifest("slow", hook(contracts.HookBeforeSignUp, 150*time.Millisecond, tt.policy)))
			late := make(chan struct{})
			onHook(p, contracts.HookBeforeSignUp, func(ctx context.Context, in contracts.SignUpContext) plugin.Decision {
				if tt.silent == nil {
					<-ctx.Done()
					<-late // answers only once the core gave up
				}
				in.Name = "Patched"
				return plugin.Patch(in)
			})
			run := st.serve(t, p)
			st.waitPlan(t, contracts.HookBeforeSignUp, "slow")
			if tt.silent != nil {
				tt.silent(t, run)
			}

			r := st.client(t).signUp(t, "ada@example.com", "Ada")
			close(late)
			if tt.policy == contracts.FailClosed {
				r.requireError(t, http.StatusServiceUnavailable, contracts.CodePluginUnavailable, "")
				st.requireNoUser(t, "ada@example.com")
				return
			}
			r.requireOK(t)
			require.Equal(t, "Ada", userName(t, r), "the plugin was skipped")
		})
	}
}

// stopPlugin stops a plugin: its subscriptions go, its registration stays.
func stopPlugin(t *testing.T, run *pluginRun) {
	t.Helper()
	require.NoError(t, run.stop())
}

func TestAfterHooksRunInParallelAndCannotUndo(t *testing.T) {
	st := startStack(t)
	// Each plugin waits until both were called: called one after the other,
	// the first would wait alone until its deadline.
	const plugins = 2
	var arrived atomic.Int64
	all := make(chan struct{})
	var mu sync.Mutex
	met := map[string]bool{}
	for _, id := range []string{"welcome", "crm"} {
		p := plugin.New[noConfig](manifest(id, hook(contracts.HookAfterUserCreate, 5*time.Second, contracts.FailClosed)))
		onHook(p, contracts.HookAfterUserCreate, func(ctx context.Context, in contracts.UserEventContext) plugin.Decision {
			if arrived.Add(1) == plugins {
				close(all)
			}
			select {
			case <-all:
				mu.Lock()
				met[id] = true
				mu.Unlock()
			case <-ctx.Done():
			}
			if id == "crm" {
				return plugin.Fail(errors.New("the CRM is down")) // cannot undo the sign-up
			}
			return plugin.Continue()
		})
		st.serve(t, p)
	}
	st.waitPlan(t, contracts.HookAfterUserCreate, "crm", "welcome")

	r := st.client(t).signUp(t, "ada@example.com", "Ada")
	r.requireOK(t)
	mu.Lock()
	require.Equal(t, map[string]bool{"welcome": true, "crm": true}, met, "both were called at once")
	mu.Unlock()
	u, err := st.svc.store.UserByEmail(context.Background(), "ada@example.com")
	require.NoError(t, err, "a failing after-hook does not undo the sign-up")
	require.Equal(t, "Ada", u.Name)
	st.waitPublished(t, contracts.EventUserCreated, "ada@example.com")
}

func TestSessionValidateAbort(t *testing.T) {
	st := startStack(t)
	p := plugin.New[noConfig](manifest("guard", hook(contracts.HookSessionValidate, 0, "")))
	onHook(p, contracts.HookSessionValidate, func(_ context.Context, in contracts.SessionEventContext) plugin.Decision {
		if strings.HasPrefix(in.User.Email, "blocked") {
			return plugin.Abort(http.StatusForbidden, "ACCOUNT_SUSPENDED", "This account is suspended")
		}
		return plugin.Continue()
	})
	st.serve(t, p)
	st.waitPlan(t, contracts.HookSessionValidate, "guard")

	ok := st.client(t)
	ok.signUp(t, "ada@example.com", "Ada").requireOK(t)
	r := ok.get(t, "/api/auth/get-session")
	r.requireOK(t)
	require.Equal(t, "ada@example.com", r.obj(t)["user"].(map[string]any)["email"])

	blocked := st.client(t)
	blocked.signUp(t, "blocked@example.com", "Bob").requireOK(t)
	blocked.get(t, "/api/auth/get-session").requireError(t, http.StatusForbidden, "ACCOUNT_SUSPENDED", "This account is suspended")
}

func TestBeforeRequestAbort(t *testing.T) {
	st := startStack(t)
	p := plugin.New[noConfig](manifest("gatekeeper", hook(contracts.HookBeforeRequest, 0, "")))
	onHook(p, contracts.HookBeforeRequest, func(_ context.Context, in contracts.RequestContext) plugin.Decision {
		if strings.Contains(in.Query, "flood=1") {
			return plugin.Abort(http.StatusTooManyRequests, "RATE_LIMITED", "Slow down")
		}
		return plugin.Continue()
	})
	st.serve(t, p)
	st.waitPlan(t, contracts.HookBeforeRequest, "gatekeeper")

	c := st.client(t)
	c.get(t, "/api/auth/ok").requireOK(t)
	c.get(t, "/api/auth/ok?flood=1").requireError(t, http.StatusTooManyRequests, "RATE_LIMITED", "Slow down")
	r := c.post(t, "/api/auth/sign-up/email?flood=1", signUpBody("ada@example.com", "Ada"))
	r.requireError(t, http.StatusTooManyRequests, "RATE_LIMITED", "Slow down")
	st.requireNoUser(t, "ada@example.com")
}

func TestBeforeEmailSendPatchesARealEmail(t *testing.T) {
	smtp := mailtest.Start(t, mailtest.Options{})
	st := startStack(t, withMailer(smtp.Sender(t)))
	p := plugin.New[noConfig](manifest("branding", hook(contracts.HookBeforeEmailSend, 0, "")))
	onHook(p, contracts.HookBeforeEmailSend, func(_ context.Context, in contracts.EmailContext) plugin.Decision {
		in.Email.Subject = "[Acme] " + in.Email.Subject
		return plugin.Patch(in)
	})
	st.serve(t, p)
	st.waitPlan(t, contracts.HookBeforeEmailSend, "branding")

	c := st.client(t)
	c.signUp(t, "ada@example.com", "Ada").requireOK(t)
	c.post(t, "/api/auth/request-password-reset", map[string]any{"email": "ada@example.com", "redirectTo": "/reset"}).requireOK(t)
	msg := smtp.WaitFor(t, "ada@example.com")
	require.True(t, strings.HasPrefix(msg.Subject, "[Acme] "), "subject %q", msg.Subject)
	require.False(t, strings.HasPrefix(strings.TrimPrefix(msg.Subject, "[Acme] "), "[Acme]"), "patched once")
	require.Contains(t, msg.Text, "/reset-password/", "the rest of the message is the core's")
}

func TestNewVersionReplacesTheOldWithoutACoreRestart(t *testing.T) {
	st := startStack(t)
	version := func(v, tag string) *plugin.Plugin[noConfig] {
		m := manifest("stamp", hook(contracts.HookBeforeSignUp, 0, contracts.FailClosed))
		m.Version = v
		p := plugin.New[noConfig](m)
		onHook(p, contracts.HookBeforeSignUp, func(_ context.Context, in contracts.SignUpContext) plugin.Decision {
			in.Name = tag + ":" + in.Name
			return plugin.Patch(in)
		})
		return p
	}
	v1 := st.serve(t, version("1.0.0", "v1"))
	st.waitPlan(t, contracts.HookBeforeSignUp, "stamp")
	c := st.client(t)
	r := c.signUp(t, "one@example.com", "One")
	r.requireOK(t)
	require.Equal(t, "v1:One", userName(t, r))

	// Watch what the core answers the old instance's heartbeats.
	var afterCommit atomic.Bool
	var mu sync.Mutex
	replyTo := map[string]bool{}
	answers := make(chan contracts.HeartbeatStatus, 16)
	watch := bustest.Connect(t, st.ns, bustest.InProcess())
	_, err := watch.Subscribe(bus.HeartbeatSubject("", "stamp"), func(m *nats.Msg) {
		var hb contracts.Heartbeat
		if json.Unmarshal(m.Data, &hb) == nil && hb.Version == "1.0.0" && afterCommit.Load() {
			mu.Lock()
			replyTo[m.Reply] = true
			mu.Unlock()
		}
	})
	require.NoError(t, err)
	_, err = watch.Subscribe(PluginInboxPrefix("stamp")+".>", func(m *nats.Msg) {
		mu.Lock()
		ours := replyTo[m.Subject]
		mu.Unlock()
		var reply contracts.HeartbeatReply
		if ours && json.Unmarshal(m.Data, &reply) == nil {
			answers <- reply.Status
		}
	})
	require.NoError(t, err)
	require.NoError(t, watch.Flush())

	// While the new version starts (its Init is held), the old one serves,
	// past its next heartbeat.
	catcher := &contextCatcher{release: make(chan struct{})}
	v2 := st.launch(t, version("1.1.0", "v2"), plugin.WithLifecycle(catcher))
	record := func() PluginRecord {
		recs := st.svc.runtime.Registry().Records()
		i := slices.IndexFunc(recs, func(r PluginRecord) bool { return r.ID == "stamp" })
		require.GreaterOrEqual(t, i, 0)
		return recs[i]
	}
	bustest.CheckFor(t, wait, 5*time.Millisecond, func() error {
		if v := record().Version; v != "1.1.0" {
			return fmt.Errorf("registered version %s", v)
		}
		return nil
	})
	afterCommit.Store(true)
	select {
	case status := <-answers:
		require.Equal(t, contracts.HeartbeatOK, status, "the old version keeps serving until the new one does")
	case <-time.After(3 * runtime.DefaultHeartbeatInterval):
		t.Fatal("the old instance did not heartbeat")
	}
	r = c.signUp(t, "two@example.com", "Two")
	r.requireOK(t)
	require.Equal(t, "v1:Two", userName(t, r), "no gap while the new version starts")

	// Once it serves, the old instance learns at its next heartbeat that it
	// was replaced, drains and stops.
	close(catcher.release)
	v2.waitServing(t)
	require.ErrorIs(t, v1.waitDone(t, 3*runtime.DefaultHeartbeatInterval), plugin.ErrReplaced)
	r = c.signUp(t, "three@example.com", "Three")
	r.requireOK(t)
	require.Equal(t, "v2:Three", userName(t, r))
	rec := record()
	require.Len(t, rec.Instances, 1, "only the new version's instance")
	require.True(t, rec.Instances[0].Serving)
}

func TestGatewayRouteWithSessionAndRefresh(t *testing.T) {
	// With the cookie cache on, get-session answers from the signed
	// session_data cookie: only a re-issued cookie shows a changed session.
	st := startStack(t, withConfig(func(c *Config) { c.Session.CookieCache = true }))
	m := manifest("orgs-lite")
	m.Permissions = []contracts.Permission{contracts.PermSessionWrite}
	m.Routes = []contracts.RouteDecl{
		{Method: http.MethodGet, Path: "/whoami", Auth: contracts.AuthSession},
		{Method: http.MethodPost, Path: "/active", Auth: contracts.AuthSession},
		{Method: http.MethodPost, Path: "/active-quietly", Auth: contracts.AuthSession},
		{Method: http.MethodGet, Path: "/public", Auth: contracts.AuthNone},
	}
	p := plugin.New[noConfig](m)
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	p.Route(http.MethodGet, "/whoami", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"email": plugin.UserFrom(r.Context()).Email, "session": plugin.SessionFrom(r.Context()).ID})
	}))
	setActive := func(refresh bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				ID string `json:"organizationId"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			pc := plugin.ContextFrom[noConfig](r.Context())
			s, err := pc.Sessions.SetField(r.Context(), plugin.SessionFrom(r.Context()).ID, contracts.SessionFieldActiveOrganization, body.ID)
			if err != nil {
				e := contracts.AsError(err)
				w.WriteHeader(e.Status)
				writeJSON(w, e)
				return
			}
			if refresh {
				plugin.RefreshSession(r.Context())
			}
			writeJSON(w, map[string]any{"activeOrganizationId": s.ActiveOrganizationID})
		})
	}
	p.Route(http.MethodPost, "/active", setActive(true))
	p.Route(http.MethodPost, "/active-quietly", setActive(false))
	p.Route(http.MethodGet, "/public", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"signedIn": plugin.UserFrom(r.Context()) != nil})
	}))
	st.serve(t, p)

	anon := st.client(t)
	anon.get(t, "/api/plugins/orgs-lite/whoami").requireError(t, http.StatusUnauthorized, contracts.CodeUnauthorized, "")
	r := anon.get(t, "/api/plugins/orgs-lite/public")
	r.requireOK(t)
	require.Equal(t, false, r.obj(t)["signedIn"])

	c := st.client(t)
	c.signUp(t, "ada@example.com", "Ada").requireOK(t)
	r = c.get(t, "/api/plugins/orgs-lite/whoami")
	r.requireOK(t)
	require.Equal(t, "ada@example.com", r.obj(t)["email"])
	activeOrg := func() any {
		r := c.get(t, "/api/auth/get-session")
		r.requireOK(t)
		return r.obj(t)["session"].(map[string]any)["activeOrganizationId"]
	}
	require.Nil(t, activeOrg())

	c.post(t, "/api/plugins/orgs-lite/active", map[string]any{"organizationId": "org-1"}).requireOK(t)
	require.Equal(t, "org-1", activeOrg(), "the re-issued cookie carries the change")

	c.post(t, "/api/plugins/orgs-lite/active-quietly", map[string]any{"organizationId": "org-2"}).requireOK(t)
	require.Equal(t, "org-1", activeOrg(), "without RefreshSession the cached cookie still answers (this is what RefreshSession is for)")
	r = c.get(t, "/api/auth/get-session?disableCookieCache=true")
	r.requireOK(t)
	require.Equal(t, "org-2", r.obj(t)["session"].(map[string]any)["activeOrganizationId"], "the store has the change")
}

// signUpAndSession signs a new user up and returns their user and session ids.
func signUpAndSession(t *testing.T, c *client, email string) (userID, sessionID string) {
	t.Helper()
	c.signUp(t, email, "Ada").requireOK(t)
	r := c.get(t, "/api/auth/get-session")
	r.requireOK(t)
	m := r.obj(t)
	return m["user"].(map[string]any)["id"].(string), m["session"].(map[string]any)["id"].(string)
}

func TestCoreServicesFromAnSDKPlugin(t *testing.T) {
	st := startStack(t)
	m := manifest("helper")
	m.Permissions = []contracts.Permission{contracts.PermUserRead, contracts.PermSessionRead, contracts.PermEmailSend, contracts.PermCryptoUse}
	catcher := &contextCatcher{}
	st.serve(t, plugin.New[noConfig](m), plugin.WithLifecycle(catcher))
	pc := catcher.ctx.Load()
	uid, sid := signUpAndSession(t, st.client(t), "ada@example.com")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	u, err := pc.Users.Get(ctx, uid)
	require.NoError(t, err)
	require.Equal(t, "ada@example.com", u.Email)
	page, err := pc.Users.List(ctx, 10, 0)
	require.NoError(t, err)
	require.Equal(t, 1, page.Total)
	s, err := pc.Sessions.Get(ctx, sid)
	require.NoError(t, err)
	require.Equal(t, uid, s.UserID)
	require.NoError(t, pc.Email.Send(ctx, contracts.Email{To: "ada@example.com", Subject: "Hello from helper", Text: "Hi Ada", UserID: uid}))
	mail := st.mails.waitFor(t, "ada@example.com")
	require.Equal(t, "Hello from helper", mail.Subject)
	require.Equal(t, contracts.EmailPluginMessage, mail.Kind)
	sealed, err := pc.Crypto.Encrypt(ctx, []byte("secret note"))
	require.NoError(t, err)
	opened, err := pc.Crypto.Decrypt(ctx, sealed)
	require.NoError(t, err)
	require.Equal(t, "secret note", string(opened))

	_, err = pc.Users.Update(ctx, uid, contracts.UserChanges{Name: ptr("Mallory")})
	var ce *contracts.Error
	require.ErrorAs(t, err, &ce, "the core answers; it does not time out")
	require.Equal(t, contracts.CodePermissionDenied, ce.Code)
	require.Equal(t, http.StatusForbidden, ce.Status)
	require.Contains(t, ce.Message, string(contracts.PermUserWrite), "the message names what is missing")
	u, err = pc.Users.Get(ctx, uid)
	require.NoError(t, err)
	require.Equal(t, "Ada", u.Name, "nothing changed")
}

func ptr[T any](v T) *T { return &v }

// asyncErrors collects a connection's asynchronous errors.
type asyncErrors struct {
	mu   sync.Mutex
	errs []string
}

func (a *asyncErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs = append(a.errs, err.Error())
}

// waitFor waits until an error containing want arrived.
func (a *asyncErrors) waitFor(t testing.TB, want string) {
	t.Helper()
	bustest.CheckFor(t, wait, 5*time.Millisecond, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, e := range a.errs {
			if strings.Contains(e, want) {
				return nil
			}
		}
		return fmt.Errorf("no asynchronous error %q among %q", want, a.errs)
	})
}

func TestBrokerEnforcesPluginPermissions(t *testing.T) {
	m := manifest("limited", hook(contracts.HookBeforeSignUp, 0, ""))
	m.Permissions = []contracts.Permission{contracts.PermUserRead}
	m.Events = []string{"user.created"}
	m.Permissions = append(m.Permissions, contracts.PermEventsSubscribe+"user.created")
	st := startStack(t, withAccounts(PluginAccount{PluginID: m.ID, Password: "limited-password", Granted: DevGrants(m)}))
	catcher := &contextCatcher{}
	p := plugin.New[noConfig](m)
	onHook(p, contracts.HookBeforeSignUp, func(_ context.Context, in contracts.SignUpContext) plugin.Decision {
		in.Name += " (checked)"
		return plugin.Patch(in)
	})
	var seen atomic.Int64
	plugin.OnEvent(p, "user.created", func(context.Context, *plugin.Context[noConfig], plugin.Event[contracts.UserCreated]) error {
		seen.Add(1)
		return nil
	})
	errs := &asyncErrors{}
	nc := st.connect(t, m.ID, nats.ErrorHandler(errs.handler))
	st.launchOn(t, p, nc, plugin.WithLifecycle(catcher)).waitServing(t)
	pc := catcher.ctx.Load()

	// Its own user lets it do what its manifest was granted: register,
	// heartbeat, serve its hook, consume its events, call users.get.
	r := st.client(t).signUp(t, "ada@example.com", "Ada")
	r.requireOK(t)
	require.Equal(t, "Ada (checked)", userName(t, r))
	bustest.CheckFor(t, wait, 5*time.Millisecond, func() error {
		if seen.Load() == 0 {
			return errors.New("user.created not handled yet")
		}
		return nil
	})
	uid := r.obj(t)["user"].(map[string]any)["id"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := pc.Users.Get(ctx, uid)
	require.NoError(t, err)

	// An ungranted core service never reaches the core: the broker drops the request.
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	_, err = pc.Users.Update(short, uid, contracts.UserChanges{Name: ptr("Mallory")})
	require.ErrorIs(t, err, bus.ErrTimeout, "a denied request looks like a timeout to the caller")
	errs.waitFor(t, `Permissions Violation for Publish to "core.limited.users.update"`)

	// Nor may it publish an event the core owns, or listen to another plugin's hooks.
	require.NoError(t, nc.Publish("user.created", []byte(`{}`)))
	errs.waitFor(t, `Permissions Violation for Publish to "user.created"`)
	_, err = nc.SubscribeSync(bus.HookSubject("", contracts.HookBeforeSignIn, "other"))
	require.NoError(t, err)
	errs.waitFor(t, `Permissions Violation for Subscription to "hook.beforeSignIn.other"`)

	u, err := st.svc.store.UserByEmail(context.Background(), "ada@example.com")
	require.NoError(t, err)
	require.Equal(t, "Ada (checked)", u.Name, "the denied update changed nothing")
}

func TestEventHandlerReceivesUserCreatedFromTheOutbox(t *testing.T) {
	forEachStore(t, func(t *testing.T, opts ...stackOption) {
		st := startStack(t, opts...)
		m := manifest("listener")
		m.Events = []string{"user.created"}
		m.Permissions = []contracts.Permission{contracts.PermEventsSubscribe + "user.created"}
		p := plugin.New[noConfig](m)
		got := make(chan plugin.Event[contracts.UserCreated], 4)
		plugin.OnEvent(p, "user.created", func(_ context.Context, _ *plugin.Context[noConfig], ev plugin.Event[contracts.UserCreated]) error {
			got <- ev
			return nil
		})
		st.serve(t, p)

		r := st.client(t).signUp(t, "ada@example.com", "Ada")
		r.requireOK(t)
		var ev plugin.Event[contracts.UserCreated]
		select {
		case ev = <-got:
		case <-time.After(wait):
			t.Fatalf("no user.created within %s", wait)
		}
		require.Equal(t, "ada@example.com", ev.Data.User.Email)
		require.Equal(t, "email", ev.Data.Method)
		env := st.waitPublished(t, contracts.EventUserCreated, "ada@example.com")
		require.Equal(t, env.ID, ev.ID, "the event the relay published from the outbox row written with the user")
		require.Equal(t, ev.Data.User.ID, env.Subject)
	})
}

func TestUnsubscribedHookPointsCostNoNATSMessage(t *testing.T) {
	st := startStack(t)
	p := plugin.New[noConfig](manifest("signin-only", hook(contracts.HookBeforeSignIn, 0, "")))
	onHook(p, contracts.HookBeforeSignIn, func(context.Context, contracts.SignInContext) plugin.Decision { return plugin.Continue() })
	st.serve(t, p)
	st.waitPlan(t, contracts.HookBeforeSignIn, "signin-only")

	// Sign-up and sign-in pass a dozen hook points (beforeRequest,
	// beforeSignUp, beforeUserCreate, beforeSessionCreate, after…); only
	// the one a plugin serves may cost a message.
	var mu sync.Mutex
	var subjects []string
	watch := bustest.Connect(t, st.ns, bustest.InProcess())
	sub, err := watch.Subscribe("hook.>", func(m *nats.Msg) {
		mu.Lock()
		subjects = append(subjects, m.Subject)
		mu.Unlock()
	})
	require.NoError(t, err)
	require.NoError(t, watch.Flush())
	c := st.client(t)
	c.signUp(t, "ada@example.com", "Ada").requireOK(t)
	c.post(t, "/api/auth/sign-out", map[string]any{}).requireOK(t)
	c.signIn(t, "ada@example.com").requireOK(t)
	c.get(t, "/api/auth/get-session").requireOK(t)
	// The watcher sees each request in order; a marker on the same
	// connection path tells when it has seen everything before it.
	require.NoError(t, st.svc.nc.Publish("hook.marker", nil))
	require.NoError(t, st.svc.nc.Flush())
	bustest.CheckFor(t, wait, 5*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(subjects, "hook.marker") {
			return errors.New("marker not seen yet")
		}
		return nil
	})
	require.NoError(t, sub.Unsubscribe())
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"hook.beforeSignIn.signin-only", "hook.marker"}, subjects)
}

// signUpBody is the JSON body of a sign-up.
func signUpBody(email, name string) map[string]any {
	return map[string]any{"email": email, "password": testPassword, "name": name}
}
