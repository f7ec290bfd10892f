package mail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/stretchr/testify/require"
)

func TestSMTPConfigValidate(t *testing.T) {
	ok := SMTPConfig{Host: "smtp.example.com", From: "no-reply@example.com"}
	with := func(f func(*SMTPConfig)) SMTPConfig {
		c := ok
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  SMTPConfig
		want []string // substrings of the joined error; none = valid
	}{
		{"minimal", ok, nil},
		{"full", with(func(c *SMTPConfig) {
			c.Port, c.Username, c.Password, c.FromName, c.TLS = 2525, "u", "p", "Ünïcode Name", TLSImplicit
			c.HeloName, c.DialTimeout, c.CommandTimeout, c.MaxMessageBytes = "mx.example.com", time.Second, time.Second, 64<<10
		}), nil},
		{"none with credentials is an explicit choice", with(func(c *SMTPConfig) { c.TLS, c.Username, c.Password = TLSNone, "u", "p" }), nil},
		{"ip host and address-literal helo", with(func(c *SMTPConfig) { c.Host, c.HeloName = "10.0.0.1", "[10.0.0.2]" }), nil},
		{"ipv6 helo literal", with(func(c *SMTPConfig) { c.HeloName = "[IPv6:::1]" }), nil},
		{"empty", SMTPConfig{}, []string{"host: required", "from: required"}},
		{"everything wrong at once", SMTPConfig{
			Host: "bad host", Port: 70000, From: "Ada <ada@example.com>", FromName: "x\r\nBcc: y",
			TLS: "ssl", Username: "u", HeloName: "bad_name", DialTimeout: -1, CommandTimeout: -1, MaxMessageBytes: 10,
		}, []string{
			"host: \"bad host\"", "port: 70000", "from: \"Ada <ada@example.com>\" must be a bare address", "from name:",
			"tls: \"ssl\" is not one of starttls, tls, none", "username/password: set both or neither", "helo name",
			"dial timeout", "command timeout", "max message bytes: 10 is below",
		}},
		{"from with line break", with(func(c *SMTPConfig) { c.From = "a@example.com\r\nBcc: b@example.com" }), []string{"from: contains a control character or line break"}},
		{"from not an address", with(func(c *SMTPConfig) { c.From = "nobody" }), []string{"from: \"nobody\" is not an email address"}},
		{"password only", with(func(c *SMTPConfig) { c.Password = "p" }), []string{"set both or neither"}},
		{"credential with newline", with(func(c *SMTPConfig) { c.Username, c.Password = "u\n", "p" }), []string{"control characters"}},
		{"skip verify without tls", with(func(c *SMTPConfig) { c.TLS, c.InsecureSkipVerify = TLSNone, true }), []string{"insecure skip verify: has no effect"}},
		{"ca file without tls", with(func(c *SMTPConfig) { c.TLS, c.CAFile = TLSNone, "/ca.pem" }), []string{"ca file: has no effect"}},
		{"ca file and skip verify", with(func(c *SMTPConfig) { c.CAFile, c.InsecureSkipVerify = "/ca.pem", true }), []string{"ca file: pointless"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.Len(t, strings.Split(err.Error(), "\n"), len(tc.want), "one line per problem:\n%v", err)
		})
	}
}

func TestSMTPConfigDefaults(t *testing.T) {
	tests := []struct {
		name     string
		cfg      SMTPConfig
		wantPort int
	}{
		{"submission port for starttls", SMTPConfig{}, 587},
		{"submission port for none", SMTPConfig{TLS: TLSNone}, 587},
		{"smtps port for implicit tls", SMTPConfig{TLS: TLSImplicit}, 465},
		{"explicit port kept", SMTPConfig{TLS: TLSImplicit, Port: 2465}, 2465},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg.withDefaults()
			require.Equal(t, tc.wantPort, c.Port)
			require.NotEmpty(t, c.TLS)
			require.True(t, validHeloName(c.HeloName), c.HeloName)
			require.Equal(t, DefaultDialTimeout, c.DialTimeout)
			require.Equal(t, DefaultCommandTimeout, c.CommandTimeout)
			require.Equal(t, int64(DefaultMaxMessageBytes), c.MaxMessageBytes)
		})
	}
}

// TestSMTPConfigFromEnv checks the envconfig names and that the default tags
// agree with withDefaults.
func TestSMTPConfigFromEnv(t *testing.T) {
	var spec struct {
		SMTP SMTPConfig `envconfig:"SMTP"`
	}
	t.Setenv("AUTHBUS_SMTP_HOST", "smtp.example.com")
	t.Setenv("AUTHBUS_SMTP_FROM", "no-reply@example.com")
	t.Setenv("AUTHBUS_SMTP_FROM_NAME", "Acme")
	t.Setenv("AUTHBUS_SMTP_USERNAME", "user")
	t.Setenv("AUTHBUS_SMTP_PASSWORD", "secret")
	t.Setenv("AUTHBUS_SMTP_COMMAND_TIMEOUT", "5s")
	require.NoError(t, envconfig.Process("AUTHBUS", &spec))
	c := spec.SMTP
	require.Equal(t, "smtp.example.com", c.Host)
	require.Equal(t, "Acme", c.FromName)
	require.Equal(t, "user", c.Username)
	require.Equal(t, 5*time.Second, c.CommandTimeout)
	require.Equal(t, TLSStartTLS, c.TLS)
	require.Equal(t, DefaultDialTimeout, c.DialTimeout)
	require.Equal(t, int64(DefaultMaxMessageBytes), c.MaxMessageBytes)
	require.Nil(t, c.RootCAs)
	require.NoError(t, c.Validate())
}

func TestNewSMTPSenderCAFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	base := SMTPConfig{Host: "smtp.example.com", From: "no-reply@example.com"}

	c := base
	c.CAFile = filepath.Join(dir, "missing.pem")
	_, err := NewSMTPSender(c)
	require.ErrorContains(t, err, "ca file")

	c.CAFile = notPEM
	_, err = NewSMTPSender(c)
	require.ErrorContains(t, err, "holds no PEM certificate")

	_, err = NewSMTPSender(SMTPConfig{})
	require.ErrorContains(t, err, "host: required")
}
