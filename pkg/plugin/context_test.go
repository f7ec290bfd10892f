package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

// runAndGetContext runs a fixture plugin on manifest m and returns the Context its handlers get.
func runAndGetContext(t *testing.T, core *plugintest.Core, m contracts.Manifest) *plugin.Context[testConfig] {
	t.Helper()
	got := make(chan *plugin.Context[testConfig], 1)
	core.Run(t, newFixtureWith(m, fixture{greet: func(_ context.Context, c *plugin.Context[testConfig], _ greetRequest) (greetReply, error) {
		got <- c
		return greetReply{}, nil
	}}))
	require.NoError(t, core.Invoke(context.Background(), m.ID, "greet", greetRequest{}, nil))
	return <-got
}

func TestContextEnv(t *testing.T) {
	core := plugintest.Start(t, plugintest.WithSubjectPrefix("acme"))
	c := runAndGetContext(t, core, fixtureManifest("fixture"))
	require.Equal(t, "fixture", c.Env.PluginID)
	require.Equal(t, "1.2.3", c.Env.Version)
	require.Equal(t, plugintest.DefaultCoreVersion, c.Env.CoreVersion)
	require.Equal(t, "acme", c.Env.SubjectPrefix)
	require.Len(t, c.Env.InstanceID, 36)
	require.Nil(t, c.Hooks, "the fixture exposes no hook points")
	require.NotNil(t, c.KV)
}

func TestCoreServiceClients(t *testing.T) {
	core := plugintest.Start(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	core.SetUser(contracts.User{ID: "u1", Name: "Ada", Email: "ada@example.com", CreatedAt: now, UpdatedAt: now})
	core.SetUser(contracts.User{ID: "u2", Name: "Grace", Email: "grace@example.com", CreatedAt: now.Add(time.Second), UpdatedAt: now})
	core.SetSession(contracts.Session{ID: "s1", UserID: "u1", ExpiresAt: now.Add(time.Hour)})
	c := runAndGetContext(t, core, fixtureManifest("fixture"))
	ctx := context.Background()

	u, err := c.Users.Get(ctx, "u1")
	require.NoError(t, err)
	require.Equal(t, "Ada", u.Name)
	_, err = c.Users.Get(ctx, "nobody")
	require.ErrorIs(t, err, contracts.CodeUserNotFound.Err(), "core errors arrive as *contracts.Error")

	page, err := c.Users.List(ctx, 1, 1)
	require.NoError(t, err)
	require.Equal(t, 2, page.Total)
	require.Equal(t, "u2", page.Users[0].ID)

	u, err = c.Users.Update(ctx, "u1", contracts.UserChanges{Name: new("Ada L.")})
	require.NoError(t, err)
	require.Equal(t, "Ada L.", u.Name)

	s, err := c.Sessions.Get(ctx, "s1")
	require.NoError(t, err)
	require.Equal(t, "u1", s.UserID)
	s, err = c.Sessions.SetField(ctx, "s1", contracts.SessionFieldActiveOrganization, nil)
	require.NoError(t, err)
	require.Nil(t, s.ActiveOrganizationID)
	require.NoError(t, c.Sessions.Revoke(ctx, "s1"))
	_, err = c.Sessions.Get(ctx, "s1")
	require.ErrorIs(t, err, contracts.CodeNotFound.Err())

	ct, err := c.Crypto.Encrypt(ctx, []byte("totp-secret"))
	require.NoError(t, err)
	plain, err := c.Crypto.Decrypt(ctx, ct)
	require.NoError(t, err)
	require.Equal(t, "totp-secret", string(plain))

	require.NoError(t, c.Email.Send(ctx, contracts.Email{To: "ada@example.com", Subject: "Hi", Text: "Hello"}))
	err = c.Email.Send(ctx, contracts.Email{To: "not-an-address", Subject: "Hi", Text: "Hello"})
	require.ErrorIs(t, err, contracts.CodeInvalidEmail.Err())
	emails := core.Emails()
	require.Len(t, emails, 1)
	require.Equal(t, contracts.EmailPluginMessage, emails[0].Kind, "Send fills in the kind")

	core.HandleService(contracts.CoreEmailSend, func(context.Context, string, json.RawMessage) (any, error) {
		return nil, contracts.CodeServiceUnavailable.Errorf("mailer down")
	})
	err = c.Email.Send(ctx, contracts.Email{To: "ada@example.com", Subject: "Hi", Text: "Hello"})
	var ce *contracts.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, contracts.Error{Status: 503, Code: contracts.CodeServiceUnavailable, Message: "mailer down"}, *ce)
}

