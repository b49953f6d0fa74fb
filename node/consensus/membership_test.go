package consensus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// A node outside the configuration cannot propose through its own raft (it has no leader), so ProposeVia
// hands its request to a member, which forwards it to the leader; the entry is applied by every member
// and, once the node is added and receives the log, by the node itself.
func TestProposeViaFromOutsideTheConfiguration(t *testing.T) {
	c := newCluster(t, 31, 3, nil)
	lead := c.leader(1, 2, 3)
	c.mustPropose(lead, "before")
	c.start(4, nil)
	follower := uint64(1)
	if follower == lead {
		follower = 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// A lost message is repeated, as a joiner does until it is added.
	eventually(t, "the forwarded request to be applied by the members", func() bool {
		if c.fsms[lead].count("join-4") > 0 {
			return true
		}
		if err := c.nodes[4].ProposeVia(ctx, follower, []byte("join-4")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		return false
	})
	if err := c.nodes[4].ProposeVia(ctx, 4, nil); err == nil {
		t.Error("ProposeVia to itself succeeded")
	}
	if err := c.nodes[lead].AddLearner(ctx, 4, nil); err != nil {
		t.Fatal(err)
	}
	log := c.converged(2, 1, 2, 3, 4)
	if !slices.Contains(log, "join-4") {
		t.Fatalf("joiner's log %v lacks its own request", log)
	}
}

// After a crash replay from index 1 every configuration change is reported again, marked Replayed, so an
// FSM that rebuilds its membership view from the log sees the same sequence as the first time.
func TestReplayReportsMembershipChanges(t *testing.T) {
	var mu sync.Mutex
	var changes []MembershipChange
	record := func(cfg *Config) {
		if cfg.ID == 1 {
			cfg.OnMembership = func(ch MembershipChange) {
				mu.Lock()
				changes = append(changes, ch)
				mu.Unlock()
			}
		}
	}
	c := newCluster(t, 32, 1, record)
	c.mustPropose(1, "a")
	c.start(2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.nodes[1].AddLearner(ctx, 2, []byte("n2")); err != nil {
		t.Fatal(err)
	}
	c.mustPropose(1, "b") // its write carries the apply position past the change
	c.converged(2, 1, 2)
	c.stop(1)
	mu.Lock()
	first := slices.Clone(changes)
	changes = nil
	mu.Unlock()
	if len(first) != 2 || first[0].NodeID != 1 || first[1].NodeID != 2 || string(first[1].Context) != "n2" || first[1].Replayed {
		t.Fatalf("first run changes %+v", first)
	}
	c.fsms[1] = newMemFSM()
	c.tweak = func(cfg *Config) {
		record(cfg)
		cfg.ReplayFrom = 1
	}
	c.start(1, c.peers)
	eventually(t, "replayed changes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(changes) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	for i, ch := range changes {
		if !ch.Replayed || ch.NodeID != first[i].NodeID || ch.Index != first[i].Index || string(ch.Context) != string(first[i].Context) {
			t.Errorf("replayed change %d: %+v, first run %+v", i, ch, first[i])
		}
	}
}

// Members that leave at the same time may each propose their own removal; the one that would remove the
// last voter is refused on every node (raft itself would panic applying it) and the node keeps working.
func TestRemovingTheLastVoterIsRefused(t *testing.T) {
	c := newCluster(t, 33, 1, nil)
	c.mustPropose(1, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.nodes[1].RemoveNode(ctx, 1, nil); !errors.Is(err, ErrLastVoter) {
		t.Fatalf("removing the only voter: %v, want ErrLastVoter", err)
	}
	if st := c.nodes[1].Status(); !slices.Equal(st.Voters, []uint64{1}) {
		t.Fatalf("voters %v after the refused removal", st.Voters)
	}
	c.mustPropose(1, "b")
	c.converged(2, 1)
}

// pc.bootstrap at the raft level: with both peers down the survivor cannot commit; ForceNewCluster makes
// it the only voter, keeping everything it had committed. A former member that comes back with its old
// configuration is fenced off — it cannot disrupt the new leader or take its place — until it is added
// back.
func TestForceNewCluster(t *testing.T) {
	c := newCluster(t, 34, 3, nil)
	lead := c.leader(1, 2, 3)
	for i := range 5 {
		c.mustPropose(lead, fmt.Sprintf("a-%d", i))
	}
	c.converged(5, 1, 2, 3)
	c.stop(2)
	c.stop(3)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.nodes[1].ForceNewCluster(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.nodes[1].Status(); !slices.Equal(st.Voters, []uint64{1}) {
		t.Fatalf("voters after the forced change: %v", st.Voters)
	}
	c.leader(1)
	c.mustPropose(1, "alone")
	if log := c.converged(6, 1); !slices.Equal(log[:5], []string{"a-0", "a-1", "a-2", "a-3", "a-4"}) {
		t.Fatalf("log after the forced change %v", log)
	}

	c.start(2, c.peers) // still believes in {1,2,3}: campaigns, is fenced off
	eventually(t, "node 2 to stand for election", func() bool {
		st := c.nodes[2].Status().State
		return st == "StatePreCandidate" || st == "StateCandidate"
	})
	c.mustPropose(1, "fenced")
	if st := c.nodes[1].Status(); st.Lead != 1 || !slices.Equal(st.Voters, []uint64{1}) {
		t.Fatalf("node 1 after node 2 came back: %+v", st)
	}
	if got := c.fsms[2].count("fenced"); got != 0 {
		t.Fatalf("fenced node received %d new entries", got)
	}
	if err := c.nodes[1].RemoveNode(ctx, 1, nil); !errors.Is(err, ErrLastVoter) {
		t.Fatalf("removing the forced cluster's only voter: %v", err)
	}
}
