package coresvc

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/registry"
)

// fakeServices records calls and answers from fixed data.
type fakeServices struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeServices) record(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }

func (f *fakeServices) GetUser(_ context.Context, id string) (*contracts.User, error) {
	f.record("GetUser " + id)
	if id == "missing" {
		return nil, contracts.CodeUserNotFound.Err()
	}
	if id == "boom" {
		return nil, errors.New("database on fire")
	}
	return &contracts.User{ID: id, Email: id + "@example.com"}, nil
}

func (f *fakeServices) ListUsers(_ context.Context, limit, offset int) ([]contracts.User, int, error) {
	f.record("ListUsers")
	return []contracts.User{{ID: "u1"}}, 42, nil
}

func (f *fakeServices) UpdateUser(_ context.Context, actor, id string, ch contracts.UserChanges) (*contracts.User, error) {
	f.record("UpdateUser " + actor + " " + id + " " + *ch.Name)
	return &contracts.User{ID: id, Name: *ch.Name}, nil
}

func (f *fakeServices) GetSession(_ context.Context, id string) (*contracts.Session, error) {
	f.record("GetSession " + id)
	return &contracts.Session{ID: id, UserID: "u1"}, nil
}

func (f *fakeServices) RevokeSession(_ context.Context, actor, id string) error {
	f.record("RevokeSession " + actor + " " + id)
	return nil
}

func (f *fakeServices) SetSessionField(_ context.Context, actor, id, field string, v json.RawMessage) (*contracts.Session, error) {
	f.record("SetSessionField " + actor + " " + id + " " + field + "=" + string(v))
	org := "org-1"
	return &contracts.Session{ID: id, ActiveOrganizationID: &org}, nil
}

func (f *fakeServices) SendEmail(_ context.Context, actor string, e contracts.Email) error {
	f.record("SendEmail " + actor + " " + e.To + " " + e.Kind)
	return nil
}

// fakeCallers is a fixed registry view.
type fakeCallers struct{ view *registry.View }

func (c fakeCallers) View() *registry.View { return c.view }
func (c fakeCallers) Plan() *contracts.HookPlan {
	return &contracts.HookPlan{Revision: 7, Points: map[contracts.HookPoint][]contracts.HookTarget{}}
}

