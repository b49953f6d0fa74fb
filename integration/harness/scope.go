package harness

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// KeepEnv names the environment variable that, set to 1, keeps a scope's
// directory (data directories, configs and logs) when its tests failed.
const KeepEnv = "MAXPROXY_IT_KEEP"

// Scope owns everything one test (or one shared fixture) starts: a base
// directory that the mysql user can traverse, the processes started in it,
// and cleanup functions. Close stops every process by PID, runs the cleanups
// and removes the directory; on failure it first logs the tail of every
// process's log.
type Scope struct {
	name string
	dir  string
	logf func(format string, args ...any)
	cred *syscall.Credential // nil unless we run as root: then servers run as mysql

	mu      sync.Mutex
	procs   []*Process
	cleanup []func()
	closed  bool
}

// NewScope creates a scope with a fresh base directory under the system
// temporary directory. logf receives progress and failure reports.
func NewScope(name string, logf func(format string, args ...any)) (*Scope, error) {
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "maxproxy-"+shortName(name)+"-")
	if err != nil {
		return nil, fmt.Errorf("harness: create scope dir: %w", err)
	}
	// MkdirTemp makes the directory 0700; the servers run as mysql and must
	// traverse it to reach their own subdirectories.
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("harness: chmod scope dir: %w", err)
	}
	return &Scope{name: name, dir: dir, logf: logf, cred: cred}, nil
}

// TestScope returns a scope tied to t: it is closed by t.Cleanup, which also
// runs when the test fails or panics. It fails the test if the scope cannot
// be created.
func TestScope(t testing.TB) *Scope {
	t.Helper()
	s, err := NewScope(t.Name(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(t.Failed()); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Dir is the scope's base directory (mode 0755).
func (s *Scope) Dir() string { return s.dir }

// Logf reports through the scope's logger.
func (s *Scope) Logf(format string, args ...any) { s.logf(format, args...) }

// MkdirFor creates dir/name owned by the user servers run as.
func (s *Scope) MkdirFor(name string) (string, error) {
	p := filepath.Join(s.dir, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", fmt.Errorf("harness: mkdir %s: %w", p, err)
	}
	if err := s.chown(p); err != nil {
		return "", err
	}
	return p, nil
}

// WriteFile writes content to dir/name (for configuration files) and
// returns its path.
func (s *Scope) WriteFile(name string, content []byte) (string, error) {
	p := filepath.Join(s.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("harness: mkdir for %s: %w", p, err)
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		return "", fmt.Errorf("harness: write %s: %w", p, err)
	}
	return p, nil
}

// OnClose registers f to run when the scope closes, before its processes
// are killed (so clients close their connections first). Functions run in
// reverse order of registration.
func (s *Scope) OnClose(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanup = append(s.cleanup, f)
}

func (s *Scope) track(p *Process) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("harness: scope already closed")
	}
	s.procs = append(s.procs, p)
	return nil
}

// Close runs the cleanups, kills every process the scope started (by
// process group, so helpers such as the rsync SST daemon die too), and
// removes the directory. When failed is true it first logs the tail of each
// process's log, and keeps the directory if KeepEnv is set. Close is
// idempotent.
func (s *Scope) Close(failed bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	procs := s.procs
	cleanup := s.cleanup
	s.mu.Unlock()

	if failed {
		// A restarted server appends to one log: print each log once.
		seen := map[string]bool{}
		for _, p := range procs {
			if seen[p.LogPath()] {
				continue
			}
			seen[p.LogPath()] = true
			s.logf("--- last %d lines of %s (pid %d, %s) ---\n%s", tailLines, p.Name(), p.PID(), p.LogPath(), p.Tail(tailLines))
		}
	}
	for i := len(cleanup) - 1; i >= 0; i-- {
		cleanup[i]()
	}
	// Killing rather than a graceful stop: the data is thrown away, and a
	// graceful Galera leave costs 1–2 s per node.
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, p := range procs {
		wg.Go(func() {
			if err := p.Kill(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed && os.Getenv(KeepEnv) == "1" {
		s.logf("harness: %s=1: kept %s", KeepEnv, s.dir)
	} else if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("harness: remove %s: %w", s.dir, err))
	}
	return errors.Join(errs...)
}

const tailLines = 40

func (s *Scope) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("harness: chown %s: %w", path, err)
	}
	return nil
}

// serverCredential returns the mysql user's credential when we run as
// root: mariadbd refuses to run as root, and starting it directly as mysql
// (rather than with --user, which makes it setuid itself) keeps the
// parent-death signal, which the kernel clears on a uid change.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("mysql")
	if err != nil {
		return nil, fmt.Errorf("harness: running as root needs a mysql user (%s): %w", galeraInstall, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("harness: mysql uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("harness: mysql gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// shortName turns a test name into a short path component: unix socket
// paths must stay under 108 bytes.
func shortName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 24 {
			break
		}
	}
	return b.String()
}
