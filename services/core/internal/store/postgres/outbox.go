package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/internal/normalize"
)

// AppendOutbox implements store.Tx. Each row gets the transaction's id (xid)
// by default, which orders FetchOutbox.
func (t *tx) AppendOutbox(ctx context.Context, events ...contracts.Envelope) error {
	if len(events) == 0 {
		return nil
	}
	if err := normalize.Outbox(events); err != nil {
		return err
	}
	now := normalize.Time(time.Time{})
	var sql strings.Builder
	sql.WriteString(`INSERT INTO core."outbox" ("eventId", "type", "subject", "event", "createdAt") VALUES `)
	args := make([]any, 0, 5*len(events))
	for i, e := range events {
		raw, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("store: append outbox: encode event %s: %w", e.ID, err)
		}
		if i > 0 {
			sql.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&sql, "($%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5)
		args = append(args, e.ID, string(e.Type), e.Subject, raw, now)
	}
	_, err := t.q.Exec(ctx, sql.String(), args...)
	return t.wrap("append outbox", err)
}

// FetchOutbox implements store.Outbox: unpublished rows in (xid, seq) order,
// only of transactions below the oldest one still running (the snapshot's
// xmin), so a transaction that began earlier but commits later is waited for.
func (s *Store) FetchOutbox(ctx context.Context, limit int) ([]store.OutboxRecord, error) {
	const op = "fetch outbox"
	rows, err := s.pool.Query(ctx, `SELECT "seq", "event", "createdAt", "publishedAt" FROM core."outbox"
		WHERE "publishedAt" IS NULL AND "xid" < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY "xid", "seq"
		LIMIT $1`, normalize.Limit(limit, 100, 10000))
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []store.OutboxRecord
	for rows.Next() {
		var rec store.OutboxRecord
		var raw []byte
		if err := rows.Scan(&rec.Seq, &raw, &rec.CreatedAt, &rec.PublishedAt); err != nil {
			return nil, s.wrap(op, err)
		}
		if err := json.Unmarshal(raw, &rec.Event); err != nil {
			return nil, fmt.Errorf("store: %s: decode event %d: %w", op, rec.Seq, err)
		}
		rec.Event.Time = rec.Event.Time.UTC()
		rec.CreatedAt = rec.CreatedAt.UTC()
		rec.PublishedAt = utcPtr(rec.PublishedAt)
		out = append(out, rec)
	}
	return out, s.wrap(op, rows.Err())
}

// MarkPublished implements store.Outbox.
func (s *Store) MarkPublished(ctx context.Context, seqs []int64, at time.Time) error {
	if len(seqs) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE core."outbox" SET "publishedAt" = $1 WHERE "seq" = ANY($2) AND "publishedAt" IS NULL`,
		normalize.Time(at), seqs)
	return s.wrap("mark published", err)
}

// PruneOutbox implements store.Outbox.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM core."outbox" WHERE "seq" IN (
		SELECT "seq" FROM core."outbox" WHERE "publishedAt" < $1 ORDER BY "publishedAt" LIMIT $2)`,
		normalize.Instant(before), normalize.Limit(limit, 1000, 100000))
	if err != nil {
		return 0, s.wrap("prune outbox", err)
	}
	return int(tag.RowsAffected()), nil
}

// OutboxBacklog implements store.Outbox.
func (s *Store) OutboxBacklog(ctx context.Context) (store.OutboxBacklog, error) {
	var b store.OutboxBacklog
	var oldest *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT count(*), min("createdAt") FROM core."outbox" WHERE "publishedAt" IS NULL`).Scan(&b.Count, &oldest); err != nil {
		return b, s.wrap("outbox backlog", err)
	}
	if oldest != nil {
		b.Oldest = oldest.UTC()
	}
	return b, nil
}

// TryRelayLock implements store.Outbox with a session-level advisory lock on
// a connection of its own (not from the pool): the lock lives exactly as long
// as that connection, which is pinged every Options.LockCheckInterval so that
// a broken connection — after which the server has released the lock — is
// reported on Lost.
func (s *Store) TryRelayLock(ctx context.Context) (store.RelayLock, bool, error) {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return nil, false, fmt.Errorf("store: relay lock: connect: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", relayLockKey).Scan(&ok); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, false, fmt.Errorf("store: relay lock: %w", err)
	}
	if !ok {
		return nil, false, conn.Close(ctx)
	}
	l := &relayLock{
		conn:     conn,
		interval: s.lockCheck,
		lost:     make(chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		forget:   func(l *relayLock) { s.mu.Lock(); delete(s.locks, l); s.mu.Unlock() },
	}
	s.mu.Lock()
	s.locks[l] = struct{}{}
	s.mu.Unlock()
	go l.watch()
	return l, true, nil
}

// relayLock is a held advisory lock and its connection.
type relayLock struct {
	conn     *pgx.Conn
	interval time.Duration
	lost     chan struct{} // closed when the connection broke
	stop     chan struct{} // closed by Release
	done     chan struct{} // closed when watch returns
	forget   func(*relayLock)

	mu        sync.Mutex // serializes use of conn
	isLost    bool
	releaseMu sync.Mutex
	released  bool
}

// Lost implements store.RelayLock.
func (l *relayLock) Lost() <-chan struct{} { return l.lost }

// watch pings the connection until Release or until a ping fails.
func (l *relayLock) watch() {
	defer close(l.done)
	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		l.mu.Lock()
		ctx, cancel := context.WithTimeout(context.Background(), l.interval)
		err := l.conn.Ping(ctx)
		cancel()
		if err != nil {
			l.isLost = true
			_ = l.conn.Close(context.Background())
			close(l.lost)
		}
		l.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Release implements store.RelayLock.
func (l *relayLock) Release() error {
	l.releaseMu.Lock()
	defer l.releaseMu.Unlock()
	if l.released {
		return nil
	}
	l.released = true
	close(l.stop)
	<-l.done
	l.forget(l)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isLost {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, unlockErr := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", relayLockKey)
	// Closing the session releases the lock even when the unlock failed.
	closeErr := l.conn.Close(ctx)
	if err := errors.Join(unlockErr, closeErr); err != nil {
		return fmt.Errorf("store: release relay lock: %w", err)
	}
	return nil
}
