package pgtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Where the helper looks for PostgreSQL binaries after PATH.
const defaultLibRoot = "/usr/lib/postgresql"

// clusterDirPrefix starts the name of every run directory: authbus-pgtest-<owner pid>-<random>.
const clusterDirPrefix = "authbus-pgtest-"

// Time limits for starting and stopping the throwaway cluster.
const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
)

// serverSettings tune the throwaway cluster for tests: durability off (the
// data is thrown away), enough connections for parallel tests and pools, no
// background work that competes for the CPU.
var serverSettings = []string{
	"fsync=off",
	"synchronous_commit=off",
	"full_page_writes=off",
	"max_connections=300",
	"shared_buffers=64MB",
	"wal_level=minimal",
	"max_wal_senders=0",
	"autovacuum=off",
	"jit=off",
	"timezone=UTC",
	"log_timezone=UTC",
	"log_min_messages=warning",
	"log_min_error_statement=panic",
}

// binarySearch says where to look for initdb and postgres.
type binarySearch struct {
	// path is a PATH-style list searched first.
	path string
	// libRoots hold <version>/bin directories, searched newest version first.
	libRoots []string
}

// defaultSearch is PATH, then /usr/lib/postgresql/*/bin.
func defaultSearch() binarySearch {
	return binarySearch{path: os.Getenv("PATH"), libRoots: []string{defaultLibRoot}}
}

// binaries are the two programs the cluster needs.
type binaries struct {
	initdb   string
	postgres string
}

// find returns the first directory holding both initdb and postgres.
func (s binarySearch) find() (binaries, error) {
	var dirs []string
	for _, d := range filepath.SplitList(s.path) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	for _, root := range s.libRoots {
		dirs = append(dirs, versionBinDirs(root)...)
	}
	for _, d := range dirs {
		b := binaries{initdb: filepath.Join(d, "initdb"), postgres: filepath.Join(d, "postgres")}
		if isExecutable(b.initdb) && isExecutable(b.postgres) {
			return b, nil
		}
	}
	return binaries{}, fmt.Errorf("%w: %s is not set, and initdb and postgres were found neither on PATH nor in %s/<version>/bin. "+
		"Fix one of: (1) set %s=postgres://USER:PASSWORD@HOST:5432/postgres?sslmode=disable (a role with CREATEDB); "+
		"(2) install PostgreSQL, e.g. `apt-get install -y postgresql` (Debian/Ubuntu), so that initdb and postgres are on PATH "+
		"or under %s/<version>/bin",
		errNoPostgres, EnvDatabaseURL, strings.Join(s.libRoots, ", "), EnvDatabaseURL, defaultLibRoot)
}

// versionBinDirs lists root/<version>/bin, newest version first.
func versionBinDirs(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	type version struct {
		name  string
		parts []int
	}
	var vs []version
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		var parts []int
		for _, p := range strings.Split(e.Name(), ".") {
			n, err := strconv.Atoi(p)
			if err != nil {
				parts = nil
				break
			}
			parts = append(parts, n)
		}
		if parts != nil {
			vs = append(vs, version{e.Name(), parts})
		}
	}
	sort.Slice(vs, func(i, j int) bool {
		a, b := vs[i].parts, vs[j].parts
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] > b[k]
			}
		}
		return len(a) > len(b)
	})
	dirs := make([]string, 0, len(vs))
	for _, v := range vs {
		dirs = append(dirs, filepath.Join(root, v.name, "bin"))
	}
	return dirs
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// cluster is a running throwaway Postgres.
type cluster struct {
	dir     string // run directory: data/, the socket and postgres.log
	port    int
	proc    *child
	startup time.Duration // how long startCluster took
}

func (c *cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *cluster) logPath() string { return filepath.Join(c.dir, "postgres.log") }

