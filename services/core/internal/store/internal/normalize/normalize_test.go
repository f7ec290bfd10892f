package normalize

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/store"
)

func TestMergeData(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name        string
		data, patch map[string]json.RawMessage
		want        map[string]json.RawMessage
	}{
		{name: "nothing", want: nil},
		{name: "add", patch: map[string]json.RawMessage{"a": raw("1")}, want: map[string]json.RawMessage{"a": raw("1")}},
		{name: "replace and keep", data: map[string]json.RawMessage{"a": raw("1"), "b": raw("2")}, patch: map[string]json.RawMessage{"a": raw(`"x"`)},
			want: map[string]json.RawMessage{"a": raw(`"x"`), "b": raw("2")}},
		{name: "null removes", data: map[string]json.RawMessage{"a": raw("1"), "b": raw("2")}, patch: map[string]json.RawMessage{"a": raw("null")},
			want: map[string]json.RawMessage{"b": raw("2")}},
		{name: "nil removes", data: map[string]json.RawMessage{"a": raw("1")}, patch: map[string]json.RawMessage{"a": nil}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := json.Marshal(tc.data)
			require.Equal(t, tc.want, MergeData(tc.data, tc.patch))
			after, _ := json.Marshal(tc.data)
			require.Equal(t, before, after, "the input is not modified")
		})
	}
}

func TestLimit(t *testing.T) {
	tests := []struct {
		name         string
		n, def, most int
		want         int
	}{
		{name: "zero is the default", n: 0, def: 100, most: 1000, want: 100},
		{name: "negative is the default", n: -5, def: 100, most: 1000, want: 100},
		{name: "within", n: 7, def: 100, most: 1000, want: 7},
		{name: "capped", n: 5000, def: 100, most: 1000, want: 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Limit(tc.n, tc.def, tc.most))
		})
	}
}

func TestTimes(t *testing.T) {
	in := time.Date(2026, 1, 2, 3, 4, 5, 678_999_999, time.FixedZone("X", -7200))
	require.Equal(t, time.Date(2026, 1, 2, 5, 4, 5, 678_000_000, time.UTC), Time(in))
	require.Equal(t, Time(in), Instant(in))
	require.Nil(t, TimePtr(nil))
	require.Equal(t, Time(in), *TimePtr(&in))
	require.WithinDuration(t, time.Now(), Time(time.Time{}), time.Second, "zero means now")
	require.True(t, Instant(time.Time{}).IsZero(), "Instant keeps zero")
}

func TestUserDefaults(t *testing.T) {
	u, err := User(store.User{Email: "Mixed@Case.ORG"})
	require.NoError(t, err)
	require.Equal(t, "mixed@case.org", u.Email)
	require.Equal(t, store.RoleUser, u.Role)
	require.Len(t, u.ID, 32)
	require.Equal(t, u.CreatedAt, u.UpdatedAt)
	_, err = User(store.User{})
	require.ErrorContains(t, err, "email is required")
}
