package consensus

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"
)

func (f *memFSM) state() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return json.Marshal(f.applied)
}

func (f *memFSM) restore(b []byte) error {
	m := map[uint64]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied, f.last = m, 0
	for i := range m {
		f.last = max(f.last, i)
	}
	return nil
}

// checkpoint takes a checkpoint of node id with its memFSM's state.
func (c *cluster) checkpoint(id uint64) *Checkpoint {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cp, err := c.nodes[id].Checkpoint(ctx, func(uint64) ([]byte, error) { return c.fsms[id].state() })
	if err != nil {
		c.t.Fatalf("checkpoint of %d: %v", id, err)
	}
	return cp
}

func TestCheckpointRoundTrip(t *testing.T) {
	c := newCluster(t, 31, 1, nil)
	c.mustPropose(1, "x")
	cp := c.checkpoint(1)
	b, err := cp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Index != cp.Index || got.Term != cp.Term || got.ConfIndex != cp.ConfIndex || string(got.Data) != string(cp.Data) ||
		!maps.Equal(got.LastSeq, cp.LastSeq) || fmt.Sprint(got.Conf.GetVoters()) != fmt.Sprint(cp.Conf.GetVoters()) {
		t.Fatalf("round trip: %+v, want %+v", got, cp)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, b[:len(b)/2]} {
		if _, err := UnmarshalCheckpoint(bad); err == nil {
			t.Errorf("UnmarshalCheckpoint(%x) accepted a damaged checkpoint", bad)
		}
	}
}

// Compact keeps the newest entries that fit in the retained bytes (the gcache) and never discards one
// after the checkpoint; the result survives a restart.
func TestCompactRetainsGcacheBytes(t *testing.T) {
	c := newCluster(t, 32, 1, nil)
	payload := string(make([]byte, 100))
	var last Result
	for range 20 {
		last = c.mustPropose(1, payload)
	}
	cp := c.checkpoint(1)
	ctx := t.Context()
	if _, err := c.nodes[1].Compact(ctx, &Checkpoint{Index: last.Index + 5}, 0); err == nil {
		t.Fatal("compacted to a checkpoint beyond the applied index")
	}
	first, err := c.nodes[1].Compact(ctx, cp, 5*(100+17+envelopeLen))
	if err != nil {
		t.Fatal(err)
	}
	if want := cp.Index - 4; first != want {
		t.Fatalf("first retained index %d, want %d (five entries of the gcache)", first, want)
	}
	// Entries after the checkpoint are never discarded, whatever the budget.
	more := c.mustPropose(1, payload)
	if first, err = c.nodes[1].Compact(ctx, nil, 0); err != nil || first != cp.Index+1 {
		t.Fatalf("compact without a new checkpoint: first %d, %v; want %d", first, err, cp.Index+1)
	}
	c.stop(1)
	c.start(1, c.peers)
	if st := c.nodes[1].Status(); st.FirstIndex != cp.Index+1 || st.LastIndex < more.Index {
		t.Fatalf("after restart the log holds [%d, %d], want [%d, >= %d]", st.FirstIndex, st.LastIndex, cp.Index+1, more.Index)
	}
	c.mustPropose(1, "after-restart")
}

// A follower that missed entries every member has discarded is told so (OnSnapshot) instead of receiving
// a raft snapshot; after InstallCheckpoint with another member's checkpoint and its FSM state it
// follows the log again.
func TestLaggingFollowerInstallsCheckpoint(t *testing.T) {
	c := newCluster(t, 33, 3, nil)
	lead := c.leader(1, 2, 3)
	lagging := uint64(1)
	if lagging == lead {
		lagging = 2
	}
	c.mustPropose(lead, "seen-by-all")
	c.converged(1, c.peers...)
	c.stop(lagging)
	for i := range 20 {
		c.mustPropose(lead, fmt.Sprintf("e-%d", i))
	}
	for _, id := range c.peers {
		if id == lagging {
			continue
		}
		eventually(t, "the survivors to apply everything", func() bool { return c.fsms[id].count("e-19") == 1 })
		if _, err := c.nodes[id].Compact(t.Context(), c.checkpoint(id), 0); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var reqs []SnapshotRequest
	c.tweak = func(cfg *Config) {
		if cfg.ID == lagging {
			cfg.OnSnapshot = func(r SnapshotRequest) {
				mu.Lock()
				reqs = append(reqs, r)
				mu.Unlock()
			}
		}
	}
	c.start(lagging, c.peers)
	eventually(t, "the lagging follower to learn it needs a state transfer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reqs) > 0
	})
	mu.Lock()
	req := reqs[0]
	mu.Unlock()
	if req.From != lead || req.Index == 0 {
		t.Fatalf("snapshot request %+v, want one from the leader %d", req, lead)
	}
	if c.fsms[lagging].count("e-19") != 0 {
		t.Fatal("lagging follower applied entries it could not have received")
	}
	if c.nodes[lead].Stats().SnapshotsNeeded == 0 {
		t.Fatal("the leader did not count the follower's state transfer")
	}
	// The state transfer: a donor's checkpoint (raft half) and its FSM state (data half).
	c.stop(lagging)
	cp := c.checkpoint(lead)
	if err := InstallCheckpoint(c.dirs[lagging], cp); err != nil {
		t.Fatal(err)
	}
	if err := c.fsms[lagging].restore(cp.Data); err != nil {
		t.Fatal(err)
	}
	c.tweak = nil
	c.start(lagging, c.peers)
	c.mustPropose(lead, "after-transfer")
	eventually(t, "the follower to apply after its state transfer", func() bool {
		return c.fsms[lagging].count("after-transfer") == 1
	})
	if got, want := c.fsms[lagging].snapshot(), c.fsms[lead].snapshot(); !maps.Equal(got, want) {
		t.Fatalf("follower after state transfer: %v, leader %v", got, want)
	}
	if st := c.nodes[lagging].Status(); st.FirstIndex != cp.Index+1 {
		t.Fatalf("follower's log starts at %d, want %d (after the installed checkpoint)", st.FirstIndex, cp.Index+1)
	}
}
