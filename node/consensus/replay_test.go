package consensus

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
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

// Once the log before a checkpoint is discarded, a replay starts from the checkpoint: Restore gets it,
// then the entries after it are delivered again. Without Restore the replay is refused.
func TestReplayFromCheckpoint(t *testing.T) {
	c := newCluster(t, 22, 1, nil)
	for i := range 3 {
		c.mustPropose(1, fmt.Sprint(i))
	}
	cp := c.checkpoint(1)
	if _, err := c.nodes[1].Compact(t.Context(), cp, 0); err != nil {
		t.Fatal(err)
	}
	after := c.mustPropose(1, "after-checkpoint")
	c.stop(1)
	_, err := Start(Config{ID: 1, DataDir: c.dirs[1], Peers: c.peers, Transport: c.eps[1], FSM: newMemFSM(), ReplayFrom: 1})
	if !errors.Is(err, ErrReplayCompacted) {
		t.Fatalf("replay of a compacted log without Restore: %v, want ErrReplayCompacted", err)
	}
	fsm := newMemFSM()
	var restored *Checkpoint
	n, err := Start(Config{ID: 1, DataDir: c.dirs[1], Peers: c.peers, Transport: c.eps[1], FSM: fsm, ReplayFrom: 1,
		Restore: func(got *Checkpoint) error {
			restored = got
			return fsm.restore(got.Data)
		}})
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[1] = n
	c.eps[1].Handle(n.Step)
	if restored == nil || restored.Index != cp.Index || restored.Term != cp.Term || !maps.Equal(restored.LastSeq, cp.LastSeq) {
		t.Fatalf("restored %+v, want the checkpoint %+v", restored, cp)
	}
	eventually(t, "the entry after the checkpoint to be replayed", func() bool { return fsm.count("after-checkpoint") == 1 })
	if got := fsm.snapshot()[after.Index]; got != "after-checkpoint" {
		t.Fatalf("index %d after replay holds %q", after.Index, got)
	}
	if fsm.dups != 0 {
		t.Fatalf("%d entries delivered out of order or with different data", fsm.dups)
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

// rewind rebuilds the per-proposer filter exactly as the apply loop built it: overtaken entries do not
// lower it, a normal entry carrying a conf envelope is ignored, a conf change's envelope counts.
func TestRewindRebuildsFilter(t *testing.T) {
	ls, st, err := openLogStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ls.close()
	normal := func(i uint64, k entryKind, proposer, seq uint64) *pb.Entry {
		return &pb.Entry{Index: new(i), Term: new(uint64(1)), Type: pb.EntryNormal.Enum(),
			Data: appendEnvelope(nil, k, proposer, seq, []byte("x"))}
	}
	cc, err := proto.Marshal(&pb.ConfChange{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: new(uint64(9)),
		Context: appendEnvelope(nil, kindConf, 2, 7, nil)})
	if err != nil {
		t.Fatal(err)
	}
	ents := []*pb.Entry{
		normal(1, kindProposal, 1, 5),
		normal(2, kindProposal, 1, 3), // overtaken
		normal(3, kindConf, 1, 9),     // malformed: skipped by applyNormal
		{Index: new(uint64(4)), Term: new(uint64(1)), Type: pb.EntryConfChange.Enum(), Data: cc},
		normal(5, kindBarrier, 1, 6),
		{Index: new(uint64(6)), Term: new(uint64(1)), Type: pb.EntryNormal.Enum()}, // a leader's empty entry
	}
	if err := ls.save(nil, ents, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from uint64
		want map[uint64]uint64
	}{
		{1, map[uint64]uint64{}},
		{3, map[uint64]uint64{1: 5}},
		{5, map[uint64]uint64{1: 5, 2: 7}},
		{7, map[uint64]uint64{1: 6, 2: 7}},
	} {
		st.lastSeq = map[uint64]uint64{1: 100}
		if err := ls.rewind(&st, tc.from, nil); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(st.lastSeq, tc.want) || st.applied != tc.from-1 {
			t.Errorf("rewind to %d: filter %v applied %d, want %v and %d", tc.from, st.lastSeq, st.applied, tc.want, tc.from-1)
		}
	}
}
