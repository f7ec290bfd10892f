package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

// testConfig is the fixture plugin's config.
type testConfig struct {
	Greeting string `json:"greeting"`
}

// Validate is run by the SDK after decoding.
func (c testConfig) Validate() error {
	if strings.TrimSpace(c.Greeting) == "" {
		return errors.New("greeting must not be blank")
	}
	return nil
}

// fixture is a plugin with one handler of each kind; each test replaces
// the behaviour it looks at.
type fixture struct {
	beforeSignUp func(ctx context.Context, c *plugin.Context[testConfig], in contracts.SignUpContext) plugin.Decision
	afterSignUp  func(ctx context.Context, c *plugin.Context[testConfig], in contracts.SessionEventContext) plugin.Decision
	event        func(ctx context.Context, c *plugin.Context[testConfig], ev plugin.Event[contracts.UserCreated]) error
	greet        func(ctx context.Context, c *plugin.Context[testConfig], req greetRequest) (greetReply, error)
	routes       map[string]http.HandlerFunc // "METHOD path" → handler
}

type greetRequest struct {
	Name string `json:"name"`
}

type greetReply struct {
	Text string `json:"text"`
}

// fixtureManifest declares what newFixture registers.
func fixtureManifest(id string) contracts.Manifest {
	return contracts.Manifest{
		ID: id, Name: "Fixture", Version: "1.2.3", CoreVersion: "^0.1.0",
		Permissions: []contracts.Permission{"events:subscribe:user.*", contracts.PermEmailSend, contracts.PermUserRead,
			contracts.PermUserWrite, contracts.PermSessionRead, contracts.PermSessionWrite, contracts.PermCryptoUse},
		ConfigSchema:  json.RawMessage(`{"type":"object","properties":{"greeting":{"type":"string","minLength":1}},"additionalProperties":false}`),
		DefaultConfig: json.RawMessage(`{"greeting":"hello"}`),
		Hooks: []contracts.HookDecl{
			{Point: contracts.HookBeforeSignUp, Timeout: contracts.Duration(2 * time.Second)},
			{Point: contracts.HookAfterSignUp, FailurePolicy: contracts.FailOpen},
		},
		Events: []string{"user.*"},
		Routes: []contracts.RouteDecl{
			{Method: "GET", Path: "/hello", Auth: contracts.AuthNone},
			{Method: "POST", Path: "/echo"},
			{Method: "GET", Path: "/files/*"},
		},
		Invoke: []string{"greet"},
	}
}

// newFixture builds the fixture plugin with f's behaviour, defaults for the rest.
func newFixture(id string, f fixture, opts ...plugin.Option) *plugin.Plugin[testConfig] {
	return newFixtureWith(fixtureManifest(id), f, opts...)
}

// newFixtureWith builds the fixture's handlers on manifest m (a variant of fixtureManifest).
func newFixtureWith(m contracts.Manifest, f fixture, opts ...plugin.Option) *plugin.Plugin[testConfig] {
	p := plugin.New[testConfig](m, opts...)
	plugin.OnHook(p, contracts.HookBeforeSignUp, func(ctx context.Context, c *plugin.Context[testConfig], in contracts.SignUpContext) plugin.Decision {
		if f.beforeSignUp != nil {
			return f.beforeSignUp(ctx, c, in)
		}
		return plugin.Continue()
	})
	plugin.OnHook(p, contracts.HookAfterSignUp, func(ctx context.Context, c *plugin.Context[testConfig], in contracts.SessionEventContext) plugin.Decision {
		if f.afterSignUp != nil {
			return f.afterSignUp(ctx, c, in)
		}
		return plugin.Continue()
	})
	plugin.OnEvent(p, "user.*", func(ctx context.Context, c *plugin.Context[testConfig], ev plugin.Event[contracts.UserCreated]) error {
		if f.event != nil {
			return f.event(ctx, c, ev)
		}
		return nil
	})
	plugin.OnInvoke(p, "greet", func(ctx context.Context, c *plugin.Context[testConfig], req greetRequest) (greetReply, error) {
		if f.greet != nil {
			return f.greet(ctx, c, req)
		}
		return greetReply{Text: c.Config.Greeting + ", " + req.Name}, nil
	})
	for _, r := range m.Routes {
		key := r.Method + " " + r.Path
		p.Route(r.Method, r.Path, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if h := f.routes[key]; h != nil {
				h(w, req)
				return
			}
			_, _ = io.WriteString(w, key)
		}))
	}
	return p
}

// seen records what handlers saw, safely from many goroutines.
type seen struct {
	mu    sync.Mutex
	items []string
}

func (s *seen) add(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = append(s.items, fmt.Sprintf(format, args...))
}

func (s *seen) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.items...)
}

func (s *seen) count(item string) int {
	n := 0
	for _, it := range s.list() {
		if it == item {
			n++
		}
	}
	return n
}

// userCreated is the data of a user.created event for user id.
func userCreated(id string) contracts.UserCreated {
	return contracts.UserCreated{User: contracts.User{ID: id, Email: id + "@example.com", Name: "User " + id,
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}, Method: "email"}
}

// callHook calls beforeSignUp on the fixture and requires no transport error.
func callHook(t *testing.T, core *plugintest.Core, id string, in contracts.SignUpContext) (contracts.HookReply, error) {
	t.Helper()
	return core.CallHook(context.Background(), id, contracts.HookBeforeSignUp, in)
}
