package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/internal/normalize"
)

// AppendOutbox implements store.Tx.
func (t *tx) AppendOutbox(ctx context.Context, events ...contracts.Envelope) error {
	if len(events) == 0 {
		return nil
	}
	if err := normalize.Outbox(events); err != nil {
		return err
	}
	now := encodeTime(time.Now())
	var q strings.Builder
	q.WriteString(`INSERT INTO "outbox" ("eventId", "type", "subject", "event", "createdAt") VALUES `)
	args := make([]any, 0, 5*len(events))
	for i, e := range events {
		raw, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("store: append outbox: encode event %s: %w", e.ID, err)
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?)")
		args = append(args, e.ID, string(e.Type), e.Subject, string(raw), now)
	}
	_, err := t.q.ExecContext(ctx, q.String(), args...)
	return t.wrap("append outbox", err)
}

// FetchOutbox implements store.Outbox: writers take turns, so seq order is commit order.
func (s *Store) FetchOutbox(ctx context.Context, limit int) ([]store.OutboxRecord, error) {
	const op = "fetch outbox"
	rows, err := s.reads.QueryContext(ctx, `SELECT "seq", "event", CAST("createdAt" AS TEXT), CAST("publishedAt" AS TEXT) FROM "outbox"
		WHERE "publishedAt" IS NULL ORDER BY "seq" LIMIT ?`, normalize.Limit(limit, 100, 10000))
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []store.OutboxRecord
	for rows.Next() {
		var rec store.OutboxRecord
		var raw string
		if err := rows.Scan(&rec.Seq, &raw, timeCol{&rec.CreatedAt}, nullTimeCol{&rec.PublishedAt}); err != nil {
			return nil, s.wrap(op, err)
		}
		if err := json.Unmarshal([]byte(raw), &rec.Event); err != nil {
			return nil, fmt.Errorf("store: %s: decode event %d: %w", op, rec.Seq, err)
		}
		rec.Event.Time = rec.Event.Time.UTC()
		out = append(out, rec)
	}
	return out, s.wrap(op, rows.Err())
}

// MarkPublished implements store.Outbox.
func (s *Store) MarkPublished(ctx context.Context, seqs []int64, at time.Time) error {
	if len(seqs) == 0 {
		return nil
	}
	list, err := json.Marshal(seqs)
	if err != nil {
		return fmt.Errorf("store: mark published: %w", err)
	}
	_, err = s.writer.ExecContext(ctx, `UPDATE "outbox" SET "publishedAt" = ?
		WHERE "seq" IN (SELECT "value" FROM json_each(?)) AND "publishedAt" IS NULL`, encodeTime(normalize.Time(at)), string(list))
	return s.wrap("mark published", err)
}

// PruneOutbox implements store.Outbox.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM "outbox" WHERE "seq" IN (
		SELECT "seq" FROM "outbox" WHERE "publishedAt" < ? ORDER BY "publishedAt" LIMIT ?)`,
		encodeTime(before), normalize.Limit(limit, 1000, 100000))
	return rowsAffected(s.reader, "prune outbox", res, err)
}

// OutboxBacklog implements store.Outbox.
func (s *Store) OutboxBacklog(ctx context.Context) (store.OutboxBacklog, error) {
	var b store.OutboxBacklog
	var oldest *time.Time
	if err := s.reads.QueryRowContext(ctx, `SELECT count(*), min("createdAt") FROM "outbox" WHERE "publishedAt" IS NULL`).
		Scan(&b.Count, nullTimeCol{&oldest}); err != nil {
		return b, s.wrap("outbox backlog", err)
	}
	if oldest != nil {
		b.Oldest = *oldest
	}
	return b, nil
}

// TryRelayLock implements store.Outbox. For a database file it is an
// exclusive flock on <path>-relay.lock, which every process (and every Store
// in this one) opening the same file contends for, and which the kernel
// releases when the holder dies; it cannot be lost otherwise. A :memory:
// database belongs to one Store, so its lock is a flag.
func (s *Store) TryRelayLock(ctx context.Context) (store.RelayLock, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	l := &relayLock{lost: make(chan struct{}), store: s}
	if s.path == Memory {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.memoryHeld {
			return nil, false, nil
		}
		s.memoryHeld = true
		s.locks[l] = struct{}{}
		return l, true, nil
	}
	f, err := os.OpenFile(s.path+"-relay.lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("store: relay lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("store: relay lock: flock: %w", err)
	}
	l.file = f
	s.mu.Lock()
	s.locks[l] = struct{}{}
	s.mu.Unlock()
	return l, true, nil
}

// relayLock is a held relay lock.
type relayLock struct {
	file  *os.File // nil for :memory:
	store *Store
	lost  chan struct{} // never closed: this lock cannot be lost

	once sync.Once
	err  error
}

// Lost implements store.RelayLock.
func (l *relayLock) Lost() <-chan struct{} { return l.lost }

// Release implements store.RelayLock.
func (l *relayLock) Release() error {
	l.once.Do(func() {
		s := l.store
		s.mu.Lock()
		delete(s.locks, l)
		if l.file == nil {
			s.memoryHeld = false
		}
		s.mu.Unlock()
		if l.file != nil {
			// Closing the file drops the flock.
			if err := l.file.Close(); err != nil {
				l.err = fmt.Errorf("store: release relay lock: %w", err)
			}
		}
	})
	return l.err
}
