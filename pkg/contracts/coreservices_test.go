package contracts

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCoreServices(t *testing.T) {
	seen := map[CoreService]bool{}
	for _, s := range CoreServices() {
		t.Run(string(s), func(t *testing.T) {
			require.False(t, seen[s], "listed twice")
			seen[s] = true
			require.True(t, s.Known())
			svc, method := s.Split()
			require.NotEmpty(t, svc)
			require.NotEmpty(t, method)
			require.Equal(t, string(s), svc+"."+method)
			if p := s.Permission(); p != "" {
				require.NoError(t, p.Validate())
			}
		})
	}
	require.Len(t, seen, len(coreServices), "CoreServices() must list every method")
	require.False(t, CoreService("users.delete").Known())
	require.Equal(t, Permission(""), CoreService("users.delete").Permission())
}

func TestCoreServicePermissions(t *testing.T) {
	tests := []struct {
		name string
		svc  CoreService
		want Permission
	}{
		{name: "read users", svc: CoreUsersList, want: PermUserRead},
		{name: "update users", svc: CoreUsersUpdate, want: PermUserWrite},
		{name: "set a session field", svc: CoreSessionsSetField, want: PermSessionWrite},
		{name: "send email", svc: CoreEmailSend, want: PermEmailSend},
		{name: "decrypt", svc: CoreCryptoDecrypt, want: PermCryptoUse},
		{name: "hook plan needs a scoped permission, not a fixed one", svc: CoreHooksPlan, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.svc.Permission())
		})
	}
}

func TestCoreServiceBodies(t *testing.T) {
	tests := []struct {
		name string
		body any
		want string
	}{
		{name: "encrypt carries base64", body: EncryptRequest{Plaintext: []byte("hi")}, want: `{"plaintext":"aGk="}`},
		{name: "set-field null clears", body: SetSessionFieldRequest{ID: "s1", Field: SessionFieldActiveOrganization, Value: json.RawMessage(`null`)},
			want: `{"id":"s1","field":"activeOrganizationId","value":null}`},
		{name: "list defaults are omitted", body: ListUsersRequest{}, want: `{}`},
		{name: "update carries changes", body: UpdateUserRequest{ID: "u1", Changes: UserChanges{Name: new("Ada")}},
			want: `{"id":"u1","changes":{"name":"Ada"}}`},
		{name: "empty reply", body: EmptyReply{}, want: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.body)
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(got))
		})
	}
}