func setup(t *testing.T) (*nats.Conn, *fakeServices) {
	t.Helper()
	_, nc := bustest.RunJetStream(t, bustest.InProcess())
	view := &registry.View{Plugins: map[string]*registry.Plugin{
		"reader": {ID: "reader", State: registry.StateActive, Granted: []contracts.Permission{"user:read", "session:read"}},
		"writer": {ID: "writer", State: registry.StateDegraded, Granted: []contracts.Permission{"user:write", "session:write", "email:send", "crypto:use", "hooks:call:beforeOrgCreate"}},
		"other":  {ID: "other", State: registry.StateActive, Granted: []contracts.Permission{"crypto:use"}},
		"gone":   {ID: "gone", State: registry.StateRefused, Granted: []contracts.Permission{"user:read"}},
	}}
	crypto, err := NewCrypto([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	fake := &fakeServices{}
	svc, err := New(Config{Conn: nc, Services: fake, Callers: fakeCallers{view}, Crypto: crypto, Logger: slog.New(slog.DiscardHandler), MaxConcurrent: 4})
	require.NoError(t, err)
	require.NoError(t, svc.Start())
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	return nc, fake
}

func call(t *testing.T, nc *nats.Conn, caller string, m contracts.CoreService, body string) (string, *contracts.Error) {
	t.Helper()
	svc, method := m.Split()
	if !m.Known() {
		svc, method, _ = strings.Cut(string(m), ".")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg, err := bus.Request(ctx, nc, bus.CoreSubject("", caller, svc, method), []byte(body), nil)
	var se *bus.ServiceError
	if errors.As(err, &se) {
		var ce contracts.Error
		require.NoError(t, json.Unmarshal(se.Data, &ce))
		require.Equal(t, ce.Message, se.Header.Get(micro.ErrorHeader))
		require.Equal(t, ce.Status, se.Status())
		return "", &ce
	}
	require.NoError(t, err)
	return string(msg.Data), nil
}

func TestCoreServicePermissions(t *testing.T) {
	nc, fake := setup(t)
	tests := []struct {
		name     string
		caller   string
		method   contracts.CoreService
		body     string
		wantJSON string
		wantCode contracts.Code
		wantMsg  string
	}{
		{name: "users.get granted", caller: "reader", method: contracts.CoreUsersGet, body: `{"id":"u1"}`,
			wantJSON: `{"id":"u1","name":"","email":"u1@example.com","emailVerified":false,"image":null,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
		{name: "users.list granted", caller: "reader", method: contracts.CoreUsersList, body: `{"limit":10}`,
			wantJSON: `{"users":[{"id":"u1","name":"","email":"","emailVerified":false,"image":null,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}],"total":42}`},
		{name: "users.update not granted", caller: "reader", method: contracts.CoreUsersUpdate, body: `{"id":"u1","changes":{"name":"x"}}`,
			wantCode: contracts.CodePermissionDenied, wantMsg: "needs the permission user:write"},
		{name: "users.update granted", caller: "writer", method: contracts.CoreUsersUpdate, body: `{"id":"u1","changes":{"name":"Ada"}}`,
			wantJSON: `{"id":"u1","name":"Ada","email":"","emailVerified":false,"image":null,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
		{name: "users.get not granted", caller: "writer", method: contracts.CoreUsersGet, body: `{"id":"u1"}`,
			wantCode: contracts.CodePermissionDenied, wantMsg: "needs the permission user:read"},
		{name: "sessions.get granted", caller: "reader", method: contracts.CoreSessionsGet, body: `{"id":"s1"}`,
			wantJSON: `{"id":"s1","userId":"u1","expiresAt":"0001-01-01T00:00:00Z","createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"}`},
		{name: "sessions.revoke granted", caller: "writer", method: contracts.CoreSessionsRevoke, body: `{"id":"s1"}`, wantJSON: `{}`},
		{name: "sessions.revoke not granted", caller: "reader", method: contracts.CoreSessionsRevoke, body: `{"id":"s1"}`,
			wantCode: contracts.CodePermissionDenied},
		{name: "sessions.set-field granted", caller: "writer", method: contracts.CoreSessionsSetField, body: `{"id":"s1","field":"activeOrganizationId","value":"org-1"}`,
			wantJSON: `{"id":"s1","userId":"","expiresAt":"0001-01-01T00:00:00Z","createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z","activeOrganizationId":"org-1"}`},
		{name: "email.send granted", caller: "writer", method: contracts.CoreEmailSend, body: `{"to":"a@b.c","subject":"Hi","text":"x","kind":"verification"}`, wantJSON: `{}`},
		{name: "email.send not granted", caller: "reader", method: contracts.CoreEmailSend, body: `{"to":"a@b.c","subject":"Hi","text":"x"}`,
			wantCode: contracts.CodePermissionDenied, wantMsg: "email:send"},
		{name: "hooks.plan with hooks:call", caller: "writer", method: contracts.CoreHooksPlan, body: `{}`, wantJSON: `{"revision":7,"points":{}}`},
		{name: "hooks.plan without hooks:call", caller: "reader", method: contracts.CoreHooksPlan, body: `{}`,
			wantCode: contracts.CodePermissionDenied, wantMsg: "hooks:call"},
		{name: "unknown caller", caller: "stranger", method: contracts.CoreUsersGet, body: `{"id":"u1"}`,
			wantCode: contracts.CodePermissionDenied, wantMsg: "not registered"},
		{name: "refused caller", caller: "gone", method: contracts.CoreUsersGet, body: `{"id":"u1"}`,
			wantCode: contracts.CodePermissionDenied},
		{name: "unknown method", caller: "reader", method: "users.delete", body: `{}`, wantCode: contracts.CodeUnknownMethod},
		{name: "bad JSON", caller: "reader", method: contracts.CoreUsersGet, body: `{`, wantCode: contracts.CodeBadRequest},
		{name: "missing id", caller: "reader", method: contracts.CoreUsersGet, body: `{}`, wantCode: contracts.CodeMissingField},
		{name: "service error passes through", caller: "reader", method: contracts.CoreUsersGet, body: `{"id":"missing"}`, wantCode: contracts.CodeUserNotFound},
		{name: "internal error is not leaked", caller: "reader", method: contracts.CoreUsersGet, body: `{"id":"boom"}`,
			wantCode: contracts.CodeInternalServerError, wantMsg: "Internal Server Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cerr := call(t, nc, tt.caller, tt.method, tt.body)
			if tt.wantCode != "" {
				require.NotNil(t, cerr, "reply %s", got)
				require.Equal(t, tt.wantCode, cerr.Code)
				require.Contains(t, cerr.Message, tt.wantMsg)
				return
			}
			require.Nil(t, cerr)
			require.JSONEq(t, tt.wantJSON, got)
		})
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	require.Contains(t, fake.calls, "UpdateUser writer u1 Ada", "the actor is the caller from the subject")
	require.Contains(t, fake.calls, "SendEmail writer a@b.c plugin", "plugin mail is marked as such")
	require.Contains(t, fake.calls, `SetSessionField writer s1 activeOrganizationId="org-1"`)
	require.NotContains(t, fake.calls, "GetUser stranger")
}

func TestCryptoService(t *testing.T) {
	nc, _ := setup(t)
	out, cerr := call(t, nc, "writer", contracts.CoreCryptoEncrypt, `{"plaintext":"c2VjcmV0"}`)
	require.Nil(t, cerr)
	var enc contracts.EncryptReply
	require.NoError(t, json.Unmarshal([]byte(out), &enc))
	require.True(t, strings.HasPrefix(enc.Ciphertext, "v1."))

	out, cerr = call(t, nc, "writer", contracts.CoreCryptoDecrypt, `{"ciphertext":"`+enc.Ciphertext+`"}`)
	require.Nil(t, cerr)
	require.JSONEq(t, `{"plaintext":"c2VjcmV0"}`, out)

	_, cerr = call(t, nc, "other", contracts.CoreCryptoDecrypt, `{"ciphertext":"`+enc.Ciphertext+`"}`)
	require.NotNil(t, cerr, "another plugin cannot open it")
	require.Equal(t, contracts.CodeInvalidToken, cerr.Code)

	_, cerr = call(t, nc, "reader", contracts.CoreCryptoEncrypt, `{"plaintext":"eA=="}`)
	require.Equal(t, contracts.CodePermissionDenied, cerr.Code)
}

func TestCrypto(t *testing.T) {
	oldSecret := []byte("old-secret-old-secret-old-secret")
	newSecret := []byte("new-secret-new-secret-new-secret")
	old, err := NewCrypto(oldSecret)
	require.NoError(t, err)
	rotated, err := NewCrypto(newSecret, oldSecret)
	require.NoError(t, err)
	ct, err := old.Encrypt("audit", []byte("hello"))
	require.NoError(t, err)

	pt, err := rotated.Decrypt("audit", ct)
	require.NoError(t, err, "a rotated core still opens ciphertexts of the old secret")
	require.Equal(t, "hello", string(pt))
	ct2, err := rotated.Encrypt("audit", []byte("hello"))
	require.NoError(t, err)
	require.NotEqual(t, strings.Split(ct, ".")[1], strings.Split(ct2, ".")[1], "new ciphertexts name the new key")
	_, err = old.Decrypt("audit", ct2)
	require.ErrorIs(t, err, ErrCiphertext)

	tampered := []byte(ct)
	tampered[len(tampered)-2] ^= 1
	for name, c := range map[string]string{
		"tampered":      string(tampered),
		"wrong version": "v2" + ct[2:],
		"not base64":    "v1." + strings.Split(ct, ".")[1] + ".!!!",
		"too short":     "v1." + strings.Split(ct, ".")[1] + ".AAAA",
		"garbage":       "nonsense",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := old.Decrypt("audit", c)
			require.ErrorIs(t, err, ErrCiphertext)
		})
	}
	_, err = old.Decrypt("orgs", ct)
	require.ErrorIs(t, err, ErrCiphertext)

	_, err = NewCrypto([]byte("short"))
	require.Error(t, err)
	_, err = NewCrypto()
	require.Error(t, err)
}

func TestAllowedMethods(t *testing.T) {
	require.Equal(t, []contracts.CoreService{contracts.CoreUsersGet, contracts.CoreUsersList},
		AllowedMethods([]contracts.Permission{"user:read"}))
	require.Equal(t, []contracts.CoreService{contracts.CoreHooksPlan},
		AllowedMethods([]contracts.Permission{"hooks:call:afterSignIn", "events:subscribe:user.>"}))
	require.Empty(t, AllowedMethods(nil))
}
