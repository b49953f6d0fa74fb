package consensus

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
)

// A node whose FSM lost its tail (a crash before the FSM's own state was durable) restarts with
// ReplayFrom and receives every committed entry from there again, at the same indexes as everyone else.
func TestReplayFromRedeliversCommittedEntries(t *testing.T) {
	c := newCluster(t, 21, 3, nil)
	lead := c.leader(1, 2, 3)
	for i := range 10 {
		c.mustPropose(lead, fmt.Sprintf("a-%d", i))
	}
	c.converged(10, c.peers...)
	down := uint64(1)
	if down == lead {
		down = 2
	}
	c.stop(down)

	// Keep what the FSM held up to the fifth payload, forget the rest, and replay from the index after it.
	full := c.fsms[lead].snapshot()
	var cut uint64
	seen := 0
	for _, i := range sortedKeys(full) {
		if seen == 5 {
			cut = i
			break
		}
		seen++
	}
	kept := newMemFSM()
	for i, d := range full {
		if i < cut {
			kept.applied[i] = d
			kept.last = max(kept.last, i)
		}
	}
	c.fsms[down] = kept
	replay := func(cfg *Config) {
		if cfg.ID == down {
			cfg.ReplayFrom = cut
		}
	}
	c.tweak = replay
	c.start(down, c.peers)
	c.tweak = nil
	c.mustPropose(lead, "b")
	c.converged(11, c.peers...)
	if got, want := c.fsms[down].snapshot(), c.fsms[lead].snapshot(); !maps.Equal(got, want) {
		t.Fatalf("after replay from %d: %v, leader has %v", cut, got, want)
	}
	if kept.dups != 0 {
		t.Fatalf("%d entries delivered out of order or with different data", kept.dups)
	}
}

func TestReplayFromCompactedLogIsRefused(t *testing.T) {
	c := newCluster(t, 22, 1, nil)
	for i := range 3 {
		c.mustPropose(1, fmt.Sprint(i))
	}
	st := c.nodes[1].Status()
	if err := c.nodes[1].Compact(t.Context(), st.Applied); err != nil {
		t.Fatal(err)
	}
	c.stop(1)
	_, err := Start(Config{ID: 1, DataDir: c.dirs[1], Peers: c.peers, Transport: c.eps[1], FSM: newMemFSM(), ReplayFrom: 1})
	if !errors.Is(err, ErrReplayCompacted) {
		t.Fatalf("replay of a compacted log: %v, want ErrReplayCompacted", err)
	}
}

func (f *memFSM) snapshot() map[uint64]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.applied)
}

func sortedKeys(m map[uint64]string) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
