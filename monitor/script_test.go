package monitor

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/maxproxy/maxproxy/monitor/galera"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		`/bin/s --event=$EVENT`:               {"/bin/s", "--event=$EVENT"},
		`  /bin/s   a  `:                      {"/bin/s", "a"},
		`/bin/s "a b" 'c "d"' e\ f`:           {"/bin/s", "a b", `c "d"`, "e f"},
		`/bin/s '' "" x`:                      {"/bin/s", "", "", "x"},
		`/bin/s 'no \escape' "with \" quote"`: {"/bin/s", `no \escape`, `with " quote`},
	} {
		got, err := splitCommand(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "   ", `/bin/s "open`, `/bin/s 'open`, `/bin/s \`} {
		if got, err := splitCommand(bad); err == nil {
			t.Errorf("splitCommand(%q) = %q, want an error", bad, got)
		}
	}
}

func scriptSnapshot() *topology.Snapshot {
	return &topology.Snapshot{Servers: []topology.Server{
		{Name: "s1", Address: "10.0.0.1:3306", State: topology.Running | topology.Synced | topology.Master},
		{Name: "s2", Address: "10.0.0.2:3306", State: topology.Running | topology.Synced | topology.Slave},
		{Name: "s3", Address: "10.0.0.3:3306", State: topology.Running},
		{Name: "s4", Address: "[::1]:3307"},
	}}
}

func TestExpandPlaceholders(t *testing.T) {
	argv := []string{"/bin/s", "--initiator=$INITIATOR", "--event=$EVENT", "--list=$LIST", "--nodes=$NODELIST",
		"--slaves=$SLAVELIST", "--masters=$MASTERLIST", "--synced=$SYNCEDLIST", "--parent=$PARENT", "--children=$CHILDREN"}
	got := expand(argv, galera.Event{Name: galera.NewMaster, Server: "s1"}, scriptSnapshot())
	want := []string{"/bin/s", "--initiator=[10.0.0.1]:3306", "--event=new_master",
		"--list=[10.0.0.1]:3306,[10.0.0.2]:3306,[10.0.0.3]:3306,[::1]:3307",
		"--nodes=[10.0.0.1]:3306,[10.0.0.2]:3306,[10.0.0.3]:3306",
		"--slaves=[10.0.0.2]:3306", "--masters=[10.0.0.1]:3306",
		"--synced=[10.0.0.1]:3306,[10.0.0.2]:3306", "--parent=", "--children="}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("expand:\n got %q\nwant %q", got, want)
	}
}

// syncBuffer is a log sink safe for the script goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestRunner(t *testing.T, script string, timeout time.Duration, events []string) (*scriptRunner, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := newMetrics(prometheus.NewRegistry(), "galera")
	if err != nil {
		t.Fatal(err)
	}
	r, err := newScriptRunner(Options{Script: script, ScriptTimeout: timeout, Events: events}, log, m)
	if err != nil {
		t.Fatal(err)
	}
	return r, &logs
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScriptRunsWithArgumentsAndLogsItsOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	p := writeScript(t, `printf '%s\n' "$@" > "`+out+`"
echo "error: something broke"
echo "plain line"
echo "warning: careful" >&2
`)
	r, logs := newTestRunner(t, p+" --event=$EVENT --initiator=$INITIATOR", time.Minute, nil)
	args := expand(r.argv, galera.Event{Name: galera.MasterDown, Server: "s1"}, scriptSnapshot())
	r.exec(context.Background(), args)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "--event=master_down\n--initiator=[10.0.0.1]:3306\n" {
		t.Errorf("script saw %q", got)
	}
	l := logs.String()
	for _, want := range []string{`level=ERROR msg="monitor script output"`, `output="something broke"`,
		`level=INFO msg="monitor script output"`, `output="plain line"`, `level=WARN`, `output=careful`} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	if got := testutil.ToFloat64(r.metrics.scriptRuns.WithLabelValues("ok")); got != 1 {
		t.Errorf("ok runs = %v", got)
	}
}

func TestScriptTimeoutTerminatesThenKills(t *testing.T) {
	t.Run("SIGTERM at the timeout", func(t *testing.T) {
		r, logs := newTestRunner(t, writeScript(t, "exec sleep 30\n"), 50*time.Millisecond, nil)
		r.exec(context.Background(), r.argv)
		if l := logs.String(); !strings.Contains(l, "timed out") || !strings.Contains(l, "signal: terminated") {
			t.Errorf("log:\n%s", l)
		}
		if got := testutil.ToFloat64(r.metrics.scriptRuns.WithLabelValues("timeout")); got != 1 {
			t.Errorf("timeouts = %v", got)
		}
	})
	t.Run("SIGKILL at twice the timeout when SIGTERM is ignored", func(t *testing.T) {
		// The timeout leaves the shell ample time to install its trap
		// before SIGTERM arrives, even on a loaded machine.
		r, logs := newTestRunner(t, writeScript(t, "trap '' TERM\nexec sleep 30\n"), time.Second, nil)
		r.exec(context.Background(), r.argv)
		if l := logs.String(); !strings.Contains(l, "timed out") || !strings.Contains(l, "signal: killed") {
			t.Errorf("log:\n%s", l)
		}
	})
	t.Run("a failing script is counted", func(t *testing.T) {
		r, _ := newTestRunner(t, writeScript(t, "exit 3\n"), time.Minute, nil)
		r.exec(context.Background(), r.argv)
		if got := testutil.ToFloat64(r.metrics.scriptRuns.WithLabelValues("failed")); got != 1 {
			t.Errorf("failures = %v", got)
		}
	})
}

func TestScriptQueueDropsInsteadOfBlocking(t *testing.T) {
	r, logs := newTestRunner(t, "/bin/true", time.Minute, []string{"master_down", "new_master"})
	snap := scriptSnapshot()
	for i := 0; i < scriptQueueLen+5; i++ {
		r.enqueue(galera.Event{Name: galera.MasterDown, Server: "s1"}, snap)
	}
	r.enqueue(galera.Event{Name: galera.SlaveUp, Server: "s2"}, snap) // not selected: neither queued nor dropped
	if len(r.queue) != scriptQueueLen {
		t.Errorf("queued %d", len(r.queue))
	}
	if got := testutil.ToFloat64(r.metrics.scriptDropped); got != 5 {
		t.Errorf("dropped = %v", got)
	}
	if !strings.Contains(logs.String(), "event dropped") {
		t.Error("drop not logged")
	}
}

// eventually polls cond until it holds, for conditions that depend on a
// child process; it fails the test after a bound instead of hanging.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMonitorRunsTheScriptOnEvents(t *testing.T) {
	out := filepath.Join(t.TempDir(), "events")
	p := writeScript(t, `echo "$1 $2" >> "`+out+`"`+"\n")
	h := newRig(t, Options{Script: p + " $EVENT $INITIATOR", Events: []string{"master_down", "new_master"}}, 2, nil)
	h.next()
	h.fakes["s1"].set(nil)
	h.round()
	want := "master_down [127.0.0.1]:3306\nnew_master [127.0.0.1]:3307\n"
	eventually(t, "the script's output", func() bool {
		b, _ := os.ReadFile(out)
		return string(b) == want
	})
}