// adminURL connects as the superuser to the maintenance database.
func (c *cluster) adminURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// startCluster creates and starts a cluster in a new temporary directory.
func startCluster(search binarySearch) (*cluster, error) {
	begin := time.Now()
	bins, err := search.find()
	if err != nil {
		return nil, err
	}
	removeStaleDirs(os.TempDir())

	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", clusterDirPrefix, os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("pgtest: create cluster directory: %w", err)
	}
	c := &cluster{dir: dir}
	fail := func(err error) (*cluster, error) {
		if c.proc != nil {
			c.proc.kill()
		}
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	if err := chownTo(dir, cred); err != nil {
		return fail(err)
	}
	if err := makeDataDir(bins, c.dataDir(), cred); err != nil {
		return fail(err)
	}
	for attempt := 0; ; attempt++ {
		err := c.start(bins, cred)
		if err == nil {
			break
		}
		// Another process may take the free port between our probe and postgres' bind.
		if attempt < 4 && errors.Is(err, errPortTaken) {
			continue
		}
		return fail(err)
	}
	c.startup = time.Since(begin)
	return c, nil
}

// errPortTaken marks a start that failed because the port was taken meanwhile.
var errPortTaken = errors.New("port already in use")

// start runs postgres on a free port and waits until it accepts connections.
func (c *cluster) start(bins binaries, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.port = port
	logFile, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: open server log: %w", err)
	}
	defer logFile.Close()
	if err := chownTo(c.logPath(), cred); err != nil {
		return err
	}
	args := []string{"-D", c.dataDir(), "-k", c.dir, "-h", "127.0.0.1", "-p", strconv.Itoa(port)}
	for _, s := range serverSettings {
		args = append(args, "-c", s)
	}
	cmd := exec.Command(bins.postgres, args...)
	cmd.Dir = c.dir
	cmd.Env = serverEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr(cred)
	proc, err := startChild(cmd)
	if err != nil {
		return fmt.Errorf("pgtest: start %s: %w", bins.postgres, err)
	}
	c.proc = proc
	if err := c.waitReady(); err != nil {
		proc.kill()
		c.proc = nil
		log := tail(c.logPath(), 20)
		if strings.Contains(log, "could not bind") || strings.Contains(log, "already in use") {
			return fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return fmt.Errorf("pgtest: postgres did not start: %w\nserver log (%s):\n%s", err, c.logPath(), log)
	}
	return nil
}

// waitReady polls until the server accepts a connection, exits, or times out.
func (c *cluster) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgconn.Connect(ctx, c.adminURL())
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after %s: %w", readyTimeout, err)
		}
		select {
		case <-c.proc.done:
			return fmt.Errorf("postgres exited: %v", c.proc.err)
		case <-tick.C:
		}
	}
}

// stop shuts the server down (fast mode, then immediate, then SIGKILL) and
// removes the run directory.
func (c *cluster) stop() error {
	var errs []error
	if c.proc != nil {
		if err := c.proc.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: remove %s: %w", c.dir, err))
	}
	return errors.Join(errs...)
}

// child is a process whose parent-death signal is tied to a thread that lives
// exactly as long as the process: the kernel sends Pdeathsig when the thread
// that forked the child exits, not when the Go process does, so that thread is
// locked for the child's lifetime.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // from Wait, valid after done
}

// startChild starts cmd from a locked OS thread and waits for it in the background.
func startChild(cmd *exec.Cmd) (*child, error) {
	ch := &child{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			started <- err
			return
		}
		started <- nil
		ch.err = cmd.Wait()
		runtime.UnlockOSThread()
		close(ch.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return ch, nil
}

// stop asks postgres for a fast shutdown, escalating when it takes too long.
func (ch *child) stop() error {
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGQUIT} {
		_ = ch.cmd.Process.Signal(sig)
		select {
		case <-ch.done:
			return nil
		case <-time.After(stopTimeout):
		}
	}
	ch.kill()
	return fmt.Errorf("pgtest: postgres (pid %d) ignored SIGINT and SIGQUIT; killed it", ch.cmd.Process.Pid)
}

// kill ends the process at once and waits for it.
func (ch *child) kill() {
	_ = ch.cmd.Process.Kill()
	<-ch.done
}

