package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
)

// manifestJSON is the plugin's manifest: what it serves, needs and may do.
//
//go:embed plugin.json
var manifestJSON []byte

// CodeDomainNotAllowed is the error code a refused sign-up gets.
const CodeDomainNotAllowed contracts.Code = "EMAIL_DOMAIN_NOT_ALLOWED"

// Config is the plugin's configuration (configSchema and defaultConfig in plugin.json).
type Config struct {
	// AllowedDomains may sign up, with their subdomains (default example.com).
	AllowedDomains []string `json:"allowedDomains"`
	// WelcomeSubject is the welcome email's subject (default "Welcome!").
	WelcomeSubject string `json:"welcomeSubject"`
	// WelcomeText is the welcome email's body; {name} becomes the user's
	// name (default "Hello {name}, welcome aboard.").
	WelcomeText string `json:"welcomeText"`
}

var domainPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.AllowedDomains) == 0 {
		errs = append(errs, errors.New("allowedDomains: list at least one domain"))
	}
	for i, d := range c.AllowedDomains {
		if !domainPattern.MatchString(d) {
			errs = append(errs, fmt.Errorf("allowedDomains[%d]: %q is not a lowercase domain name such as \"example.com\"", i, d))
		}
	}
	if strings.TrimSpace(c.WelcomeSubject) == "" {
		errs = append(errs, errors.New("welcomeSubject: must not be blank"))
	}
	if strings.TrimSpace(c.WelcomeText) == "" {
		errs = append(errs, errors.New("welcomeText: must not be blank"))
	}
	return errors.Join(errs...)
}

// allows reports whether email's domain is an allowed domain or below one.
func (c Config) allows(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := strings.ToLower(email[at+1:])
	for _, d := range c.AllowedDomains {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}

// New returns the plugin with its handlers.
func New() *plugin.Plugin[Config] {
	m, err := contracts.ParseManifest(manifestJSON)
	if err != nil {
		panic(err) // plugin.json is embedded: its tests catch this before anyone runs it
	}
	p := plugin.New[Config](m)
	plugin.OnHook(p, contracts.HookBeforeSignUp, beforeSignUp)
	plugin.OnEvent(p, string(contracts.EventUserCreated), welcome)
	return p
}

// beforeSignUp refuses sign-ups from domains not on the allowlist.
func beforeSignUp(_ context.Context, c *plugin.Context[Config], in contracts.SignUpContext) plugin.Decision {
	if c.Config.allows(in.Email) {
		return plugin.Continue()
	}
	return plugin.Abort(http.StatusForbidden, CodeDomainNotAllowed,
		"Sign-ups are open to "+strings.Join(c.Config.AllowedDomains, ", ")+" addresses only")
}

// welcome sends a new user the welcome email, once per user: delivery is
// at least once, so the plugin's key-value bucket remembers who was welcomed.
func welcome(ctx context.Context, c *plugin.Context[Config], ev plugin.Event[contracts.UserCreated]) error {
	u := ev.Data.User
	key := "welcomed." + u.ID
	if c.KV != nil {
		if _, err := c.KV.Get(ctx, key); err == nil {
			return nil
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("check welcome of %s: %w", u.ID, err)
		}
	}
	name := u.Name
	if name == "" {
		name = u.Email
	}
	err := c.Email.Send(ctx, contracts.Email{
		To:      u.Email,
		Subject: c.Config.WelcomeSubject,
		Text:    strings.ReplaceAll(c.Config.WelcomeText, "{name}", name),
		UserID:  u.ID,
	})
	var ce *contracts.Error
	if errors.As(err, &ce) && ce.Status < 500 {
		// The core refused the message itself (a bad address): retrying will not help.
		return plugin.Permanent(fmt.Errorf("welcome %s: %w", u.ID, err))
	}
	if err != nil {
		return fmt.Errorf("welcome %s: %w", u.ID, err)
	}
	if c.KV != nil {
		if _, err := c.KV.Put(ctx, key, []byte(ev.ID)); err != nil {
			c.Logger.WarnContext(ctx, "welcome sent but not recorded; a redelivery would send it again", "user", u.ID, "error", err)
		}
	}
	return nil
}
