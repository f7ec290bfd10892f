package core

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/api"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/runtime/coresvc"
	"github.com/authbus/authbus/services/core/internal/runtime/gateway"
	"github.com/authbus/authbus/services/core/internal/store"
)

// pluginServices offers the auth flows to plugins as the runtime's core
// services. Every write goes through the same flow (hooks, events) as the
// HTTP API, with the plugin recorded as the actor.
type pluginServices struct{ svc *auth.Service }

func (p pluginServices) GetUser(ctx context.Context, id string) (*contracts.User, error) {
	u, err := p.svc.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	pub := auth.PublicUser(u)
	return &pub, nil
}

func (p pluginServices) ListUsers(ctx context.Context, limit, offset int) ([]contracts.User, int, error) {
	page, err := p.svc.ListUsers(ctx, store.ListUsersOptions{Limit: limit, Offset: offset})
	if err != nil {
		return nil, 0, err
	}
	out := make([]contracts.User, len(page.Users))
	for i, u := range page.Users {
		out[i] = auth.PublicUser(u)
	}
	return out, page.Total, nil
}

func (p pluginServices) UpdateUser(ctx context.Context, actor, id string, ch contracts.UserChanges) (*contracts.User, error) {
	var changes auth.ProfileChanges
	if ch.Name != nil {
		changes.Name = store.Some(*ch.Name)
	}
	if ch.Image != nil {
		changes.Image = store.Some(ch.Image)
	}
	u, err := p.svc.UpdateUserAs(ctx, auth.PluginActor(actor), id, changes)
	if err != nil {
		return nil, err
	}
	pub := auth.PublicUser(u)
	return &pub, nil
}

func (p pluginServices) GetSession(ctx context.Context, id string) (*contracts.Session, error) {
	s, err := p.svc.GetSession(ctx, id)
	if err != nil {
		return nil, err
	}
	pub := auth.PublicSession(s)
	return &pub, nil
}

func (p pluginServices) RevokeSession(ctx context.Context, actor, id string) error {
	return p.svc.RevokeSessionByID(ctx, auth.PluginActor(actor), id, contracts.RevokeByPlugin)
}

func (p pluginServices) SetSessionField(ctx context.Context, actor, id, field string, value json.RawMessage) (*contracts.Session, error) {
	s, err := p.svc.SetSessionField(auth.WithActor(ctx, auth.PluginActor(actor)), id, field, value)
	if err != nil {
		return nil, err
	}
	pub := auth.PublicSession(s)
	return &pub, nil
}

func (p pluginServices) SendEmail(ctx context.Context, actor string, m contracts.Email) error {
	return p.svc.SendEmail(auth.WithActor(ctx, auth.PluginActor(actor)), m)
}

// sessionResolver resolves the caller's session for the gateway and the
// admin API, as the auth API does (without extending the session).
type sessionResolver struct{ api *api.Handler }

func (s sessionResolver) Resolve(r *http.Request) (*contracts.User, *contracts.Session, error) {
	return s.api.ResolveRequest(r)
}

// sessionCookies re-issues session cookies for the gateway (a plugin changed
// the caller's session, e.g. its active organization).
type sessionCookies struct{ api *api.Handler }

func (s sessionCookies) Reissue(w http.ResponseWriter, r *http.Request) error {
	return s.api.ReissueSessionCookie(w, r)
}

var (
	_ coresvc.CoreServices    = pluginServices{}
	_ gateway.SessionCookies  = sessionCookies{}
	_ gateway.SessionResolver = sessionResolver{}
)
