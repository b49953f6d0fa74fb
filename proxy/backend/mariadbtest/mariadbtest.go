// Package mariadbtest starts a throwaway mariadbd on a loopback port for
// tests that need a real MariaDB server. It is imported only from _test.go
// files.
//
// The server runs from the Debian mariadb-server package binaries with a
// fresh datadir in a temporary directory, listens on 127.0.0.1 only, and is
// stopped by PID. When the binaries are missing, Start returns
// ErrNotInstalled and tests should skip with that message.
package mariadbtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNotInstalled means mariadbd or mariadb-install-db is not on this machine.
var ErrNotInstalled = errors.New("mariadbtest: mariadbd/mariadb-install-db not installed (apt-get install mariadb-server)")

// Options tune the server.
type Options struct {
	// TLS, when set, starts the server with these PEM files (paths).
	CertFile, KeyFile, CAFile string
	// ExtraArgs are appended to the mariadbd command line.
	ExtraArgs []string
}

// Server is a running mariadbd.
type Server struct {
	Addr   string // 127.0.0.1:port
	Dir    string // holds datadir, socket, logs; removed by Stop
	Socket string
	cmd    *exec.Cmd
	done   chan error
}

// Start installs a datadir and starts mariadbd. Root can log in without a
// password over the socket (see Exec); over TCP there are no accounts until
// the test creates them.
func Start(ctx context.Context, opts Options) (*Server, error) {
	mariadbd, err1 := findBinary("mariadbd")
	installDB, err2 := exec.LookPath("mariadb-install-db")
	if err1 != nil || err2 != nil {
		return nil, ErrNotInstalled
	}
	dir, err := os.MkdirTemp("", "mariadbtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Socket: filepath.Join(dir, "mysqld.sock")}
	if err := s.start(ctx, mariadbd, installDB, opts); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

func (s *Server) start(ctx context.Context, mariadbd, installDB string, opts Options) error {
	datadir := filepath.Join(s.Dir, "data")
	var runAs []string
	if os.Geteuid() == 0 {
		// mariadbd refuses to run as root; hand the directory to mysql.
		u, err := user.Lookup("mysql")
		if err != nil {
			return fmt.Errorf("mariadbtest: running as root needs a mysql user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(s.Dir, 0o755); err != nil {
			return err
		}
		if err := os.Chown(s.Dir, uid, gid); err != nil {
			return err
		}
		for _, f := range []string{opts.CertFile, opts.KeyFile, opts.CAFile} {
			if f != "" {
				_ = os.Chown(f, uid, gid)
			}
		}
		runAs = []string{"--user=mysql"}
	}
	install := exec.CommandContext(ctx, installDB, append([]string{"--no-defaults", "--datadir=" + datadir,
		"--auth-root-authentication-method=socket", "--skip-test-db"}, runAs...)...)
	if out, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("mariadb-install-db: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"--no-defaults", "--datadir=" + datadir, "--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1", "--socket=" + s.Socket, "--skip-log-bin",
		"--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", "--max-allowed-packet=64M",
		"--log-error=" + filepath.Join(s.Dir, "error.log"), "--pid-file=" + filepath.Join(s.Dir, "mysqld.pid"),
		"--local-infile=1"}
	args = append(args, runAs...)
	if opts.CertFile != "" {
		args = append(args, "--ssl-cert="+opts.CertFile, "--ssl-key="+opts.KeyFile)
		if opts.CAFile != "" {
			args = append(args, "--ssl-ca="+opts.CAFile)
		}
	}
	args = append(args, opts.ExtraArgs...)
	s.cmd = exec.Command(mariadbd, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	return s.waitReady(ctx)
}

// waitReady polls until the server sends a greeting over TCP.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 5)
			_, rerr := c.Read(b)
			c.Close()
			if rerr == nil && b[4] == 10 {
				return nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("mariadbd exited: %v\n%s", err, s.errorLog())
		case <-ctx.Done():
			return fmt.Errorf("mariadbd not ready: %w\n%s", ctx.Err(), s.errorLog())
		case <-tick.C:
		}
	}
}

func (s *Server) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "error.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Exec runs SQL as root over the Unix socket with the mariadb CLI and
// returns its tab-separated output.
func (s *Server) Exec(ctx context.Context, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, "mariadb", "--no-defaults", "-uroot", "-S", s.Socket, "-N", "-B", "-e", sql)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("mariadb -e %q: %w: %s", sql, err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// Stop terminates mariadbd by PID, waits for it, and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	_ = os.RemoveAll(s.Dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
