package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/hooks"
	"github.com/authbus/authbus/pkg/plugin/internal/wire"
)

// Context is what every handler gets besides its input: the plugin's
// effective config, a logger, clients of the core's services, the plugin's
// key-value bucket, plugin-to-plugin calls and facts about the running
// instance. It is shared by concurrent handlers and must not be modified.
type Context[Cfg any] struct {
	// Config is the effective configuration: the manifest's defaultConfig,
	// then the operator's values, checked against configSchema by the core
	// and by Cfg's Validate method when it has one.
	Config Cfg
	// Logger logs as JSON with the plugin id; pass the handler's ctx
	// (InfoContext, …) to get the trace ids.
	Logger *slog.Logger
	// Env describes the running instance.
	Env Env
	// Users reads and updates users (permissions user:read, user:write).
	Users Users
	// Sessions reads, revokes and annotates sessions (session:read, session:write).
	Sessions Sessions
	// Email sends email through the core's mailer (email:send).
	Email Email
	// Crypto encrypts with the core's key (crypto:use).
	Crypto Crypto
	// KV is the plugin's own key-value bucket, shared by its replicas, or
	// nil when the core assigned none.
	KV jetstream.KeyValue
	// Hooks calls other plugins at hook points this plugin exposes (the
	// manifest needs "hooks:call:<point>"); nil when it asks for none.
	Hooks *hooks.Dispatcher

	calls  *caller
	js     jetstream.JetStream
	stream string
}

// Env describes the running instance of a plugin.
type Env struct {
	// PluginID is the plugin's id.
	PluginID string
	// Version is the plugin's version.
	Version string
	// InstanceID is unique per process start.
	InstanceID string
	// CoreVersion is the core's version.
	CoreVersion string
	// SubjectPrefix is the installation's subject prefix.
	SubjectPrefix string
}

// Invoke calls method on plugin pluginID (permission
// "plugin:invoke:<pluginID>") with req as JSON and decodes the reply into
// resp (unless nil). An error reply comes back as a *contracts.Error; a
// plugin with no live instance as an error wrapping bus.ErrNoResponders;
// no answer before ctx's deadline (or the request timeout) as one wrapping
// bus.ErrTimeout.
func (c *Context[Cfg]) Invoke(ctx context.Context, pluginID, method string, req, resp any) error {
	if !validName(pluginID) || !validName(method) {
		return fmt.Errorf("invoke %s.%s: plugin id and method must each be one subject token", pluginID, method)
	}
	if err := c.calls.call(ctx, bus.InvokeSubject(c.calls.prefix, pluginID, method), req, resp); err != nil {
		return fmt.Errorf("invoke %s.%s: %w", pluginID, method, err)
	}
	return nil
}

// NewEvent returns the envelope of a catalog event this plugin reports
// (source "authbus/<plugin id>"), for Publish. Keep it to publish again
// after an error: the same id is stored once.
func (c *Context[Cfg]) NewEvent(t contracts.EventType, subject string, data any) (contracts.Envelope, error) {
	return contracts.NewEnvelope("authbus/"+c.Env.PluginID, t, subject, data)
}

// Publish stores env in the events stream and waits for the server's
// acknowledgement (the manifest needs "events:publish:<pattern>" covering
// env.Type). An error leaves the outcome unknown: publish the same
// envelope again, and deduplication on its id stores it once. Unlike the
// core's events, these are not written in one transaction with the
// plugin's own data: publish after committing.
func (c *Context[Cfg]) Publish(ctx context.Context, env contracts.Envelope) error {
	if _, err := bus.Publish(ctx, c.js, c.Env.SubjectPrefix, env, jetstream.WithExpectStream(c.stream)); err != nil {
		return err
	}
	return nil
}

// caller sends the requests of one plugin instance.
type caller struct {
	nc      *nats.Conn
	prefix  string
	id      string
	header  nats.Header
	timeout time.Duration
}

func newCaller(nc *nats.Conn, prefix, id string, timeout time.Duration) *caller {
	return &caller{nc: nc, prefix: prefix, id: id, timeout: timeout,
		header: nats.Header{contracts.HeaderPluginID: []string{id}}}
}

// call sends req to subject and decodes the reply into resp.
func (c *caller) call(ctx context.Context, subject string, req, resp any) error {
	return wire.Call(ctx, c.nc, subject, c.header, c.timeout, req, resp)
}

// core calls a core service method.
func (c *caller) core(ctx context.Context, svc contracts.CoreService, req, resp any) error {
	s, m := svc.Split()
	if err := c.call(ctx, bus.CoreSubject(c.prefix, c.id, s, m), req, resp); err != nil {
		return fmt.Errorf("core %s: %w", svc, err)
	}
	return nil
}