// serverCredential is who initdb and postgres run as: the current user, or
// the "postgres" user when running as root (Postgres refuses to run as root).
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root, and Postgres refuses to run as root, but there is no \"postgres\" user to run it as (%v). "+
			"Fix one of: create it (`useradd --system --user-group --home-dir /var/lib/postgresql postgres`), "+
			"or set %s=postgres://USER:PASSWORD@HOST:5432/postgres?sslmode=disable", errNoPostgres, err, EnvDatabaseURL)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: uid of postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: gid of postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// chownTo gives path to cred's user (no-op when not switching users).
func chownTo(path string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	if err := os.Lchown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("pgtest: chown %s to the postgres user: %w", path, err)
	}
	return nil
}

// serverEnv is the environment without PG* variables that could point
// initdb or postgres somewhere else.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, "LC_ALL=C")
}

// initdbArgs are the options of every cluster (part of the template cache key).
var initdbArgs = []string{"-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"}

// makeDataDir fills dataDir with a fresh cluster: a copy of the cached
// template when there is one for these binaries, else by running initdb
// (and caching the result for the next test binary).
func makeDataDir(bins binaries, dataDir string, cred *syscall.Credential) error {
	cache := templateDir(bins)
	if cache != "" {
		if _, err := os.Stat(filepath.Join(cache, "PG_VERSION")); err == nil {
			if err := copyTree(cache, dataDir, cred); err == nil {
				return nil
			}
			_ = os.RemoveAll(dataDir)
		}
	}
	cmd := exec.Command(bins.initdb, append([]string{"-D", dataDir}, initdbArgs...)...)
	cmd.Dir = filepath.Dir(dataDir)
	cmd.Env = serverEnv()
	cmd.SysProcAttr = childAttr(cred)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: %s failed: %w\n%s", bins.initdb, err, out.String())
	}
	if cache != "" {
		saveTemplate(dataDir, cache)
	}
	return nil
}

// templateDir is where a fresh data directory made by these binaries is
// cached, or "" when there is no cache directory. The key changes when the
// postgres binary or the initdb options change.
func templateDir(bins binaries) string {
	base, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	resolved, err := filepath.EvalSymlinks(bins.postgres)
	if err != nil {
		return ""
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%d\n%d\n%s\n", resolved, fi.Size(), fi.ModTime().UnixNano(), strings.Join(initdbArgs, " "))
	return filepath.Join(base, "authbus", "pgtest", hex.EncodeToString(h.Sum(nil))[:16])
}

// saveTemplate copies dataDir to cache atomically (best effort: a test never
// fails because the cache cannot be written).
func saveTemplate(dataDir, cache string) {
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return
	}
	tmp, err := os.MkdirTemp(filepath.Dir(cache), "tmp-")
	if err != nil {
		return
	}
	dst := filepath.Join(tmp, "data")
	if err := copyTree(dataDir, dst, nil); err != nil {
		_ = os.RemoveAll(tmp)
		return
	}
	// Losing the race to another test binary is fine: its copy is as good.
	_ = os.Rename(dst, cache)
	_ = os.RemoveAll(tmp)
}

// copyTree copies a directory of regular files and directories, keeping
// permissions, owned by cred's user when cred is set.
func copyTree(src, dst string, cred *syscall.Credential) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := copyFile(path, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("pgtest: unexpected file type in %s", path)
		}
		return chownTo(target, cred)
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// removeStaleDirs deletes run directories of test binaries that have died
// without calling Main (their postgres died with them by Pdeathsig).
func removeStaleDirs(tmp string) {
	matches, _ := filepath.Glob(filepath.Join(tmp, clusterDirPrefix+"*"))
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), clusterDirPrefix)
		pidText, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(m)
	}
}

// processAlive reports whether pid names a live (not zombie) process.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc (not Linux): kill(0) said it exists
	}
	// The state follows the command name, which is in parentheses and may contain spaces.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		state := stat[i+2]
		return state != 'Z' && state != 'X'
	}
	return true
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
