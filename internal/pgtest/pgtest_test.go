package pgtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// helperEnv makes the test binary act as a crashing owner of a cluster (see TestMain).
const helperEnv = "PGTEST_HELPER_OWN_CLUSTER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		ownClusterUntilKilled()
		return
	}
	os.Exit(Main(m))
}

// ownClusterUntilKilled starts a cluster, prints its postmaster pid and run
// directory, and blocks until the parent test kills this process.
func ownClusterUntilKilled() {
	srv, err := resolveServer("", defaultSearch())
	if err != nil {
		fmt.Printf("error=%v\n", err)
		os.Exit(1)
	}
	fmt.Printf("pid=%d dir=%s\n", srv.cluster.proc.cmd.Process.Pid, srv.cluster.dir)
	select {}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestURLGivesFreshEmptyDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := URL(t), URL(t)
	require.NotEqual(t, a, b)

	ca, cb := connect(t, a), connect(t, b)
	var nameA, nameB string
	require.NoError(t, ca.QueryRow(ctx, "SELECT current_database()").Scan(&nameA))
	require.NoError(t, cb.QueryRow(ctx, "SELECT current_database()").Scan(&nameB))
	require.NotEqual(t, nameA, nameB)
	require.True(t, strings.HasPrefix(nameA, "t_testurlgivesfreshemptydatabases_"), nameA)

	var tables int
	require.NoError(t, ca.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog','information_schema')").Scan(&tables))
	require.Zero(t, tables, "a new database has no tables")

	_, err := ca.Exec(ctx, "CREATE TABLE only_in_a (id int)")
	require.NoError(t, err)
	require.NoError(t, cb.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'").Scan(&tables))
	require.Zero(t, tables, "databases are isolated")

	var encoding, tz string
	require.NoError(t, ca.QueryRow(ctx, "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()").Scan(&encoding))
	require.Equal(t, "UTF8", encoding)
	require.NoError(t, ca.QueryRow(ctx, "SHOW timezone").Scan(&tz))
	if os.Getenv(EnvDatabaseURL) == "" {
		require.Equal(t, "UTC", tz)
		var fsync string
		require.NoError(t, ca.QueryRow(ctx, "SHOW fsync").Scan(&fsync))
		require.Equal(t, "off", fsync, "the throwaway cluster is tuned for tests")
	}
}

func TestDatabaseIsDroppedAtCleanup(t *testing.T) {
	srv, err := sharedServer()
	require.NoError(t, err)
	var name string
	t.Run("uses a database", func(t *testing.T) {
		conn := connect(t, URL(t)) // left open on purpose: the drop must force it closed
		require.NoError(t, conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&name))
	})
	admin := connect(t, srv.adminURL)
	var n int
	require.NoError(t, admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n))
	require.Zero(t, n, "database %s still exists after its test", name)
}

func TestConcurrentURLs(t *testing.T) {
	for i := range 4 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			var one int
			require.NoError(t, connect(t, URL(t)).QueryRow(context.Background(), "SELECT 1").Scan(&one))
			require.Equal(t, 1, one)
		})
	}
}

func TestExternalServer(t *testing.T) {
	base, err := sharedServer()
	require.NoError(t, err)
	cfg, err := pgx.ParseConfig(base.adminURL)
	require.NoError(t, err)
	keywordForm := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", cfg.Host, cfg.Port, cfg.User, cfg.Database)

	tests := []struct {
		name    string
		env     string
		wantErr string
	}{
		{name: "URL form", env: base.adminURL},
		{name: "keyword/value form", env: keywordForm},
		{name: "not a URL", env: "postgres://%zz", wantErr: EnvDatabaseURL + " is not a valid Postgres URL"},
		{name: "nobody listening", env: "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2", wantErr: "cannot connect to " + EnvDatabaseURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := resolveServer(tc.env, binarySearch{})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Nil(t, srv.cluster, "an external server is used as is")
			u := urlFrom(t, func() (*server, error) { return srv, nil })
			var db string
			require.NoError(t, connect(t, u).QueryRow(context.Background(), "SELECT current_database()").Scan(&db))
			require.True(t, strings.HasPrefix(db, "t_testexternalserver_"), db)
		})
	}
}

