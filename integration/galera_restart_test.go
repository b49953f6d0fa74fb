package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// lastRun returns the part of a log written since the harness last started
// the process.
func lastRun(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return s[strings.LastIndex(s, "=== harness: "):]
}

// TestGaleraNodeRestart stops or kills node 3, writes while it is away, and
// restarts it: it must rejoin by IST (not a full SST) and see the write.
func TestGaleraNodeRestart(t *testing.T) {
	c := galera3.Get(t)
	ctx := testContext(t, 2*time.Minute)
	n1, n3 := c.Server(1), c.Server(3)
	if err := n1.Exec(ctx, "CREATE DATABASE restart_test"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n1.Exec(context.Background(), "DROP DATABASE restart_test"); err != nil {
			t.Error(err)
		}
	})
	if err := n1.Exec(ctx, "CREATE TABLE restart_test.t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	for i, down := range []struct {
		name string
		do   func() error
	}{
		{"graceful stop", n3.Stop},
		{"crash", n3.Kill},
	} {
		pid := n3.PID()
		phase := time.Now()
		if err := down.do(); err != nil {
			t.Fatalf("%s: %v", down.name, err)
		}
		if n3.PID() != 0 {
			t.Fatalf("%s: node3 still has pid %d", down.name, n3.PID())
		}
		if err := syscallAlive(pid); err == nil {
			t.Fatalf("%s: pid %d still alive", down.name, pid)
		}
		// A crashed node is only dropped from the view after
		// evs.suspect_timeout; writes go on meanwhile either way.
		stopped := time.Since(phase)
		phase = time.Now()
		if err := n1.Exec(ctx, "INSERT INTO restart_test.t VALUES (?)", i); err != nil {
			t.Fatalf("%s: write while node3 is down: %v", down.name, err)
		}
		wrote := time.Since(phase)
		start := time.Now()
		if err := n3.Start(ctx); err != nil {
			t.Fatalf("%s: restart: %v", down.name, err)
		}
		t.Logf("%s: down in %v, write while down %v, rejoined in %v", down.name,
			stopped.Round(time.Millisecond), wrote.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if err := c.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
		if log := lastRun(t, n3.LogPath()); !strings.Contains(log, "IST received") {
			t.Errorf("%s: node3 did not rejoin by IST; log since restart:\n%s", down.name, tail(log, 30))
		}
		got, err := n3.QueryString(ctx, "SELECT COUNT(*) FROM restart_test.t WHERE id = ?", i)
		if err != nil || got != "1" {
			t.Fatalf("%s: node3 sees %s rows written while it was down (%v), want 1", down.name, got, err)
		}
	}
}

// TestGaleraNodePause freezes node 2 for less than evs.suspect_timeout: it
// stops answering without closing its sockets, like a hung machine, and
// carries on after Resume without leaving the cluster.
func TestGaleraNodePause(t *testing.T) {
	c := galera3.Get(t)
	ctx := testContext(t, time.Minute)
	n2 := c.Node(2)
	if err := n2.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = n2.Resume()
		}
	}()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := n2.Status(short, "wsrep_local_state")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("paused node2: %v, want no answer before the deadline", err)
	}
	t.Logf("paused node2: %v", err)
	if err := n2.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	if err := harness.WaitSynced(ctx, c.Nodes(), 3); err != nil {
		t.Fatal(err)
	}
}

// TestGaleraArbitrator adds a garbd: it counts in wsrep_cluster_size and
// leaving makes the size drop back.
func TestGaleraArbitrator(t *testing.T) {
	c := galera3.Get(t)
	ctx := testContext(t, time.Minute)
	a, err := c.StartArbitrator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.WaitSynced(ctx, c.Nodes(), 4); err != nil {
		t.Fatal(err)
	}
	pid := a.PID()
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscallAlive(pid); err == nil {
		t.Fatalf("garbd pid %d alive after Stop", pid)
	}
	if err := harness.WaitSynced(ctx, c.Nodes(), 3); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// syscallAlive returns nil if pid exists and is not a zombie.
func syscallAlive(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return err
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X') {
		return fmt.Errorf("pid %d is a zombie", pid)
	}
	return nil
}
