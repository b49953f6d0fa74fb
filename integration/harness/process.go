package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ProcessSpec describes a process to start.
type ProcessSpec struct {
	// Name identifies the process in logs and names its log file
	// (<scope dir>/<Name>.log unless LogPath is set).
	Name string
	Path string
	Args []string
	// Env is added to a small base environment (PATH including the sbin
	// directories, LANG=C); the test's own environment is not inherited.
	Env     []string
	Dir     string
	LogPath string
	// AsServerUser runs the process as the mysql user when the test runs
	// as root (see Scope). Use it for anything that touches server files.
	AsServerUser bool
	// StopTimeout bounds Stop's wait after SIGTERM before it kills the
	// process group; default 30s.
	StopTimeout time.Duration
}

// Process is a started child process. Its stdout and stderr go to one log
// file (appended to, so a restarted server keeps one log). It runs in its
// own process group, so signals reach the helpers it spawns (mariadbd's SST
// scripts and the rsync daemon), and it gets SIGKILL if the test binary
// dies (Pdeathsig), so nothing outlives a crashed or timed-out test.
type Process struct {
	spec    ProcessSpec
	cmd     *exec.Cmd
	pid     int
	logPath string
	done    chan struct{}
	waitErr error // set before done is closed
}

// StartProcess starts spec and tracks the process: Close kills it.
func (s *Scope) StartProcess(spec ProcessSpec) (*Process, error) {
	if spec.Name == "" || spec.Path == "" {
		return nil, errors.New("harness: process spec needs Name and Path")
	}
	if spec.LogPath == "" {
		spec.LogPath = filepath.Join(s.dir, spec.Name+".log")
	}
	if spec.StopTimeout == 0 {
		spec.StopTimeout = 30 * time.Second
	}
	logf, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("harness: open log for %s: %w", spec.Name, err)
	}
	// The child keeps its own copy of the descriptor.
	defer logf.Close()
	fmt.Fprintf(logf, "=== harness: %s start %s %s\n", time.Now().Format(time.RFC3339Nano), spec.Path, strings.Join(spec.Args, " "))

	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(baseEnv(), spec.Env...)
	// An *os.File is handed to the child directly: no copying goroutines.
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = s.sysProcAttr(spec.AsServerUser)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("harness: start %s (%s): %w", spec.Name, spec.Path, err)
	}
	p := &Process{spec: spec, cmd: cmd, pid: cmd.Process.Pid, logPath: spec.LogPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := s.track(p); err != nil {
		_ = p.Kill()
		return nil, err
	}
	return p, nil
}

// RunProcess runs spec to completion (bounded by ctx) and returns its
// combined output, which is also appended to its log file.
func (s *Scope) RunProcess(ctx context.Context, spec ProcessSpec) ([]byte, error) {
	p, err := s.StartProcess(spec)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		_ = p.Kill()
		return nil, fmt.Errorf("harness: %s did not finish: %w\n%s", spec.Name, ctx.Err(), p.Tail(tailLines))
	}
	out, rerr := p.readLastRun()
	if p.waitErr != nil {
		return out, fmt.Errorf("harness: %s failed: %w\n%s", spec.Name, p.waitErr, p.Tail(tailLines))
	}
	return out, rerr
}

func (s *Scope) sysProcAttr(asServer bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	if asServer && s.cred != nil {
		a.Credential = s.cred
	}
	return a
}

func baseEnv() []string {
	path := os.Getenv("PATH")
	for _, d := range append([]string{"/usr/local/bin", "/usr/bin", "/bin"}, sbinDirs...) {
		if !strings.Contains(":"+path+":", ":"+d+":") {
			path += ":" + d
		}
	}
	return []string{"PATH=" + strings.TrimPrefix(path, ":"), "LANG=C", "LC_ALL=C"}
}

// Name is the spec's name.
func (p *Process) Name() string { return p.spec.Name }

// PID is the process id (also its process group id).
func (p *Process) PID() int { return p.pid }

// LogPath is the file receiving the process's stdout and stderr.
func (p *Process) LogPath() string { return p.logPath }

// Done is closed when the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its exit error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Stop asks the process to exit with SIGTERM and waits up to the spec's
// StopTimeout before killing its process group. Whatever is left of the
// group after the leader exits is killed too. The exit status is not an
// error: a server stopped by SIGTERM may exit non-zero.
func (p *Process) Stop() error {
	if ok, _ := p.Exited(); ok {
		return p.sweep()
	}
	// A stopped (paused) process would never act on SIGTERM.
	_ = p.signalGroup(syscall.SIGCONT)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("harness: SIGTERM %s (pid %d): %w", p.Name(), p.pid, err)
	}
	t := time.NewTimer(p.spec.StopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.sweep()
	case <-t.C:
		return p.Kill()
	}
}

// Kill sends SIGKILL to the process group and waits (bounded) until the
// process has been reaped.
func (p *Process) Kill() error {
	if ok, _ := p.Exited(); ok {
		return p.sweep()
	}
	// Signalled directly: the leader may exit between the check above and
	// this call, and the group is still worth sweeping then.
	if err := syscall.Kill(-p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("harness: SIGKILL %s (pgid %d): %w", p.Name(), p.pid, err)
	}
	t := time.NewTimer(killWait)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("harness: %s (pid %d) still running %v after SIGKILL", p.Name(), p.pid, killWait)
	}
}

const killWait = 10 * time.Second

// Pause freezes the whole process group with SIGSTOP, like a hung machine:
// sockets stay open but nothing answers.
func (p *Process) Pause() error { return p.signalGroup(syscall.SIGSTOP) }

// Resume continues a paused process group.
func (p *Process) Resume() error { return p.signalGroup(syscall.SIGCONT) }

// sweep kills helpers left in the group after the leader exited (an SST
// script or rsync daemon orphaned by a crash).
func (p *Process) sweep() error {
	err := syscall.Kill(-p.pid, syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("harness: kill leftovers of %s (pgid %d): %w", p.Name(), p.pid, err)
	}
	return nil
}

func (p *Process) signalGroup(sig syscall.Signal) error {
	if ok, _ := p.Exited(); ok {
		return fmt.Errorf("harness: %s (pid %d) already exited", p.Name(), p.pid)
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("harness: signal %v to %s (pgid %d): %w", sig, p.Name(), p.pid, err)
	}
	return nil
}

// Tail returns the last n lines of the process's log.
func (p *Process) Tail(n int) string {
	b, err := readTail(p.logPath, 64<<10)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// readLastRun returns the log written since this process's start marker.
func (p *Process) readLastRun() ([]byte, error) {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return nil, fmt.Errorf("harness: read log of %s: %w", p.Name(), err)
	}
	if i := bytes.LastIndex(b, []byte("=== harness: ")); i >= 0 {
		if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
			return b[i+j+1:], nil
		}
	}
	return b, nil
}

func readTail(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(st.Size()-limit, 0)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}
