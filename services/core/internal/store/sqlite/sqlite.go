// Package sqlite is the embedded store.Store on modernc.org/sqlite (no cgo),
// used by `authbus dev` and single-node installs.
//
// One connection writes (SQLite has one writer at a time anyway; BEGIN
// IMMEDIATE so a transaction takes the write lock up front instead of failing
// to upgrade a read lock), a small pool reads (WAL: readers do not block the
// writer nor wait for it). busy_timeout covers other processes on the same
// file, foreign keys are on (account and session rows cascade with their user).
//
// Dates are stored as better-auth's Kysely SQLite adapter stores them: ISO
// 8601 UTC text with milliseconds (JavaScript's Date.toISOString(), e.g.
// 2026-01-02T03:04:05.678Z) in columns declared "date"; booleans as 0/1. One
// fixed-width format makes text comparison match time order, and a database
// written by better-auth reads the same way. Reading also accepts the other
// text forms SQLite's date functions produce and integer Unix milliseconds.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Memory is the path of a private in-memory database (one connection, gone on Close).
const Memory = ":memory:"

// Options tune the SQLite store; the zero value is the default.
type Options struct {
	// BusyTimeout is how long a statement waits for another process's lock. Default: 5s.
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool (file databases only). Default: 4.
	ReadConns int
	// Synchronous is the WAL sync mode: "FULL" (a commit survives power loss)
	// or "NORMAL" (faster; the last commits may be lost on power loss, never
	// on a crash of the process). Default: "FULL".
	Synchronous string
}

// Store is the SQLite store.Store.
type Store struct {
	reader
	writer *sql.DB
	reads  *sql.DB // == writer for :memory:
	path   string

	sessionByToken atomic.Pointer[sql.Stmt]

	mu         sync.Mutex
	locks      map[*relayLock]struct{}
	memoryHeld bool // the relay lock of a :memory: store
}

// Open opens (creating if needed) the database file at path, or a private
// in-memory database for Memory. It does not migrate: call Migrate.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: sqlite path is empty")
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("store: sqlite path %q contains '?'", path)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	switch strings.ToUpper(opts.Synchronous) {
	case "":
		opts.Synchronous = "FULL"
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("store: sqlite synchronous %q: use FULL or NORMAL", opts.Synchronous)
	}
	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", opts.BusyTimeout.Milliseconds())
	s := &Store{path: path, locks: map[*relayLock]struct{}{}}

	writerDSN := path + "?" + busy + "&_pragma=foreign_keys(1)&_txlock=immediate"
	if path != Memory {
		writerDSN += "&_pragma=journal_mode(WAL)&_pragma=synchronous(" + opts.Synchronous + ")"
	}
	w, err := sql.Open("sqlite", writerDSN)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	// One writer; and for :memory: the one connection is the database, so it must never be closed while open.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	s.writer, s.reads = w, w
	if path != Memory {
		r, err := sql.Open("sqlite", path+"?"+busy+"&_pragma=query_only(1)")
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("store: open sqlite %s for reading: %w", path, err)
		}
		r.SetMaxOpenConns(opts.ReadConns)
		r.SetMaxIdleConns(opts.ReadConns)
		s.reads = r
	}
	s.reader = reader{q: s.reads, sessionByToken: &s.sessionByToken}
	// Already migrated (or not yet: then Migrate prepares it).
	_ = s.prepare(ctx)
	return s, nil
}

// prepare readies the hot-path statement; it fails until the tables exist.
func (s *Store) prepare(ctx context.Context) error {
	if s.sessionByToken.Load() != nil {
		return nil
	}
	stmt, err := s.reads.PrepareContext(ctx, sessionByTokenSQL)
	if err != nil {
		return fmt.Errorf("store: prepare session lookup: %w", err)
	}
	if !s.sessionByToken.CompareAndSwap(nil, stmt) {
		stmt.Close()
	}
	return nil
}

// Close releases held relay locks and closes the connections.
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
	if stmt := s.sessionByToken.Load(); stmt != nil {
		errs = append(errs, stmt.Close())
	}
	if s.reads != s.writer {
		errs = append(errs, s.reads.Close())
	}
	errs = append(errs, s.writer.Close())
	return errors.Join(errs...)
}

// InTx runs fn in a BEGIN IMMEDIATE transaction on the writer connection.
func (s *Store) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", mapErr(err))
	}
	t := &tx{}
	t.reader = reader{q: sqlTx, tx: t}
	// Rolls back when fn fails, panics or exits the goroutine (t.FailNow).
	finished := false
	defer func() {
		if !finished {
			_ = sqlTx.Rollback()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	if t.failed != nil {
		return fmt.Errorf("store: transaction rolled back after a failed statement: %w", t.failed)
	}
	finished = true
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", mapErr(err))
	}
	return nil
}

// Migrate applies the embedded migrations, each in an immediate transaction
// that first re-checks whether another process applied it meanwhile.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations.Load(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS "migration" (
		"version"   integer NOT NULL PRIMARY KEY,
		"name"      text    NOT NULL,
		"appliedAt" date    NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: migrate: create the migration table: %w", err)
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, m); err != nil {
			return fmt.Errorf("store: migration %s: %w", m.Name, err)
		}
	}
	return s.prepare(ctx)
}

func (s *Store) applyMigration(ctx context.Context, m migrations.Migration) error {
	t, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer t.Rollback() //nolint:errcheck // a no-op after Commit
	var n int
	if err := t.QueryRowContext(ctx, `SELECT count(*) FROM "migration" WHERE "version" = ?`, m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := t.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := t.ExecContext(ctx, `INSERT INTO "migration" ("version", "name", "appliedAt") VALUES (?, ?, ?)`,
		m.Version, m.Name, encodeTime(time.Now())); err != nil {
		return err
	}
	return t.Commit()
}

// querier is what a pool and a transaction have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reader runs the queries on the read pool or, inside InTx, on the transaction.
type reader struct {
	q  querier
	tx *tx // nil outside a transaction
	// sessionByToken holds sessionByTokenSQL prepared on the read pool once
	// the tables exist (nil in a transaction): the hot path skips parsing and
	// planning the query.
	sessionByToken *atomic.Pointer[sql.Stmt]
}

// tx is the store.Tx of InTx.
type tx struct {
	reader
	// failed is the first statement error: the transaction is rolled back
	// whatever the callback returns, as on Postgres.
	failed error
}

// wrap maps a driver error to the store's errors with context, and remembers
// a failed statement inside a transaction.
func (r reader) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if r.tx != nil && r.tx.failed == nil && !errors.Is(err, sql.ErrNoRows) {
		r.tx.failed = fmt.Errorf("%s: %w", op, mapErr(err))
	}
	return fmt.Errorf("store: %s: %w", op, mapErr(err))
}

// mapErr turns "no rows", unique and foreign-key violations into the store's errors.
func mapErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		}
	}
	return err
}

var _ store.Store = (*Store)(nil)
