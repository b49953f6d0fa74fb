package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestMaxnodeCleanStopsShrinkTheView is Galera's galera_safe_to_bootstrap
// scenario on bin/maxnode: two of three nodes are stopped cleanly (SIGTERM)
// one after the other and the last stays Primary and writable with a
// one-member view, because a clean stop leaves the cluster instead of
// vanishing from it. Only the last node is safe to bootstrap from; the
// stopped nodes come back by themselves and receive what they missed.
func TestMaxnodeCleanStopsShrinkTheView(t *testing.T) {
	c := harness.StartMaxnodeCluster(t, 3, harness.MaxnodeOptions{})
	ctx := t.Context()
	n1 := c.Maxnode(1)
	mustNodeExec(t, n1, "CREATE DATABASE it_view")
	mustNodeExec(t, n1, "CREATE TABLE it_view.t (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL)")
	mustNodeExec(t, n1, "INSERT INTO it_view.t VALUES (1, 'three')")
	conf := statusInt(t, n1, "wsrep_cluster_conf_id")
	want := strings.Join([]string{n1.Addr(), c.Maxnode(2).Addr(), c.Maxnode(3).Addr()}, ",")
	waitStatus(t, n1, "wsrep_incoming_addresses", want) // each node announces its address once it serves

	for _, i := range []int{3, 2} {
		if err := c.Maxnode(i).Stop(); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{
		"wsrep_cluster_status": "Primary", "wsrep_cluster_size": "1", "wsrep_local_state_comment": "Synced",
		"wsrep_ready": "ON", "wsrep_cluster_conf_id": fmt.Sprint(conf + 2), "wsrep_incoming_addresses": n1.Addr(),
	} {
		if got := mustStatus(t, n1, name); got != want {
			t.Errorf("last node after two clean stops: %s = %q, want %q", name, got, want)
		}
	}
	mustNodeExec(t, n1, "INSERT INTO it_view.t VALUES (2, 'one')")
	for _, i := range []int{2, 3} {
		if g := grastate(t, c.Maxnode(i)); !strings.Contains(g, "safe_to_bootstrap: 0") || strings.Contains(g, "seqno:   -1") {
			t.Errorf("node%d left cleanly, grastate.dat:\n%s", i, g)
		}
	}

	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, i := range []int{2, 3} {
		if err := c.Maxnode(i).Start(sctx); err != nil {
			t.Fatal(err)
		}
	}
	waitSynced(t, c, 3)
	mustNodeExec(t, c.Maxnode(3), "INSERT INTO it_view.t VALUES (3, 'back')")
	waitSameRows(t, c, "SELECT id, v FROM it_view.t ORDER BY id", "1 three;2 one;3 back;")
	if got := statusInt(t, n1, "wsrep_cluster_conf_id"); got != conf+4 {
		t.Errorf("wsrep_cluster_conf_id after two leaves and two joins = %d, want %d", got, conf+4)
	}
}

// TestMaxnodeWholeClusterKilled: every node is killed (SIGKILL) after
// acknowledged writes. As in Galera no node is then safe to bootstrap from
// (--bootstrap is refused), but maxnode's policy is raft's: once a majority
// of the last voters is back the cluster is Primary again by itself, with
// every acknowledged write. Then one node loses its data directory and
// rejoins empty.
func TestMaxnodeWholeClusterKilled(t *testing.T) {
	c := harness.StartMaxnodeCluster(t, 3, harness.MaxnodeOptions{})
	n1 := c.Maxnode(1)
	mustNodeExec(t, n1, "CREATE DATABASE it_crash")
	mustNodeExec(t, n1, "CREATE TABLE it_crash.t (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL)")
	var want strings.Builder
	for i := range 30 {
		mustNodeExec(t, c.Maxnode(1+i%3), "INSERT INTO it_crash.t VALUES (?, ?)", i, fmt.Sprintf("n%d", 1+i%3))
		fmt.Fprintf(&want, "%d n%d;", i, 1+i%3)
	}
	for i := 1; i <= 3; i++ {
		if err := c.Maxnode(i).Kill(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		if g := grastate(t, c.Maxnode(i)); !strings.Contains(g, "safe_to_bootstrap: 0") || !strings.Contains(g, "seqno:   -1") {
			t.Errorf("node%d after a crash, grastate.dat:\n%s", i, g)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := c.Maxnode(1).StartBootstrap(ctx); err == nil || !strings.Contains(err.Error(), "It may not be safe to bootstrap the cluster from this node") {
		t.Fatalf("--bootstrap after a full crash: %v, want Galera's refusal", err)
	}
	// A node serves only in the primary component, which needs two of the three voters: start together.
	var eg errgroup.Group
	for i := 1; i <= 3; i++ {
		eg.Go(func() error { return c.Maxnode(i).Start(ctx) })
	}
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, c, 3)
	waitSameRows(t, c, "SELECT id, v FROM it_crash.t ORDER BY id", want.String())
	mustNodeExec(t, c.Maxnode(2), "INSERT INTO it_crash.t VALUES (100, 'after')")
	want.WriteString("100 after;")

	// A member whose data directory is lost comes back empty under the same name: the cluster removes it
	// and adds it again, and it receives everything from the log.
	if err := c.Maxnode(3).Kill(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(c.Maxnode(3).DataDir()); err != nil {
		t.Fatal(err)
	}
	if err := c.Maxnode(3).Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, c, 3)
	waitSameRows(t, c, "SELECT id, v FROM it_crash.t ORDER BY id", want.String())
}

func waitStatus(t *testing.T, n *harness.Maxnode, name, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := harness.Poll(ctx, n.Name()+" "+name, 20*time.Millisecond, func(ctx context.Context) error {
		got, err := n.Status(ctx, name)
		if err == nil && got != want {
			err = fmt.Errorf("%s = %q, want %q", name, got, want)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustNodeExec(t *testing.T, n *harness.Maxnode, query string, args ...any) {
	t.Helper()
	if err := n.Exec(t.Context(), query, args...); err != nil {
		t.Fatal(err)
	}
}

func mustStatus(t *testing.T, n *harness.Maxnode, name string) string {
	t.Helper()
	v, err := n.Status(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func statusInt(t *testing.T, n *harness.Maxnode, name string) int64 {
	t.Helper()
	var v int64
	if _, err := fmt.Sscan(mustStatus(t, n, name), &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func grastate(t *testing.T, n *harness.Maxnode) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.DataDir(), "grastate.dat"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitSameRows polls until query returns want (rows as "col col;") on every node.
func waitSameRows(t *testing.T, c *harness.MaxnodeCluster, query, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, n := range c.Nodes() {
		m := n.(*harness.Maxnode)
		err := harness.Poll(ctx, m.Name()+" rows", 20*time.Millisecond, func(ctx context.Context) error {
			rows, err := m.Query(ctx, query)
			if err != nil {
				return err
			}
			var b strings.Builder
			for _, r := range rows {
				b.WriteString(strings.Join(r, " ") + ";")
			}
			if b.String() != want {
				return fmt.Errorf("rows %q, want %q", b.String(), want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
