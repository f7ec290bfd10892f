package core

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/importer"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/storeopen"
)

// The admin CLI (`authbus migrate`, `authbus import better-auth`, `authbus
// user promote|demote`) works on the core's store and importer, which
// cmd/authbus cannot import (they are internal); these expose them.

// ErrNoDatabase is returned when no database URL was given.
var ErrNoDatabase = errors.New("no database: pass --database-url or set AUTHBUS_DATABASE_URL " +
	"(postgres://USER:PASSWORD@HOST:5432/DB, or a SQLite file such as ./authbus.db)")

// RedactDatabaseURL returns the URL without its password, for printing.
func RedactDatabaseURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// MigrationReport says what Migrate did.
type MigrationReport struct {
	// Backend is "postgres" or "sqlite".
	Backend string
	// Created is true when Migrate created the SQLite database file.
	Created bool
	// Applied lists the migrations applied now, in order.
	Applied []string
	// All lists every migration the database has now, in order.
	All []string
}

// Migrate applies the core's migrations to the database at databaseURL
// (creating a SQLite file) and reports which it applied.
func Migrate(ctx context.Context, databaseURL string) (MigrationReport, error) {
	backend, target, err := parseDatabaseURL(databaseURL)
	if err != nil {
		return MigrationReport{}, err
	}
	rep := MigrationReport{Backend: string(backend)}
	if backend == storeopen.SQLite {
		if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
			rep.Created = true
		}
	}
	before, err := appliedMigrations(ctx, backend, target)
	if err != nil {
		return rep, err
	}
	st, err := storeopen.Open(ctx, databaseURL, storeopen.Options{})
	if err != nil {
		return rep, openError(databaseURL, err)
	}
	if err := st.Close(); err != nil {
		return rep, err
	}
	if rep.All, err = appliedMigrations(ctx, backend, target); err != nil {
		return rep, err
	}
	for _, m := range rep.All {
		if !slices.Contains(before, m) {
			rep.Applied = append(rep.Applied, m)
		}
	}
	return rep, nil
}

// parseDatabaseURL checks that a URL was given and names a backend.
func parseDatabaseURL(databaseURL string) (storeopen.Backend, string, error) {
	if databaseURL == "" {
		return "", "", ErrNoDatabase
	}
	backend, target, err := storeopen.Parse(databaseURL)
	if err != nil {
		return "", "", fmt.Errorf("database URL: %w", err)
	}
	if backend == storeopen.SQLite && target == ":memory:" {
		return "", "", errors.New("database URL: a SQLite database in memory is gone when the command ends; give a file path")
	}
	return backend, target, nil
}

// openError explains a failure to open the database.
func openError(databaseURL string, err error) error {
	return fmt.Errorf("cannot open the database %s (is it running, and are the URL and credentials right?): %w",
		RedactDatabaseURL(databaseURL), err)
}