func TestExternalServerRoleWithoutCreateDB(t *testing.T) {
	srv, err := sharedServer()
	require.NoError(t, err)
	ctx := context.Background()
	admin := connect(t, srv.adminURL)
	role := "pgtest_nocreatedb_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	_, err = admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD 'pw'")
	require.NoError(t, err)
	defer func() {
		_, err := admin.Exec(ctx, "DROP ROLE "+role)
		require.NoError(t, err)
	}()

	cfg, err := pgx.ParseConfig(srv.adminURL)
	require.NoError(t, err)
	u := fmt.Sprintf("postgres://%s:pw@%s:%d/%s?sslmode=disable", role, cfg.Host, cfg.Port, cfg.Database)
	_, err = resolveServer(u, binarySearch{})
	require.ErrorContains(t, err, "may not create databases")
	require.ErrorContains(t, err, "ALTER ROLE")
}

func TestMissingPostgresFailsWithFix(t *testing.T) {
	_, err := resolveServer("", binarySearch{path: t.TempDir(), libRoots: []string{t.TempDir()}})
	require.ErrorIs(t, err, errNoPostgres)
	for _, fix := range []string{EnvDatabaseURL + "=postgres://", "apt-get install -y postgresql", "/usr/lib/postgresql/<version>/bin", "PATH"} {
		require.ErrorContains(t, err, fix)
	}

	// URL turns the error into a failed test, never a skip.
	ft := &fakeTB{TB: t}
	got := urlFrom(ft, func() (*server, error) { return nil, err })
	require.Empty(t, got)
	require.Contains(t, ft.fatal, EnvDatabaseURL)
	require.False(t, ft.skipped)
}

func TestBrokenBinariesFailWithFix(t *testing.T) {
	dir, err := os.MkdirTemp("", "pgtest-broken-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755)) // the postgres user runs these when we are root
	for _, name := range []string{"initdb", "postgres"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\necho \"$0: broken on purpose\" >&2\nexit 1\n"), 0o755))
	}
	_, err = resolveServer("", binarySearch{path: dir})
	require.ErrorIs(t, err, errNoPostgres)
	require.ErrorContains(t, err, "initdb: broken on purpose", "the tool's own output is shown")
	require.ErrorContains(t, err, EnvDatabaseURL+"=postgres://")
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-*", clusterDirPrefix, os.Getpid())))
	for _, m := range matches {
		if srv, _ := sharedServer(); srv == nil || srv.cluster == nil || srv.cluster.dir != m {
			t.Errorf("a failed start left %s behind", m)
		}
	}
}

// fakeTB records Fatalf instead of ending the test.
type fakeTB struct {
	testing.TB
	fatal   string
	skipped bool
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }
func (f *fakeTB) Skip(...any)                       { f.skipped = true }
func (f *fakeTB) Skipf(string, ...any)              { f.skipped = true }
func (f *fakeTB) SkipNow()                          { f.skipped = true }

