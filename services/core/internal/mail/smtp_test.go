package mail_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/mail"
	"github.com/authbus/authbus/services/core/internal/mail/mailtest"
)

func newSender(t *testing.T, cfg mail.SMTPConfig) *mail.SMTPSender {
	t.Helper()
	s, err := mail.NewSMTPSender(cfg)
	require.NoError(t, err)
	return s
}

func verification(t *testing.T, to string) contracts.Email {
	t.Helper()
	m, err := mail.Composer{AppName: "Acme"}.Compose(contracts.EmailVerification, mail.Data{
		To: to, UserID: "u1", URL: "http://127.0.0.1:3000/api/auth/verify-email?token=eyJhbGciOiJIUzI1NiJ9.e30.sig&callbackURL=%2Fdone",
	})
	require.NoError(t, err)
	return m
}

func TestSMTPDelivery(t *testing.T) {
	tests := []struct {
		name     string
		opts     mailtest.Options
		wantTLS  bool
		wantAuth string // expected AUTH line in the transcript, "" for none
	}{
		{"starttls with auth plain", mailtest.Options{Username: "mailer", Password: "s3cret"}, true, "AUTH PLAIN [redacted]"},
		{"starttls with auth login", mailtest.Options{Username: "mailer", Password: "s3cret", AuthMechanisms: []string{"LOGIN"}}, true, "AUTH LOGIN [redacted]"},
		{"starttls without auth", mailtest.Options{}, true, ""},
		{"implicit tls with auth", mailtest.Options{ImplicitTLS: true, Username: "mailer", Password: "s3cret"}, true, "AUTH PLAIN [redacted]"},
		{"no tls, explicitly, with auth", mailtest.Options{DisableSTARTTLS: true, AllowInsecureAuth: true, Username: "mailer", Password: "s3cret"}, false, "AUTH PLAIN [redacted]"},
		{"no tls, no auth", mailtest.Options{DisableSTARTTLS: true}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, tc.opts)
			m := verification(t, "ada@example.com")
			require.NoError(t, srv.Sender(t).Send(context.Background(), m))

			got := srv.WaitFor(t, "ada@example.com")
			require.Equal(t, tc.wantTLS, got.TLS)
			require.Equal(t, tc.opts.Username, got.AuthUser)
			require.Equal(t, "no-reply@authbus.test", got.From)
			require.Equal(t, []string{"ada@example.com"}, got.To)
			require.Equal(t, m.Subject, got.Subject)
			require.Equal(t, m.URL, got.Link())
			require.Equal(t, "multipart/alternative", got.ContentType)
			require.Equal(t, m.Text, got.Text)
			require.Equal(t, m.HTML, got.HTML)
			require.Equal(t, `"authbus test" <no-reply@authbus.test>`, got.Header.Get("From"))
			var auth []string
			for _, line := range srv.Transcript() {
				require.NotContains(t, line, "s3cret")
				if strings.HasPrefix(line, "AUTH") {
					auth = append(auth, line)
				}
			}
			if tc.wantAuth == "" {
				require.Empty(t, auth)
			} else {
				require.Equal(t, []string{tc.wantAuth}, auth)
			}
		})
	}
}

func TestSMTPWrongPassword(t *testing.T) {
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{Username: "mailer", Password: "right", AuthMechanisms: []string{mech}})
			cfg := srv.SMTPConfig()
			cfg.Password = "wrong"
			err := newSender(t, cfg).Send(context.Background(), verification(t, "ada@example.com"))
			require.Error(t, err)
			require.ErrorContains(t, err, `authentication as "mailer" failed`)
			require.ErrorContains(t, err, "535")
			require.NotContains(t, err.Error(), "wrong", "the password never appears in errors")
			var se *mail.SMTPError
			require.ErrorAs(t, err, &se)
			require.Equal(t, 535, se.Code)
			require.Equal(t, "AUTH", se.Command)
			require.False(t, se.Temporary())
			require.Empty(t, srv.Messages())
		})
	}
}