// appliedMigrations lists the migrations recorded in the database, none
// when it (or its migration table) does not exist yet.
func appliedMigrations(ctx context.Context, backend storeopen.Backend, target string) ([]string, error) {
	var names []string
	switch backend {
	case storeopen.Postgres:
		conn, err := pgx.Connect(ctx, target)
		if err != nil {
			return nil, fmt.Errorf("cannot connect to the database %s (is it running, and are the URL and credentials right?): %w",
				RedactDatabaseURL(target), err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass('core.migration') IS NOT NULL`).Scan(&exists); err != nil || !exists {
			return nil, err
		}
		rows, err := conn.Query(ctx, `SELECT "name" FROM core."migration" ORDER BY "version"`)
		if err != nil {
			return nil, fmt.Errorf("read the applied migrations: %w", err)
		}
		if names, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, fmt.Errorf("read the applied migrations: %w", err)
		}
	default:
		if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		db, err := sql.Open("sqlite", target+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", target, err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'migration'`).Scan(&n); err != nil {
			return nil, fmt.Errorf("open %s: %w", target, err)
		}
		if n == 0 {
			return nil, nil
		}
		rows, err := db.QueryContext(ctx, `SELECT "name" FROM "migration" ORDER BY "version"`)
		if err != nil {
			return nil, fmt.Errorf("read the applied migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return nil, fmt.Errorf("read the applied migrations: %w", err)
			}
			names = append(names, name)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read the applied migrations: %w", err)
		}
	}
	return names, nil
}

// openExisting opens the store at databaseURL without migrating it and
// checks that it has the core's tables.
func openExisting(ctx context.Context, databaseURL string) (store.Store, error) {
	backend, target, err := parseDatabaseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	if backend == storeopen.SQLite {
		// Opening a missing file would create an empty database.
		if _, err := os.Stat(target); err != nil {
			return nil, fmt.Errorf("database %s: %w (check the path, or create it with `authbus migrate`)", target, err)
		}
	}
	st, err := storeopen.Open(ctx, databaseURL, storeopen.Options{SkipMigrate: true})
	if err != nil {
		return nil, openError(databaseURL, err)
	}
	if _, err := st.ListUsers(ctx, store.ListUsersOptions{Limit: 1}); err != nil {
		st.Close()
		return nil, fmt.Errorf("database %s has no authbus tables yet: run `authbus migrate` first (%w)", RedactDatabaseURL(databaseURL), err)
	}
	return st, nil
}

// ImportOptions tune ImportBetterAuth (importer.Options).
type ImportOptions = importer.Options

// ImportReport says what ImportBetterAuth did (importer.Report).
type ImportReport = importer.Report

// ImportCounts are the fate of one table's rows (importer.Counts).
type ImportCounts = importer.Counts

// ImportBetterAuth copies users, accounts and verifications from the
// better-auth database at from into the core's database (already
// migrated), with a user.created event per imported user.
func ImportBetterAuth(ctx context.Context, from, databaseURL string, opts ImportOptions) (ImportReport, error) {
	if from == "" {
		return ImportReport{}, errors.New("--from is required: the better-auth database, postgres://… or a SQLite file")
	}
	st, err := openExisting(ctx, databaseURL)
	if err != nil {
		return ImportReport{}, err
	}
	defer st.Close()
	src, err := importer.OpenSource(ctx, from)
	if err != nil {
		return ImportReport{}, fmt.Errorf("better-auth database %s: %w", RedactDatabaseURL(from), err)
	}
	defer src.Close()
	return importer.Import(ctx, src, st, opts)
}

// RoleChange says what SetUserRole did.
type RoleChange struct {
	// UserID and Email identify the user.
	UserID, Email string
	// From and To are the role before and after.
	From, To string
	// EventID is the id of the user.updated event written, "" when the role was already To.
	EventID string
}

// ErrUserNotFound is returned by SetUserRole for an unknown email.
var ErrUserNotFound = errors.New("no user with that email")

// SetUserRole sets the role ("admin" or "user") of the user with that
// email and, when it changed, writes a user.updated event to the outbox in
// the same transaction; the core's relay publishes it.
func SetUserRole(ctx context.Context, databaseURL, email, role string) (RoleChange, error) {
	if role != store.RoleAdmin && role != store.RoleUser {
		return RoleChange{}, fmt.Errorf("role %q: use %q or %q", role, store.RoleAdmin, store.RoleUser)
	}
	if email == "" {
		return RoleChange{}, errors.New("an email is required")
	}
	st, err := openExisting(ctx, databaseURL)
	if err != nil {
		return RoleChange{}, err
	}
	defer st.Close()
	var ch RoleChange
	err = st.InTx(ctx, func(tx store.Tx) error {
		u, err := tx.UserByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrUserNotFound, email)
		}
		if err != nil {
			return err
		}
		ch = RoleChange{UserID: u.ID, Email: u.Email, From: u.Role, To: role}
		if u.Role == role {
			return nil
		}
		u, err = tx.UpdateUser(ctx, u.ID, store.UserUpdate{Role: store.Some(role)})
		if err != nil {
			return err
		}
		env, err := contracts.NewEnvelope(importer.DefaultEventSource, contracts.EventUserUpdated, u.ID, contracts.UserUpdated{
			User:    u.Public(),
			Changed: []string{"role"},
		})
		if err != nil {
			return err
		}
		ch.EventID = env.ID
		return tx.AppendOutbox(ctx, env)
	})
	if err != nil {
		return RoleChange{}, err
	}
	return ch, nil
}
