// Package mailtest runs a real SMTP server inside a test: EHLO/HELO, STARTTLS
// and implicit TLS with a certificate made in-process, AUTH PLAIN and LOGIN,
// MAIL/RCPT/DATA/RSET/NOOP/QUIT and a size limit. It parses what it receives
// and lets a test wait for the next message to an address:
//
//	srv := mailtest.Start(t, mailtest.Options{Username: "u", Password: "p"})
//	sender := srv.Sender(t) // or mail.NewSMTPSender(srv.SMTPConfig()) to adjust the config
//	... // the code under test sends a verification mail to ada@example.com through sender
//	link := srv.WaitFor(t, "ada@example.com").Link()
//
// It can also misbehave on purpose: refuse a command (Options.Fail) or stop
// answering (Options.Stall).
package mailtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authbus/authbus/services/core/internal/mail"
)

// Options configures a Server. The zero value offers STARTTLS, no AUTH, a
// 10 MiB size limit and waits up to 10 s in WaitFor.
type Options struct {
	// Username and Password, when set, are the only accepted credentials and
	// AUTH is required before MAIL. Default: no AUTH.
	Username, Password string
	// AuthMechanisms are the mechanisms advertised, of PLAIN and LOGIN. Default: PLAIN LOGIN.
	AuthMechanisms []string
	// ImplicitTLS speaks TLS from the first byte, like port 465. Default: false.
	ImplicitTLS bool
	// DisableSTARTTLS stops offering STARTTLS. Default: false (offered).
	DisableSTARTTLS bool
	// AllowInsecureAuth offers AUTH before TLS. Default: false (AUTH only over TLS).
	AllowInsecureAuth bool
	// MaxSize is the SIZE limit in bytes, advertised and enforced. Default: 10 MiB.
	MaxSize int64
	// Stall makes the server stop answering until it is closed: "greeting"
	// (never greet), a command verb such as "MAIL" or "DATA" (read it, never
	// reply), or "." (read the whole message, never reply). Default: "".
	Stall string
	// Fail maps a command verb (or "greeting", or "." for the end of DATA) to
	// the reply sent instead of the normal one, e.g. {"RCPT": "550 5.1.1 no such user"}.
	Fail map[string]string
	// WaitTimeout bounds WaitFor. Default: 10s.
	WaitTimeout time.Duration
}

// Server is a running SMTP server; Start stops it when the test ends.
type Server struct {
	opts     Options
	ln       net.Listener
	tls      *tls.Config
	pool     *x509.CertPool
	done     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once

	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	messages   []*Message
	claimed    []bool
	arrived    chan struct{} // closed and replaced whenever a message arrives
	transcript []string
}

// Start starts a server on 127.0.0.1 on a free port and stops it in t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.MaxSize == 0 {
		opts.MaxSize = 10 << 20
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = 10 * time.Second
	}
	if len(opts.AuthMechanisms) == 0 {
		opts.AuthMechanisms = []string{"PLAIN", "LOGIN"}
	}
	cert, pool, err := selfSigned()
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s := &Server{
		opts:    opts,
		ln:      ln,
		tls:     &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		pool:    pool,
		done:    make(chan struct{}),
		conns:   map[net.Conn]struct{}{},
		arrived: make(chan struct{}),
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// CertPool trusts the server's self-signed certificate (valid for 127.0.0.1 and localhost).
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// SMTPConfig returns a client configuration that reaches this server: its
// credentials, a TLS mode matching Options, its certificate trusted, 5 s timeouts.
func (s *Server) SMTPConfig() mail.SMTPConfig {
	mode := mail.TLSStartTLS
	switch {
	case s.opts.ImplicitTLS:
		mode = mail.TLSImplicit
	case s.opts.DisableSTARTTLS:
		mode = mail.TLSNone
	}
	return mail.SMTPConfig{
		Host:           "127.0.0.1",
		Port:           s.Port(),
		Username:       s.opts.Username,
		Password:       s.opts.Password,
		From:           "no-reply@authbus.test",
		FromName:       "authbus test",
		TLS:            mode,
		HeloName:       "client.authbus.test",
		DialTimeout:    5 * time.Second,
		CommandTimeout: 5 * time.Second,
		RootCAs:        s.pool,
	}
}

// Sender returns an SMTP sender configured by SMTPConfig.
func (s *Server) Sender(t testing.TB) *mail.SMTPSender {
	t.Helper()
	sender, err := mail.NewSMTPSender(s.SMTPConfig())
	if err != nil {
		t.Fatalf("mailtest: sender: %v", err)
	}
	return sender
}

// Messages returns every message received so far, in arrival order.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.messages...)
}

