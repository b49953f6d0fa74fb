package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(runOrphanHelper())
	}
	goleak.VerifyTestMain(m)
}

func mustTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not on PATH: %v", name, err)
	}
	return p
}

// procState is the state letter from /proc/pid/stat ("" when there is no
// such process).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name is in parentheses and may contain spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// gone reports whether pid no longer runs; a zombie waiting for a parent
// that does not reap counts as gone.
func gone(pid int) bool {
	st := procState(pid)
	return st == "" || st == "Z" || st == "X"
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Poll(ctx, fmt.Sprintf("pid %d gone", pid), 20*time.Millisecond, func(context.Context) error {
		if gone(pid) {
			return nil
		}
		return fmt.Errorf("state %s", procState(pid))
	})
	if err != nil {
		t.Fatal(err)
	}
}

var childPID = regexp.MustCompile(`child (\d+)`)

// startShell starts sh running script, which must print "child <pid>" for a
// background child; it returns the process and the child's pid.
func startShell(t *testing.T, s *Scope, name, script string, stop time.Duration) (*Process, int) {
	t.Helper()
	p, err := s.StartProcess(ProcessSpec{Name: name, Path: mustTool(t, "sh"), Args: []string{"-c", script}, StopTimeout: stop})
	if err != nil {
		t.Fatal(err)
	}
	var child int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = Poll(ctx, name+" reporting its child", 20*time.Millisecond, func(context.Context) error {
		m := childPID.FindStringSubmatch(p.Tail(5))
		if m == nil {
			return errors.New("no child line yet")
		}
		child, _ = strconv.Atoi(m[1])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, child
}

func TestStopTerminatesProcessAndItsGroup(t *testing.T) {
	s := TestScope(t)
	// sh dies on SIGTERM and leaves its sleep behind, like an SST script
	// orphaned by mariadbd: Stop must sweep it.
	p, child := startShell(t, s, "shell", "sleep 300 & echo child $!; wait", 10*time.Second)
	if p.PID() <= 0 || gone(p.PID()) {
		t.Fatalf("pid %d not running", p.PID())
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if done, _ := p.Exited(); !done {
		t.Fatal("Stop returned before the process exited")
	}
	waitGone(t, p.PID())
	waitGone(t, child)
}

func TestStopEscalatesToKill(t *testing.T) {
	s := TestScope(t)
	p, child := startShell(t, s, "stubborn", `trap "" TERM; sleep 300 & echo child $!; while :; do wait; done`, 200*time.Millisecond)
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("Stop returned after %v, before its timeout: SIGTERM was not ignored", d)
	}
	waitGone(t, p.PID())
	waitGone(t, child)
}

func TestPauseResumeKill(t *testing.T) {
	s := TestScope(t)
	p, child := startShell(t, s, "pausable", "sleep 300 & echo child $!; wait", time.Second)
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{p.PID(), child} {
		waitState(t, pid, "T")
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{p.PID(), child} {
		waitState(t, pid, "S")
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, p.PID())
	waitGone(t, child)
	if err := p.Pause(); err == nil {
		t.Fatal("Pause of an exited process succeeded")
	}
}

func waitState(t *testing.T, pid int, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Poll(ctx, fmt.Sprintf("pid %d in state %s", pid, want), 10*time.Millisecond, func(context.Context) error {
		if got := procState(pid); got != want {
			return fmt.Errorf("state %q", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestScopeCloseKillsEverythingAndRemovesDir(t *testing.T) {
	var logged strings.Builder
	s, err := NewScope("close test", func(format string, args ...any) { fmt.Fprintf(&logged, format+"\n", args...) })
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o755 {
		t.Fatalf("scope dir mode %v, want 0755 so the mysql user can traverse it", st.Mode().Perm())
	}
	p1, c1 := startShell(t, s, "one", "echo marker-line; sleep 300 & echo child $!; wait", time.Second)
	p2, err := s.StartProcess(ProcessSpec{Name: "two", Path: mustTool(t, "sleep"), Args: []string{"300"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(true); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{p1.PID(), c1, p2.PID()} {
		waitGone(t, pid)
	}
	if _, err := os.Stat(s.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("scope dir still there after Close: %v", err)
	}
	if !strings.Contains(logged.String(), "marker-line") {
		t.Fatalf("failed Close did not log the process's output tail:\n%s", logged.String())
	}
	if _, err := s.StartProcess(ProcessSpec{Name: "late", Path: mustTool(t, "sleep"), Args: []string{"300"}}); err == nil {
		t.Fatal("StartProcess on a closed scope succeeded")
	}
}

func TestRunProcessReturnsOutputAndFailure(t *testing.T) {
	s := TestScope(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sh := mustTool(t, "sh")
	out, err := s.RunProcess(ctx, ProcessSpec{Name: "ok", Path: sh, Args: []string{"-c", "echo hello"}})
	if err != nil || strings.TrimSpace(string(out)) != "hello" {
		t.Fatalf("RunProcess = %q, %v", out, err)
	}
	// A second run appends to the same log; only its own output is returned.
	out, err = s.RunProcess(ctx, ProcessSpec{Name: "ok", Path: sh, Args: []string{"-c", "echo again"}})
	if err != nil || strings.TrimSpace(string(out)) != "again" {
		t.Fatalf("second RunProcess = %q, %v", out, err)
	}
	_, err = s.RunProcess(ctx, ProcessSpec{Name: "bad", Path: sh, Args: []string{"-c", "echo broken >&2; exit 3"}})
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("failing RunProcess error %v, want exit status and the log tail", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	if _, err := s.RunProcess(short, ProcessSpec{Name: "slow", Path: sh, Args: []string{"-c", "sleep 300"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RunProcess past its deadline: %v", err)
	}
}

const helperEnv = "HARNESS_ORPHAN_HELPER"

// runOrphanHelper is the re-executed test binary of TestNothingSurvivesACrashedParent:
// it starts a process group leader with a child, prints both pids and blocks
// until its parent kills it.
func runOrphanHelper() int {
	s, err := NewScope("helper", func(string, ...any) {})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	// No grandchild: Pdeathsig reaches only the direct child (see doc.go).
	p, err := s.StartProcess(ProcessSpec{Name: "victim", Path: "sleep", Args: []string{"300"}})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Printf("leader %d %s\n", p.PID(), s.Dir())
	// Blocks until the parent closes stdin or kills us.
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// TestNothingSurvivesACrashedParent kills a test binary that started a
// server-like process and checks the kernel killed that process too
// (Pdeathsig): a crashed or timed-out test leaves nothing running.
func TestNothingSurvivesACrashedParent(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper: %v", err)
	}
	var leader int
	var dir string
	if _, err := fmt.Sscanf(line, "leader %d %s", &leader, &dir); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	// The killed helper cannot remove its scope directory.
	t.Cleanup(func() { os.RemoveAll(dir) })
	if gone(leader) {
		t.Fatalf("helper's process %d not running", leader)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, leader)
}
