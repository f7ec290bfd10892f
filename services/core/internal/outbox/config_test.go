package outbox_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/outbox"
)

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  outbox.Config
		want []string
	}{
		{name: "defaults", cfg: outbox.Config{}.WithDefaults()},
		{name: "everything wrong", cfg: outbox.Config{
			PollInterval: -1, RetentionDays: 0, BatchSize: 0, Window: 0, PublishTimeout: -1,
			RetryMin: 0, RetryMax: 0, LockRetryInterval: 0, PruneInterval: 0,
		}, want: []string{"OUTBOX_POLL_INTERVAL", "OUTBOX_RETENTION_DAYS", "OUTBOX_BATCH_SIZE", "OUTBOX_PUBLISH_WINDOW",
			"OUTBOX_PUBLISH_TIMEOUT", "OUTBOX_RETRY_MIN", "OUTBOX_RETRY_MAX", "OUTBOX_LOCK_RETRY_INTERVAL", "OUTBOX_PRUNE_INTERVAL"}},
		{name: "retry bounds reversed", cfg: outbox.Config{RetryMin: time.Minute, RetryMax: time.Second}.WithDefaults(),
			want: []string{"OUTBOX_RETRY_MIN 1m0s exceeds OUTBOX_RETRY_MAX 1s"}},
		{name: "batch too large", cfg: outbox.Config{BatchSize: 10001}.WithDefaults(), want: []string{"OUTBOX_BATCH_SIZE 10001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				require.NoError(t, err)
				return
			}
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := outbox.Config{}.WithDefaults()
	require.Equal(t, outbox.Config{
		PollInterval: 250 * time.Millisecond, RetentionDays: 7, BatchSize: 256, Window: 256,
		PublishTimeout: 5 * time.Second, RetryMin: 100 * time.Millisecond, RetryMax: 10 * time.Second,
		LockRetryInterval: time.Second, PruneInterval: time.Hour, NotifyDelay: 2 * time.Millisecond,
	}, c)
	require.Equal(t, 7*24*time.Hour, c.Retention())
}