// Users is the client of the core's user service. Errors from the core are
// *contracts.Error (errors.Is(err, contracts.CodeUserNotFound.Err()), …).
type Users struct{ c *caller }

// Get returns the user with id.
func (u Users) Get(ctx context.Context, id string) (contracts.User, error) {
	var out contracts.User
	err := u.c.core(ctx, contracts.CoreUsersGet, contracts.GetUserRequest{ID: id}, &out)
	return out, err
}

// List returns one page of users in creation order and the total count.
func (u Users) List(ctx context.Context, limit, offset int) (contracts.ListUsersReply, error) {
	var out contracts.ListUsersReply
	err := u.c.core(ctx, contracts.CoreUsersList, contracts.ListUsersRequest{Limit: limit, Offset: offset}, &out)
	return out, err
}

// Update changes a user's profile and returns the user as stored.
func (u Users) Update(ctx context.Context, id string, changes contracts.UserChanges) (contracts.User, error) {
	var out contracts.User
	err := u.c.core(ctx, contracts.CoreUsersUpdate, contracts.UpdateUserRequest{ID: id, Changes: changes}, &out)
	return out, err
}

// Sessions is the client of the core's session service.
type Sessions struct{ c *caller }

// Get returns the session with id.
func (s Sessions) Get(ctx context.Context, id string) (contracts.Session, error) {
	var out contracts.Session
	err := s.c.core(ctx, contracts.CoreSessionsGet, contracts.GetSessionRequest{ID: id}, &out)
	return out, err
}

// Revoke ends the session with id.
func (s Sessions) Revoke(ctx context.Context, id string) error {
	return s.c.core(ctx, contracts.CoreSessionsRevoke, contracts.RevokeSessionRequest{ID: id}, nil)
}

// SetField sets one field of a session (e.g.
// contracts.SessionFieldActiveOrganization) to value encoded as JSON (nil
// clears it) and returns the session as stored. A route that changes the
// caller's own session should also call RefreshSession.
func (s Sessions) SetField(ctx context.Context, id, field string, value any) (contracts.Session, error) {
	raw, err := json.Marshal(value)
	if err != nil {
		return contracts.Session{}, fmt.Errorf("core %s: encode value: %w", contracts.CoreSessionsSetField, err)
	}
	var out contracts.Session
	err = s.c.core(ctx, contracts.CoreSessionsSetField, contracts.SetSessionFieldRequest{ID: id, Field: field, Value: raw}, &out)
	return out, err
}

// Email is the client of the core's mailer.
type Email struct{ c *caller }

// Send hands a message to the core's mailer (Kind defaults to
// contracts.EmailPluginMessage). The core runs its beforeEmailSend hooks.
func (e Email) Send(ctx context.Context, msg contracts.Email) error {
	if msg.Kind == "" {
		msg.Kind = contracts.EmailPluginMessage
	}
	return e.c.core(ctx, contracts.CoreEmailSend, msg, nil)
}

// Crypto is the client of the core's encryption service.
type Crypto struct{ c *caller }

// Encrypt returns an opaque ciphertext of plaintext that only Decrypt opens.
func (k Crypto) Encrypt(ctx context.Context, plaintext []byte) (string, error) {
	var out contracts.EncryptReply
	err := k.c.core(ctx, contracts.CoreCryptoEncrypt, contracts.EncryptRequest{Plaintext: plaintext}, &out)
	return out.Ciphertext, err
}

// Decrypt opens a ciphertext made by Encrypt.
func (k Crypto) Decrypt(ctx context.Context, ciphertext string) ([]byte, error) {
	var out contracts.DecryptReply
	err := k.c.core(ctx, contracts.CoreCryptoDecrypt, contracts.DecryptRequest{Ciphertext: ciphertext}, &out)
	return out.Plaintext, err
}

// ctxKey keys the values this package stores in a context.Context.
type ctxKey int

const (
	keyContext ctxKey = iota
	keyRoute
)

// ContextFrom returns the plugin Context carried by the ctx of a handler
// (a route handler's r.Context(), or any ctx derived from a handler's), or
// nil when there is none or its config type is not Cfg.
func ContextFrom[Cfg any](ctx context.Context) *Context[Cfg] {
	c, _ := ctx.Value(keyContext).(*Context[Cfg])
	return c
}

// withContext stores c in ctx for ContextFrom.
func withContext[Cfg any](ctx context.Context, c *Context[Cfg]) context.Context {
	return context.WithValue(ctx, keyContext, c)
}
