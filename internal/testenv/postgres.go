package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostgresBinGlob is where the tests look for PostgreSQL's server binaries
// (initdb, pg_ctl, pg_basebackup): Debian's layout, the newest version wins.
const PostgresBinGlob = "/usr/lib/postgresql/*/bin"

// PostgresCluster is a PostgreSQL of the test's own — a primary and, when
// asked, a streaming standby — in a temporary directory, on free loopback
// ports, which a test may crash, stop, start and promote. The shared server
// the other tests use is never touched. As root, the servers run as the
// postgres OS user (initdb refuses root); otherwise as the test's own user.
type PostgresCluster struct {
	t    testing.TB
	bin  string
	root string
	run  []string // the prefix that runs a command as the cluster's OS user
	uid  int
	gid  int
	// watchdog cleans up after a test process that died without its cleanups.
	watchdog *exec.Cmd
	// superPass and replPass are the passwords of the superuser "postgres"
	// and of the role "replicator" the standby streams as.
	superPass, replPass string
	// Primary is the server that took the writes first; Standby streams from
	// it (nil without PostgresOptions.Standby).
	Primary, Standby *PostgresServer
	// User and Password are the login role the shop connects as; it owns the
	// databases of PostgresOptions.Databases.
	User, Password string
}

// PostgresServer is one server of a PostgresCluster.
type PostgresServer struct {
	c    *PostgresCluster
	Name string
	Dir  string
	Port int
}

// PostgresOptions says what StartPostgres makes.
type PostgresOptions struct {
	// Standby adds a standby made by pg_basebackup -R, streaming from the
	// primary, which the primary waits for on every commit
	// (synchronous_standby_names='*', synchronous_commit=on): a commit the
	// primary acknowledged is on the standby's disk. The standby itself
	// waits for no one, so that once promoted it commits alone.
	Standby bool
	// Databases are created, owned by User.
	Databases []string
}