func TestSMTPServerRefuses(t *testing.T) {
	tests := []struct {
		name      string
		opts      mailtest.Options
		cfg       func(*mail.SMTPConfig)
		command   string
		code      int
		temporary bool
		contains  string
	}{
		{name: "greeting", opts: mailtest.Options{Fail: map[string]string{"greeting": "554 5.3.2 no service"}}, command: "greeting", code: 554},
		{name: "ehlo", opts: mailtest.Options{Fail: map[string]string{"EHLO": "550 5.7.1 go away"}}, command: "EHLO", code: 550},
		{name: "sender", opts: mailtest.Options{Fail: map[string]string{"MAIL": "451 4.3.0 try again later"}}, command: "MAIL", code: 451, temporary: true},
		{name: "recipient", opts: mailtest.Options{Fail: map[string]string{"RCPT": "550 5.1.1 no such user"}}, command: "RCPT", code: 550, contains: "no such user"},
		{name: "data", opts: mailtest.Options{Fail: map[string]string{"DATA": "554 5.5.1 no valid recipients"}}, command: "DATA", code: 554},
		{name: "message after data", opts: mailtest.Options{Fail: map[string]string{".": "552 5.3.4 spam"}}, command: "DATA", code: 552},
		{name: "starttls", opts: mailtest.Options{Fail: map[string]string{"STARTTLS": "454 4.7.0 TLS not available"}}, command: "STARTTLS", code: 454, temporary: true},
		{name: "auth required but not configured", opts: mailtest.Options{Username: "u", Password: "p"}, cfg: func(c *mail.SMTPConfig) { c.Username, c.Password = "", "" }, command: "MAIL", code: 530},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, tc.opts)
			cfg := srv.SMTPConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			err := newSender(t, cfg).Send(context.Background(), verification(t, "ada@example.com"))
			t.Log(err)
			var se *mail.SMTPError
			require.ErrorAs(t, err, &se, "%v", err)
			require.Equal(t, tc.command, se.Command)
			require.Equal(t, tc.code, se.Code)
			require.Equal(t, tc.temporary, se.Temporary())
			require.ErrorContains(t, err, "smtp "+srv.Addr())
			if tc.contains != "" {
				require.ErrorContains(t, err, tc.contains)
			}
			require.Empty(t, srv.Messages())
		})
	}
}

func TestSMTPRefusesInsecureSetups(t *testing.T) {
	t.Run("starttls required but not offered", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{DisableSTARTTLS: true, AllowInsecureAuth: true, Username: "u", Password: "p"})
		cfg := srv.SMTPConfig()
		cfg.TLS = mail.TLSStartTLS
		err := newSender(t, cfg).Send(context.Background(), verification(t, "ada@example.com"))
		require.ErrorContains(t, err, "server does not offer STARTTLS")
		for _, line := range srv.Transcript() {
			require.False(t, strings.HasPrefix(line, "AUTH"), "credentials went out in clear text: %q", line)
			require.False(t, strings.HasPrefix(line, "MAIL"), "mail went out in clear text: %q", line)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{Username: "u", Password: "p"})
		cfg := srv.SMTPConfig()
		cfg.RootCAs = nil
		err := newSender(t, cfg).Send(context.Background(), verification(t, "ada@example.com"))
		t.Log(err)
		require.ErrorContains(t, err, "certificate")
		require.NotContains(t, srv.Transcript(), "AUTH PLAIN [redacted]")
	})
	t.Run("untrusted certificate, implicit tls", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{ImplicitTLS: true})
		cfg := srv.SMTPConfig()
		cfg.RootCAs = nil
		err := newSender(t, cfg).Send(context.Background(), verification(t, "ada@example.com"))
		t.Log(err)
		require.ErrorContains(t, err, "certificate")
	})
	t.Run("skip verify is an explicit opt-in that works", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{})
		cfg := srv.SMTPConfig()
		cfg.RootCAs, cfg.InsecureSkipVerify = nil, true
		require.NoError(t, newSender(t, cfg).Send(context.Background(), verification(t, "ada@example.com")))
		require.True(t, srv.WaitFor(t, "ada@example.com").TLS)
	})
	t.Run("auth configured but not offered", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{})
		cfg := srv.SMTPConfig()
		cfg.Username, cfg.Password = "u", "p"
		err := newSender(t, cfg).Send(context.Background(), verification(t, "ada@example.com"))
		require.ErrorContains(t, err, "server does not offer AUTH")
	})
}

