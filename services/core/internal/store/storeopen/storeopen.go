// Package storeopen opens the store a database URL names: postgres:// or
// postgresql:// for Postgres; sqlite:<path>, file:<path>, a plain file path
// or :memory: for SQLite.
package storeopen

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/postgres"
	"github.com/authbus/authbus/services/core/internal/store/sqlite"
)

// ErrUnsupportedURL is wrapped by the error for a URL that names neither backend.
var ErrUnsupportedURL = errors.New("unsupported database URL")

// Options tune Open; the zero value opens and migrates.
type Options struct {
	// SkipMigrate opens without applying migrations. Default: false (migrate).
	SkipMigrate bool
	// Postgres tunes a Postgres store.
	Postgres postgres.Options
	// SQLite tunes a SQLite store.
	SQLite sqlite.Options
}

// Backend names what a URL points at.
type Backend string

// The backends.
const (
	Postgres Backend = "postgres"
	SQLite   Backend = "sqlite"
)

// Parse tells which backend rawURL names and returns what that backend opens:
// the connection string for Postgres, the file path (or sqlite.Memory) for SQLite.
//
//	postgres://… or postgresql://…   Postgres, passed to pgx as is
//	sqlite::memory: or :memory:     SQLite in memory
//	sqlite:///abs/path.db           SQLite file /abs/path.db
//	sqlite:rel/path.db, sqlite://rel/path.db, file:path.db   SQLite file (query ignored)
//	./core.db, /var/lib/authbus/core.db, core.db             SQLite file
func Parse(rawURL string) (Backend, string, error) {
	s := strings.TrimSpace(rawURL)
	if s == "" {
		return "", "", fmt.Errorf("%w: the database URL is empty; use postgres://USER:PASSWORD@HOST:5432/DB or a SQLite path such as ./authbus.db", ErrUnsupportedURL)
	}
	scheme, rest, hasScheme := strings.Cut(s, ":")
	if s == sqlite.Memory {
		return SQLite, sqlite.Memory, nil
	}
	if !hasScheme || strings.ContainsAny(scheme, `/\.`) || len(scheme) == 0 {
		return SQLite, s, nil // a plain path
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		if !strings.HasPrefix(rest, "//") {
			return "", "", fmt.Errorf("%w: %s URLs start with %s://", ErrUnsupportedURL, scheme, scheme)
		}
		return Postgres, s, nil
	case "sqlite", "sqlite3", "file":
		path := rest
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		// sqlite:///abs → /abs; sqlite://rel → rel.
		path = strings.TrimPrefix(path, "//")
		if p, err := url.PathUnescape(path); err == nil {
			path = p
		}
		if path == "" {
			return "", "", fmt.Errorf("%w: %s: has no file path; use e.g. sqlite:./authbus.db, or sqlite::memory: for a database in memory only", ErrUnsupportedURL, scheme)
		}
		return SQLite, path, nil
	default:
		// Name only the scheme: the rest may hold a password.
		return "", "", fmt.Errorf("%w: scheme %q; use postgres://… or postgresql://… for Postgres, or sqlite:<path>, a file path or :memory: for SQLite",
			ErrUnsupportedURL, scheme)
	}
}

// Open opens the store rawURL names and, unless opts.SkipMigrate, migrates it.
func Open(ctx context.Context, rawURL string, opts Options) (store.Store, error) {
	backend, target, err := Parse(rawURL)
	if err != nil {
		return nil, err
	}
	var s store.Store
	switch backend {
	case Postgres:
		s, err = postgres.Open(ctx, target, opts.Postgres)
	case SQLite:
		s, err = sqlite.Open(ctx, target, opts.SQLite)
	}
	if err != nil {
		return nil, err
	}
	if !opts.SkipMigrate {
		if err := s.Migrate(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}
