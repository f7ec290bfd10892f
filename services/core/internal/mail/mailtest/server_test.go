package mailtest

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// client is a raw SMTP client for driving the server command by command.
type client struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func dial(t *testing.T, srv *Server) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	t.Cleanup(func() { _ = conn.Close() })
	c := &client{t: t, conn: conn, tp: textproto.NewConn(conn)}
	c.expect(220)
	return c
}

// do sends a line and returns the reply code and text.
func (c *client) do(line string) (int, string) {
	c.t.Helper()
	require.NoError(c.t, c.tp.PrintfLine("%s", line))
	code, msg, err := c.tp.ReadResponse(0)
	require.NoError(c.t, err)
	return code, msg
}

func (c *client) expect(code int) string {
	c.t.Helper()
	got, msg, err := c.tp.ReadResponse(0)
	require.NoError(c.t, err)
	require.Equal(c.t, code, got, msg)
	return msg
}

func (c *client) startTLS(srv *Server) {
	c.t.Helper()
	code, _ := c.do("STARTTLS")
	require.Equal(c.t, 220, code)
	tc := tls.Client(c.conn, &tls.Config{RootCAs: srv.CertPool(), ServerName: "127.0.0.1"})
	require.NoError(c.t, tc.Handshake())
	c.conn, c.tp = tc, textproto.NewConn(tc)
}

func (c *client) send(from, to string, body string) int {
	c.t.Helper()
	code, _ := c.do("MAIL FROM:<" + from + ">")
	require.Equal(c.t, 250, code)
	code, _ = c.do("RCPT TO:<" + to + ">")
	require.Equal(c.t, 250, code)
	code, _ = c.do("DATA")
	require.Equal(c.t, 354, code)
	w := c.tp.DotWriter()
	_, err := w.Write([]byte(body))
	require.NoError(c.t, err)
	require.NoError(c.t, w.Close())
	code, _, err = c.tp.ReadResponse(0)
	require.NoError(c.t, err)
	return code
}

const simpleMessage = "Subject: hi\r\nContent-Type: text/plain\r\n\r\nvisit https://example.com/a?b=1&c=2 now\r\n"

func TestAuthPlainWithoutInitialResponse(t *testing.T) {
	srv := Start(t, Options{Username: "u", Password: "p"})
	c := dial(t, srv)
	c.do("EHLO test")
	c.startTLS(srv)
	_, ext := c.do("EHLO test")
	require.Contains(t, ext, "AUTH PLAIN LOGIN")
	require.NotContains(t, ext, "STARTTLS", "not offered twice")

	code, _ := c.do("AUTH PLAIN")
	require.Equal(t, 334, code)
	code, _ = c.do(base64.StdEncoding.EncodeToString([]byte("\x00u\x00p")))
	require.Equal(t, 235, code)
	require.Equal(t, 250, c.send("a@example.com", "b@example.com", simpleMessage))

	m := srv.WaitFor(t, "b@example.com")
	require.Equal(t, "u", m.AuthUser)
	require.True(t, m.TLS)
	require.Contains(t, srv.Transcript(), "AUTH PLAIN [redacted]")
	for _, l := range srv.Transcript() {
		require.NotContains(t, l, base64.StdEncoding.EncodeToString([]byte("\x00u\x00p")))
	}
}

func TestServerRefusals(t *testing.T) {
	t.Run("auth before tls", func(t *testing.T) {
		srv := Start(t, Options{Username: "u", Password: "p"})
		c := dial(t, srv)
		_, ext := c.do("EHLO test")
		require.NotContains(t, ext, "AUTH", "AUTH is only offered over TLS")
		code, _ := c.do("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00u\x00p")))
		require.Equal(t, 530, code)
		code, _ = c.do("MAIL FROM:<a@example.com>")
		require.Equal(t, 530, code, "authentication required")
	})
	t.Run("cancelled auth login", func(t *testing.T) {
		srv := Start(t, Options{Username: "u", Password: "p", AllowInsecureAuth: true})
		c := dial(t, srv)
		c.do("EHLO test")
		code, _ := c.do("AUTH LOGIN")
		require.Equal(t, 334, code)
		code, _ = c.do("*")
		require.Equal(t, 501, code)
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		srv := Start(t, Options{Username: "u", Password: "p", AllowInsecureAuth: true, AuthMechanisms: []string{"LOGIN"}})
		c := dial(t, srv)
		c.do("EHLO test")
		code, _ := c.do("AUTH PLAIN AHUAcA==")
		require.Equal(t, 504, code)
	})
	t.Run("sequence errors", func(t *testing.T) {
		srv := Start(t, Options{})
		c := dial(t, srv)
		code, _ := c.do("MAIL FROM:<a@example.com>")
		require.Equal(t, 503, code, "EHLO first")
		c.do("HELO test")
		code, _ = c.do("RCPT TO:<b@example.com>")
		require.Equal(t, 503, code, "MAIL first")
		code, _ = c.do("DATA")
		require.Equal(t, 503, code, "RCPT first")
		code, _ = c.do("MAIL FROM:a@example.com")
		require.Equal(t, 501, code, "angle brackets required")
		code, _ = c.do("VRFY root")
		require.Equal(t, 502, code)
		code, _ = c.do("NOOP")
		require.Equal(t, 250, code)
	})
	t.Run("rset forgets the envelope", func(t *testing.T) {
		srv := Start(t, Options{})
		c := dial(t, srv)
		c.do("EHLO test")
		c.do("MAIL FROM:<a@example.com>")
		c.do("RCPT TO:<b@example.com>")
		code, _ := c.do("RSET")
		require.Equal(t, 250, code)
		code, _ = c.do("DATA")
		require.Equal(t, 503, code)
		require.Equal(t, 250, c.send("a@example.com", "c@example.com", simpleMessage))
		code, _ = c.do("QUIT")
		require.Equal(t, 221, code)
		require.Equal(t, []string{"c@example.com"}, srv.WaitFor(t, "c@example.com").To)
	})
	t.Run("size limit", func(t *testing.T) {
		srv := Start(t, Options{MaxSize: 100})
		c := dial(t, srv)
		_, ext := c.do("EHLO test")
		require.Contains(t, ext, "SIZE 100")
		code, _ := c.do("MAIL FROM:<a@example.com> SIZE=101")
		require.Equal(t, 552, code)
		code = c.send("a@example.com", "b@example.com", "Subject: x\r\n\r\n"+strings.Repeat("y", 200)+"\r\n")
		require.Equal(t, 552, code)
		require.Equal(t, 250, c.send("a@example.com", "b@example.com", "Subject: x\r\n\r\nsmall\r\n"), "still in step after a refused message")
		require.Len(t, srv.Messages(), 1)
	})
	t.Run("line too long", func(t *testing.T) {
		srv := Start(t, Options{})
		c := dial(t, srv)
		require.NoError(t, c.tp.PrintfLine("%s", "NOOP "+strings.Repeat("x", 70<<10)))
		code, _, err := c.tp.ReadResponse(0)
		require.NoError(t, err)
		require.Equal(t, 500, code)
	})
}

