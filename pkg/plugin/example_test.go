package plugin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
)

// Config is the example plugin's configuration.
type Config struct {
	Blocked string `json:"blocked"` // a domain nobody may sign up from
}

// Example builds the package documentation's plugin; in a main package,
// plugin.Main(p) would run it.
func Example() {
	p := newNoSpam()
	if _, err := p.Manifest(); err != nil {
		panic(err)
	}
	// plugin.Main(p)
}

// newNoSpam is the package documentation's plugin, compiled and tested
// (TestDocumentationExample) so the documentation cannot drift from the API.
func newNoSpam() *plugin.Plugin[Config] {
	p := plugin.New[Config](contracts.Manifest{
		ID: "no-spam", Name: "No spam", Version: "1.0.0", CoreVersion: "^0.1.0",
		Permissions:   []contracts.Permission{"events:subscribe:user.created"},
		DefaultConfig: json.RawMessage(`{"blocked": "spam.test"}`),
		Hooks:         []contracts.HookDecl{{Point: contracts.HookBeforeSignUp}},
		Events:        []string{"user.created"},
	})
	plugin.OnHook(p, contracts.HookBeforeSignUp,
		func(ctx context.Context, c *plugin.Context[Config], in contracts.SignUpContext) plugin.Decision {
			if strings.HasSuffix(in.Email, "@"+c.Config.Blocked) {
				return plugin.Abort(http.StatusForbidden, "DOMAIN_BLOCKED", "This domain may not sign up")
			}
			return plugin.Continue()
		})
	plugin.OnEvent(p, "user.created",
		func(ctx context.Context, c *plugin.Context[Config], ev plugin.Event[contracts.UserCreated]) error {
			c.Logger.InfoContext(ctx, "new user", "id", ev.Data.User.ID)
			return nil
		})
	return p
}
