package mail

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"
)

// TLSMode says how the SMTP connection is protected.
type TLSMode string

const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS before
	// anything else; a server that does not offer STARTTLS is refused.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, usually port 465).
	TLSImplicit TLSMode = "tls"
	// TLSNone never encrypts. Credentials, if any, then cross the network in
	// clear text; only choose it for a relay on a trusted link.
	TLSNone TLSMode = "none"
)

// Defaults applied to zero SMTPConfig fields.
const (
	// DefaultSubmissionPort is the port for TLS modes starttls and none (RFC 6409).
	DefaultSubmissionPort = 587
	// DefaultSMTPSPort is the port for implicit TLS (RFC 8314).
	DefaultSMTPSPort = 465
	// DefaultDialTimeout bounds connecting and the TLS handshake.
	DefaultDialTimeout = 10 * time.Second
	// DefaultCommandTimeout bounds each command and its reply.
	DefaultCommandTimeout = 30 * time.Second
	// DefaultMaxMessageBytes is the largest message sent.
	DefaultMaxMessageBytes = 1 << 20

	minMaxMessageBytes = 4 << 10
)

// SMTPConfig configures SMTPSender. It is meant to be a field of a service's
// envconfig struct: a field SMTP tagged envconfig:"SMTP" reads AUTHBUS_SMTP_HOST,
// AUTHBUS_SMTP_PORT, and so on.
type SMTPConfig struct {
	// Host is the SMTP server's name or IP address. Required; no default.
	Host string `envconfig:"HOST"`
	// Port is the server's TCP port. Default: 587, or 465 when TLS is "tls".
	Port int `envconfig:"PORT"`
	// Username for SMTP AUTH (PLAIN, else LOGIN). Default: empty, no AUTH.
	Username string `envconfig:"USERNAME"`
	// Password for SMTP AUTH; set together with Username. Default: empty.
	Password string `envconfig:"PASSWORD"`
	// From is the sender address (addr-spec only, e.g. no-reply@example.com). Required; no default.
	From string `envconfig:"FROM"`
	// FromName is the sender's display name, RFC 2047-encoded when not ASCII. Default: empty.
	FromName string `envconfig:"FROM_NAME"`
	// TLS is "starttls", "tls" (implicit) or "none". Default: "starttls".
	TLS TLSMode `envconfig:"TLS" default:"starttls"`
	// InsecureSkipVerify accepts any server certificate. Default: false. Never in production.
	InsecureSkipVerify bool `envconfig:"INSECURE_SKIP_VERIFY"`
	// CAFile is a PEM file of CA certificates trusted instead of the system roots. Default: empty (system roots).
	CAFile string `envconfig:"CA_FILE"`
	// HeloName is the name sent with EHLO. Default: this machine's host name, or "localhost".
	HeloName string `envconfig:"HELO_NAME"`
	// DialTimeout bounds connecting and the TLS handshake. Default: 10s.
	DialTimeout time.Duration `envconfig:"DIAL_TIMEOUT" default:"10s"`
	// CommandTimeout bounds each command and its reply, DATA included. Default: 30s.
	CommandTimeout time.Duration `envconfig:"COMMAND_TIMEOUT" default:"30s"`
	// MaxMessageBytes is the largest message this sender will transmit. Default: 1 MiB.
	MaxMessageBytes int64 `envconfig:"MAX_MESSAGE_BYTES" default:"1048576"`
	// RootCAs, set in code only (tests), replaces the system roots and CAFile. Default: nil.
	RootCAs *x509.CertPool `ignored:"true"`
}

// withDefaults returns c with every zero field set to its default.
func (c SMTPConfig) withDefaults() SMTPConfig {
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	if c.Port == 0 {
		c.Port = DefaultSubmissionPort
		if c.TLS == TLSImplicit {
			c.Port = DefaultSMTPSPort
		}
	}
	if c.HeloName == "" {
		c.HeloName = "localhost"
		if h, err := os.Hostname(); err == nil && validHeloName(h) {
			c.HeloName = h
		}
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = DefaultCommandTimeout
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	return c
}

// Validate reports every problem with c at once; zero fields count as their defaults.
func (c SMTPConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("smtp config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.Host == "":
		bad("host", "required")
	case hasControl(c.Host) || strings.ContainsAny(c.Host, " /"):
		bad("host", "%q is not a host name or address", c.Host)
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("port", "%d is outside 1-65535", c.Port)
	}
	if c.From == "" {
		bad("from", "required (e.g. no-reply@example.com)")
	} else if err := checkAddress(c.From); err != nil {
		bad("from", "%v", err)
	}
	if hasControl(c.FromName) {
		bad("from name", "must not contain control characters or line breaks")
	}
	switch c.TLS {
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if c.InsecureSkipVerify {
			bad("insecure skip verify", "has no effect with TLS mode none")
		}
		if c.CAFile != "" {
			bad("ca file", "has no effect with TLS mode none")
		}
	default:
		bad("tls", "%q is not one of starttls, tls, none", c.TLS)
	}
	if (c.Username == "") != (c.Password == "") {
		bad("username/password", "set both or neither")
	}
	if hasControl(c.Username) || hasControl(c.Password) {
		bad("username/password", "must not contain control characters or line breaks")
	}
	if c.InsecureSkipVerify && c.CAFile != "" {
		bad("ca file", "pointless with insecure skip verify")
	}
	if !validHeloName(c.HeloName) {
		bad("helo name", "%q is not a host name", c.HeloName)
	}
	if c.DialTimeout < 0 {
		bad("dial timeout", "%s is negative", c.DialTimeout)
	}
	if c.CommandTimeout < 0 {
		bad("command timeout", "%s is negative", c.CommandTimeout)
	}
	if c.MaxMessageBytes < minMaxMessageBytes {
		bad("max message bytes", "%d is below the minimum of %d", c.MaxMessageBytes, minMaxMessageBytes)
	}
	return errors.Join(errs...)
}

// checkAddress accepts a bare ASCII addr-spec: what goes into MAIL FROM, RCPT
// TO and an address header without any chance of smuggling another header.
func checkAddress(s string) error {
	if hasControl(s) {
		return errors.New("contains a control character or line break")
	}
	for _, r := range s {
		if r > 0x7e {
			return fmt.Errorf("%q: internationalized addresses are not supported", s)
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("%q is not an email address: %w", s, err)
	}
	if a.Name != "" || a.Address != s {
		return fmt.Errorf("%q must be a bare address like user@example.com", s)
	}
	if strings.ContainsAny(s, "<>") {
		return fmt.Errorf("%q must be a bare address like user@example.com", s)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// validHeloName accepts what may follow EHLO: letters, digits, '-', '.', or an
// address literal in brackets.
func validHeloName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		ip := strings.TrimPrefix(s[1:len(s)-1], "IPv6:")
		return net.ParseIP(ip) != nil
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
}
