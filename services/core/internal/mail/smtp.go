package mail

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
)

// maxReplyBytes bounds what one connection may read from the server (per TLS
// state): greetings and EHLO lists are a few hundred bytes.
const maxReplyBytes = 64 << 10

// SMTPError is a reply by which the server refused a command.
type SMTPError struct {
	// Command is the refused command's verb (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA) or "greeting".
	Command string
	// Code is the three-digit reply code.
	Code int
	// Message is the reply text (lines joined with "; ").
	Message string
}

// Error implements error.
func (e *SMTPError) Error() string {
	return fmt.Sprintf("%s: server replied %d %s", e.Command, e.Code, e.Message)
}

// Temporary reports a 4xx reply: the same message may succeed later.
func (e *SMTPError) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// SMTPSender delivers each message over its own SMTP connection.
type SMTPSender struct {
	cfg  SMTPConfig
	addr string
	from mail.Address
	tls  *tls.Config
}

// NewSMTPSender checks cfg (see SMTPConfig.Validate), loads CAFile and returns a sender.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tc := &tls.Config{
		ServerName:         cfg.Host,
		MinVersion:         tls.VersionTLS12,
		RootCAs:            cfg.RootCAs,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
	}
	if cfg.CAFile != "" && cfg.RootCAs == nil {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp config: ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp config: ca file: %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return &SMTPSender{
		cfg:  cfg,
		addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		from: mail.Address{Name: cfg.FromName, Address: cfg.From},
		tls:  tc,
	}, nil
}

// Send delivers m. Errors wrap ErrInvalidMessage, ErrMessageTooLarge, an
// *SMTPError, or ctx's error when ctx ended first.
func (s *SMTPSender) Send(ctx context.Context, m contracts.Email) error {
	if err := CheckMessage(m); err != nil {
		return err
	}
	msg, err := buildMessage(newEnvelope(s.from, time.Now()), m)
	if err != nil {
		return err
	}
	if int64(len(msg)) > s.cfg.MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes exceeds the configured %d", ErrMessageTooLarge, len(msg), s.cfg.MaxMessageBytes)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	if err := s.deliver(ctx, m.To, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	return nil
}

func (s *SMTPSender) deliver(ctx context.Context, to string, msg []byte) error {
	dialCtx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dialCtx, "tcp", s.addr)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return fmt.Errorf("connect: %w", ctx.Err())
	case dialCtx.Err() != nil:
		return fmt.Errorf("connect: no connection within %s: %w", s.cfg.DialTimeout, dialCtx.Err())
	default:
		return fmt.Errorf("connect: %w", err)
	}
	c := &session{ctx: ctx, timeout: s.cfg.CommandTimeout}
	c.use(conn)
	defer c.close()
	stop := context.AfterFunc(ctx, c.abort)
	defer stop()

	if s.cfg.TLS == TLSImplicit {
		if err := c.startTLS(dialCtx, s.tls); err != nil {
			return err
		}
	}
	if _, err := c.reply(220, "greeting"); err != nil {
		return err
	}
	if err := c.hello(s.cfg.HeloName, s.cfg.TLS == TLSNone && s.cfg.Username == ""); err != nil {
		return err
	}
	if s.cfg.TLS == TLSStartTLS {
		if _, ok := c.ext["STARTTLS"]; !ok {
			return errors.New("server does not offer STARTTLS; refusing to continue in clear text (TLS mode \"none\" allows it)")
		}
		if _, err := c.cmd(220, "STARTTLS", "STARTTLS"); err != nil {
			return err
		}
		// Bytes the server sent before the handshake would be read as if they had
		// come over TLS (STARTTLS command injection).
		if c.r.R.Buffered() > 0 {
			return errors.New("starttls: server sent data before the TLS handshake")
		}
		hsCtx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
		defer cancel()
		if err := c.startTLS(hsCtx, s.tls); err != nil {
			return err
		}
		if err := c.hello(s.cfg.HeloName, false); err != nil {
			return err
		}
	}
	if s.cfg.Username != "" {
		if !c.encrypted && s.cfg.TLS != TLSNone {
			return errors.New("auth: refusing to send credentials over an unencrypted connection")
		}
		if err := c.auth(s.cfg.Username, s.cfg.Password); err != nil {
			return err
		}
	}

	mailFrom := "MAIL FROM:<" + s.from.Address + ">"
	if v, ok := c.ext["SIZE"]; ok {
		if limit, err := strconv.ParseInt(v, 10, 64); err == nil && limit > 0 && int64(len(msg)) > limit {
			return fmt.Errorf("%w: %d bytes exceeds the server's limit of %d", ErrMessageTooLarge, len(msg), limit)
		}
		mailFrom += " SIZE=" + strconv.Itoa(len(msg))
	}
	if _, err := c.cmd(250, "MAIL", "%s", mailFrom); err != nil {
		return err
	}
	if _, err := c.cmd(250, "RCPT", "RCPT TO:<%s>", to); err != nil {
		return err
	}
	if _, err := c.cmd(354, "DATA", "DATA"); err != nil {
		return err
	}
	if err := c.data(msg); err != nil {
		return err
	}
	// The message is accepted; a failed QUIT changes nothing.
	_, _ = c.cmd(221, "QUIT", "QUIT")
	return nil
}

