package auth

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
)

// The core services offered to plugins (core.users.*, core.sessions.*,
// core.email.send) and used by the gateway and the admin API. Errors are
// *contracts.Error for everything a plugin may see.

// SessionFieldActiveOrganization is the session field kept in its own column.
const SessionFieldActiveOrganization = "activeOrganizationId"

// GetUser returns a user by id (USER_NOT_FOUND when there is none).
func (s *Service) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := s.store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, contracts.CodeUserNotFound.Err()
	}
	if err != nil {
		return store.User{}, internal("get user", err)
	}
	return u, nil
}

// ListUsers returns a page of users ordered by creation time.
func (s *Service) ListUsers(ctx context.Context, o store.ListUsersOptions) (store.UserPage, error) {
	if o.Limit < 0 || o.Offset < 0 {
		return store.UserPage{}, contracts.CodeValidationError.Errorf("limit and offset must not be negative")
	}
	page, err := s.store.ListUsers(ctx, o)
	if err != nil {
		return store.UserPage{}, internal("list users", err)
	}
	return page, nil
}

// GetSession returns a live session by id (404 NOT_FOUND when there is
// none, or it expired).
func (s *Service) GetSession(ctx context.Context, sessionID string) (store.Session, error) {
	row, _, err := s.store.SessionByID(ctx, sessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Session{}, errSessionNotFound
	case err != nil:
		return store.Session{}, internal("get session", err)
	case !row.ExpiresAt.After(s.now()):
		return store.Session{}, errSessionNotFound
	}
	return row, nil
}

var errSessionNotFound = contracts.CodeNotFound.Err().WithMessage("Session not found")

// RevokeSessionByID deletes a session on behalf of actor (a plugin:
// PluginActor, or an administrator), with beforeSessionDestroy and a
// session.revoked event with reason.
func (s *Service) RevokeSessionByID(ctx context.Context, actor, sessionID, reason string) error {
	target, err := s.GetSession(ctx, sessionID)
	if err != nil {
		return err
	}
	userID := target.UserID
	if reason == "" {
		reason = contracts.RevokeByPlugin
	}
	return s.destroySessions(WithActor(ctx, actor), userID, []store.Session{target}, reason, func(w *writer) ([]store.Session, error) {
		row, err := w.tx.DeleteSession(ctx, userID, sessionID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return []store.Session{row}, err
	})
}

// SetSessionField sets one per-session field of a live session:
// activeOrganizationId (a JSON string or null) or any other key (any JSON
// value; null removes it). The caller re-issues the session cookie.
func (s *Service) SetSessionField(ctx context.Context, sessionID, key string, value json.RawMessage) (store.Session, error) {
	if key == "" || !json.Valid(value) {
		return store.Session{}, contracts.CodeValidationError.Errorf("a session field needs a name and a JSON value")
	}
	up := store.SessionUpdate{UpdatedAt: s.now()}
	switch key {
	case "id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent":
		return store.Session{}, contracts.CodeFieldNotAllowed.Errorf("%s is not allowed to be set", key)
	case SessionFieldActiveOrganization:
		var v *string
		if err := json.Unmarshal(value, &v); err != nil {
			return store.Session{}, contracts.CodeValidationError.Errorf("activeOrganizationId must be a string or null")
		}
		up.ActiveOrganizationID = store.Some(v)
	default:
		up.Data = map[string]json.RawMessage{key: value}
	}
	if _, err := s.GetSession(ctx, sessionID); err != nil {
		return store.Session{}, err
	}
	var updated store.Session
	err := s.write(ctx, func(w *writer) error {
		var err error
		updated, err = w.tx.UpdateSession(ctx, sessionID, up)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, errSessionNotFound
	}
	if err != nil {
		return store.Session{}, internal("set session field", err)
	}
	return updated, nil
}
