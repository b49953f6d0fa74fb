package replicator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// pc.weight=0 (GALERA.md §6.1, §12.5): the member is in the view, the primary component and
// wsrep_cluster_size, takes writes, but never counts in quorum (a raft learner); wsrep_cluster_weight
// counts the voters. Changing the weight at runtime demotes and promotes it.
func TestZeroWeightMember(t *testing.T) {
	c := newClusterStarting(t, 3, 0, 30)
	c.zeroWeight = map[uint64]bool{3: true}
	for _, id := range c.peers {
		c.start(id, c.dir(id), id == 1)
	}
	c.waitPrimary(c.peers...)
	r3 := c.nodes[3].r
	learner := func(id uint64) bool { return slices.Contains(c.nodes[1].r.Node().Status().Learners, id) }
	eventually(t, "node 3 to be a non-voting member", func() bool { return learner(3) })
	eventually(t, "node 3 Synced", func() bool { return r3.Status().LocalStateComment == "Synced" })
	if st := r3.Status(); st.ClusterSize != 3 || st.ClusterWeight != 2 || !st.Primary {
		t.Fatalf("zero-weight member: size %d, weight %d, primary %v; want 3, 2, true", st.ClusterSize, st.ClusterWeight, st.Primary)
	}
	ctx := context.Background()
	if err := put(ctx, c.nodes[3].db, "from-3", "x"); err != nil {
		t.Fatalf("write on the zero-weight member: %v", err)
	}

	// Nodes 1 and 3 without node 2: one voter of two has no quorum, whatever node 3 says.
	c.net.Isolate(2)
	for _, id := range []uint64{1, 3} {
		eventually(t, fmt.Sprintf("node %d non-Primary without node 2", id), func() bool { return !c.nodes[id].r.Primary() })
	}
	if err := put(ctx, c.nodes[1].db, "no-quorum", "x"); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("write without quorum: %v, want ErrNotPrimary", err)
	}
	c.net.Heal()
	c.waitPrimary(c.peers...)

	if err := r3.SetWeight(2); !errors.Is(err, ErrWeight) {
		t.Fatalf("pc.weight=2: %v, want ErrWeight", err)
	}
	if err := r3.SetProviderOptions(ctx, "pc.weight=1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node 3 promoted to voter", func() bool {
		return slices.Contains(c.nodes[1].r.Node().Status().Voters, 3) && c.nodes[1].r.Status().ClusterWeight == 3
	})
	if err := r3.SetProviderOptions(ctx, "pc.weight = 0"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node 3 back to a non-voting member", func() bool { return learner(3) && r3.Primary() })
	if err := put(ctx, c.nodes[2].db, "after", "y"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	c.assertEqualContents(map[string]string{"from-3": "x", "after": "y"})
}