func TestWaitForClaimsMessagesInOrder(t *testing.T) {
	srv := Start(t, Options{})
	c := dial(t, srv)
	c.do("EHLO test")
	for _, to := range []string{"a@example.com", "b@example.com", "a@example.com"} {
		require.Equal(t, 250, c.send("x@example.com", to, "Subject: to "+to+"\r\n\r\nbody\r\n"))
	}
	first := srv.WaitFor(t, "A@example.com")
	second := srv.WaitFor(t, "a@example.com")
	require.NotSame(t, first, second)
	require.Equal(t, "to a@example.com", first.Subject)
	require.Equal(t, "b@example.com", srv.WaitFor(t, "").To[0], "empty address: any recipient")
	require.Len(t, srv.Messages(), 3)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := srv.Next(ctx, "a@example.com")
	require.ErrorIs(t, err, context.DeadlineExceeded, "every message to a@ was claimed")
}

func TestNextWakesUpOnArrival(t *testing.T) {
	srv := Start(t, Options{})
	got := make(chan *Message, 1)
	go func() {
		m, err := srv.Next(context.Background(), "late@example.com")
		if err == nil {
			got <- m
		}
		close(got)
	}()
	c := dial(t, srv)
	c.do("EHLO test")
	require.Equal(t, 250, c.send("x@example.com", "late@example.com", simpleMessage))
	m, ok := <-got
	require.True(t, ok)
	require.Equal(t, "https://example.com/a?b=1&c=2", m.Link())
}

func TestMessageParsing(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		subject   string
		text      string
		html      string
		links     []string
		wantError string
	}{
		{
			name:    "base64 html only with entity-escaped link",
			raw:     "Subject: =?utf-8?b?w4lsw6h2ZQ==?=\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte(`<a href="https://x.test/r?a=1&amp;b=2">go</a>`)) + "\r\n",
			subject: "Élève",
			html:    `<a href="https://x.test/r?a=1&amp;b=2">go</a>`,
			links:   []string{"https://x.test/r?a=1&b=2"},
		},
		{
			name: "nested multipart/mixed with alternative",
			raw: "Subject: nested\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n" +
				"Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsee https://x.test/=\r\nlong\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--inner--\r\n" +
				"--outer--\r\n",
			subject: "nested",
			text:    "see https://x.test/long",
			html:    "<p>x</p>",
			links:   []string{"https://x.test/long"},
		},
		{
			name:    "no content type is text/plain",
			raw:     "Subject: plain\r\n\r\nhttp://a.test/1 and http://b.test/2\r\n",
			subject: "plain",
			text:    "http://a.test/1 and http://b.test/2\n",
			links:   []string{"http://a.test/1", "http://b.test/2"},
		},
		{
			name:      "unknown transfer encoding",
			raw:       "Subject: x\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbody\r\n",
			wantError: "unknown transfer encoding",
		},
		{
			name:      "broken header",
			raw:       "this is not a header\r\n",
			wantError: "parse header",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &Message{Raw: []byte(tc.raw)}
			parseMessage(m)
			if tc.wantError != "" {
				require.ErrorContains(t, m.Err, tc.wantError)
				return
			}
			require.NoError(t, m.Err)
			require.Equal(t, tc.subject, m.Subject)
			require.Equal(t, tc.text, m.Text)
			require.Equal(t, tc.html, m.HTML)
			require.Equal(t, tc.links, m.Links())
			require.Equal(t, tc.links[0], m.Link())
		})
	}
	require.Empty(t, (&Message{Text: "no links here"}).Link())
}

func TestStallReleasedByClose(t *testing.T) {
	srv := Start(t, Options{Stall: "greeting"})
	conn, err := net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	defer conn.Close()
	require.Eventually(t, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns) == 1
	}, 5*time.Second, time.Millisecond)
	srv.Close() // returns only once the stalled goroutine has ended
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = conn.Read(make([]byte, 1))
	require.Error(t, err, "the server closed the stalled connection")
}
