package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
)

// Composer writes the core's messages: a short plain-text body and a simple
// HTML body around one action link.
type Composer struct {
	// AppName names the application in subjects and bodies. Default: "authbus".
	AppName string
}

// Data is what a message is about.
type Data struct {
	// To is the recipient address.
	To string
	// UserID is the user the message concerns.
	UserID string
	// URL is the action link (verify, reset, confirm).
	URL string
	// NewEmail is the requested new address (change-email kinds).
	NewEmail string
	// ExpiresIn, when positive, is mentioned as the link's lifetime.
	ExpiresIn time.Duration
}

type template struct {
	subject string // fmt format with the app name
	lines   []*texttemplate.Template
}

// paragraphs parses the body paragraphs of a template; the first one leads to the link.
func paragraphs(src ...string) []*texttemplate.Template {
	out := make([]*texttemplate.Template, len(src))
	for i, s := range src {
		out[i] = texttemplate.Must(texttemplate.New("").Parse(s))
	}
	return out
}

// templates are keyed by contracts.Email kind. Lines are text/template bodies
// (also rendered, escaped, into the HTML body); {{.URL}} is placed by the layout.
var templates = map[string]template{
	contracts.EmailVerification: {
		subject: "Verify your email address for %s",
		lines:   paragraphs("Please confirm that {{.To}} is your email address for {{.App}} by opening this link:"),
	},
	contracts.EmailPasswordReset: {
		subject: "Reset your %s password",
		lines: paragraphs(
			"Someone asked to reset the password of the {{.App}} account {{.To}}. To choose a new password, open this link:",
			"If you did not ask for this, ignore this message; your password stays as it is.",
		),
	},
	contracts.EmailChangeEmail: {
		subject: "Confirm your new email address for %s",
		lines: paragraphs(
			"Please confirm that {{.To}} is the new email address of your {{.App}} account by opening this link:",
			"If you did not ask for this change, ignore this message.",
		),
	},
	contracts.EmailChangeEmailNotice: {
		subject: "Approve the change of your %s email address",
		lines: paragraphs(
			"Someone asked to change the email address of your {{.App}} account from {{.To}} to {{.NewEmail}}. To approve the change, open this link:",
			"If you did not ask for this change, ignore this message and consider changing your password.",
		),
	},
	contracts.EmailDeleteAccount: {
		subject: "Confirm deleting your %s account",
		lines: paragraphs(
			"Someone asked to delete the {{.App}} account {{.To}} and all its data. To confirm, open this link:",
			"If you did not ask for this, ignore this message; your account stays as it is.",
		),
	},
}

// Kinds returns the kinds Compose knows.
func Kinds() []string {
	return []string{
		contracts.EmailVerification, contracts.EmailPasswordReset, contracts.EmailChangeEmail,
		contracts.EmailChangeEmailNotice, contracts.EmailDeleteAccount,
	}
}

var textLayout = texttemplate.Must(texttemplate.New("text").Parse(
	`Hello,

{{index .Lines 0}}

{{.URL}}
{{if .Expiry}}
This link expires in {{.Expiry}}.
{{end}}{{range slice .Lines 1}}
{{.}}
{{end}}
-- {{.App}}
`))

var htmlLayout = htmltemplate.Must(htmltemplate.New("html").Parse(
	`<!doctype html>
<html><body style="font-family: sans-serif; line-height: 1.5">
<p>Hello,</p>
<p>{{index .Lines 0}}</p>
<p><a href="{{.URL}}">{{.Action}}</a></p>
<p style="font-size: small">Or copy this link into your browser: {{.URL}}</p>
{{if .Expiry}}<p>This link expires in {{.Expiry}}.</p>
{{end}}{{range slice .Lines 1}}<p>{{.}}</p>
{{end}}<p>&mdash; {{.App}}</p>
</body></html>
`))

var actions = map[string]string{
	contracts.EmailVerification:      "Verify email address",
	contracts.EmailPasswordReset:     "Reset password",
	contracts.EmailChangeEmail:       "Confirm new address",
	contracts.EmailChangeEmailNotice: "Approve the change",
	contracts.EmailDeleteAccount:     "Delete my account",
}

// Compose returns the message of kind (one of Kinds) for d. It fails on an
// unknown kind, a missing recipient or link, or a change-email confirmation
// without the new address.
func (c Composer) Compose(kind string, d Data) (contracts.Email, error) {
	t, ok := templates[kind]
	if !ok {
		return contracts.Email{}, fmt.Errorf("mail: compose: unknown kind %q", kind)
	}
	switch {
	case d.To == "":
		return contracts.Email{}, fmt.Errorf("mail: compose %s: empty recipient", kind)
	case d.URL == "":
		return contracts.Email{}, fmt.Errorf("mail: compose %s: empty link", kind)
	case kind == contracts.EmailChangeEmailNotice && d.NewEmail == "":
		return contracts.Email{}, fmt.Errorf("mail: compose %s: empty new address", kind)
	}
	app := c.AppName
	if app == "" {
		app = "authbus"
	}
	vars := struct{ To, NewEmail, App string }{d.To, d.NewEmail, app}
	lines := make([]string, len(t.lines))
	for i, l := range t.lines {
		var b strings.Builder
		if err := l.Execute(&b, vars); err != nil {
			return contracts.Email{}, fmt.Errorf("mail: compose %s: %w", kind, err)
		}
		lines[i] = b.String()
	}
	layout := struct {
		Lines                    []string
		URL, App, Action, Expiry string
	}{lines, d.URL, app, actions[kind], humanDuration(d.ExpiresIn)}

	var text, html bytes.Buffer
	if err := textLayout.Execute(&text, layout); err != nil {
		return contracts.Email{}, fmt.Errorf("mail: compose %s: %w", kind, err)
	}
	if err := htmlLayout.Execute(&html, layout); err != nil {
		return contracts.Email{}, fmt.Errorf("mail: compose %s: %w", kind, err)
	}
	return contracts.Email{
		To:      d.To,
		Subject: fmt.Sprintf(t.subject, oneLine(app)),
		Text:    text.String(),
		HTML:    html.String(),
		Kind:    kind,
		URL:     d.URL,
		UserID:  d.UserID,
	}, nil
}

// oneLine keeps a configured app name from breaking the subject line.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }), " ")
}

// humanDuration renders d as "1 hour", "15 minutes", "2 days"; "" for d <= 0.
func humanDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	unit := func(n int64, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return unit(int64(d.Round(time.Minute)/time.Minute), "minute")
	default:
		return unit(int64(d.Round(time.Second)/time.Second), "second")
	}
}