// Transcript returns the command lines received so far, AUTH data redacted.
func (s *Server) Transcript() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.transcript...)
}

// Next waits for the first message to `to` (any recipient when empty) that no
// Next or WaitFor call has returned yet.
func (s *Server) Next(ctx context.Context, to string) (*Message, error) {
	for {
		s.mu.Lock()
		for i, m := range s.messages {
			if !s.claimed[i] && (to == "" || hasRecipient(m, to)) {
				s.claimed[i] = true
				s.mu.Unlock()
				return m, nil
			}
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, errors.New("mailtest: server closed")
		}
	}
}

// WaitFor returns the next message to `to` (see Next), failing the test if
// none arrives within Options.WaitTimeout or if it cannot be parsed.
func (s *Server) WaitFor(t testing.TB, to string) *Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.WaitTimeout)
	defer cancel()
	m, err := s.Next(ctx, to)
	if err != nil {
		var got []string
		for _, m := range s.Messages() {
			got = append(got, strings.Join(m.To, ","))
		}
		t.Fatalf("mailtest: no new message to %q within %s (%v); received so far for: %q", to, s.opts.WaitTimeout, err, got)
	}
	if m.Err != nil {
		t.Fatalf("mailtest: message to %q: %v\n%s", to, m.Err, m.Raw)
	}
	return m
}

// Close stops the server, drops every connection and waits for its goroutines.
func (s *Server) Close() {
	s.stopOnce.Do(func() {
		close(s.done)
		_ = s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

func hasRecipient(m *Message, to string) bool {
	for _, r := range m.To {
		if strings.EqualFold(r, to) {
			return true
		}
	}
	return false
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			_ = conn.Close()
			return
		default:
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
				_ = conn.Close()
			}()
			(&conversation{srv: s}).run(conn)
		}()
	}
}

func (s *Server) record(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transcript = append(s.transcript, line)
}

