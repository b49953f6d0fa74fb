package replicator

import (
	"context"
	"errors"
	"testing"

	"github.com/maxproxy/maxproxy/node/consensus/simnet"
	"github.com/maxproxy/maxproxy/node/storage"
)

// GALERA.md §4.6 / §12.4: a local transaction that holds a lock a remote write-set needs, and whose own
// write-set is already being ordered behind that remote one, is not aborted: it passes certification
// (its write-set does not touch the remote row), commits, and counts as a replay (wsrep_local_replays),
// the client seeing success. A transaction that holds the same lock while still executing is
// BF-aborted instead (1213, wsrep_local_bf_aborts), and no replay is counted.
func TestOrderedVictimIsReplayed(t *testing.T) {
	var slow slowApplier
	c := &cluster{t: t, net: simnet.New(11), nodes: map[uint64]*member{}, electionTick: 30, base: t.TempDir(), peers: []uint64{1, 2}}
	t.Cleanup(func() {
		slow.fast()
		for _, id := range c.peers {
			c.stop(id)
		}
		c.net.Close()
	})
	c.startWith(1, nodeOptions{applyHook: slow.hook})
	c.startWith(2, nodeOptions{})
	c.waitPrimary(1, 2)
	ctx := context.Background()
	n1, n2 := c.nodes[1], c.nodes[2]
	for _, k := range []string{"x", "y"} {
		if err := put(ctx, n2.db, k, "0"); err != nil {
			t.Fatal(err)
		}
	}
	c.waitConverged()

	// The classic replay: node 1's transaction locks x (SELECT ... FOR UPDATE) and writes only y.
	victim := n1.db.Begin(storage.TxOptions{})
	if _, _, err := victim.GetForUpdate(ctx, space, []byte("x"), true); err != nil {
		t.Fatal(err)
	}
	if err := victim.Put(ctx, space, []byte("y"), []byte("A")); err != nil {
		t.Fatal(err)
	}
	// Node 2 commits x; node 1 has ordered it but holds it in its receive queue.
	slow.slow()
	if err := put(ctx, n2.db, "x", "B"); err != nil {
		t.Fatal(err)
	}
	remote := n2.r.LastSeqno()
	eventually(t, "node 1 ordered node 2's write", func() bool { return n1.r.LastSeqno() >= remote })
	done := make(chan error, 1)
	go func() { done <- victim.Commit(ctx) }()
	eventually(t, "node 1 ordered its own write-set behind it", func() bool { return n1.r.LastSeqno() > remote })
	slow.fast() // the remote write-set applies and needs x, which the committing victim holds
	if err := <-done; err != nil {
		t.Fatalf("commit of the ordered victim: %v, want success (replayed)", err)
	}
	st := n1.r.Status()
	if st.LocalReplays != 1 || st.LocalBFAborts != 0 {
		t.Fatalf("wsrep_local_replays %d, wsrep_local_bf_aborts %d; want 1 and 0", st.LocalReplays, st.LocalBFAborts)
	}
	c.waitConverged()
	c.assertEqualContents(map[string]string{"x": "B", "y": "A"})

	// Still executing when the remote write-set needs its lock: BF-aborted, not replayed.
	executing := n1.db.Begin(storage.TxOptions{})
	if _, _, err := executing.GetForUpdate(ctx, space, []byte("x"), true); err != nil {
		t.Fatal(err)
	}
	if err := put(ctx, n2.db, "x", "C"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	if err := executing.Put(ctx, space, []byte("y"), []byte("D")); !errors.Is(err, storage.ErrDeadlock) {
		executing.Rollback()
		t.Fatalf("write of a BF-aborted transaction: %v, want ErrDeadlock", err)
	}
	executing.Rollback()
	st = n1.r.Status()
	if st.LocalReplays != 1 || st.LocalBFAborts != 1 {
		t.Fatalf("wsrep_local_replays %d, wsrep_local_bf_aborts %d; want 1 and 1", st.LocalReplays, st.LocalBFAborts)
	}
	var found bool
	for _, row := range st.Rows() {
		if row.Name == "wsrep_local_replays" {
			found = row.Value == "1"
		}
	}
	if !found {
		t.Fatal("SHOW STATUS rows lack wsrep_local_replays = 1")
	}
}
