package plugintest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/internal/wire"
)

// fakeCiphertextPrefix marks the fake core's "ciphertexts": they are the
// plaintext in base64, so tests can read them. Never a real encryption.
const fakeCiphertextPrefix = "plugintest."

// SetUser stores u for users.get, users.list and users.update.
func (c *Core) SetUser(u contracts.User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users[u.ID] = u
}

// User returns the stored user with id.
func (c *Core) User(id string) (contracts.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.users[id]
	return u, ok
}

// SetSession stores s for sessions.get, sessions.revoke and sessions.set-field.
func (c *Core) SetSession(s contracts.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessions[s.ID] = s
}

// Session returns the stored session with id (false once revoked).
func (c *Core) Session(id string) (contracts.Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[id]
	return s, ok
}

// Emails returns the messages plugins sent with email.send, oldest first.
func (c *Core) Emails() []contracts.Email {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.emails)
}

// HandleService replaces the fake core's answer to one core service method
// (e.g. to make email.send fail); nil restores the default.
func (c *Core) HandleService(svc contracts.CoreService, fn ServiceFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fn == nil {
		delete(c.overrides, svc)
		return
	}
	c.overrides[svc] = fn
}

// service answers core.<caller>.<service>.<method>, checking the caller's
// permissions as the real core does: the fake core grants what the
// caller's manifest asks for.
func (c *Core) service(m *nats.Msg) {
	caller, method, ok := bus.CoreCaller(c.o.prefix, m.Subject)
	svc := contracts.CoreService(method)
	if !ok || !svc.Known() {
		_ = wire.RespondError(m, contracts.CodeUnknownMethod.Errorf("no core service %q", method))
		return
	}
	c.mu.Lock()
	r := c.plugins[caller]
	fn := c.overrides[svc]
	c.mu.Unlock()
	if r == nil {
		_ = wire.RespondError(m, contracts.CodePermissionDenied.Errorf("plugin %q is not registered", caller))
		return
	}
	if err := permitted(r.manifest.Permissions, svc); err != nil {
		_ = wire.RespondError(m, contracts.CodePermissionDenied.Errorf("plugin %q may not call %s: %v", caller, svc, err))
		return
	}
	if fn == nil {
		fn = c.defaultService(svc)
	}
	ctx, cancel := bus.ContextFromHeader(context.Background(), m.Header)
	defer cancel()
	out, err := fn(ctx, caller, m.Data)
	if err != nil {
		_ = wire.RespondError(m, contracts.AsError(err))
		return
	}
	_ = wire.RespondJSON(m, out)
}

// permitted checks svc against the permissions granted, as the core does:
// its fixed permission, or for hooks.plan any hooks:call:<point>.
func permitted(granted []contracts.Permission, svc contracts.CoreService) error {
	if svc == contracts.CoreHooksPlan {
		for _, g := range granted {
			if prefix, _, ok := g.Scope(); ok && prefix == contracts.PermHooksCall {
				return nil
			}
		}
		return errors.New(`add a "hooks:call:<point>" permission for each point the plugin calls`)
	}
	want := svc.Permission()
	if slices.ContainsFunc(granted, func(p contracts.Permission) bool { return p.Covers(want) }) {
		return nil
	}
	return fmt.Errorf("add %q to its manifest's permissions", want)
}

