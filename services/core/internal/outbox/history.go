package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/sqlite"
	"github.com/authbus/authbus/services/core/internal/store/storeopen"
)

// ReplayOptions select the published events Replay sends again. The zero
// value selects every published event still kept (RetentionDays).
type ReplayOptions struct {
	// Since selects events committed at or after it; zero: no lower bound.
	Since time.Time
	// Until selects events committed before it; zero: no upper bound.
	Until time.Time
	// FromSeq selects outbox sequence numbers >= FromSeq; 0: no lower bound.
	FromSeq int64
	// ToSeq selects outbox sequence numbers <= ToSeq; 0: no upper bound.
	ToSeq int64
}

// Validate reports every problem of o at once.
func (o ReplayOptions) Validate() error {
	var errs []error
	if !o.Since.IsZero() && !o.Until.IsZero() && !o.Until.After(o.Since) {
		errs = append(errs, fmt.Errorf("until %s is not after since %s", o.Until.Format(time.RFC3339), o.Since.Format(time.RFC3339)))
	}
	if o.FromSeq < 0 || o.ToSeq < 0 {
		errs = append(errs, errors.New("sequence numbers are positive"))
	}
	if o.FromSeq > 0 && o.ToSeq > 0 && o.ToSeq < o.FromSeq {
		errs = append(errs, fmt.Errorf("to-seq %d is below from-seq %d", o.ToSeq, o.FromSeq))
	}
	return errors.Join(errs...)
}

// History reads the events the relay already published, for Replay.
type History interface {
	// Published calls fn with the published events q selects, in
	// publishing order, in batches of at most batchSize, and stops at fn's
	// first error, which it returns.
	Published(ctx context.Context, q ReplayOptions, batchSize int, fn func([]store.OutboxRecord) error) error
}

// DBHistory is the History of a core database, read over a connection of
// its own. store.Outbox has no query for published rows, so this reads the
// outbox table the store's migrations create.
type DBHistory struct {
	pg *pgxpool.Pool // Postgres, or
	db *sql.DB       // SQLite (read-only)
}

// OpenHistory opens a read-only History on the core database at
// databaseURL (as storeopen.Open takes it). A SQLite database in memory
// belongs to its one store and cannot be opened again: use a file.
func OpenHistory(ctx context.Context, databaseURL string) (*DBHistory, error) {
	backend, target, err := storeopen.Parse(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("outbox: history: %w", err)
	}
	switch backend {
	case storeopen.Postgres:
		cfg, err := pgxpool.ParseConfig(target)
		if err != nil {
			return nil, fmt.Errorf("outbox: history: %w", err)
		}
		cfg.MaxConns = 2
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("outbox: history: %w", err)
		}
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("outbox: history: connect: %w", err)
		}
		return &DBHistory{pg: pool}, nil
	default:
		if target == sqlite.Memory {
			return nil, errors.New("outbox: history: a SQLite database in memory cannot be read from another connection; use a database file")
		}
		db, err := sql.Open("sqlite", target+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
		if err != nil {
			return nil, fmt.Errorf("outbox: history: open %s: %w", target, err)
		}
		db.SetMaxOpenConns(2)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("outbox: history: open %s: %w", target, err)
		}
		return &DBHistory{db: db}, nil
	}
}

// Close closes the connections.
func (h *DBHistory) Close() error {
	if h.pg != nil {
		h.pg.Close()
		return nil
	}
	return h.db.Close()
}

// Published implements History with one streaming query: on Postgres in
// (transaction id, seq) order as the relay published them, on SQLite in seq order.
func (h *DBHistory) Published(ctx context.Context, q ReplayOptions, batchSize int, fn func([]store.OutboxRecord) error) error {
	if err := q.Validate(); err != nil {
		return fmt.Errorf("outbox: replay: %w", err)
	}
	if batchSize < 1 {
		batchSize = DefaultBatchSize
	}
	if h.pg != nil {
		return h.publishedPostgres(ctx, q, batchSize, fn)
	}
	return h.publishedSQLite(ctx, q, batchSize, fn)
}

