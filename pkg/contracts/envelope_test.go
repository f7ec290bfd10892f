package contracts

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGoldenEvents decodes one sample envelope per catalog event, decodes
// its data into the typed struct, re-encodes both and compares them with
// the sample; each sample also passes its event's schema.
func TestGoldenEvents(t *testing.T) {
	samples, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	require.NoError(t, err)
	require.Len(t, samples, len(Events()), "one sample per catalog event, no more")
	envelopeSchema, err := os.ReadFile(filepath.Join("schemas", "envelope.json"))
	require.NoError(t, err)
	generic := compileSchema(t, "envelope.json", envelopeSchema)

	for _, spec := range Events() {
		t.Run(string(spec.Type), func(t *testing.T) {
			path := filepath.Join("testdata", "events", string(spec.Type)+".json")
			in, err := os.ReadFile(path)
			require.NoError(t, err, "every catalog event needs a sample")

			env, err := DecodeEnvelope(in)
			require.NoError(t, err)
			require.Equal(t, spec.Type, env.Type)
			require.Equal(t, DataSchemaFor(spec.Type), env.DataSchema)
			data := reflect.New(reflect.TypeOf(spec.Data)).Interface()
			require.NoError(t, env.DecodeData(data))
			require.NoError(t, decodeStrict(env.Data, reflect.New(reflect.TypeOf(spec.Data)).Interface()),
				"the sample's data holds only fields of %T", spec.Data)
			env.Data, err = json.Marshal(data)
			require.NoError(t, err)
			golden(t, path, indentJSON(t, env))

			schema, err := EventSchema(spec.Type)
			require.NoError(t, err)
			require.NoError(t, schemaErr(t, compileSchema(t, path, schema), in))
			require.NoError(t, schemaErr(t, generic, in))
		})
	}
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	valid, err := os.ReadFile(filepath.Join("testdata", "events", "user.created.json"))
	require.NoError(t, err)
	without := func(edit func(map[string]any)) []byte {
		var m map[string]any
		require.NoError(t, json.Unmarshal(valid, &m))
		edit(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		err  string
	}{
		{name: "missing specversion", in: without(func(m map[string]any) { delete(m, "specversion") }), err: "specversion is required"},
		{name: "missing id", in: without(func(m map[string]any) { delete(m, "id") }), err: "id is required"},
		{name: "missing source", in: without(func(m map[string]any) { delete(m, "source") }), err: "source is required"},
		{name: "missing type", in: without(func(m map[string]any) { delete(m, "type") }), err: "type is required"},
		{name: "missing time", in: without(func(m map[string]any) { delete(m, "time") }), err: "time is required"},
		{name: "empty id", in: without(func(m map[string]any) { m["id"] = "" }), err: "id is required"},
		{name: "other specversion", in: without(func(m map[string]any) { m["specversion"] = "0.3" }), err: `specversion "0.3" is not "1.0"`},
		{name: "other content type", in: without(func(m map[string]any) { m["datacontenttype"] = "text/xml" }), err: `datacontenttype "text/xml" is not "application/json"`},
		{name: "time not a timestamp", in: without(func(m map[string]any) { m["time"] = "yesterday" }), err: `parsing time "yesterday"`},
		{name: "several missing", in: without(func(m map[string]any) { delete(m, "id"); delete(m, "source") }), err: "id is required\nsource is required"},
		{name: "not JSON", in: []byte(`{"specversion":`), err: "unexpected EOF"},
		{name: "not an object", in: []byte(`[]`), err: "cannot unmarshal array"},
		{name: "trailing data", in: append(append([]byte{}, valid...), []byte(`{}`)...), err: "trailing data after the event object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEnvelope(tt.in)
			require.ErrorIs(t, err, ErrInvalidEnvelope)
			require.ErrorContains(t, err, tt.err)
		})
	}
	t.Run("unknown type is accepted", func(t *testing.T) {
		env, err := DecodeEnvelope(without(func(m map[string]any) { m["type"] = "user.teleported" }))
		require.NoError(t, err)
		require.Equal(t, EventType("user.teleported"), env.Type)
	})
}

func TestNewEnvelope(t *testing.T) {
	before := time.Now().UTC().Truncate(time.Millisecond)
	env, err := NewEnvelope("authbus/core", EventUserDeleted, "u1", UserDeleted{UserID: "u1", Email: "a@example.com"})
	require.NoError(t, err)
	require.NoError(t, env.Validate())
	require.Equal(t, SpecVersion, env.SpecVersion)
	require.Equal(t, ContentTypeJSON, env.DataContentType)
	require.Equal(t, "authbus:user.deleted/v1", env.DataSchema)
	require.Equal(t, "u1", env.Subject)
	require.JSONEq(t, `{"userId":"u1","email":"a@example.com"}`, string(env.Data))
	require.Regexp(t, uuidV7Pattern, env.ID)
	require.Equal(t, time.UTC, env.Time.Location())
	require.False(t, env.Time.Before(before))
	require.Equal(t, env.Time, env.Time.Truncate(time.Millisecond))

	b, err := json.Marshal(env)
	require.NoError(t, err)
	back, err := DecodeEnvelope(b)
	require.NoError(t, err)
	require.Equal(t, env.ID, back.ID)
	require.True(t, env.Time.Equal(back.Time))

	_, err = NewEnvelope("authbus/core", "user.teleported", "", nil)
	require.ErrorIs(t, err, ErrInvalidEnvelope)
	require.ErrorContains(t, err, `unknown event type "user.teleported"`)
	_, err = NewEnvelope("", EventUserDeleted, "", UserDeleted{})
	require.ErrorContains(t, err, "source is required")
	_, err = NewEnvelope("authbus/core", EventUserDeleted, "", make(chan int))
	require.ErrorContains(t, err, "encode user.deleted data")
}

var uuidV7Pattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewUUIDv7(t *testing.T) {
	const n = 10000
	before := time.Now().UnixMilli()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = NewUUIDv7()
	}
	after := time.Now().UnixMilli()
	for i, id := range ids {
		require.Regexp(t, uuidV7Pattern, id, "canonical form, version 7, RFC 9562 variant")
		if i > 0 {
			require.Less(t, ids[i-1], id, "ids of one process sort in creation order")
		}
	}
	// The first 48 bits are the Unix time in milliseconds; the counter may
	// run a little ahead of the clock within a busy millisecond.
	for _, id := range []string{ids[0], ids[n-1]} {
		ms, err := strconv.ParseInt(id[0:8]+id[9:13], 16, 64)
		require.NoError(t, err)
		require.GreaterOrEqual(t, ms, before)
		require.LessOrEqual(t, ms, after+n/4096+1)
	}

	t.Run("unique across goroutines", func(t *testing.T) {
		var mu sync.Mutex
		seen := map[string]bool{}
		var dups []string
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				local := make([]string, 1000)
				for i := range local {
					local[i] = NewUUIDv7()
				}
				mu.Lock()
				defer mu.Unlock()
				for _, id := range local {
					if seen[id] {
						dups = append(dups, id)
					}
					seen[id] = true
				}
			})
		}
		wg.Wait()
		require.Empty(t, dups)
		require.Len(t, seen, 8000)
	})
}

func TestDecodeData(t *testing.T) {
	env := Envelope{Type: EventUserDeleted, Data: json.RawMessage(`{"userId": 5}`)}
	var d UserDeleted
	err := env.DecodeData(&d)
	require.ErrorContains(t, err, "decode user.deleted data")
	var typeErr *json.UnmarshalTypeError
	require.True(t, errors.As(err, &typeErr))
}