// session is one SMTP conversation. Every read and write runs under a deadline
// of now+timeout or ctx's deadline, whichever is first; when ctx is cancelled,
// abort moves the deadline into the past so a blocked call returns at once.
type session struct {
	ctx     context.Context
	timeout time.Duration

	mu      sync.Mutex
	conn    net.Conn
	aborted bool

	r         *textproto.Reader
	w         *textproto.Writer
	ext       map[string]string
	encrypted bool
}

func (c *session) use(conn net.Conn) {
	c.mu.Lock()
	c.conn = conn
	aborted := c.aborted
	c.mu.Unlock()
	if aborted {
		_ = conn.SetDeadline(time.Unix(1, 0))
	}
	c.r = textproto.NewReader(bufio.NewReader(io.LimitReader(conn, maxReplyBytes)))
	c.w = textproto.NewWriter(bufio.NewWriter(conn))
}

func (c *session) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborted = true
	_ = c.conn.SetDeadline(time.Unix(1, 0))
}

func (c *session) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.conn.Close()
}

// arm sets the deadline for the next exchange.
func (c *session) arm() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		return c.ctx.Err()
	}
	d := time.Now().Add(c.timeout)
	if cd, ok := c.ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return c.conn.SetDeadline(d)
}

// fail describes err from step, preferring ctx's error when ctx ended.
func (c *session) fail(step string, err error) error {
	var te *textproto.Error
	switch {
	case errors.As(err, &te):
		return &SMTPError{Command: step, Code: te.Code, Message: strings.ReplaceAll(te.Msg, "\n", "; ")}
	case c.ctxErr() != nil:
		return fmt.Errorf("%s: %w", strings.ToLower(step), c.ctxErr())
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%s: no reply within %s: %w", strings.ToLower(step), c.timeout, err)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%s: connection closed by server (or reply longer than %d bytes): %w", strings.ToLower(step), maxReplyBytes, err)
	default:
		return fmt.Errorf("%s: %w", strings.ToLower(step), err)
	}
}

// ctxErr is ctx's error, or DeadlineExceeded once ctx's deadline has passed:
// the connection deadline set from it may fire before ctx's own timer does.
func (c *session) ctxErr() error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if d, ok := c.ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// reply reads one reply and expects its code (a single digit checks only the class).
func (c *session) reply(expect int, step string) (string, error) {
	if err := c.arm(); err != nil {
		return "", c.fail(step, err)
	}
	_, msg, err := c.r.ReadResponse(expect)
	if err != nil {
		return "", c.fail(step, err)
	}
	return msg, nil
}

// cmd sends one command line and reads its reply. step names the command in
// errors; the line itself (credentials) is never part of an error.
func (c *session) cmd(expect int, step, format string, args ...any) (string, error) {
	if err := c.arm(); err != nil {
		return "", c.fail(step, err)
	}
	if err := c.w.PrintfLine(format, args...); err != nil {
		return "", c.fail(step, err)
	}
	return c.reply(expect, step)
}

// hello sends EHLO and records the extensions; with heloFallback a server that
// does not know EHLO is greeted with HELO (no extensions are needed then).
func (c *session) hello(name string, heloFallback bool) error {
	msg, err := c.cmd(250, "EHLO", "EHLO %s", name)
	var se *SMTPError
	if err != nil && heloFallback && errors.As(err, &se) && (se.Code == 500 || se.Code == 502) {
		c.ext = map[string]string{}
		_, err = c.cmd(250, "HELO", "HELO %s", name)
		return err
	}
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

func (c *session) startTLS(ctx context.Context, cfg *tls.Config) error {
	if err := c.arm(); err != nil {
		return c.fail("TLS handshake", err)
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return c.fail("TLS handshake", err)
	}
	c.use(tc)
	c.encrypted = true
	return nil
}

func (c *session) auth(user, pass string) error {
	v, ok := c.ext["AUTH"]
	if !ok {
		return errors.New("auth: server does not offer AUTH but a username is configured")
	}
	mechs := strings.Fields(strings.ToUpper(v))
	b64 := base64.StdEncoding.EncodeToString
	var err error
	switch {
	case contains(mechs, "PLAIN"):
		_, err = c.cmd(235, "AUTH", "AUTH PLAIN %s", b64([]byte("\x00"+user+"\x00"+pass)))
	case contains(mechs, "LOGIN"):
		if _, err = c.cmd(334, "AUTH", "AUTH LOGIN"); err == nil {
			if _, err = c.cmd(334, "AUTH", "%s", b64([]byte(user))); err == nil {
				_, err = c.cmd(235, "AUTH", "%s", b64([]byte(pass)))
			}
		}
	default:
		return fmt.Errorf("auth: server offers %q, none of PLAIN, LOGIN", v)
	}
	if err != nil {
		return fmt.Errorf("authentication as %q failed: %w", user, err)
	}
	return nil
}

func (c *session) data(msg []byte) error {
	if err := c.arm(); err != nil {
		return c.fail("DATA", err)
	}
	dw := c.w.DotWriter()
	if _, err := dw.Write(msg); err != nil {
		return c.fail("DATA", err)
	}
	if err := dw.Close(); err != nil {
		return c.fail("DATA", err)
	}
	_, err := c.reply(250, "DATA")
	return err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