func TestSMTPTimeouts(t *testing.T) {
	for _, point := range []string{"greeting", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "."} {
		t.Run("context deadline, server stalls at "+point, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{Username: "u", Password: "p", Stall: point})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err := newSender(t, srv.SMTPConfig()).Send(ctx, verification(t, "ada@example.com"))
			t.Log(err)
			require.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
	t.Run("command timeout, no context deadline", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{Stall: "RCPT"})
		cfg := srv.SMTPConfig()
		cfg.CommandTimeout = 200 * time.Millisecond
		err := newSender(t, cfg).Send(context.Background(), verification(t, "ada@example.com"))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.ErrorContains(t, err, "rcpt: no reply within 200ms")
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{Stall: "DATA"})
		ctx, cancel := context.WithCancel(context.Background())
		s, m := newSender(t, srv.SMTPConfig()), verification(t, "ada@example.com")
		done := make(chan error, 1)
		go func() { done <- s.Send(ctx, m) }()
		require.Eventually(t, func() bool {
			tr := srv.Transcript()
			return len(tr) > 0 && tr[len(tr)-1] == "DATA"
		}, 5*time.Second, 5*time.Millisecond)
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	})
	t.Run("already cancelled", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := newSender(t, srv.SMTPConfig()).Send(ctx, verification(t, "ada@example.com"))
		require.ErrorIs(t, err, context.Canceled)
		require.Empty(t, srv.Transcript())
	})
	t.Run("nothing listening", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{})
		cfg := srv.SMTPConfig()
		srv.Close()
		err := newSender(t, cfg).Send(context.Background(), verification(t, "ada@example.com"))
		require.ErrorContains(t, err, "connect:")
	})
}

func TestSMTPRejectsHeaderInjection(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	s := newSender(t, srv.SMTPConfig())
	tests := []struct {
		name string
		edit func(*contracts.Email)
	}{
		{"recipient with CRLF", func(m *contracts.Email) { m.To = "ada@example.com\r\nBcc: eve@example.com" }},
		{"recipient with LF", func(m *contracts.Email) { m.To = "ada@example.com\nRCPT TO:<eve@example.com>" }},
		{"recipient with smuggled SMTP", func(m *contracts.Email) { m.To = "ada@example.com>\r\nRCPT TO:<eve@example.com" }},
		{"two recipients", func(m *contracts.Email) { m.To = "ada@example.com, eve@example.com" }},
		{"subject with CRLF", func(m *contracts.Email) { m.Subject = "Hello\r\nBcc: eve@example.com" }},
		{"subject with LF", func(m *contracts.Email) { m.Subject = "Hello\nBcc: eve@example.com" }},
		{"subject with CR", func(m *contracts.Email) { m.Subject = "Hello\rBcc: eve@example.com" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := verification(t, "ada@example.com")
			tc.edit(&m)
			err := s.Send(context.Background(), m)
			require.ErrorIs(t, err, mail.ErrInvalidMessage)
		})
	}
	require.Empty(t, srv.Transcript(), "refused before connecting")
}

func TestSMTPNonASCIISubjectRoundTrip(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	cfg := srv.SMTPConfig()
	cfg.FromName = "Équipe Café ☕"
	subjects := []string{
		"Vérifiez votre adresse e-mail",
		"✓ 日本語の件名 — 🎉 with a long tail of text that forces several encoded words to be folded",
		"Grüße aus Köln =?utf-8?q?literal?=",
	}
	for i, subject := range subjects {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			to := fmt.Sprintf("user%d@example.com", i)
			m := verification(t, to)
			m.Subject = subject
			m.Text = "Grüße, naïve café ☕\n" + m.URL + "\n"
			require.NoError(t, newSender(t, cfg).Send(context.Background(), m))
			got := srv.WaitFor(t, to)
			require.Equal(t, subject, got.Subject)
			require.Equal(t, m.Text, got.Text)
			require.Equal(t, m.URL, got.Link())
			require.Contains(t, got.Header.Get("From"), "=?utf-8?q?")
			from, err := got.Header.AddressList("From")
			require.NoError(t, err)
			require.Equal(t, "Équipe Café ☕", from[0].Name)
		})
	}
}

