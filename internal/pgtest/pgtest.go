// Package pgtest gives each test a real, empty Postgres database.
//
// The server is AUTHBUS_TEST_DATABASE_URL when that is set (a role allowed to
// CREATE DATABASE); otherwise a throwaway cluster that the helper starts once
// per test binary from the local PostgreSQL binaries (initdb and postgres, found
// on PATH or under /usr/lib/postgresql/<version>/bin, newest first). The cluster
// runs as a direct child of the test binary and dies with it; call Main from
// TestMain to stop it cleanly and remove its files:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// When no server can be had, the test fails with a message that says how to
// fix it. It never skips.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDatabaseURL names the variable that points the tests at an existing server.
const EnvDatabaseURL = "AUTHBUS_TEST_DATABASE_URL"

// adminTimeout bounds each CREATE/DROP DATABASE round trip.
const adminTimeout = 30 * time.Second

// server is where test databases are created.
type server struct {
	// adminURL connects to a database on the server with a role that may create databases.
	adminURL string
	// cluster is the throwaway cluster behind adminURL, nil for an external server.
	cluster *cluster
	// createOptions follow CREATE DATABASE <name>.
	createOptions string
}

var shared struct {
	sync.Mutex
	srv  *server
	err  error
	done bool
}

// sharedServer returns the server of this test binary, starting the throwaway
// cluster on first use. A failure is remembered: every later test fails the
// same way instead of trying again.
func sharedServer() (*server, error) {
	shared.Lock()
	defer shared.Unlock()
	if !shared.done {
		shared.srv, shared.err = resolveServer(os.Getenv(EnvDatabaseURL), defaultSearch())
		shared.done = true
	}
	return shared.srv, shared.err
}

// resolveServer picks the external server named by envURL, or else starts a cluster.
func resolveServer(envURL string, search binarySearch) (*server, error) {
	if envURL != "" {
		return externalServer(envURL)
	}
	c, err := startCluster(search)
	if err != nil {
		if errors.Is(err, errNoPostgres) {
			return nil, err // already says how to fix it
		}
		return nil, fmt.Errorf("%w: the throwaway cluster did not start: %w\n"+
			"Fix the problem above, or set %s=postgres://USER:PASSWORD@HOST:5432/postgres?sslmode=disable to use a running server (a role with CREATEDB)",
			errNoPostgres, err, EnvDatabaseURL)
	}
	// Nothing else connects to the cluster's template1, and FILE_COPY is the
	// fastest way to clone a small template (about half the time of WAL_LOG).
	return &server{adminURL: c.adminURL(), cluster: c, createOptions: "TEMPLATE template1 STRATEGY FILE_COPY"}, nil
}

// externalServer checks that envURL is usable for creating databases.
func externalServer(envURL string) (*server, error) {
	if _, err := pgx.ParseConfig(envURL); err != nil {
		return nil, fmt.Errorf("pgtest: %s is not a valid Postgres URL (%w); "+
			"use e.g. %s=postgres://user:password@127.0.0.1:5432/postgres?sslmode=disable", EnvDatabaseURL, err, EnvDatabaseURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, envURL)
	if err != nil {
		return nil, fmt.Errorf("pgtest: cannot connect to %s (%w); start that server, fix the URL, "+
			"or unset %s to let the tests start their own cluster from the local PostgreSQL binaries",
			EnvDatabaseURL, err, EnvDatabaseURL)
	}
	defer conn.Close(ctx)
	var canCreate bool
	if err := conn.QueryRow(ctx, "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&canCreate); err != nil {
		return nil, fmt.Errorf("pgtest: check the role of %s: %w", EnvDatabaseURL, err)
	}
	if !canCreate {
		return nil, fmt.Errorf("pgtest: the role in %s may not create databases; "+
			"run ALTER ROLE <name> CREATEDB, or point it at a role that can", EnvDatabaseURL)
	}
	// template0 is empty on every server and never has connections, so
	// concurrent CREATE DATABASEs do not trip over "source database is being
	// accessed by other users".
	return &server{adminURL: envURL, createOptions: "TEMPLATE template0 ENCODING 'UTF8'"}, nil
}

// Main runs the tests and then stops the throwaway cluster, if one was
// started, and removes its files. Use it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	shared.Lock()
	srv := shared.srv
	shared.srv, shared.err, shared.done = nil, nil, false
	shared.Unlock()
	if srv != nil && srv.cluster != nil {
		if err := srv.cluster.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	}
	return code
}

// URL returns the URL of a new, empty database that is dropped when the test
// (and its cleanups registered after this call) finishes. Call it from the
// test's goroutine: it fails the test when no Postgres is available.
func URL(t testing.TB) string {
	t.Helper()
	return urlFrom(t, sharedServer)
}

// urlFrom is URL with the server lookup injected (so its failure path can be tested).
func urlFrom(t testing.TB, get func() (*server, error)) string {
	t.Helper()
	srv, err := get()
	if err != nil {
		t.Fatalf("%v", err)
		return ""
	}
	name := databaseName(t.Name())
	u, err := srv.createDatabase(name)
	if err != nil {
		t.Fatalf("%v", err)
		return ""
	}
	t.Cleanup(func() {
		if err := srv.dropDatabase(name); err != nil {
			t.Errorf("%v", err)
		}
	})
	return u
}

// createDatabase creates the database name and returns its URL.
func (s *server) createDatabase(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		return "", fmt.Errorf("pgtest: connect to the test server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" "+s.createOptions); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return withDatabase(s.adminURL, name)
}

// dropDatabase drops the database name, closing any connection a test left open.
func (s *server) dropDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		return fmt.Errorf("pgtest: connect to drop database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", name, err)
	}
	return nil
}

// withDatabase returns connString pointing at database name instead. It
// accepts both URL and keyword/value connection strings.
func withDatabase(connString, name string) (string, error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", fmt.Errorf("pgtest: parse server URL: %w", err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In keyword/value form the last occurrence of a keyword wins.
	return connString + " dbname=" + name, nil
}

// databaseName makes a unique, valid database name that hints at the test.
func databaseName(testName string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		panic("pgtest: crypto/rand: " + err.Error())
	}
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(rnd[:]))
	return b.String()
}

// errNoPostgres is wrapped by the error reported when no server can be found or started.
var errNoPostgres = errors.New("pgtest: no Postgres server for the tests")
