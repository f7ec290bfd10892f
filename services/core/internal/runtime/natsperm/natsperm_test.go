package natsperm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime"
	"github.com/authbus/authbus/services/core/internal/runtime/natsperm"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
)

const wait = 10 * time.Second

// users is a hand-written CoreServices that knows one user.
type users struct{}

func (users) GetUser(_ context.Context, id string) (*contracts.User, error) {
	return &contracts.User{ID: id, Email: "ada@example.com"}, nil
}
func (users) ListUsers(context.Context, int, int) ([]contracts.User, int, error) { return nil, 0, nil }
func (users) UpdateUser(context.Context, string, string, contracts.UserChanges) (*contracts.User, error) {
	return nil, errors.New("not used")
}
func (users) GetSession(context.Context, string) (*contracts.Session, error) {
	return nil, errors.New("not used")
}
func (users) RevokeSession(context.Context, string, string) error { return errors.New("not used") }
func (users) SetSessionField(context.Context, string, string, string, json.RawMessage) (*contracts.Session, error) {
	return nil, errors.New("not used")
}
func (users) SendEmail(context.Context, string, contracts.Email) error { return nil }

// asyncErrors records a connection's asynchronous errors (permission violations).
type asyncErrors struct {
	mu   sync.Mutex
	errs []string
}

func (a *asyncErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err.Error())
	a.mu.Unlock()
}

func (a *asyncErrors) waitFor(t *testing.T, substr string) {
	t.Helper()
	bustest.CheckFor(t, wait, 10*time.Millisecond, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, e := range a.errs {
			if strings.Contains(e, substr) {
				return nil
			}
		}
		return fmt.Errorf("no async error containing %q among %v", substr, a.errs)
	})
}

func (a *asyncErrors) none(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	require.Empty(t, a.errs)
}

var auditGrants = []contracts.Permission{"user:read", "events:subscribe:user.>"}

