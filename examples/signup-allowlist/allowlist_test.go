package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

const id = "signup-allowlist"

func newUser(userID, email, name string) contracts.UserCreated {
	now := time.Now().UTC()
	return contracts.UserCreated{User: contracts.User{ID: userID, Email: email, Name: name, CreatedAt: now, UpdatedAt: now}, Method: "email"}
}

func TestConformance(t *testing.T) {
	plugintest.Conformance(t, func() plugintest.Runnable { return New() },
		plugintest.WithHookContext(contracts.HookBeforeSignUp, contracts.SignUpContext{Email: "ada@example.com", Name: "Ada"}),
		plugintest.WithEventData(contracts.EventUserCreated, newUser("u1", "ada@example.com", "Ada")))
}

func TestPluginJSONIsTheManifest(t *testing.T) {
	b, err := New().ManifestJSON()
	require.NoError(t, err, "plugin.json and the handlers agree")
	want, err := os.ReadFile("plugin.json")
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(b), "--print-manifest prints plugin.json")
}

func TestBeforeSignUp(t *testing.T) {
	tests := []struct {
		name    string
		domains []string
		email   string
		allowed bool
	}{
		{name: "allowed domain", email: "ada@example.com", allowed: true},
		{name: "subdomain of an allowed domain", email: "ada@eu.example.com", allowed: true},
		{name: "other domain", email: "eve@evil.test"},
		{name: "lookalike domain", email: "eve@notexample.com"},
		{name: "configured domains", domains: []string{"acme.test", "acme.dev"}, email: "wile@acme.dev", allowed: true},
		{name: "default no longer allowed once configured", domains: []string{"acme.test"}, email: "ada@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core := plugintest.Start(t)
			if tt.domains != nil {
				core.SetConfig(id, map[string]any{"allowedDomains": tt.domains})
			}
			core.Run(t, New())
			in := contracts.SignUpContext{Email: tt.email, Name: "Someone"}
			reply, err := core.CallHook(context.Background(), id, contracts.HookBeforeSignUp, in)
			require.NoError(t, err)
			// What the client gets, through the same dispatcher the core uses.
			err = core.Hooks().Before(context.Background(), contracts.HookBeforeSignUp, &in)
			if tt.allowed {
				require.Equal(t, contracts.ActionContinue, reply.Action)
				require.NoError(t, err)
				return
			}
			require.Equal(t, contracts.ActionAbort, reply.Action)
			var ce *contracts.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, http.StatusForbidden, ce.Status)
			require.Equal(t, CodeDomainNotAllowed, ce.Code)
			require.Contains(t, ce.Message, "addresses only")
		})
	}
}

func TestConfigRefusedWhenInvalid(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]any
		reason string
	}{
		{name: "no domain", config: map[string]any{"allowedDomains": []string{}}, reason: "configSchema"},
		{name: "not a domain", config: map[string]any{"allowedDomains": []string{"Example.COM"}}, reason: "configSchema"},
		{name: "unknown setting", config: map[string]any{"allowedDomain": "example.com"}, reason: "configSchema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core := plugintest.Start(t)
			core.SetConfig(id, tt.config)
			i := core.Launch(t, New())
			<-i.Done()
			require.ErrorContains(t, i.Err(), tt.reason)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{AllowedDomains: []string{"example.com"}, WelcomeSubject: "Hi", WelcomeText: "Hello"}
	require.NoError(t, ok.Validate())
	bad := Config{AllowedDomains: []string{"example.com", "not a domain"}, WelcomeSubject: " "}
	err := bad.Validate()
	require.ErrorContains(t, err, `allowedDomains[1]: "not a domain"`)
	require.ErrorContains(t, err, "welcomeSubject")
	require.ErrorContains(t, err, "welcomeText")
	require.ErrorContains(t, Config{}.Validate(), "list at least one domain")
}

func TestWelcomeEmail(t *testing.T) {
	core := plugintest.Start(t)
	core.SetConfig(id, map[string]any{"welcomeSubject": "Welcome to Acme", "welcomeText": "Hi {name}!"})
	core.Run(t, New())

	ev := core.Publish(t, contracts.EventUserCreated, newUser("u1", "ada@example.com", "Ada"))
	core.WaitEvent(t, id, ev, plugintest.Acked)
	require.Equal(t, []contracts.Email{{To: "ada@example.com", Subject: "Welcome to Acme", Text: "Hi Ada!",
		Kind: contracts.EmailPluginMessage, UserID: "u1"}}, core.Emails())

	// The same user created again (an import replayed, say): welcomed once.
	again := core.Publish(t, contracts.EventUserCreated, newUser("u1", "ada@example.com", "Ada"))
	core.WaitEvent(t, id, again, plugintest.Acked)
	require.Len(t, core.Emails(), 1)

	nameless := core.Publish(t, contracts.EventUserCreated, newUser("u2", "grace@example.com", ""))
	core.WaitEvent(t, id, nameless, plugintest.Acked)
	require.Equal(t, "Hi grace@example.com!", core.Emails()[1].Text)
}

func TestWelcomeEmailRetriedWhileTheMailerIsDown(t *testing.T) {
	core := plugintest.Start(t)
	down := true
	calls := make(chan struct{}, 10)
	core.HandleService(contracts.CoreEmailSend, func(context.Context, string, json.RawMessage) (any, error) {
		calls <- struct{}{}
		if down {
			down = false
			return nil, contracts.CodeServiceUnavailable.Errorf("smtp relay unreachable")
		}
		return contracts.EmptyReply{}, nil
	})
	core.Run(t, New())
	ev := core.Publish(t, contracts.EventUserCreated, newUser("u1", "ada@example.com", "Ada"))
	st := core.WaitEvent(t, id, ev, plugintest.Acked)
	require.Equal(t, 1, st.Naks)
	require.Equal(t, 2, st.Deliveries)
	require.Len(t, calls, 2)
}

func TestWelcomeEmailToABadAddressIsDeadLettered(t *testing.T) {
	core := plugintest.Start(t)
	core.Run(t, New())
	ev := core.Publish(t, contracts.EventUserCreated, newUser("u1", "not-an-address", "Ada"))
	st := core.WaitEvent(t, id, ev, plugintest.DeadLettered)
	require.Equal(t, bus.DeadLetterReasonPermanent, st.DeadLetter.Reason)
	require.Equal(t, 1, st.DeadLetter.Deliveries, "not retried: the core refused the address")
	require.Contains(t, st.DeadLetter.Error, "INVALID_EMAIL")
	require.Empty(t, core.Emails())
}
