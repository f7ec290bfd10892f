// Package normalize prepares rows the same way for both store
// implementations: ids, defaults, lower-cased emails and UTC millisecond times.
package normalize

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
)

// Time returns t in UTC truncated to milliseconds, or now when t is zero.
func Time(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().Truncate(time.Millisecond)
}

// Instant is t as the store compares it: UTC, truncated to milliseconds.
func Instant(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// TimePtr is Time for an optional time; nil stays nil.
func TimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC().Truncate(time.Millisecond)
	return &v
}

// Email is how emails are stored and compared: lower-cased.
func Email(s string) string { return strings.ToLower(s) }

// User fills the id, role and times of a new user and lower-cases its email.
func User(u store.User) (store.User, error) {
	if u.ID == "" {
		u.ID = store.NewID()
	}
	u.Email = Email(u.Email)
	if u.Email == "" {
		return u, errors.New("store: user email is required")
	}
	if u.Role == "" {
		u.Role = store.RoleUser
	}
	u.CreatedAt = Time(u.CreatedAt)
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.UpdatedAt = Time(u.UpdatedAt)
	u.BanExpires = TimePtr(u.BanExpires)
	return u, nil
}

// UserUpdate lower-cases a new email and sets the update time.
func UserUpdate(up store.UserUpdate) (store.UserUpdate, error) {
	if up.Email.Set {
		up.Email.Value = Email(up.Email.Value)
		if up.Email.Value == "" {
			return up, errors.New("store: user email cannot be empty")
		}
	}
	if up.Role.Set && up.Role.Value == "" {
		return up, errors.New("store: user role cannot be empty")
	}
	if up.BanExpires.Set {
		up.BanExpires.Value = TimePtr(up.BanExpires.Value)
	}
	up.UpdatedAt = Time(up.UpdatedAt)
	return up, nil
}

// Account fills the id and times of a new account.
func Account(a store.Account) (store.Account, error) {
	if a.ID == "" {
		a.ID = store.NewID()
	}
	if a.UserID == "" || a.ProviderID == "" || a.AccountID == "" {
		return a, errors.New("store: account userId, providerId and accountId are required")
	}
	a.CreatedAt = Time(a.CreatedAt)
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	a.UpdatedAt = Time(a.UpdatedAt)
	a.AccessTokenExpiresAt = TimePtr(a.AccessTokenExpiresAt)
	a.RefreshTokenExpiresAt = TimePtr(a.RefreshTokenExpiresAt)
	return a, nil
}

// Session fills the id and times of a new session.
func Session(s store.Session) (store.Session, error) {
	if s.ID == "" {
		s.ID = store.NewID()
	}
	if s.UserID == "" || s.TokenHash == "" {
		return s, errors.New("store: session userId and token hash are required")
	}
	if s.ExpiresAt.IsZero() {
		return s, errors.New("store: session expiresAt is required")
	}
	s.ExpiresAt = Time(s.ExpiresAt)
	s.CreatedAt = Time(s.CreatedAt)
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = s.CreatedAt
	}
	s.UpdatedAt = Time(s.UpdatedAt)
	if len(s.Data) == 0 {
		s.Data = nil
	}
	return s, nil
}

// Verification fills the id and times of a new verification.
func Verification(v store.Verification) (store.Verification, error) {
	if v.ID == "" {
		v.ID = store.NewID()
	}
	if v.Identifier == "" {
		return v, errors.New("store: verification identifier is required")
	}
	if v.ExpiresAt.IsZero() {
		return v, errors.New("store: verification expiresAt is required")
	}
	v.ExpiresAt = Time(v.ExpiresAt)
	v.CreatedAt = Time(v.CreatedAt)
	if v.UpdatedAt.IsZero() {
		v.UpdatedAt = v.CreatedAt
	}
	v.UpdatedAt = Time(v.UpdatedAt)
	return v, nil
}

// EncodeData is how Session.Data is stored: a JSON object, "{}" when empty.
func EncodeData(data map[string]json.RawMessage) ([]byte, error) {
	if len(data) == 0 {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("store: encode session data: %w", err)
	}
	return b, nil
}

// DecodeData reads a stored session data object; empty is nil.
func DecodeData(b []byte) (map[string]json.RawMessage, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(b, &data); err != nil {
		return nil, fmt.Errorf("store: decode session data: %w", err)
	}
	if len(data) == 0 {
		return nil, nil
	}
	return data, nil
}

// MergeData applies patch to data: keys set to JSON null are removed, others replaced.
func MergeData(data, patch map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(data)+len(patch))
	for k, v := range data {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil || string(v) == "null" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Limit bounds a page or batch size: def when n <= 0, at most most.
func Limit(n, def, most int) int {
	if n <= 0 {
		return def
	}
	if n > most {
		return most
	}
	return n
}

// Outbox checks events before they are appended.
func Outbox(events []contracts.Envelope) error {
	var errs []error
	for i, e := range events {
		if err := e.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("store: outbox event %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
