package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/devstack"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/telemetry/telemetrytest"
)

func startStack(t *testing.T, dir string) *devstack.Stack {
	t.Helper()
	logger, _ := telemetrytest.NewLogger(t)
	stack, err := devstack.Start(context.Background(), devstack.Options{
		Dir: dir, HTTPAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", Logger: logger,
	})
	require.NoError(t, err)
	t.Cleanup(stack.Stop)
	return stack
}

// TestDevStackSignUpReachesTheStream boots what `authbus dev` boots, signs a
// user up over HTTP and reads user.created from AUTH_EVENTS as a tool
// without credentials would (authbus events tail).
func TestDevStackSignUpReachesTheStream(t *testing.T) {
	stack := startStack(t, t.TempDir())

	resp, err := http.Post(stack.APIURL()+"/sign-up/email", "application/json",
		strings.NewReader(`{"name":"Ada","email":"Ada@Example.com","password":"correct-horse"}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var signUp struct {
		User contracts.User `json:"user"`
	}
	require.NoError(t, json.Unmarshal(body, &signUp))

	nc, err := nats.Connect(stack.NATSURL()) // no credentials: the read-only cli user
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	var got []contracts.Envelope
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		got = got[:0]
		c, err := js.OrderedConsumer(context.Background(), "AUTH_EVENTS", jetstream.OrderedConsumerConfig{})
		if err != nil {
			return err
		}
		batch, err := c.FetchNoWait(100)
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			env, err := contracts.DecodeEnvelope(m.Data())
			require.NoError(t, err)
			got = append(got, env)
		}
		for _, e := range got {
			if e.Type == contracts.EventUserCreated {
				return nil
			}
		}
		return io.ErrUnexpectedEOF
	})
	types := map[contracts.EventType]contracts.Envelope{}
	for _, e := range got {
		types[e.Type] = e
	}
	require.Contains(t, types, contracts.EventSystemStartup)
	require.Contains(t, types, contracts.EventSessionCreated)
	var created contracts.UserCreated
	require.NoError(t, types[contracts.EventUserCreated].DecodeData(&created))
	require.Equal(t, signUp.User.ID, created.User.ID)
	require.Equal(t, "ada@example.com", created.User.Email)

	// The tool without credentials may read, but not publish events.
	require.NoError(t, nc.Publish("user.created", []byte(`{}`)))
	require.NoError(t, nc.Flush())
	require.ErrorContains(t, nc.LastError(), "Permissions Violation")
}

// TestDevStackRestartKeepsSessions: the secret and the database live in the
// directory, so a session made before a restart still works after it.
func TestDevStackRestartKeepsSessions(t *testing.T) {
	dir := t.TempDir()
	stack := startStack(t, dir)
	resp, err := http.Post(stack.APIURL()+"/sign-up/email", "application/json",
		strings.NewReader(`{"name":"Bo","email":"bo@example.com","password":"correct-horse"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	cookies := resp.Cookies()
	stack.Stop()
	require.NoError(t, stack.Wait())
	secret, err := os.ReadFile(filepath.Join(dir, "secret"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(bytes.TrimSpace(secret)), 32)

	again := startStack(t, dir)
	req, _ := http.NewRequest(http.MethodGet, again.APIURL()+"/get-session", nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `"email":"bo@example.com"`)
}