// TestBlockOnRealServer runs the core with every right and plugin "audit"
// with its derived block on an embedded server, and checks what the
// broker lets the plugin do.
func TestBlockOnRealServer(t *testing.T) {
	o := natsperm.Options{}
	srv := bustest.RunServer(t, bustest.WithUsers(natsperm.Users(o, "core", "core-pw", []natsperm.Account{
		{PluginID: "audit", Password: "audit-pw", Granted: auditGrants},
		{PluginID: "other", Password: "other-pw"},
	})...))
	core := bustest.Connect(t, srv, bustest.ConnectOptions(nats.UserInfo("core", "core-pw")))
	coreJS := bustest.JetStream(t, core)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := bus.EnsureStream(ctx, coreJS, bus.StreamConfig{Storage: "memory"}, "")
	require.NoError(t, err)

	op, err := operator.Parse([]byte(`
plugins:
  audit: {permissions: ["user:read", "events:subscribe:user.>"], nats: {password: audit-pw}}
  other: {}
`), "plugins.yaml", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	rt, err := runtime.New(runtime.Options{Conn: core, JetStream: coreJS, Operator: op, CoreServices: users{},
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, rt.Start(ctx))
	t.Cleanup(func() { _ = rt.Stop(context.Background()) })

	errs := &asyncErrors{}
	plugin := bustest.Connect(t, srv, bustest.ConnectOptions(nats.UserInfo("audit", "audit-pw"),
		nats.CustomInboxPrefix(natsperm.InboxPrefix("audit")), nats.ErrorHandler(errs.handler)))
	js := bustest.JetStream(t, plugin)

	// Register and heartbeat.
	m := contracts.Manifest{ID: "audit", Name: "Audit", Version: "1.0.0", CoreVersion: "^0.1.0",
		Permissions: []contracts.Permission{"user:read", "events:subscribe:user.>"}, Events: []string{"user.>"},
		Hooks: []contracts.HookDecl{{Point: contracts.HookAfterSignIn}}}
	body, _ := json.Marshal(contracts.RegisterRequest{Protocol: contracts.ProtocolVersion, Manifest: m, Instance: contracts.InstanceInfo{ID: "a1"}})
	msg, err := bus.Request(ctx, plugin, bus.RegisterSubject("", "audit"), body, nil)
	require.NoError(t, err)
	var reg contracts.RegisterReply
	require.NoError(t, json.Unmarshal(msg.Data, &reg))
	require.Equal(t, contracts.RegisterAccepted, reg.Status, "%v", reg.Reasons)
	hb, _ := json.Marshal(contracts.Heartbeat{Instance: "a1", Version: "1.0.0"})
	msg, err = bus.Request(ctx, plugin, bus.HeartbeatSubject("", "audit"), hb, nil)
	require.NoError(t, err)
	require.Contains(t, string(msg.Data), `"ok"`)

	// Bind its durable, fetch an event and ack it.
	_, err = bus.Publish(ctx, coreJS, "", mustEnvelope(t), jetstream.WithMsgID("e1"))
	require.NoError(t, err)
	cons, err := js.Consumer(ctx, stream.CachedInfo().Config.Name, reg.Consumer.Durable)
	require.NoError(t, err)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var got int
	for m := range batch.Messages() {
		require.Equal(t, "user.created", m.Subject())
		require.NoError(t, m.DoubleAck(ctx))
		got++
	}
	require.NoError(t, batch.Error())
	require.Equal(t, 1, got)

	// Serve a hook, in its queue group, as a micro service, and be discovered.
	svc, err := micro.AddService(plugin, micro.Config{Name: "audit", Version: "1.0.0", QueueGroup: "audit"})
	require.NoError(t, err)
	require.NoError(t, svc.AddEndpoint("afterSignIn", micro.HandlerFunc(func(r micro.Request) {
		_ = r.Respond([]byte(`{"action":"continue"}`))
	}), micro.WithEndpointSubject(bus.HookSubject("", contracts.HookAfterSignIn, "audit"))))
	t.Cleanup(func() { _ = svc.Stop() })
	require.NoError(t, plugin.Flush())
	msg, err = bus.Request(ctx, core, bus.HookSubject("", contracts.HookAfterSignIn, "audit"), []byte(`{}`), nil)
	require.NoError(t, err)
	require.JSONEq(t, `{"action":"continue"}`, string(msg.Data))
	msg, err = core.Request("$SRV.PING.audit", nil, 5*time.Second)
	require.NoError(t, err)
	require.Contains(t, string(msg.Data), micro.PingResponseType)

	// Use its own KV bucket.
	kv, err := js.KeyValue(ctx, reg.KVBucket)
	require.NoError(t, err)
	_, err = kv.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	ent, err := kv.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "v", string(ent.Value()))
	keys, err := kv.ListKeys(ctx)
	require.NoError(t, err)
	var listed []string
	for k := range keys.Keys() {
		listed = append(listed, k)
	}
	require.Equal(t, []string{"k"}, listed)
	require.NoError(t, kv.Delete(ctx, "k"))

	// Call a granted core service.
	msg, err = bus.Request(ctx, plugin, bus.CoreSubject("", "audit", "users", "get"), []byte(`{"id":"u1"}`), nil)
	require.NoError(t, err)
	require.Contains(t, string(msg.Data), "ada@example.com")
	errs.none(t)

	// Denied: publishing an event it was not granted. The server drops it.
	require.NoError(t, plugin.Publish("user.created", []byte(`{}`)))
	errs.waitFor(t, `Permissions Violation for Publish to "user.created"`)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Msgs, "the forged event never reached the stream")

	// Denied: subscribing to another plugin's hook subjects.
	_, err = plugin.Subscribe(bus.HookSubject("", contracts.HookBeforeSignIn, "other"), func(*nats.Msg) {})
	require.NoError(t, err) // local; the server refuses asynchronously
	errs.waitFor(t, `Permissions Violation for Subscription to "hook.beforeSignIn.other"`)
	_, err = bus.Request(ctx, core, bus.HookSubject("", contracts.HookBeforeSignIn, "other"), []byte(`{}`), nil)
	require.ErrorIs(t, err, bus.ErrNoResponders)

	// Denied: a core service it was not granted; the broker drops the request.
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	_, err = bus.Request(short, plugin, bus.CoreSubject("", "audit", "email", "send"), []byte(`{}`), nil)
	require.ErrorIs(t, err, bus.ErrTimeout)
	errs.waitFor(t, `Permissions Violation for Publish to "core.audit.email.send"`)

	// Denied: speaking for another plugin.
	require.NoError(t, plugin.Publish(bus.RegisterSubject("", "other"), []byte(`{}`)))
	errs.waitFor(t, `Permissions Violation for Publish to "plugin.other.register"`)
}