func (s *Server) deliver(m *Message) {
	parseMessage(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	s.claimed = append(s.claimed, false)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// conversation is the state of one SMTP connection.
type conversation struct {
	srv    *Server
	conn   net.Conn
	r      *bufio.Reader
	isTLS  bool
	helo   bool
	user   string
	from   string
	rcpts  []string
	closed bool
}

// commandTimeout keeps a forgotten client from holding a goroutine forever.
const commandTimeout = 30 * time.Second

func (c *conversation) run(conn net.Conn) {
	s := c.srv
	if s.opts.ImplicitTLS {
		tc := tls.Server(conn, s.tls)
		_ = conn.SetDeadline(time.Now().Add(commandTimeout))
		if err := tc.Handshake(); err != nil {
			return
		}
		conn, c.isTLS = tc, true
	}
	c.setConn(conn)
	if c.stall("greeting") {
		return
	}
	if !c.fail("greeting") {
		c.reply("220 mailtest ESMTP ready")
	}
	for !c.closed {
		_ = c.conn.SetDeadline(time.Now().Add(commandTimeout))
		line, err := c.readLine()
		if errors.Is(err, errLineTooLong) {
			c.reply("500 5.5.6 line too long")
			continue
		}
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if verb == "AUTH" {
			mech, _, _ := strings.Cut(arg, " ")
			s.record("AUTH " + mech + " [redacted]")
		} else {
			s.record(line)
		}
		if c.stall(verb) || c.fail(verb) {
			continue
		}
		c.handle(verb, arg)
	}
}

func (c *conversation) setConn(conn net.Conn) {
	c.conn = conn
	c.r = bufio.NewReaderSize(conn, 64<<10)
}

// stall blocks until the server closes when point is Options.Stall.
func (c *conversation) stall(point string) bool {
	if !strings.EqualFold(c.srv.opts.Stall, point) {
		return false
	}
	_ = c.conn.SetDeadline(time.Time{})
	<-c.srv.done
	c.closed = true
	return true
}

// fail sends the configured refusal for point, if any.
func (c *conversation) fail(point string) bool {
	for k, v := range c.srv.opts.Fail {
		if strings.EqualFold(k, point) {
			c.reply(v)
			if point == "greeting" && !strings.HasPrefix(v, "2") {
				c.closed = true
			}
			return true
		}
	}
	return false
}

func (c *conversation) reply(lines ...string) {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	_, _ = c.conn.Write([]byte(b.String()))
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line without its line ending. A line longer than the
// buffer is read to its end and discarded, and errLineTooLong returned.
func (c *conversation) readLine() (string, error) {
	line, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = c.r.ReadSlice('\n')
		}
		if err == nil {
			err = errLineTooLong
		}
		return "", err
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func (c *conversation) authOffered() bool {
	return c.srv.opts.Username != "" && (c.isTLS || c.srv.opts.AllowInsecureAuth)
}

func (c *conversation) handle(verb, arg string) {
	s := c.srv
	switch verb {
	case "EHLO":
		c.helo, c.user, c.from, c.rcpts = true, "", "", nil
		lines := []string{"mailtest greets " + arg, "SIZE " + strconv.FormatInt(s.opts.MaxSize, 10), "8BITMIME"}
		if !c.isTLS && !s.opts.DisableSTARTTLS {
			lines = append(lines, "STARTTLS")
		}
		if c.authOffered() {
			lines = append(lines, "AUTH "+strings.Join(s.opts.AuthMechanisms, " "))
		}
		lines = append(lines, "ENHANCEDSTATUSCODES")
		for i := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			lines[i] = "250" + sep + lines[i]
		}
		c.reply(lines...)
	case "HELO":
		c.helo, c.user, c.from, c.rcpts = true, "", "", nil
		c.reply("250 mailtest")
	case "STARTTLS":
		if c.isTLS || s.opts.DisableSTARTTLS {
			c.reply("502 5.5.1 STARTTLS not available")
			return
		}
		c.reply("220 2.0.0 ready to start TLS")
		tc := tls.Server(c.conn, s.tls)
		if err := tc.Handshake(); err != nil {
			c.closed = true
			return
		}
		c.setConn(tc)
		c.isTLS, c.helo, c.user, c.from, c.rcpts = true, false, "", "", nil
	case "AUTH":
		c.auth(arg)
	case "MAIL":
		switch {
		case !c.helo:
			c.reply("503 5.5.1 EHLO first")
		case s.opts.Username != "" && c.user == "":
			c.reply("530 5.7.0 authentication required")
		case c.from != "":
			c.reply("503 5.5.1 nested MAIL")
		default:
			addr, params, ok := path(arg, "FROM:")
			if !ok {
				c.reply("501 5.5.4 syntax: MAIL FROM:<address>")
				return
			}
			for _, p := range params {
				if k, v, _ := strings.Cut(p, "="); strings.EqualFold(k, "SIZE") {
					if n, err := strconv.ParseInt(v, 10, 64); err != nil || n > s.opts.MaxSize {
						c.reply("552 5.3.4 message size exceeds fixed maximum message size")
						return
					}
				}
			}
			c.from = addr
			c.reply("250 2.1.0 OK")
		}
	case "RCPT":
		if c.from == "" {
			c.reply("503 5.5.1 MAIL first")
			return
		}
		addr, _, ok := path(arg, "TO:")
		if !ok || addr == "" {
			c.reply("501 5.5.4 syntax: RCPT TO:<address>")
			return
		}
		c.rcpts = append(c.rcpts, addr)
		c.reply("250 2.1.5 OK")
	case "DATA":
		if len(c.rcpts) == 0 {
			c.reply("503 5.5.1 RCPT first")
			return
		}
		c.reply("354 end data with <CR><LF>.<CR><LF>")
		c.data()
	case "RSET":
		c.from, c.rcpts = "", nil
		c.reply("250 2.0.0 OK")
	case "NOOP":
		c.reply("250 2.0.0 OK")
	case "QUIT":
		c.reply("221 2.0.0 bye")
		c.closed = true
	default:
		c.reply("502 5.5.2 command not recognized")
	}
}

func (c *conversation) auth(arg string) {
	s := c.srv
	if !c.authOffered() {
		if s.opts.Username != "" {
			c.reply("530 5.7.0 must issue a STARTTLS command first")
		} else {
			c.reply("502 5.5.1 AUTH not available")
		}
		return
	}
	if c.user != "" {
		c.reply("503 5.5.1 already authenticated")
		return
	}
	mech, initial, _ := strings.Cut(arg, " ")
	mech = strings.ToUpper(mech)
	offered := false
	for _, m := range s.opts.AuthMechanisms {
		offered = offered || strings.EqualFold(m, mech)
	}
	if !offered {
		c.reply("504 5.5.4 unrecognized authentication type")
		return
	}
	var user, pass string
	switch mech {
	case "PLAIN":
		if initial == "" {
			c.reply("334 ")
			var ok bool
			if initial, ok = c.challengeAnswer(); !ok {
				return
			}
		}
		raw, err := base64.StdEncoding.DecodeString(initial)
		parts := strings.Split(string(raw), "\x00")
		if err != nil || len(parts) != 3 {
			c.reply("501 5.5.2 malformed AUTH PLAIN response")
			return
		}
		user, pass = parts[1], parts[2]
	case "LOGIN":
		var ok bool
		c.reply("334 " + base64.StdEncoding.EncodeToString([]byte("Username:")))
		if user, ok = c.decodedAnswer(); !ok {
			return
		}
		c.reply("334 " + base64.StdEncoding.EncodeToString([]byte("Password:")))
		if pass, ok = c.decodedAnswer(); !ok {
			return
		}
	}
	if user != s.opts.Username || pass != s.opts.Password {
		c.reply("535 5.7.8 authentication credentials invalid")
		return
	}
	c.user = user
	c.reply("235 2.7.0 authentication successful")
}

// challengeAnswer reads the client's line after a 334 challenge; "*" cancels.
func (c *conversation) challengeAnswer() (string, bool) {
	line, err := c.readLine()
	if err != nil {
		c.closed = true
		return "", false
	}
	if line == "*" {
		c.reply("501 5.0.0 authentication cancelled")
		return "", false
	}
	return line, true
}

func (c *conversation) decodedAnswer() (string, bool) {
	line, ok := c.challengeAnswer()
	if !ok {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(line)
	if err != nil {
		c.reply("501 5.5.2 malformed base64")
		return "", false
	}
	return string(b), true
}

// data reads a dot-terminated message, keeping at most MaxSize bytes; a
// longer message is read to its end (to stay in step) and refused.
func (c *conversation) data() {
	s := c.srv
	var body bytes.Buffer
	tooBig, atLineStart := false, true
	for {
		chunk, err := c.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			c.closed = true
			return
		}
		if atLineStart && err == nil && (string(chunk) == ".\r\n" || string(chunk) == ".\n") {
			break
		}
		if atLineStart && chunk[0] == '.' {
			chunk = chunk[1:]
		}
		atLineStart = err == nil
		if int64(body.Len()+len(chunk)) > s.opts.MaxSize {
			tooBig = true
			continue
		}
		body.Write(chunk)
	}
	if c.stall(".") || c.fail(".") {
		c.from, c.rcpts = "", nil
		return
	}
	if tooBig {
		c.from, c.rcpts = "", nil
		c.reply("552 5.3.4 message size exceeds fixed maximum message size")
		return
	}
	s.deliver(&Message{From: c.from, To: c.rcpts, TLS: c.isTLS, AuthUser: c.user, Raw: body.Bytes()})
	c.from, c.rcpts = "", nil
	c.reply("250 2.0.0 OK queued")
}

// path parses "FROM:<addr> PARAM=V ..." (prefix "FROM:" or "TO:").
func path(arg, prefix string) (string, []string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	fields := strings.Fields(strings.TrimSpace(arg[len(prefix):]))
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "<") || !strings.HasSuffix(fields[0], ">") {
		return "", nil, false
	}
	return fields[0][1 : len(fields[0])-1], fields[1:], true
}

// selfSigned makes a throwaway ECDSA certificate for 127.0.0.1, ::1 and localhost.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mailtest"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool, nil
}