func TestSMTPBodies(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	s := newSender(t, srv.SMTPConfig())
	long := "https://auth.example.com/api/auth/reset-password/" + strings.Repeat("Ab1", 40) + "?callbackURL=%2Freset%3Fa%3D1%26b%3D2"
	tests := []struct {
		name     string
		text     string
		html     string
		wantType string
	}{
		{"multipart", "see " + long + "\n", `<a href="` + long + `">x</a>`, "multipart/alternative"},
		{"text only", "line\n.\n..dots\n. \n" + long + "\n", "", "text/plain"},
		{"html only", "", `<p><a href="` + strings.ReplaceAll(long, "&", "&amp;") + `">reset</a></p>`, "text/html"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			to := fmt.Sprintf("body%d@example.com", i)
			require.NoError(t, s.Send(context.Background(), contracts.Email{To: to, Subject: tc.name, Text: tc.text, HTML: tc.html}))
			got := srv.WaitFor(t, to)
			require.Equal(t, tc.wantType, got.ContentType)
			require.Equal(t, withFinalNewline(tc.text), got.Text)
			require.Equal(t, withFinalNewline(tc.html), got.HTML)
			require.Equal(t, long, got.Link())
		})
	}
}

func TestSMTPSizeLimits(t *testing.T) {
	big := contracts.Email{To: "ada@example.com", Subject: "big", Text: strings.Repeat("0123456789 ", 2000)}
	t.Run("server limit from EHLO SIZE", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{MaxSize: 8 << 10})
		err := newSender(t, srv.SMTPConfig()).Send(context.Background(), big)
		require.ErrorIs(t, err, mail.ErrMessageTooLarge)
		require.ErrorContains(t, err, "server's limit of 8192")
		require.Empty(t, srv.Messages())
	})
	t.Run("sender limit", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{})
		cfg := srv.SMTPConfig()
		cfg.MaxMessageBytes = 8 << 10
		err := newSender(t, cfg).Send(context.Background(), big)
		require.ErrorIs(t, err, mail.ErrMessageTooLarge)
		require.Empty(t, srv.Transcript(), "refused before connecting")
	})
	t.Run("within limits", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{MaxSize: 64 << 10})
		require.NoError(t, newSender(t, srv.SMTPConfig()).Send(context.Background(), big))
		got := srv.WaitFor(t, "ada@example.com").Text
		require.True(t, withFinalNewline(big.Text) == got, "body of %d bytes came back as %d bytes", len(big.Text), len(got))
		var mailFrom string
		for _, l := range srv.Transcript() {
			if strings.HasPrefix(l, "MAIL FROM:") {
				mailFrom = l
			}
		}
		require.Regexp(t, `^MAIL FROM:<no-reply@authbus.test> SIZE=\d+$`, mailFrom)
	})
}

func TestSMTPConcurrentSends(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Username: "u", Password: "p"})
	s := srv.Sender(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		m := verification(t, fmt.Sprintf("user%d@example.com", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Send(context.Background(), m)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i := range n {
		require.Equal(t, []string{fmt.Sprintf("user%d@example.com", i)}, srv.WaitFor(t, fmt.Sprintf("user%d@example.com", i)).To)
	}
}

// TestSMTPErrorsAreNotPanics drives the client against replies it does not
// expect; each must end in an error.
func TestSMTPErrorsAreNotPanics(t *testing.T) {
	for _, fail := range []map[string]string{
		{"greeting": "220-multi\r\n220 line greeting ok"}, // a valid multi-line greeting: must still work
		{"EHLO": "250 mailtest"},                          // no extensions at all: STARTTLS missing
		{"EHLO": "250"},                                   // too short to be a reply
		{"EHLO": "garbage"},                               // not a reply
		{"STARTTLS": "220 go ahead\r\n250 injected"},      // data before the handshake
		{"MAIL": "999 what"},
	} {
		t.Run(fmt.Sprint(fail), func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{Fail: fail})
			err := newSender(t, srv.SMTPConfig()).Send(context.Background(), verification(t, "ada@example.com"))
			if _, ok := fail["greeting"]; ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			t.Log(err)
			require.False(t, errors.Is(err, mail.ErrInvalidMessage))
		})
	}
}

// withFinalNewline is a body as received: the sender ends the last line.
func withFinalNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}