func TestFindBinaries(t *testing.T) {
	mk := func(t *testing.T, dir string, names ...string) string {
		t.Helper()
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, n := range names {
			require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755))
		}
		return dir
	}
	tests := []struct {
		name    string
		layout  func(t *testing.T, root string) binarySearch
		wantDir string // relative to root; "" means not found
	}{
		{
			name: "PATH first",
			layout: func(t *testing.T, root string) binarySearch {
				mk(t, filepath.Join(root, "lib/16/bin"), "initdb", "postgres")
				return binarySearch{path: mk(t, filepath.Join(root, "onpath"), "initdb", "postgres"), libRoots: []string{filepath.Join(root, "lib")}}
			},
			wantDir: "onpath",
		},
		{
			name: "newest version, numerically",
			layout: func(t *testing.T, root string) binarySearch {
				for _, v := range []string{"9.6", "15", "16", "10"} {
					mk(t, filepath.Join(root, "lib", v, "bin"), "initdb", "postgres")
				}
				mk(t, filepath.Join(root, "lib/notaversion/bin"), "initdb", "postgres")
				return binarySearch{libRoots: []string{filepath.Join(root, "lib")}}
			},
			wantDir: "lib/16/bin",
		},
		{
			name: "a directory needs both programs",
			layout: func(t *testing.T, root string) binarySearch {
				mk(t, filepath.Join(root, "lib/17/bin"), "initdb")
				mk(t, filepath.Join(root, "lib/15/bin"), "initdb", "postgres")
				return binarySearch{path: mk(t, filepath.Join(root, "onpath"), "postgres"), libRoots: []string{filepath.Join(root, "lib")}}
			},
			wantDir: "lib/15/bin",
		},
		{
			name: "not executable",
			layout: func(t *testing.T, root string) binarySearch {
				dir := mk(t, filepath.Join(root, "onpath"), "initdb", "postgres")
				require.NoError(t, os.Chmod(filepath.Join(dir, "postgres"), 0o644))
				return binarySearch{path: dir}
			},
		},
		{
			name: "nothing anywhere",
			layout: func(t *testing.T, root string) binarySearch {
				return binarySearch{path: root, libRoots: []string{filepath.Join(root, "missing")}}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			got, err := tc.layout(t, root).find()
			if tc.wantDir == "" {
				require.ErrorIs(t, err, errNoPostgres)
				return
			}
			require.NoError(t, err)
			require.Equal(t, filepath.Join(root, tc.wantDir, "initdb"), got.initdb)
			require.Equal(t, filepath.Join(root, tc.wantDir, "postgres"), got.postgres)
		})
	}
}

func TestDatabaseName(t *testing.T) {
	tests := []struct {
		name, test, prefix string
	}{
		{name: "plain", test: "TestX", prefix: "t_testx_"},
		{name: "subtest and symbols", test: "TestA/b c-\"d\"", prefix: "t_testa_b_c__d__"},
		{name: "long names are cut", test: strings.Repeat("x", 100), prefix: "t_" + strings.Repeat("x", 38) + "_"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := databaseName(tc.test)
			require.True(t, strings.HasPrefix(got, tc.prefix), got)
			require.LessOrEqual(t, len(got), 63, "Postgres truncates identifiers at 63 bytes")
			require.NotEqual(t, got, databaseName(tc.test), "names are unique")
		})
	}
}

// The throwaway cluster is a direct child with a parent-death signal: when
// the test binary is killed (no Main, no cleanup), its postgres dies too and
// the next run removes the leftover directory.
func TestClusterDiesWithTestBinary(t *testing.T) {
	if os.Getenv(EnvDatabaseURL) != "" {
		// The helper process would use the external server too; start a cluster regardless.
		t.Setenv(EnvDatabaseURL, "")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	var pid int
	var dir string
	_, err = fmt.Sscanf(strings.TrimSpace(line), "pid=%d dir=%s", &pid, &dir)
	require.NoError(t, err, "helper said %q", line)
	require.True(t, processAlive(pid))

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.Eventually(t, func() bool { return !processAlive(pid) }, 20*time.Second, 10*time.Millisecond,
		"postgres (pid %d) outlived its test binary", pid)

	_, err = os.Stat(dir)
	require.NoError(t, err, "a killed binary leaves its directory behind")
	removeStaleDirs(filepath.Dir(dir))
	_, err = os.Stat(dir)
	require.True(t, os.IsNotExist(err), "the next run removes the leftover directory")
}

func TestStartupTime(t *testing.T) {
	srv, err := sharedServer()
	require.NoError(t, err)
	if srv.cluster != nil {
		t.Logf("throwaway cluster started in %s (port %d, dir %s)", srv.cluster.startup, srv.cluster.port, srv.cluster.dir)
	}
	begin := time.Now()
	URL(t)
	t.Logf("CREATE DATABASE took %s", time.Since(begin))
}