func (h *DBHistory) publishedPostgres(ctx context.Context, q ReplayOptions, batchSize int, fn func([]store.OutboxRecord) error) error {
	rows, err := h.pg.Query(ctx, `SELECT "seq", "event", "createdAt", "publishedAt" FROM core."outbox"
		WHERE "publishedAt" IS NOT NULL
		  AND ($1::timestamptz IS NULL OR "createdAt" >= $1)
		  AND ($2::timestamptz IS NULL OR "createdAt" < $2)
		  AND ($3::bigint = 0 OR "seq" >= $3)
		  AND ($4::bigint = 0 OR "seq" <= $4)
		ORDER BY "xid", "seq"`, timeArg(q.Since), timeArg(q.Until), q.FromSeq, q.ToSeq)
	if err != nil {
		return fmt.Errorf("outbox: history: %w", err)
	}
	defer rows.Close()
	batch := make([]store.OutboxRecord, 0, batchSize)
	for rows.Next() {
		var rec store.OutboxRecord
		var raw []byte
		if err := rows.Scan(&rec.Seq, &raw, &rec.CreatedAt, &rec.PublishedAt); err != nil {
			return fmt.Errorf("outbox: history: %w", err)
		}
		if err := finishRecord(&rec, raw); err != nil {
			return err
		}
		if batch = append(batch, rec); len(batch) == batchSize {
			if err := fn(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("outbox: history: %w", err)
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}

func (h *DBHistory) publishedSQLite(ctx context.Context, q ReplayOptions, batchSize int, fn func([]store.OutboxRecord) error) error {
	// Times are ISO 8601 text of one fixed width: text order is time order.
	rows, err := h.db.QueryContext(ctx, `SELECT "seq", "event", CAST("createdAt" AS TEXT), CAST("publishedAt" AS TEXT) FROM "outbox"
		WHERE "publishedAt" IS NOT NULL
		  AND (?1 = '' OR "createdAt" >= ?1)
		  AND (?2 = '' OR "createdAt" < ?2)
		  AND (?3 = 0 OR "seq" >= ?3)
		  AND (?4 = 0 OR "seq" <= ?4)
		ORDER BY "seq"`, isoText(q.Since), isoText(q.Until), q.FromSeq, q.ToSeq)
	if err != nil {
		return fmt.Errorf("outbox: history: %w", err)
	}
	defer rows.Close()
	batch := make([]store.OutboxRecord, 0, batchSize)
	for rows.Next() {
		var rec store.OutboxRecord
		var raw, created, published string
		if err := rows.Scan(&rec.Seq, &raw, &created, &published); err != nil {
			return fmt.Errorf("outbox: history: %w", err)
		}
		if rec.CreatedAt, err = time.Parse(time.RFC3339Nano, created); err != nil {
			return fmt.Errorf("outbox: history: createdAt of seq %d: %w", rec.Seq, err)
		}
		p, err := time.Parse(time.RFC3339Nano, published)
		if err != nil {
			return fmt.Errorf("outbox: history: publishedAt of seq %d: %w", rec.Seq, err)
		}
		rec.PublishedAt = &p
		if err := finishRecord(&rec, []byte(raw)); err != nil {
			return err
		}
		if batch = append(batch, rec); len(batch) == batchSize {
			if err := fn(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("outbox: history: %w", err)
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}

// finishRecord decodes the stored envelope and makes the times UTC.
func finishRecord(rec *store.OutboxRecord, raw []byte) error {
	if err := json.Unmarshal(raw, &rec.Event); err != nil {
		return fmt.Errorf("outbox: history: decode event of seq %d: %w", rec.Seq, err)
	}
	rec.Event.Time = rec.Event.Time.UTC()
	rec.CreatedAt = rec.CreatedAt.UTC()
	if rec.PublishedAt != nil {
		p := rec.PublishedAt.UTC()
		rec.PublishedAt = &p
	}
	return nil
}

// timeArg is a bound for Postgres: nil when zero.
func timeArg(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// isoText is a bound for SQLite, in the store's time format; "" when zero.
// A bound with sub-millisecond digits is rounded up so that ">=" and "<"
// keep their meaning against millisecond values.
func isoText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	u := t.UTC()
	if tr := u.Truncate(time.Millisecond); !tr.Equal(u) {
		u = tr.Add(time.Millisecond)
	}
	return u.Format("2006-01-02T15:04:05.000Z")
}