func mustEnvelope(t *testing.T) contracts.Envelope {
	t.Helper()
	env, err := contracts.NewEnvelope("authbus/core", contracts.EventType("user.created"), "u1",
		contracts.UserCreated{User: contracts.User{ID: "u1", Email: "ada@example.com"}})
	require.NoError(t, err)
	return env
}

func TestBlockSubjects(t *testing.T) {
	b := natsperm.Block(natsperm.Options{Prefix: "acme"}, "orgs", []contracts.Permission{
		"user:read", "session:write", "events:publish:org.>", "hooks:call:beforeOrgCreate", "plugin:invoke:audit", "http:mount:/api/auth/organization",
	})
	pub, sub := b.Publish.Allow, b.Subscribe.Allow
	for _, want := range []string{
		"acme.plugin.orgs.register", "acme.plugin.orgs.heartbeat",
		"acme.core.orgs.users.get", "acme.core.orgs.users.list", "acme.core.orgs.sessions.revoke", "acme.core.orgs.sessions.set-field",
		"acme.core.orgs.hooks.plan", "acme.org.>", "acme.hook.beforeOrgCreate.*", "acme.plugin.audit.invoke.*",
		"acme.dlq.plugin-orgs.>", "$KV.acme_plugin-orgs.>", "$JS.ACK.AUTH_EVENTS.plugin-orgs.>",
	} {
		require.Contains(t, pub, want)
	}
	for _, not := range []string{"acme.core.orgs.users.update", "acme.core.orgs.email.send", "acme.core.orgs.>", "acme.user.created"} {
		require.NotContains(t, pub, not)
	}
	for _, want := range []string{"_INBOX_orgs.>", "acme.hook.*.orgs", "acme.plugin.orgs.http", "acme.plugin.orgs.invoke.>",
		"acme.plugin.orgs.control", "acme.gateway.orgs.>", "acme.hooks.plan", "$SRV.*.orgs"} {
		require.Contains(t, sub, want)
	}
	require.Equal(t, 1, b.Response.MaxMsgs)

	none := natsperm.Block(natsperm.Options{}, "quiet", nil)
	require.NotContains(t, none.Subscribe.Allow, "hooks.plan")
	for _, s := range none.Publish.Allow {
		require.False(t, strings.HasPrefix(s, "core."), s)
	}
}

// TestConfigParsesAsServerConfig renders the operator config and checks
// nats-server reads back the same permissions.
func TestConfigParsesAsServerConfig(t *testing.T) {
	o := natsperm.Options{}
	accounts := []natsperm.Account{
		{PluginID: "audit", Password: "s3cret", Granted: auditGrants},
		{PluginID: "orgs", User: "orgs-user", Granted: []contracts.Permission{"hooks:call:beforeOrgCreate"}},
	}
	text := natsperm.Config(o, "core", "core-pw", accounts)
	path := filepath.Join(t.TempDir(), "auth.conf")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	t.Setenv("AUTHBUS_ORGS_NATS_PASSWORD", "from-env")
	opts, err := server.ProcessConfigFile(path)
	require.NoError(t, err, text)
	byName := map[string]*server.User{}
	for _, u := range opts.Users {
		byName[u.Username] = u
	}
	require.Len(t, byName, 3)
	require.Nil(t, byName["core"].Permissions)
	require.Equal(t, "s3cret", byName["audit"].Password)
	require.Equal(t, "from-env", byName["orgs-user"].Password)
	want := natsperm.Block(o, "audit", auditGrants)
	require.Equal(t, want.Publish.Allow, byName["audit"].Permissions.Publish.Allow)
	require.Equal(t, want.Subscribe.Allow, byName["audit"].Permissions.Subscribe.Allow)
	require.Equal(t, want.Response.MaxMsgs, byName["audit"].Permissions.Response.MaxMsgs)
	require.Equal(t, want.Response.Expires, byName["audit"].Permissions.Response.Expires)
}
