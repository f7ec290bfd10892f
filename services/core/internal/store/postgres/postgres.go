// Package postgres is the production store.Store: pgx v5 with a connection
// pool, tables in schema "core", embedded migrations.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Advisory lock keys (per database): one for migrating, one for the relay.
var (
	migrateLockKey = lockKey("authbus/core/migrate")
	relayLockKey   = lockKey("authbus/core/outbox-relay")
)

func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// Options tune the Postgres store; the zero value is the default.
type Options struct {
	// LockCheckInterval is how often a held relay lock pings its connection
	// to notice that it is lost. Default: 1s.
	LockCheckInterval time.Duration
}

// Store is the Postgres store.Store.
type Store struct {
	reader
	pool      *pgxpool.Pool
	connCfg   *pgx.ConnConfig
	lockCheck time.Duration

	mu    sync.Mutex
	locks map[*relayLock]struct{}
}

// Open connects to the database at connString (a postgres:// URL or a
// keyword/value string; pgxpool settings such as pool_max_conns apply). It
// does not migrate: call Migrate.
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("store: postgres connection string: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "authbus-core"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to postgres at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	if opts.LockCheckInterval <= 0 {
		opts.LockCheckInterval = time.Second
	}
	return &Store{
		reader:    reader{q: pool},
		pool:      pool,
		connCfg:   cfg.ConnConfig,
		lockCheck: opts.LockCheckInterval,
		locks:     map[*relayLock]struct{}{},
	}, nil
}

// Pool is the connection pool, for the few callers that need Postgres itself.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close releases held relay locks and closes the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	locks := make([]*relayLock, 0, len(s.locks))
	for l := range s.locks {
		locks = append(locks, l)
	}
	s.mu.Unlock()
	var errs []error
	for _, l := range locks {
		errs = append(errs, l.Release())
	}
	s.pool.Close()
	return errors.Join(errs...)
}

// InTx runs fn in a READ COMMITTED transaction.
func (s *Store) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	pgtx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	t := &tx{}
	t.reader = reader{q: pgtx, tx: t}
	rollback := func() {
		// The caller's context may be done; the rollback must still go out.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = pgtx.Rollback(rctx)
	}
	// Rolls back when fn fails, panics or exits the goroutine (t.FailNow).
	finished := false
	defer func() {
		if !finished {
			rollback()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	if t.failed != nil {
		return fmt.Errorf("store: transaction rolled back after a failed statement: %w", t.failed)
	}
	finished = true
	if err := pgtx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", mapErr(err))
	}
	return nil
}

// Migrate applies the embedded migrations under a session advisory lock,
// each in its own transaction together with its row in core.migration.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations.Load(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		conn.Release()
		return fmt.Errorf("store: migrate: take the migration lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", migrateLockKey); err != nil {
			// Closing the connection is what releases a session lock for sure.
			_ = conn.Hijack().Close(uctx)
			return
		}
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS core;
		CREATE TABLE IF NOT EXISTS core."migration" (
			"version"   integer     NOT NULL PRIMARY KEY,
			"name"      text        NOT NULL,
			"appliedAt" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
		)`); err != nil {
		return fmt.Errorf("store: migrate: create the migration table: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, `SELECT "version" FROM core."migration"`)
	if err != nil {
		return fmt.Errorf("store: migrate: read applied migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("store: migrate: read applied migrations: %w", err)
	}
	for _, v := range versions {
		applied[int(v)] = true
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(t pgx.Tx) error {
			if _, err := t.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := t.Exec(ctx, `INSERT INTO core."migration" ("version", "name") VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// querier is what a pool and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// reader runs the queries on the pool or, inside InTx, on the transaction.
type reader struct {
	q  querier
	tx *tx // nil outside a transaction
}

// tx is the store.Tx of InTx.
type tx struct {
	reader
	// failed is the first statement error: Postgres has aborted the transaction.
	failed error
}

// wrap maps a driver error to the store's errors with context, and remembers
// inside a transaction that Postgres aborted it.
func (r reader) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if r.tx != nil && r.tx.failed == nil && !errors.Is(err, pgx.ErrNoRows) {
		r.tx.failed = fmt.Errorf("%s: %w", op, mapErr(err))
	}
	return fmt.Errorf("store: %s: %w", op, mapErr(err))
}

// mapErr turns "no rows", unique and foreign-key violations into the store's errors.
func mapErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		}
	}
	return err
}

var _ store.Store = (*Store)(nil)