// defaultService is the fake core's own answer to svc.
func (c *Core) defaultService(svc contracts.CoreService) ServiceFunc {
	switch svc {
	case contracts.CoreUsersGet:
		return typed(func(req contracts.GetUserRequest) (any, error) {
			if u, ok := c.User(req.ID); ok {
				return u, nil
			}
			return nil, contracts.CodeUserNotFound.Err()
		})
	case contracts.CoreUsersList:
		return typed(func(req contracts.ListUsersRequest) (any, error) {
			c.mu.Lock()
			all := make([]contracts.User, 0, len(c.users))
			for _, u := range c.users {
				all = append(all, u)
			}
			c.mu.Unlock()
			slices.SortFunc(all, func(a, b contracts.User) int {
				if d := a.CreatedAt.Compare(b.CreatedAt); d != 0 {
					return d
				}
				return strings.Compare(a.ID, b.ID)
			})
			limit := req.Limit
			if limit <= 0 || limit > 100 {
				limit = 100
			}
			start := min(max(req.Offset, 0), len(all))
			return contracts.ListUsersReply{Users: all[start:min(start+limit, len(all))], Total: len(all)}, nil
		})
	case contracts.CoreUsersUpdate:
		return typed(func(req contracts.UpdateUserRequest) (any, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			u, ok := c.users[req.ID]
			if !ok {
				return nil, contracts.CodeUserNotFound.Err()
			}
			if req.Changes.Name != nil {
				u.Name = *req.Changes.Name
			}
			if req.Changes.Image != nil {
				u.Image = req.Changes.Image
			}
			u.UpdatedAt = time.Now().UTC()
			c.users[u.ID] = u
			return u, nil
		})
	case contracts.CoreSessionsGet:
		return typed(func(req contracts.GetSessionRequest) (any, error) {
			if s, ok := c.Session(req.ID); ok {
				return s, nil
			}
			return nil, contracts.CodeNotFound.Errorf("no session %q", req.ID)
		})
	case contracts.CoreSessionsRevoke:
		return typed(func(req contracts.RevokeSessionRequest) (any, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if _, ok := c.sessions[req.ID]; !ok {
				return nil, contracts.CodeNotFound.Errorf("no session %q", req.ID)
			}
			delete(c.sessions, req.ID)
			return contracts.EmptyReply{}, nil
		})
	case contracts.CoreSessionsSetField:
		return typed(func(req contracts.SetSessionFieldRequest) (any, error) {
			if req.Field != contracts.SessionFieldActiveOrganization {
				return nil, contracts.CodeFieldNotAllowed.Errorf("session field %q cannot be set", req.Field)
			}
			var v *string
			if err := json.Unmarshal(req.Value, &v); err != nil {
				return nil, contracts.CodeValidationError.Errorf("%s must be a string or null", req.Field)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			s, ok := c.sessions[req.ID]
			if !ok {
				return nil, contracts.CodeNotFound.Errorf("no session %q", req.ID)
			}
			s.ActiveOrganizationID = v
			s.UpdatedAt = time.Now().UTC()
			c.sessions[s.ID] = s
			return s, nil
		})
	case contracts.CoreEmailSend:
		return typed(func(req contracts.Email) (any, error) {
			if !strings.Contains(req.To, "@") {
				return nil, contracts.CodeInvalidEmail.Errorf("recipient %q is not an email address", req.To)
			}
			if req.Subject == "" || req.Text == "" {
				return nil, contracts.CodeValidationError.Errorf("an email needs a subject and a text body")
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			c.emails = append(c.emails, req)
			return contracts.EmptyReply{}, nil
		})
	case contracts.CoreCryptoEncrypt:
		return typed(func(req contracts.EncryptRequest) (any, error) {
			return contracts.EncryptReply{Ciphertext: fakeCiphertextPrefix + base64.RawURLEncoding.EncodeToString(req.Plaintext)}, nil
		})
	case contracts.CoreCryptoDecrypt:
		return typed(func(req contracts.DecryptRequest) (any, error) {
			rest, ok := strings.CutPrefix(req.Ciphertext, fakeCiphertextPrefix)
			plain, err := base64.RawURLEncoding.DecodeString(rest)
			if !ok || err != nil {
				return nil, contracts.CodeInvalidToken.Errorf("not a ciphertext of this core")
			}
			return contracts.DecryptReply{Plaintext: plain}, nil
		})
	case contracts.CoreHooksPlan:
		return func(context.Context, string, json.RawMessage) (any, error) { return c.Plan(), nil }
	}
	return func(context.Context, string, json.RawMessage) (any, error) {
		return nil, contracts.CodeUnknownMethod.Errorf("no fake for %s", svc)
	}
}

// typed adapts a function of a decoded request to a ServiceFunc.
func typed[Req any](fn func(Req) (any, error)) ServiceFunc {
	return func(_ context.Context, _ string, raw json.RawMessage) (any, error) {
		var req Req
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, contracts.CodeBadRequest.Errorf("request does not decode: %v", err)
		}
		return fn(req)
	}
}

// errNotRunning is returned by helpers that need a registered plugin.
var errNotRunning = errors.New("plugintest: the plugin has not registered with this core")
