package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
)

// lockedBuffer is a bytes.Buffer safe for a command writing in one
// goroutine while the test reads in another.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventsEnv is a NATS server with the events stream of an installation.
type eventsEnv struct {
	url    string
	prefix string
	js     jetstream.JetStream
}

func newEventsEnv(t *testing.T, prefix string) *eventsEnv {
	t.Helper()
	srv, nc := bustest.RunJetStream(t)
	js := bustest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := bus.EnsureStream(ctx, js, bus.StreamConfig{Storage: "memory"}, prefix)
	require.NoError(t, err)
	return &eventsEnv{url: srv.ClientURL(), prefix: prefix, js: js}
}

func (e *eventsEnv) publish(t *testing.T, typ contracts.EventType, subject string, data any) contracts.Envelope {
	t.Helper()
	env, err := contracts.NewEnvelope("authbus/core", typ, subject, data)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = bus.Publish(ctx, e.js, e.prefix, env)
	require.NoError(t, err)
	return env
}

func testUser(id, email string) contracts.User {
	now := time.Now().UTC()
	return contracts.User{ID: id, Email: email, Name: "Ada", CreatedAt: now, UpdatedAt: now}
}

func TestEventsTailPast(t *testing.T) {
	e := newEventsEnv(t, "")
	created := e.publish(t, contracts.EventUserCreated, "u1", contracts.UserCreated{User: testUser("u1", "ada@example.com"), Method: "email"})
	e.publish(t, contracts.EventSessionCreated, "u1", contracts.SessionCreated{})
	updated := e.publish(t, contracts.EventUserUpdated, "u1", contracts.UserUpdated{User: testUser("u1", "ada@example.org")})

	out, errOut, err := runCLI(t, "events", "tail", "--nats-url", e.url, "--subject", "user.*", "--since", "1h", "--count", "2")
	require.NoError(t, err, errOut)
	require.Contains(t, errOut, "tailing user.* on AUTH_EVENTS")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	for i, env := range []contracts.Envelope{created, updated} {
		f := strings.Fields(lines[i])
		require.Equal(t, env.Time.UTC().Format("2006-01-02T15:04:05.000Z"), f[0])
		require.Equal(t, string(env.Type), f[1])
		require.Equal(t, "u1", f[2])
		require.Equal(t, env.ID, f[3])
	}
	require.Contains(t, lines[0], `{"user":{"id":"u1","name":"Ada","email":"ada@example.com"`)
	require.True(t, strings.HasSuffix(lines[0], "…"), "long data is cut: %s", lines[0])

	out, errOut, err = runCLI(t, "events", "tail", "--nats-url", e.url, "--subject", "user.updated", "--since", "1h", "--count", "1", "--json")
	require.NoError(t, err, errOut)
	got, err := contracts.DecodeEnvelope([]byte(strings.TrimSpace(out)))
	require.NoError(t, err, "the raw envelope, one line: %s", out)
	require.Equal(t, updated.ID, got.ID)
	require.JSONEq(t, string(updated.Data), string(got.Data))
}

func TestEventsTailFollowsNewEventsUntilStopped(t *testing.T) {
	e := newEventsEnv(t, "acme")
	old := e.publish(t, contracts.EventUserCreated, "u1", contracts.UserCreated{User: testUser("u1", "ada@example.com")})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"events", "tail", "--nats-url", e.url, "--prefix", "acme"}, &out, &errOut)
	}()
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !strings.Contains(errOut.String(), "tailing acme.> on AUTH_EVENTS") {
			return fmt.Errorf("not tailing yet: %q", errOut.String())
		}
		return nil
	})
	fresh := e.publish(t, contracts.EventUserDeleted, "u1", contracts.UserDeleted{UserID: "u1"})
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !strings.Contains(out.String(), fresh.ID) {
			return fmt.Errorf("event %s not shown yet: %q", fresh.ID, out.String())
		}
		return nil
	})
	cancel() // Ctrl-C
	select {
	case err := <-done:
		require.NoError(t, err, "Ctrl-C is a normal end")
	case <-time.After(10 * time.Second):
		t.Fatal("events tail did not stop on Ctrl-C")
	}
	require.NotContains(t, out.String(), old.ID, "without --since, only events from now on")
	require.Contains(t, out.String(), "user.deleted")
}

func TestEventsTailErrors(t *testing.T) {
	e := newEventsEnv(t, "")
	tests := []struct {
		name  string
		args  []string
		usage bool
		err   string
	}{
		{name: "no such stream", args: []string{"--stream", "OTHER"}, err: "the stream OTHER does not exist"},
		{name: "bad subject", args: []string{"--subject", "user.>.x"}, err: `">" may only be the last token`},
		{name: "empty token", args: []string{"--subject", "user..created"}, err: "empty token"},
		{name: "negative since", args: []string{"--since", "-1h"}, err: "must not be negative"},
		{name: "stray argument", args: []string{"user.*"}, usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, append([]string{"events", "tail", "--nats-url", e.url, "--count", "1"}, tt.args...)...)
			if tt.usage {
				require.ErrorIs(t, err, errUsage)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestShortData(t *testing.T) {
	require.Equal(t, "{}", shortData(nil))
	require.Equal(t, `{"a":1}`, shortData(json.RawMessage("{ \"a\" : 1 }")))
	long := shortData(json.RawMessage(`{"text":"` + strings.Repeat("é", 200) + `"}`))
	require.Equal(t, maxDataChars, len([]rune(long)))
	require.True(t, strings.HasSuffix(long, "…"))
}
