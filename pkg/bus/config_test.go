package bus_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
)

func TestConfigFromEnvironment(t *testing.T) {
	// A service embeds bus.Config and processes its config with prefix AUTHBUS.
	var svc struct {
		bus.Config
		bus.StreamConfig
		Listen string `envconfig:"LISTEN" default:":8080"`
	}
	t.Setenv("AUTHBUS_NATS_URL", "nats://nats-1:4222,nats://nats-2:4222")
	t.Setenv("AUTHBUS_NATS_USER", "audit")
	t.Setenv("AUTHBUS_NATS_PASSWORD", "s3cret")
	t.Setenv("AUTHBUS_NATS_INBOX_PREFIX", "_INBOX_audit")
	t.Setenv("AUTHBUS_NATS_REQUEST_TIMEOUT", "750ms")
	t.Setenv("AUTHBUS_SUBJECT_PREFIX", "acme")
	t.Setenv("AUTHBUS_STREAM_REPLICAS", "3")
	require.NoError(t, envconfig.Process("AUTHBUS", &svc))

	require.Equal(t, "nats://nats-1:4222,nats://nats-2:4222", svc.URL)
	require.Equal(t, "audit", svc.User)
	require.Equal(t, "s3cret", svc.Password)
	require.Equal(t, "_INBOX_audit", svc.InboxPrefix)
	require.Equal(t, 750*time.Millisecond, svc.RequestTimeout)
	require.Equal(t, 5*time.Second, svc.ConnectTimeout, "default")
	require.Equal(t, 10*time.Second, svc.ReconnectWaitMax, "default")
	require.Equal(t, "acme", svc.SubjectPrefix)
	require.NoError(t, svc.Config.Validate())

	require.Equal(t, "AUTH_EVENTS", svc.Name)
	require.Equal(t, "AUTH_DLQ", svc.DeadLetterName)
	require.Equal(t, 10*time.Minute, svc.DuplicateWindow)
	require.Equal(t, 30*24*time.Hour, svc.MaxAge)
	require.Equal(t, 3, svc.Replicas)
	require.Equal(t, "file", svc.Storage)
	require.NoError(t, svc.StreamConfig.Validate())

	// Processing an empty environment gives exactly WithDefaults.
	var bare bus.Config
	require.NoError(t, envconfig.Process("AUTHBUS_UNSET_FOR_TEST", &bare))
	require.Equal(t, bus.Config{}.WithDefaults(), bare)
	var bareStream bus.StreamConfig
	require.NoError(t, envconfig.Process("AUTHBUS_UNSET_FOR_TEST", &bareStream))
	require.Equal(t, bus.StreamConfig{}.WithDefaults(), bareStream)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := bus.Config{}.WithDefaults()
	tests := []struct {
		name    string
		mutate  func(*bus.Config)
		wantErr []string
	}{
		{"defaults", func(*bus.Config) {}, nil},
		{"several urls", func(c *bus.Config) { c.URL = "nats://a:4222, tls://b:4222,ws://c:8080" }, nil},
		{"url required", func(c *bus.Config) { c.URL = " " }, []string{"NATS_URL is required"}},
		{"url scheme", func(c *bus.Config) { c.URL = "http://a:4222" }, []string{"scheme must be nats"}},
		{"url host", func(c *bus.Config) { c.URL = "nats://" }, []string{"host is missing"}},
		{"url unparsable", func(c *bus.Config) { c.URL = "nats://a b:%zz" }, []string{"NATS_URL"}},
		{"creds and user", func(c *bus.Config) { c.CredentialsFile = "/etc/x.creds"; c.User = "u" }, []string{"mutually exclusive"}},
		{"password without user", func(c *bus.Config) { c.Password = "p" }, []string{"NATS_USER is empty"}},
		{"creds file missing", func(c *bus.Config) { c.CredentialsFile = filepath.Join(t.TempDir(), "none.creds") }, []string{"NATS_CREDENTIALS"}},
		{"negative connect timeout", func(c *bus.Config) { c.ConnectTimeout = -time.Second }, []string{"NATS_CONNECT_TIMEOUT"}},
		{"negative request timeout", func(c *bus.Config) { c.RequestTimeout = -time.Second }, []string{"NATS_REQUEST_TIMEOUT"}},
		{"negative reconnect wait", func(c *bus.Config) { c.ReconnectWaitMax = -time.Second }, []string{"NATS_RECONNECT_WAIT_MAX"}},
		{"inbox wildcard", func(c *bus.Config) { c.InboxPrefix = "_INBOX.>" }, []string{"NATS_INBOX_PREFIX"}},
		{"inbox trailing dot", func(c *bus.Config) { c.InboxPrefix = "_INBOX_a." }, []string{"NATS_INBOX_PREFIX"}},
		{"subject prefix", func(c *bus.Config) { c.SubjectPrefix = "a.*" }, []string{"SUBJECT_PREFIX"}},
		{"client name", func(c *bus.Config) { c.ClientName = "bad\x00name" }, []string{"NATS_CLIENT_NAME"}},
		{"every problem at once", func(c *bus.Config) { c.URL = "http://x"; c.Password = "p"; c.SubjectPrefix = ">" },
			[]string{"scheme", "NATS_USER is empty", "SUBJECT_PREFIX"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			for _, want := range tt.wantErr {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

func TestStreamConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*bus.StreamConfig)
		wantErr string
	}{
		{"defaults", func(*bus.StreamConfig) {}, ""},
		{"memory", func(c *bus.StreamConfig) { c.Storage = "memory" }, ""},
		{"name with dot", func(c *bus.StreamConfig) { c.Name = "AUTH.EVENTS" }, "STREAM_NAME"},
		{"dlq name with space", func(c *bus.StreamConfig) { c.DeadLetterName = "AUTH DLQ" }, "DLQ_STREAM_NAME"},
		{"same names", func(c *bus.StreamConfig) { c.DeadLetterName = c.Name }, "both"},
		{"no duplicate window", func(c *bus.StreamConfig) { c.DuplicateWindow = -1 }, "STREAM_DUPLICATE_WINDOW"},
		{"negative max age", func(c *bus.StreamConfig) { c.MaxAge = -1 }, "STREAM_MAX_AGE"},
		{"window beyond age", func(c *bus.StreamConfig) { c.MaxAge = time.Minute }, "exceeds"},
		{"replicas", func(c *bus.StreamConfig) { c.Replicas = 7 }, "STREAM_REPLICAS"},
		{"storage", func(c *bus.StreamConfig) { c.Storage = "s3" }, "STREAM_STORAGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := bus.StreamConfig{}.WithDefaults()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestConsumerConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*bus.ConsumerConfig)
		wantErr string
	}{
		{"defaults", func(*bus.ConsumerConfig) {}, ""},
		{"durable required", func(c *bus.ConsumerConfig) { c.Durable = "" }, "durable is required"},
		{"durable with dot", func(c *bus.ConsumerConfig) { c.Durable = "plugin.audit" }, "durable"},
		{"stream name", func(c *bus.ConsumerConfig) { c.Stream = "a>b" }, "stream"},
		{"dead letter wildcard", func(c *bus.ConsumerConfig) { c.DeadLetter = "a.*" }, "dead letter"},
		{"empty filter", func(c *bus.ConsumerConfig) { c.FilterSubjects = []string{"user.*", ""} }, "empty pattern"},
		{"negative ack wait", func(c *bus.ConsumerConfig) { c.AckWait = -1 }, "ack wait"},
		{"max deliver", func(c *bus.ConsumerConfig) { c.MaxDeliver = -2 }, "max deliver"},
		{"max ack pending", func(c *bus.ConsumerConfig) { c.MaxAckPending = -3 }, "max ack pending"},
		{"empty backoff", func(c *bus.ConsumerConfig) { c.NakBackoff = []time.Duration{} }, "at least one delay"},
		{"negative backoff", func(c *bus.ConsumerConfig) { c.NakBackoff = []time.Duration{-time.Second} }, "negative"},
		{"workers", func(c *bus.ConsumerConfig) { c.Workers = -1 }, "workers"},
		{"pull max messages", func(c *bus.ConsumerConfig) { c.PullMaxMessages = -1 }, "pull max messages"},
		{"drain timeout", func(c *bus.ConsumerConfig) { c.DrainTimeout = -1 }, "drain timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := bus.ConsumerConfig{Durable: "plugin-audit"}.WithDefaults()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestConsumerConfigDefaults(t *testing.T) {
	t.Parallel()
	c := bus.ConsumerConfig{Durable: "plugin-audit", Workers: 4}.WithDefaults()
	require.Equal(t, "AUTH_EVENTS", c.Stream)
	require.Equal(t, 30*time.Second, c.AckWait)
	require.Equal(t, 5, c.MaxDeliver)
	require.Equal(t, "plugin-audit", c.DeadLetter)
	require.Equal(t, bus.DefaultNakBackoff, c.NakBackoff)
	require.Equal(t, 4, c.PullMaxMessages, "prefetch follows the worker count")
	require.Equal(t, 10*time.Second, c.DrainTimeout)
}

func TestServerConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     bus.ServerConfig
		wantErr string
	}{
		{"minimal", bus.ServerConfig{StoreDir: "/tmp/x"}, ""},
		{"store dir required", bus.ServerConfig{}, "StoreDir is required"},
		{"port", bus.ServerConfig{StoreDir: "/tmp/x", Port: 70000}, "port 70000"},
		{"websocket port", bus.ServerConfig{StoreDir: "/tmp/x", WebsocketPort: -5}, "websocket port"},
		{"no-auth user unknown", bus.ServerConfig{StoreDir: "/tmp/x", NoAuthUser: "dev"}, "not among Users"},
		{"user without name", bus.ServerConfig{StoreDir: "/tmp/x", Users: []*server.User{{Password: "p"}}}, "no user name"},
		{"negative limits", bus.ServerConfig{StoreDir: "/tmp/x", MaxStore: -1}, "must not be negative"},
		{"ready timeout", bus.ServerConfig{StoreDir: "/tmp/x", ReadyTimeout: -1}, "ready timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
	_, err := bus.RunServer(bus.ServerConfig{})
	require.ErrorContains(t, err, "StoreDir is required", "RunServer validates")
}