// StartPostgres initializes and starts a private cluster, or skips the test
// when PostgreSQL's server binaries are not installed (fails under
// BULWARK_TEST_REQUIRE_SERVICES=1). Every server is stopped and the
// directory removed when the test ends, failed or not.
func StartPostgres(t testing.TB, opts PostgresOptions) *PostgresCluster {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		missing(t, "no PostgreSQL server binaries in "+PostgresBinGlob+": the private-cluster drills did not run")
		t.SkipNow()
	}
	c := &PostgresCluster{t: t, bin: bin, uid: -1, gid: -1, superPass: randomHex(16), replPass: randomHex(16), User: "bulwark", Password: randomHex(16)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(t, "running as root without a postgres OS user: the private-cluster drills did not run")
			t.SkipNow()
		}
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		c.run = []string{"runuser", "-u", "postgres", "--"}
	}
	// Not t.TempDir: its parents are root's and closed to the postgres user.
	root, err := os.MkdirTemp("", "bulwark-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.root = root
	t.Cleanup(c.remove)
	if err := os.Chmod(root, 0o700); err != nil {
		t.Fatal(err)
	}
	c.chown(root)
	c.startWatchdog()
	pwfile := filepath.Join(root, "superuser.pw")
	c.writeFile(pwfile, c.superPass+"\n")

	c.Primary = &PostgresServer{c: c, Name: "primary", Dir: filepath.Join(root, "primary"), Port: FreePort(t)}
	c.must("initdb", filepath.Join(bin, "initdb"), "-D", c.Primary.Dir, "-U", "postgres", "--auth=scram-sha-256",
		"--pwfile="+pwfile, "--encoding=UTF8", "--locale=C", "--no-sync")
	c.Primary.configure(map[string]string{
		"wal_level": "replica", "max_wal_senders": "4", "max_replication_slots": "4",
		"synchronous_commit": "on",
		"wal_sender_timeout": "5s", "shared_buffers": "16MB", "max_connections": "60",
	})
	c.Primary.Start()

	super := c.Primary.open("postgres", c.superPass, "postgres")
	defer super.Close()
	// The passwords are hex digits made here and the database names the
	// test's own, never input: CREATE ROLE and CREATE DATABASE take no bind
	// parameters.
	stmts := []string{
		"CREATE ROLE " + c.User + " LOGIN PASSWORD '" + c.Password + "'",
		"CREATE ROLE replicator REPLICATION LOGIN PASSWORD '" + c.replPass + "'",
	}
	for _, db := range opts.Databases {
		stmts = append(stmts, "CREATE DATABASE "+db+" OWNER "+c.User)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, q := range stmts {
		if _, err := super.ExecContext(ctx, q); err != nil {
			t.Fatalf("private cluster: %s: %v", strings.SplitN(q, " PASSWORD", 2)[0], err)
		}
	}
	if !opts.Standby {
		return c
	}

	c.Standby = &PostgresServer{c: c, Name: "standby", Dir: filepath.Join(root, "standby"), Port: FreePort(t)}
	// The replication password through a password file, never a command line.
	passfile := filepath.Join(root, "pgpass")
	c.writeFile(passfile, fmt.Sprintf("127.0.0.1:%d:*:replicator:%s\n", c.Primary.Port, c.replPass))
	c.must("pg_basebackup", "env", "PGPASSFILE="+passfile, filepath.Join(bin, "pg_basebackup"),
		"-h", "127.0.0.1", "-p", strconv.Itoa(c.Primary.Port), "-U", "replicator", "-D", c.Standby.Dir,
		"-R", "-X", "stream", "-c", "fast", "--no-sync")
	c.Standby.configure(map[string]string{"synchronous_standby_names": "''"})
	c.Standby.Start()
	// Only now does the primary wait for the standby: before, a commit
	// (CREATE ROLE) would have waited for a standby that did not exist.
	for _, q := range []string{"ALTER SYSTEM SET synchronous_standby_names = '*'", "SELECT pg_reload_conf()"} {
		if _, err := super.ExecContext(ctx, q); err != nil {
			t.Fatalf("private cluster: %s: %v", q, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		err := super.QueryRowContext(ctx, "SELECT sync_state FROM pg_stat_replication").Scan(&state)
		if err == nil && state == "sync" {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby is not a synchronous standby after 30 s (sync_state %q, %v)\n%s", state, err, c.Standby.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URL is the connection URL of database db on every server of the cluster,
// primary first, that connects only to the one taking writes
// (target_session_attrs=read-write): after a promotion, the standby.
func (c *PostgresCluster) URL(db string) string {
	hosts := []string{fmt.Sprintf("127.0.0.1:%d", c.Primary.Port)}
	if c.Standby != nil {
		hosts = append(hosts, fmt.Sprintf("127.0.0.1:%d", c.Standby.Port))
	}
	return fmt.Sprintf("postgres://%s:%s@%s/%s?target_session_attrs=read-write&sslmode=disable&connect_timeout=2",
		c.User, c.Password, strings.Join(hosts, ","), db)
}

// Crash stops the server the way a power cut does: pg_ctl stop -m
// immediate, every process gone at once, no checkpoint, its clients cut.
func (s *PostgresServer) Crash() { s.c.must("crash "+s.Name, s.pgCtl("stop", "-m", "immediate")...) }

// Stop shuts the server down (pg_ctl stop -m fast: sessions are ended,
// a checkpoint is written).
func (s *PostgresServer) Stop() { s.c.must("stop "+s.Name, s.pgCtl("stop", "-m", "fast")...) }

// Start starts the server and waits until it takes connections.
func (s *PostgresServer) Start() {
	s.c.t.Helper()
	s.c.must("start "+s.Name, s.pgCtl("start", "-l", s.Dir+".log", "-t", "60")...)
}

// Promote makes a standby the primary and waits until it takes writes.
func (s *PostgresServer) Promote() {
	s.c.t.Helper()
	s.c.must("promote "+s.Name, s.pgCtl("promote", "-t", "60")...)
}

// Query runs a query as the superuser on this server and scans its one row.
func (s *PostgresServer) Query(query string, dest ...any) error {
	db := s.open("postgres", s.c.superPass, "postgres")
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return db.QueryRowContext(ctx, query).Scan(dest...)
}

func (s *PostgresServer) pgCtl(args ...string) []string {
	return append([]string{filepath.Join(s.c.bin, "pg_ctl"), "-D", s.Dir, "-w"}, args...)
}

func (s *PostgresServer) open(user, password, db string) *sql.DB {
	s.c.t.Helper()
	d, err := sql.Open("pgx", fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=5", user, password, s.Port, db))
	if err != nil {
		s.c.t.Fatal(err)
	}
	return d
}

// configure appends settings to the server's postgresql.conf (the last
// setting of a name wins): its port, loopback only, its socket in its own
// directory, and extra.
func (s *PostgresServer) configure(extra map[string]string) {
	s.c.t.Helper()
	lines := []string{
		"port = " + strconv.Itoa(s.Port),
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + s.c.root + "'",
		"fsync = on",
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lines = append(lines, k+" = "+extra[k])
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		s.c.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n# the test's own\n" + strings.Join(lines, "\n") + "\n"); err != nil {
		s.c.t.Fatal(err)
	}
}

func (s *PostgresServer) log() string {
	b, _ := os.ReadFile(s.Dir + ".log")
	return string(b)
}

// must runs a command as the cluster's OS user, failing the test with its
// output when it fails.
func (c *PostgresCluster) must(what string, args ...string) {
	c.t.Helper()
	if out, err := c.command(args...).CombinedOutput(); err != nil {
		c.t.Fatalf("private cluster: %s: %v\n%s", what, err, out)
	}
}

func (c *PostgresCluster) command(args ...string) *exec.Cmd {
	args = append(append([]string{}, c.run...), args...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = c.root
	return cmd
}

func (c *PostgresCluster) writeFile(name, content string) {
	c.t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.chown(name)
}

func (c *PostgresCluster) chown(name string) {
	c.t.Helper()
	if c.uid < 0 {
		return
	}
	if err := os.Chown(name, c.uid, c.gid); err != nil {
		c.t.Fatal(err)
	}
}

// startWatchdog starts a shell that stops the servers and removes the
// directory should the test process die without running its cleanups (a
// -test.timeout panic, a SIGKILL): servers left running on a shared CI
// machine would outlive the run. It has a session of its own, so that a
// signal to the test's process group does not take it along.
func (c *PostgresCluster) startWatchdog() {
	c.t.Helper()
	const script = `pid=$1 root=$2; shift 2
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
for d in "$root/primary" "$root/standby"; do
  [ -f "$d/postmaster.pid" ] && "$@" -D "$d" -m immediate stop
done
rm -rf "$root"`
	args := append([]string{"-c", script, "watchdog", strconv.Itoa(os.Getpid()), c.root}, c.run...)
	cmd := exec.Command("sh", append(args, filepath.Join(c.bin, "pg_ctl"))...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("private cluster: watchdog: %v", err)
	}
	c.watchdog = cmd
}

// remove stops every server still running (immediately: nothing in it is
// kept) and deletes the cluster's directory.
func (c *PostgresCluster) remove() {
	if c.watchdog != nil {
		_ = c.watchdog.Process.Kill()
		_ = c.watchdog.Wait()
	}
	for _, s := range []*PostgresServer{c.Primary, c.Standby} {
		if s == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.Dir, "postmaster.pid")); err != nil {
			continue
		}
		if out, err := c.command(s.pgCtl("stop", "-m", "immediate")...).CombinedOutput(); err != nil {
			c.t.Errorf("private cluster: stop %s: %v\n%s", s.Name, err, out)
		}
		if c.t.Failed() {
			c.t.Logf("private cluster: log of the %s:\n%s", s.Name, lastLines(s.log(), 40))
		}
	}
	if err := os.RemoveAll(c.root); err != nil {
		c.t.Errorf("private cluster: %v", err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// postgresBin is the newest PostgreSQL's server binary directory, or "".
func postgresBin() string {
	dirs, _ := filepath.Glob(PostgresBinGlob)
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}
