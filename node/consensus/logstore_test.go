package consensus

import (
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

func ent(index, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: new(index), Term: new(term), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

// A conflicting suffix written by a new leader replaces the old one on disk, and everything survives a
// reopen: entries, hard state, apply state with its proposer filter.
func TestLogStoreTruncatesAndReloads(t *testing.T) {
	dir := t.TempDir()
	ls, st, err := openLogStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.applied != 0 || len(st.lastSeq) != 0 {
		t.Fatalf("fresh store has apply state %+v", st)
	}
	hs := &pb.HardState{Term: new(uint64(1)), Vote: new(uint64(2)), Commit: new(uint64(2))}
	if err := ls.save(hs, []*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 1, "c"), ent(4, 1, "d")}, nil); err != nil {
		t.Fatal(err)
	}
	hs2 := &pb.HardState{Term: new(uint64(2)), Vote: new(uint64(3)), Commit: new(uint64(3))}
	apply := &applyState{applied: 2, conf: &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}},
		lastSeq: map[uint64]uint64{1: 7 << 32, 2: 9}}
	if err := ls.save(hs2, []*pb.Entry{ent(3, 2, "C")}, apply); err != nil {
		t.Fatal(err)
	}
	if last, _ := ls.LastIndex(); last != 3 {
		t.Fatalf("in-memory last index %d after truncation, want 3", last)
	}
	if ls.syncs.Load() != 2 {
		t.Fatalf("%d fsynced writes, want 2", ls.syncs.Load())
	}
	if err := ls.close(); err != nil {
		t.Fatal(err)
	}

	ls, st, err = openLogStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ls.close()
	ents, err := ls.Entries(1, 4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 3 || string(ents[2].GetData()) != "C" || ents[2].GetTerm() != 2 || string(ents[1].GetData()) != "b" {
		t.Fatalf("reloaded entries %v", ents)
	}
	gotHS, cs, _ := ls.InitialState()
	if gotHS.GetTerm() != 2 || gotHS.GetVote() != 3 || gotHS.GetCommit() != 3 {
		t.Fatalf("hard state %v", gotHS)
	}
	if len(cs.GetVoters()) != 3 || len(cs.GetLearners()) != 1 {
		t.Fatalf("conf state %v", cs)
	}
	if st.applied != 2 || st.lastSeq[1] != 7<<32 || st.lastSeq[2] != 9 {
		t.Fatalf("apply state %+v", st)
	}
	e1, _ := ls.nextEpoch()
	e2, _ := ls.nextEpoch()
	if e2 <= e1 || e1 < uint64(time.Now().Unix())-60 {
		t.Fatalf("epochs %d then %d: want increasing, at least the Unix time", e1, e2)
	}
}

func TestApplyStateRejectsCorruption(t *testing.T) {
	b, err := encodeApplyState(&applyState{applied: 5, conf: &pb.ConfState{Voters: []uint64{1}}, lastSeq: map[uint64]uint64{1: 2}})
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(b); n++ {
		st := applyState{lastSeq: map[uint64]uint64{}}
		if err := decodeApplyState(b[:n], &st); err == nil {
			t.Fatalf("truncated apply state (%d of %d bytes) accepted", n, len(b))
		}
	}
}