func TestCoreServicePermissionDenied(t *testing.T) {
	core := plugintest.Start(t)
	m := fixtureManifest("fixture")
	m.Permissions = []contracts.Permission{"events:subscribe:user.*"}
	c := runAndGetContext(t, core, m)
	err := c.Email.Send(context.Background(), contracts.Email{To: "ada@example.com", Subject: "Hi", Text: "Hello"})
	require.ErrorIs(t, err, contracts.CodePermissionDenied.Err())
	require.ErrorContains(t, err, `add "email:send"`)
}

func TestKeyValueBucket(t *testing.T) {
	core := plugintest.Start(t)
	c := runAndGetContext(t, core, fixtureManifest("fixture"))
	ctx := context.Background()
	_, err := c.KV.Put(ctx, "lockout.u1", []byte("3"))
	require.NoError(t, err)
	e, err := c.KV.Get(ctx, "lockout.u1")
	require.NoError(t, err)
	require.Equal(t, "3", string(e.Value()))
}

func TestInvokeBetweenPlugins(t *testing.T) {
	core := plugintest.Start(t)
	core.Run(t, newFixture("fixture", fixture{greet: func(_ context.Context, c *plugin.Context[testConfig], req greetRequest) (greetReply, error) {
		switch req.Name {
		case "mallory":
			return greetReply{}, contracts.CodeForbidden.Errorf("not you, %s", req.Name)
		case "crash":
			return greetReply{}, errors.New("secret internal detail")
		}
		return greetReply{Text: c.Config.Greeting + ", " + req.Name}, nil
	}}))
	m := fixtureManifest("caller")
	m.Permissions = append(m.Permissions, "plugin:invoke:fixture")
	c := runAndGetContext(t, core, m)

	ctx := context.Background()
	var out greetReply
	require.NoError(t, c.Invoke(ctx, "fixture", "greet", greetRequest{Name: "Ada"}, &out))
	require.Equal(t, "hello, Ada", out.Text)

	err := c.Invoke(ctx, "fixture", "greet", greetRequest{Name: "mallory"}, &out)
	require.ErrorIs(t, err, contracts.CodeForbidden.Err())
	require.ErrorContains(t, err, "not you, mallory")

	err = c.Invoke(ctx, "fixture", "greet", greetRequest{Name: "crash"}, &out)
	require.ErrorIs(t, err, contracts.CodeInternalServerError.Err())
	require.NotContains(t, err.Error(), "secret internal detail", "handler errors do not leak to callers")

	err = c.Invoke(ctx, "fixture", "greet", "not an object", &out)
	require.ErrorIs(t, err, contracts.CodeBadRequest.Err())

	err = c.Invoke(ctx, "absent", "greet", greetRequest{}, &out)
	require.ErrorIs(t, err, bus.ErrNoResponders)
	require.ErrorContains(t, c.Invoke(ctx, "a.b", "greet", nil, nil), "one subject token")
}

func TestTracingContinuesTheCallersTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	core := plugintest.Start(t)
	core.Run(t, newFixture("fixture", fixture{}))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "sign-up")
	_, err := core.CallHook(ctx, "fixture", contracts.HookBeforeSignUp, contracts.SignUpContext{})
	require.NoError(t, err)
	parent.End()

	env, err := contracts.NewEnvelope("authbus/core", contracts.EventUserCreated, "u1", userCreated("u1"))
	require.NoError(t, err)
	_, publisher := tp.Tracer("test").Start(context.Background(), "outbox relay")
	env.TraceParent = fmt.Sprintf("00-%s-%s-01", publisher.SpanContext().TraceID(), publisher.SpanContext().SpanID())
	publisher.End()
	ev := core.PublishEnvelope(t, env)
	core.WaitEvent(t, "fixture", ev, plugintest.Acked)

	find := func(name string) sdktrace.ReadOnlySpan {
		var found sdktrace.ReadOnlySpan
		waitFor(t, func() bool {
			for _, s := range rec.Ended() {
				if s.Name() == name {
					found = s
					return true
				}
			}
			return false
		})
		return found
	}
	hook := find("hook beforeSignUp")
	require.Equal(t, parent.SpanContext().TraceID(), hook.SpanContext().TraceID())
	require.Equal(t, parent.SpanContext().SpanID(), hook.Parent().SpanID())
	require.Equal(t, trace.SpanKindServer, hook.SpanKind())

	consume := find("process user.created")
	require.Equal(t, publisher.SpanContext().TraceID(), consume.SpanContext().TraceID(), "the consumer span continues the publisher's trace")
	require.Equal(t, trace.SpanKindConsumer, consume.SpanKind())
}

func TestMiddleware(t *testing.T) {
	core := plugintest.Start(t)
	var order seen
	var calls seen
	var failed sync.Map // event id → true once its first delivery failed
	mw := func(name string) plugin.Middleware {
		return func(ctx context.Context, call plugin.Call, next func(context.Context) error) error {
			order.add("%s>", name)
			defer order.add("<%s", name)
			if name == "outer" {
				calls.add("%s %s delivery=%d id=%t", call.Kind, call.Name, call.Delivery, call.ID != "")
				// Fault injection: the first delivery of every event fails before the handler runs.
				if _, done := failed.LoadOrStore(call.ID, true); call.Kind == plugin.CallEvent && !done {
					return errors.New("injected")
				}
			}
			return next(ctx)
		}
	}
	core.Run(t, newFixture("fixture", fixture{
		beforeSignUp: func(context.Context, *plugin.Context[testConfig], contracts.SignUpContext) plugin.Decision {
			order.add("handler")
			return plugin.Continue()
		},
	}), plugin.WithMiddleware(mw("outer"), mw("inner")))

	_, err := callHook(t, core, "fixture", contracts.SignUpContext{})
	require.NoError(t, err)
	require.Equal(t, []string{"outer>", "inner>", "handler", "<inner", "<outer"}, order.list())

	ev := core.Publish(t, contracts.EventUserCreated, userCreated("u1"))
	st := core.WaitEvent(t, "fixture", ev, plugintest.Acked)
	require.Equal(t, 1, st.Naks, "the injected failure was a nak")

	require.NoError(t, core.Invoke(context.Background(), "fixture", "greet", greetRequest{}, nil))
	rec := httptest.NewRecorder()
	core.Gateway("fixture").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/hello", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, []string{
		"hook beforeSignUp delivery=0 id=true",
		"event user.created delivery=1 id=true",
		"event user.created delivery=2 id=true",
		"invoke greet delivery=0 id=false",
		"route GET /hello delivery=0 id=true",
	}, calls.list())
}

func TestPublishEvents(t *testing.T) {
	core := plugintest.Start(t, plugintest.WithSubjectPrefix("acme"))
	m := fixtureManifest("orgs")
	m.Permissions = append(m.Permissions, "events:publish:org.*")
	c := runAndGetContext(t, core, m)
	env, err := c.NewEvent(contracts.EventOrgCreated, "u1", contracts.OrgCreated{Organization: contracts.Organization{ID: "o1", Name: "Acme", Slug: "acme"}})
	require.NoError(t, err)
	require.Equal(t, "authbus/orgs", env.Source)
	require.NoError(t, c.Publish(context.Background(), env))
	require.NoError(t, c.Publish(context.Background(), env), "publishing again is deduplicated")

	st, err := core.JetStream().Stream(context.Background(), bus.DefaultStreamName)
	require.NoError(t, err)
	raw, err := st.GetLastMsgForSubject(context.Background(), "acme.org.created")
	require.NoError(t, err)
	got, err := contracts.DecodeEnvelope(raw.Data)
	require.NoError(t, err)
	require.Equal(t, env.ID, got.ID)
	info, err := st.Info(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Msgs, "stored once")
}
