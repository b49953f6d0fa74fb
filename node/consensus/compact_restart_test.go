package consensus

import (
	"fmt"
	"strings"
	"testing"
)

// A follower that received the log from its leader compacts its own copy and restarts, twice: each
// start loads the retained entries right after the discarded ones.
func TestFollowerCompactsAndRestarts(t *testing.T) {
	c := newCluster(t, 41, 3, nil)
	lead := c.leader(1, 2, 3)
	f := uint64(1)
	if f == lead {
		f = 2
	}
	payload := strings.Repeat("x", 200)
	for round := range 2 {
		for i := range 60 {
			c.mustPropose(lead, fmt.Sprintf("%d-%d-%s", round, i, payload))
		}
		eventually(t, "the follower to apply", func() bool { return c.fsms[f].count(fmt.Sprintf("%d-59-%s", round, payload)) == 1 })
		if _, err := c.nodes[f].Compact(t.Context(), c.checkpoint(f), 2000); err != nil {
			t.Fatal(err)
		}
		c.stop(f)
		c.start(f, c.peers)
		c.mustPropose(lead, fmt.Sprintf("after-restart-%d", round))
	}
}

// A member that left, came back as a learner and received the rest of the log compacts and restarts.
func TestRejoinedLearnerCompactsAndRestarts(t *testing.T) {
	c := newCluster(t, 42, 3, nil)
	lead := c.leader(1, 2, 3)
	f := uint64(3)
	if f == lead {
		f = 2
	}
	payload := strings.Repeat("y", 300)
	for i := range 20 {
		c.mustPropose(lead, fmt.Sprintf("a-%d-%s", i, payload))
	}
	eventually(t, "the follower to apply", func() bool { return c.fsms[f].count(fmt.Sprintf("a-19-%s", payload)) == 1 })
	if err := c.nodes[lead].RemoveNode(t.Context(), f, nil); err != nil {
		t.Fatal(err)
	}
	c.stop(f)
	for i := range 60 {
		c.mustPropose(lead, fmt.Sprintf("b-%d-%s", i, payload))
	}
	c.start(f, c.peers)
	if err := c.nodes[lead].AddLearner(t.Context(), f, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the learner to apply", func() bool { return c.fsms[f].count(fmt.Sprintf("b-59-%s", payload)) == 1 })
	if _, err := c.nodes[f].Compact(t.Context(), c.checkpoint(f), 3000); err != nil {
		t.Fatal(err)
	}
	c.stop(f)
	c.start(f, c.peers)
	c.stop(f)
	c.start(f, c.peers)
}

// A checkpoint that discards nothing (the whole log fits in the gcache) keeps every entry across a
// restart: the log still starts at index 1, before the new base.
func TestCheckpointWithoutDiscardSurvivesRestart(t *testing.T) {
	c := newCluster(t, 43, 1, nil)
	for i := range 10 {
		c.mustPropose(1, fmt.Sprint("e", i))
	}
	first, err := c.nodes[1].Compact(t.Context(), c.checkpoint(1), 1<<30)
	if err != nil || first != 1 {
		t.Fatalf("compact within the gcache: first %d, %v; want 1", first, err)
	}
	for range 2 {
		c.stop(1)
		c.start(1, c.peers)
		if st := c.nodes[1].Status(); st.FirstIndex != 1 {
			t.Fatalf("after restart the log starts at %d, want 1", st.FirstIndex)
		}
		c.mustPropose(1, "after")
	}
}
