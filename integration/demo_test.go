package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestDemo runs the `make demo` launcher (deploy/demo) as a user would,
// on free ports: it must print how to connect, serve app/app through the
// proxy, stop every process it started on SIGINT and exit 0, and a second
// run on the same directory must find the data of the first.
func TestDemo(t *testing.T) {
	launcher := buildDemo(t)
	bin, err := harness.RepoBinary("maxnode")
	if err != nil {
		t.Fatal(err)
	}
	ports, err := harness.FreePorts(10)
	if err != nil {
		t.Fatal(err)
	}
	join := func(ps []int) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = strconv.Itoa(p)
		}
		return strings.Join(s, ",")
	}
	dir := filepath.Join(t.TempDir(), "demo-data")
	args := []string{
		"-bin", filepath.Dir(bin),
		"-node-ports", join(ports[0:3]),
		"-repl-ports", join(ports[3:6]),
		"-rw-port", strconv.Itoa(ports[6]),
		"-ro-port", strconv.Itoa(ports[7]),
		"-admin-port", strconv.Itoa(ports[8]),
		"-metrics-port", strconv.Itoa(ports[9]),
	}
	rw := harness.TCPDSN(fmt.Sprintf("127.0.0.1:%d", ports[6]), "app", "app", "")
	wantConnect := fmt.Sprintf("connect with: mariadb -h127.0.0.1 -P%d -uapp -papp", ports[6])

	first := startDemo(t, launcher, dir, args, wantConnect)
	db := nodeDB(t, rw)
	nodeExec(t, db, "CREATE DATABASE demo_it")
	nodeExec(t, db, "CREATE TABLE demo_it.t (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL)")
	nodeExec(t, db, "INSERT INTO demo_it.t VALUES (1, 'kept')")
	if got := nodeQuery(t, db, "SELECT v FROM demo_it.t WHERE id = 1"); len(got) != 1 || got[0][0] != "kept" {
		t.Fatalf("read back through the proxy: %v, want [[kept]]", got)
	}
	db.Close()
	// The read-only port reaches a replica, which applies the write
	// asynchronously.
	ro := nodeDB(t, harness.TCPDSN(fmt.Sprintf("127.0.0.1:%d", ports[7]), "app", "app", "demo_it"))
	waitValue(t, ro, 1, "kept")
	ro.Close()
	first.interrupt(t)

	second := startDemo(t, launcher, dir, args, wantConnect)
	db = nodeDB(t, rw)
	if got := nodeQuery(t, db, "SELECT v FROM demo_it.t WHERE id = 1"); len(got) != 1 || got[0][0] != "kept" {
		t.Fatalf("second run on the same directory: %v, want [[kept]]", got)
	}
	db.Close()
	second.interrupt(t)
}

// buildDemo compiles the launcher into the test's temporary directory.
func buildDemo(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the demo test builds deploy/demo and needs the go command: %v", err)
	}
	out := filepath.Join(t.TempDir(), "demo")
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-o", out, "./deploy/demo")
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./deploy/demo: %v\n%s", err, b)
	}
	return out
}

// demoRun is one running launcher.
type demoRun struct {
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // exit error, set before done is closed
	stderr string
}

// startDemo starts the launcher on dir and waits for its "connect with"
// line, failing at once if it exits first.
func startDemo(t *testing.T, launcher, dir string, args []string, wantConnect string) *demoRun {
	t.Helper()
	stderr := filepath.Join(t.TempDir(), "demo.stderr")
	errf, err := os.Create(stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	cmd := exec.Command(launcher, append([]string{"-dir", dir}, args...)...)
	cmd.Stderr = errf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &demoRun{cmd: cmd, done: make(chan struct{}), stderr: stderr}
	lines := make(chan string, 16)
	go func() {
		// Read stdout to the end before Wait, which closes the pipe.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody listens after the connect line
			}
		}
		close(lines)
		r.err = cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			// The test failed before interrupting: stop the launcher the
			// same way, then make sure.
			_ = cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-r.done:
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				<-r.done
			}
		}
	})
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	var seen []string
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				<-r.done
				t.Fatalf("demo exited before printing %q (%v); stdout:\n%s\nstderr:\n%s", wantConnect, r.err, strings.Join(seen, "\n"), r.readStderr())
			}
			seen = append(seen, line)
			if line == wantConnect {
				return r
			}
		case <-timeout.C:
			t.Fatalf("demo did not print %q within 2m; stdout:\n%s\nstderr:\n%s", wantConnect, strings.Join(seen, "\n"), r.readStderr())
		}
	}
}

func (r *demoRun) readStderr() string {
	b, err := os.ReadFile(r.stderr)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

var startedPID = regexp.MustCompile(`msg=started process=(\S+) pid=(\d+)`)

// interrupt sends SIGINT as Ctrl-C would and checks that the launcher
// exits 0 and that no process it started is left.
func (r *demoRun) interrupt(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
		t.Fatalf("demo still running 2m after SIGINT; stderr:\n%s", r.readStderr())
	}
	if r.err != nil {
		t.Fatalf("demo exited with %v after SIGINT, want 0; stderr:\n%s", r.err, r.readStderr())
	}
	children := startedPID.FindAllStringSubmatch(r.readStderr(), -1)
	if len(children) != 4 {
		t.Fatalf("demo reported %d started processes, want 3 nodes and a proxy; stderr:\n%s", len(children), r.readStderr())
	}
	for _, c := range children {
		pid, _ := strconv.Atoi(c[2])
		// The launcher reaped its children; a pid that still answers
		// signal 0 is a process it left behind.
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) is still running after the demo exited (kill 0: %v)", c[1], pid, err)
		}
	}
}
