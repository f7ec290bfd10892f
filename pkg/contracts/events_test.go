package contracts

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEventCatalog(t *testing.T) {
	// The catalog issue 2 asks for, in its order.
	want := []EventType{
		"user.created", "user.updated", "user.deleted", "user.suspended", "user.activated",
		"auth.login.success", "auth.login.failed", "auth.logout", "auth.token.refresh", "auth.password.changed",
		"session.created", "session.expired", "session.revoked",
		"org.created", "org.updated", "org.deleted", "org.member.added", "org.member.removed", "org.role.changed",
		"security.threat.detected", "security.breach.suspected", "security.mfa.enabled", "security.mfa.disabled",
		"system.startup", "system.shutdown", "system.maintenance",
		"storage.object.created", "storage.object.deleted",
	}
	var got []EventType
	dataTypes := map[reflect.Type]EventType{}
	for _, e := range Events() {
		got = append(got, e.Type)
		require.True(t, e.Type.Known())
		require.NoError(t, validSubjectPattern(string(e.Type)), "an event type is a valid subject")
		require.NotEmpty(t, e.Description)
		require.True(t, strings.HasSuffix(e.Description, "."))
		require.GreaterOrEqual(t, e.Version, 1)
		dt := reflect.TypeOf(e.Data)
		require.Equal(t, reflect.Struct, dt.Kind())
		other, dup := dataTypes[dt]
		require.False(t, dup, "%s and %s share %s", e.Type, other, dt)
		dataTypes[dt] = e.Type
		spec, ok := LookupEvent(e.Type)
		require.True(t, ok)
		require.Equal(t, e.Type, spec.Type)
	}
	require.Equal(t, want, got)
	require.False(t, EventType("user.exploded").Known())

	require.Equal(t, "user", EventUserCreated.Domain())
	require.Equal(t, []string{"auth", "org", "security", "session", "storage", "system", "user"}, EventDomains())
	require.Equal(t, []EventType{EventOrgMemberAdded, EventOrgMemberRemoved}, EventsMatching("org.member.*"))
	require.Len(t, EventsMatching(">"), len(want))
	require.Empty(t, EventsMatching("billing.>"))
	require.Equal(t, "authbus:session.revoked/v1", DataSchemaFor(EventSessionRevoked))

	events := Events()
	events[0].Type = "mutated"
	require.Equal(t, EventUserCreated, Events()[0].Type, "Events returns a copy")
}
