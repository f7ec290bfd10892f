package mail

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
)

func TestComposeGolden(t *testing.T) {
	c := Composer{AppName: "Acme"}
	url := "https://auth.example.com/api/auth/verify-email?token=abc.def.ghi&callbackURL=%2F"
	for _, kind := range Kinds() {
		t.Run(kind, func(t *testing.T) {
			d := Data{To: "ada@example.com", UserID: "user-1", URL: url, ExpiresIn: time.Hour}
			if kind == contracts.EmailChangeEmailNotice {
				d.NewEmail = "ada.new@example.com"
			}
			m, err := c.Compose(kind, d)
			require.NoError(t, err)
			require.NoError(t, CheckMessage(m))
			require.Equal(t, kind, m.Kind)
			require.Equal(t, "ada@example.com", m.To)
			require.Equal(t, url, m.URL)
			require.Equal(t, "user-1", m.UserID)
			require.Contains(t, m.Subject, "Acme")
			require.Contains(t, m.Text, "\n"+url+"\n", "the link stands on its own line")
			require.Contains(t, m.HTML, `href="https://auth.example.com/api/auth/verify-email?token=abc.def.ghi&amp;callbackURL=%2F"`)
			require.Contains(t, m.Text, "expires in 1 hour")
			golden(t, "compose/"+kind+".golden", fmt.Appendf(nil, "Subject: %s\n\n%s\n----- html -----\n%s", m.Subject, m.Text, m.HTML))
		})
	}
}

func TestComposeEscapesHTML(t *testing.T) {
	m, err := Composer{AppName: `<b>Evil</b> & Co`}.Compose(contracts.EmailChangeEmailNotice, Data{
		To:       "ada@example.com",
		NewEmail: `"><script>alert(1)</script>@example.com`,
		URL:      `javascript:alert(1)`,
	})
	require.NoError(t, err)
	require.NotContains(t, m.HTML, "<script>")
	require.NotContains(t, m.HTML, "<b>Evil")
	require.Contains(t, m.HTML, "&lt;b&gt;Evil&lt;/b&gt; &amp; Co")
	require.NotContains(t, m.HTML, `href="javascript:`, "html/template filters unsafe URL schemes")
	require.Contains(t, m.Text, `"><script>alert(1)</script>@example.com`, "the text body is not HTML")
}

func TestComposeDefaultsAndAppNameInSubject(t *testing.T) {
	m, err := Composer{}.Compose(contracts.EmailVerification, Data{To: "a@example.com", URL: "https://x.test/v"})
	require.NoError(t, err)
	require.Equal(t, "Verify your email address for authbus", m.Subject)
	require.NotContains(t, m.Text, "expires", "no lifetime given, none mentioned")

	m, err = Composer{AppName: "Line\r\nBcc: eve@example.com"}.Compose(contracts.EmailPasswordReset, Data{To: "a@example.com", URL: "https://x.test/r"})
	require.NoError(t, err)
	require.NoError(t, CheckMessage(m), "a multi-line app name must not break the subject")
	require.Equal(t, "Reset your Line Bcc: eve@example.com password", m.Subject)
}

func TestComposeRejects(t *testing.T) {
	tests := []struct {
		name string
		kind string
		d    Data
		want string
	}{
		{"unknown kind", "newsletter", Data{To: "a@example.com", URL: "https://x.test"}, `unknown kind "newsletter"`},
		{"plugin kind is not composed here", contracts.EmailPluginMessage, Data{To: "a@example.com", URL: "https://x.test"}, "unknown kind"},
		{"no recipient", contracts.EmailVerification, Data{URL: "https://x.test"}, "empty recipient"},
		{"no link", contracts.EmailPasswordReset, Data{To: "a@example.com"}, "empty link"},
		{"confirmation without new address", contracts.EmailChangeEmailNotice, Data{To: "a@example.com", URL: "https://x.test"}, "empty new address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Composer{}.Compose(tc.kind, tc.d)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"zero", 0, ""},
		{"negative", -time.Hour, ""},
		{"one hour", time.Hour, "1 hour"},
		{"hours", 3 * time.Hour, "3 hours"},
		{"one day", 24 * time.Hour, "1 day"},
		{"days", 7 * 24 * time.Hour, "7 days"},
		{"minutes", 15 * time.Minute, "15 minutes"},
		{"hour and a half", 90 * time.Minute, "90 minutes"},
		{"seconds", 30 * time.Second, "30 seconds"},
		{"one second", time.Second, "1 second"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, humanDuration(tc.d))
		})
	}
}

func TestKindsAreTheContractKinds(t *testing.T) {
	for _, k := range Kinds() {
		_, ok := templates[k]
		require.True(t, ok, k)
		require.NotEmpty(t, actions[k], k)
		require.False(t, strings.ContainsAny(k, " \n"), k)
	}
	require.Len(t, templates, len(Kinds()))
}
