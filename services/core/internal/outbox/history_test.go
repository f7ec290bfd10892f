package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/outbox"
	"github.com/authbus/authbus/services/core/internal/store"
)

// openHistory opens a History on url, closed at cleanup.
func openHistory(t testing.TB, url string) *outbox.DBHistory {
	t.Helper()
	h, err := outbox.OpenHistory(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Close()) })
	return h
}

// published reads every published event q selects.
func published(t testing.TB, h outbox.History, q outbox.ReplayOptions) []store.OutboxRecord {
	t.Helper()
	var out []store.OutboxRecord
	require.NoError(t, h.Published(testCtx(t), q, 7, func(batch []store.OutboxRecord) error {
		require.LessOrEqual(t, len(batch), 7)
		out = append(out, batch...)
		return nil
	}))
	return out
}

func TestHistorySelectsPublishedEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		ctx := testCtx(t)
		st := openStore(t, url)
		h := openHistory(t, url)
		ids := commit(t, st, 0, 20)
		recs, err := st.FetchOutbox(ctx, 100)
		require.NoError(t, err)
		require.Len(t, recs, 20)
		var seqs []int64
		for _, r := range recs[:15] {
			seqs = append(seqs, r.Seq)
		}
		at := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
		require.NoError(t, st.MarkPublished(ctx, seqs, at))

		all := published(t, h, outbox.ReplayOptions{})
		require.Len(t, all, 15, "unpublished events are not history")
		for i, rec := range all {
			require.Equal(t, ids[i], rec.Event.ID)
			require.Equal(t, recs[i].Seq, rec.Seq)
			require.Equal(t, recs[i].CreatedAt, rec.CreatedAt)
			require.Equal(t, recs[i].Event.Data, rec.Event.Data)
			require.NotNil(t, rec.PublishedAt)
			require.Equal(t, at, *rec.PublishedAt)
		}

		tests := []struct {
			name string
			q    outbox.ReplayOptions
			want []store.OutboxRecord
		}{
			{"from seq", outbox.ReplayOptions{FromSeq: all[3].Seq}, all[3:]},
			{"to seq", outbox.ReplayOptions{ToSeq: all[4].Seq}, all[:5]},
			{"seq range", outbox.ReplayOptions{FromSeq: all[2].Seq, ToSeq: all[2].Seq}, all[2:3]},
			{"since the first", outbox.ReplayOptions{Since: all[0].CreatedAt}, all},
			{"since later", outbox.ReplayOptions{Since: time.Now().Add(time.Minute)}, nil},
			{"until the first", outbox.ReplayOptions{Until: all[0].CreatedAt}, nil},
			{"until later", outbox.ReplayOptions{Until: time.Now().Add(time.Minute)}, all},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := published(t, h, tt.q)
				require.Equal(t, len(tt.want), len(got))
				for i := range got {
					require.Equal(t, tt.want[i].Seq, got[i].Seq)
				}
			})
		}
	})
}

func TestReplayOptionsValidate(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		q    outbox.ReplayOptions
		want string
	}{
		{"zero", outbox.ReplayOptions{}, ""},
		{"window", outbox.ReplayOptions{Since: now, Until: now.Add(time.Second), FromSeq: 1, ToSeq: 1}, ""},
		{"until before since", outbox.ReplayOptions{Since: now, Until: now}, "is not after since"},
		{"negative", outbox.ReplayOptions{FromSeq: -1}, "positive"},
		{"reversed", outbox.ReplayOptions{FromSeq: 5, ToSeq: 4}, "below from-seq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.q.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestOpenHistoryErrors(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"memory", ":memory:", "use a database file"},
		{"scheme", "mysql://x", "unsupported database URL"},
		{"unreachable postgres", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := outbox.OpenHistory(testCtx(t), tt.url)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
