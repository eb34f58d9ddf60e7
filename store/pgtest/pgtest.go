// Package pgtest gives tests a PostgreSQL server: the one AFFINITY_TEST_PG_DSN
// names, or else a throwaway one it starts itself — initdb into a temp dir and
// postgres on 127.0.0.1, a free port and a socket in that dir — and removes
// afterwards. Each test then gets a database of its own (CreateDatabase).
//
// PostgreSQL refuses to run as root; when the tests do (CI containers), the
// server runs as the unprivileged user "nobody" (credentials set by the Go
// runtime before exec, so no runuser or sudo is needed) in a dir it owns.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names an existing server to test against (a role allowed to
// CREATE DATABASE); when set, no server is started.
const EnvDSN = "AFFINITY_TEST_PG_DSN"

// Required reports whether PostgreSQL tests must run rather than skip: in CI
// (CI=true) a server that cannot start fails the tests.
func Required() bool { return os.Getenv("CI") == "true" }

// Server is a PostgreSQL server for tests.
type Server struct {
	dsn string // the maintenance database, as the superuser
	dir string // temp dir of a server we started; "" for EnvDSN
	cmd *exec.Cmd
	log string
	seq atomic.Int64
	// How run started postgres, for Restart: same data dir, port and user.
	bin, data string
	cred      *syscall.Credential
	port      int
}

// startTimeout bounds initdb plus the server's start on a busy machine.
const startTimeout = 60 * time.Second

// Start returns the server of EnvDSN, or starts a throwaway one.
func Start(ctx context.Context) (*Server, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		s := &Server{dsn: dsn}
		if err := s.ping(ctx); err != nil {
			return nil, fmt.Errorf("pgtest: %s: %w", EnvDSN, err)
		}
		return s, nil
	}
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "affinityd-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{dir: dir, log: filepath.Join(dir, "postgres.log")}
	cred, err := unprivileged()
	if err != nil {
		s.Stop()
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			s.Stop()
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}

	// A free port can be taken between our probe and the server's bind;
	// a second port is cheap.
	s.bin, s.data, s.cred = bin, data, cred
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		err = s.run(ctx)
		if err == nil || attempt == 2 || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// run starts postgres in the foreground (a child the test binary's death
// kills, so no server outlives a crashed test) and waits until it answers.
func (s *Server) run(ctx context.Context) error {
	bin, data, cred, port := s.bin, s.data, s.cred, s.port
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	if cred != nil {
		_ = os.Chown(s.log, int(cred.Uid), int(cred.Gid))
	}
	// Durability settings are off: the data dies with the test anyway.
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port), "-k", s.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.cmd = cmd
	s.dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			s.cmd = nil
			return fmt.Errorf("pgtest: postgres exited: %v\n%s", err, s.logTail())
		case <-ctx.Done():
			s.stopServer()
			return fmt.Errorf("pgtest: postgres did not answer: %w\n%s", ctx.Err(), s.logTail())
		case <-tick.C:
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := s.ping(pctx)
			cancel()
			if err == nil {
				return nil // the goroutine above reaps the process whenever it ends
			}
		}
	}
}

func (s *Server) ping(ctx context.Context) error {
	c, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.Ping(ctx)
}

// DSN is the maintenance database's DSN.
func (s *Server) DSN() string { return s.dsn }

// CreateDatabase creates an empty database named after prefix and returns
// its DSN and a function dropping it again.
func (s *Server) CreateDatabase(ctx context.Context, prefix string) (dsn string, drop func() error, err error) {
	name := fmt.Sprintf("%s_%d_%d", sanitize(prefix), os.Getpid(), s.seq.Add(1))
	c, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return "", nil, fmt.Errorf("pgtest: create database: %w", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	dsn, err = withDatabase(s.dsn, name)
	if err != nil {
		return "", nil, err
	}
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, s.dsn)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		return err
	}
	return dsn, drop, nil
}

// Halt shuts a server Start started down (fast: sessions are cut) and
// keeps its data, for tests of a database that goes away; Restart brings it
// back on the same port. It fails for EnvDSN's server, which is not ours.
func (s *Server) Halt() error {
	if s.dir == "" {
		return errors.New("pgtest: halt: the server of " + EnvDSN + " is not ours to stop")
	}
	s.stopServer()
	return nil
}

// Restart starts a halted server again with its data, on its port.
func (s *Server) Restart(ctx context.Context) error {
	if s.dir == "" {
		return errors.New("pgtest: restart: the server of " + EnvDSN + " is not ours to start")
	}
	if s.cmd != nil {
		return errors.New("pgtest: restart: the server runs")
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return s.run(ctx)
}

// Stop stops a server Start started and removes its files; for EnvDSN it
// does nothing.
func (s *Server) Stop() error {
	if s == nil || s.dir == "" {
		return nil
	}
	s.stopServer()
	return os.RemoveAll(s.dir)
}

// stopServer asks for a fast shutdown (SIGINT), then kills after a while.
func (s *Server) stopServer() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	p := s.cmd.Process
	s.cmd = nil
	_ = p.Signal(syscall.SIGINT)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		// Signal 0 fails once the process is gone (it is reaped by run's goroutine).
		if err := p.Signal(syscall.Signal(0)); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The whole process group: the postmaster and its backends.
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// binDir finds initdb and postgres: on PATH (Debian links initdb into
// /usr/local/bin on some images; the postgres next to the link's target) or
// under /usr/lib/postgresql/*/bin, newest first. Missing, it runs
// deploy/scripts/install-postgres.sh when the repository is at hand.
func binDir() (string, error) {
	if dir, ok := findBinDir(); ok {
		return dir, nil
	}
	if script, ok := installScript(); ok {
		out, err := exec.Command("sh", script).CombinedOutput()
		if dir, ok := findBinDir(); ok {
			return dir, nil
		}
		return "", fmt.Errorf("pgtest: initdb not found and %s failed: %v\n%s", script, err, out)
	}
	return "", errors.New("pgtest: initdb not found (install PostgreSQL's server binaries: deploy/scripts/install-postgres.sh, or set " + EnvDSN + ")")
}

func findBinDir() (string, bool) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(real), "postgres")); err == nil {
				return filepath.Dir(real), true
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		return versionOf(b) - versionOf(a)
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, true
		}
	}
	return "", false
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// installScript finds deploy/scripts/install-postgres.sh above the working
// directory (go test runs in the package's dir).
func installScript() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		p := filepath.Join(dir, "deploy", "scripts", "install-postgres.sh")
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// unprivileged returns the credentials to run PostgreSQL with: nil when we
// are not root, else those of "nobody".
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root and no user nobody to run postgres as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: user nobody: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: false, Groups: []uint32{}}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// withDatabase returns dsn pointing at database name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("pgtest: dsn: %w", err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// key=value: a later key wins.
	return dsn + " dbname=" + name, nil
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() > 40 {
		return b.String()[:40]
	}
	return b.String()
}
