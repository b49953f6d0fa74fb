package consensus

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

func mustOpen(t *testing.T, dir string) (*logStore, applyState) {
	t.Helper()
	ls, st, err := openLogStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ls.close() })
	return ls, st
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, LogDirName, "*.log"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no segments in %s (%v)", dir, err)
	}
	return names[len(names)-1]
}

func entryData(t *testing.T, ls *logStore) []string {
	t.Helper()
	first, _ := ls.FirstIndex()
	last, _ := ls.LastIndex()
	ents, err := ls.Entries(first, last+1, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, fmt.Sprintf("%d:%s", e.GetIndex(), e.GetData()))
	}
	return out
}

// A write cut off by a crash (never acknowledged: its fdatasync did not return) is dropped on open, and
// none of its bytes can be read back as a record once later writes land over it.
func TestLogStoreDropsTornTail(t *testing.T) {
	dir := t.TempDir()
	ls, _ := mustOpen(t, dir)
	if err := ls.save(&pb.HardState{Term: new(uint64(1)), Commit: new(uint64(1))}, []*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b")}, nil); err != nil {
		t.Fatal(err)
	}
	torn := ls.off
	// The last write carries a record that looks valid inside an entry's data, right where a shorter
	// write over the torn one ends (record header 9, entry header 21, data "c-").
	ls.buf = ls.buf[:0]
	ls.appendEntries([]*pb.Entry{ent(4, 1, "zzz")})
	inner := slices.Clone(ls.buf)
	if err := ls.save(nil, []*pb.Entry{ent(3, 1, "c-"+string(inner))}, nil); err != nil {
		t.Fatal(err)
	}
	end := ls.off
	_ = ls.close()
	// The crash kept the end of the last write but not its start.
	f, err := os.OpenFile(lastSegment(t, dir), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 12), torn); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	ls, _ = mustOpen(t, dir)
	if got := entryData(t, ls); !slices.Equal(got, []string{"1:a", "2:b"}) {
		t.Fatalf("entries after a torn write: %q", got)
	}
	if ls.off != torn {
		t.Fatalf("writes resume at %d, want %d (end %d)", ls.off, torn, end)
	}
	if err := ls.save(nil, []*pb.Entry{ent(3, 2, "C!")}, nil); err != nil {
		t.Fatal(err)
	}
	if ls.off != torn+9+21+2 {
		t.Fatalf("the rewrite ends at %d, not where the embedded record starts (%d)", ls.off, torn+32)
	}
	_ = ls.close()
	ls, _ = mustOpen(t, dir)
	if got := entryData(t, ls); !slices.Equal(got, []string{"1:a", "2:b", "3:C!"}) {
		t.Fatalf("entries after rewriting the torn tail: %q", got)
	}
	if hs, _, _ := ls.InitialState(); hs.GetTerm() != 1 || hs.GetCommit() != 1 {
		t.Fatalf("hard state %v", hs)
	}
}

// Damage anywhere but at the end of the last segment is not a crash's torn write: open refuses.
func TestLogStoreRefusesDamageBeforeTheTail(t *testing.T) {
	dir := t.TempDir()
	ls, _ := mustOpen(t, dir)
	ls.segSize = 256
	for i := uint64(1); i <= 20; i++ {
		if err := ls.save(nil, []*pb.Entry{ent(i, 1, strings.Repeat("x", 40))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(ls.segs) < 3 {
		t.Fatalf("%d segments, want several", len(ls.segs))
	}
	_ = ls.close()
	first := filepath.Join(dir, LogDirName, segmentName(ls.segs[0].seq))
	b, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b[20] ^= 0xff
	if err := os.WriteFile(first, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if ls, _, err := openLogStore(dir); err == nil {
		_ = ls.close()
		t.Fatal("a damaged record in the first of several segments was accepted")
	}
}

// Compaction deletes the oldest segments once everything in them is discarded; what is left (the
// checkpoint, hard state, apply state, epoch and the retained entries) reopens unchanged, since each
// segment starts with the state that is not entries.
func TestLogStoreCompactionDropsSegments(t *testing.T) {
	dir := t.TempDir()
	ls, _ := mustOpen(t, dir)
	ls.segSize = 512
	epoch, err := ls.nextEpoch()
	if err != nil {
		t.Fatal(err)
	}
	apply := &applyState{applied: 30, conf: &pb.ConfState{Voters: []uint64{1, 2, 3}}, lastSeq: map[uint64]uint64{1: 44}}
	for i := uint64(1); i <= 40; i++ {
		var st *applyState
		if i == 40 {
			st = apply
		}
		hs := &pb.HardState{Term: new(uint64(2)), Vote: new(uint64(1)), Commit: new(i)}
		if err := ls.save(hs, []*pb.Entry{ent(i, 2, fmt.Sprintf("%030d", i))}, st); err != nil {
			t.Fatal(err)
		}
	}
	before := len(ls.segs)
	cp := &Checkpoint{Index: 30, Term: 2, Conf: &pb.ConfState{Voters: []uint64{1, 2, 3}}, LastSeq: map[uint64]uint64{1: 44}, Data: []byte("fsm")}
	if err := ls.compact(cp, 25); err != nil {
		t.Fatal(err)
	}
	if len(ls.segs) >= before || ls.segs[0].maxIndex <= 25 {
		t.Fatalf("segments %d -> %d (first holds up to %d): the discarded ones should be gone", before, len(ls.segs), ls.segs[0].maxIndex)
	}
	if n, _ := filepath.Glob(filepath.Join(dir, LogDirName, "*.log")); len(n) != len(ls.segs) {
		t.Fatalf("%d segment files, %d segments", len(n), len(ls.segs))
	}
	_ = ls.close()

	ls, st := mustOpen(t, dir)
	if first, _ := ls.FirstIndex(); first != 26 {
		t.Fatalf("first index %d after reopen, want 26", first)
	}
	if last, _ := ls.LastIndex(); last != 40 {
		t.Fatalf("last index %d after reopen, want 40", last)
	}
	got, err := ls.checkpoint()
	if err != nil || got == nil || got.Index != 30 || string(got.Data) != "fsm" {
		t.Fatalf("checkpoint %+v, %v", got, err)
	}
	if hs, _, _ := ls.InitialState(); hs.GetTerm() != 2 || hs.GetVote() != 1 || hs.GetCommit() != 40 {
		t.Fatalf("hard state %v", hs)
	}
	if st.applied != 30 || st.lastSeq[1] != 44 {
		t.Fatalf("apply state %+v", st)
	}
	if e, _ := ls.nextEpoch(); e <= epoch {
		t.Fatalf("epoch %d after %d", e, epoch)
	}
}

// InstallCheckpoint empties the log, whatever it held, and keeps the vote of the current term.
func TestInstallCheckpointEmptiesTheLog(t *testing.T) {
	dir := t.TempDir()
	ls, _ := mustOpen(t, dir)
	if err := ls.save(&pb.HardState{Term: new(uint64(5)), Vote: new(uint64(2)), Commit: new(uint64(2))},
		[]*pb.Entry{ent(1, 5, "a"), ent(2, 5, "b"), ent(3, 5, "c")}, nil); err != nil {
		t.Fatal(err)
	}
	_ = ls.close()
	cp := &Checkpoint{Index: 100, Term: 4, Conf: &pb.ConfState{Voters: []uint64{1, 2}}, LastSeq: map[uint64]uint64{}, Data: []byte("d")}
	if err := InstallCheckpoint(dir, cp); err != nil {
		t.Fatal(err)
	}
	ls, st := mustOpen(t, dir)
	if first, _ := ls.FirstIndex(); first != 101 {
		t.Fatalf("first index %d, want 101", first)
	}
	if last, _ := ls.LastIndex(); last != 100 {
		t.Fatalf("last index %d, want 100", last)
	}
	if hs, _, _ := ls.InitialState(); hs.GetTerm() != 5 || hs.GetVote() != 2 || hs.GetCommit() != 100 {
		t.Fatalf("hard state %v", hs)
	}
	if st.applied != 100 {
		t.Fatalf("applied %d", st.applied)
	}
	if n, _ := filepath.Glob(filepath.Join(dir, LogDirName, "*.log")); len(n) != 1 {
		t.Fatalf("%d segments after the install, want 1", len(n))
	}
}

// A data directory written by the bbolt-based version is refused with an explanation, not taken for an
// empty one (which would make the node forget its log and votes).
func TestLogStoreRefusesLegacyFormat(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, legacyLogFileName), []byte("bolt"), 0o600); err != nil {
		t.Fatal(err)
	}
	ls, _, err := openLogStore(dir)
	if err == nil {
		_ = ls.close()
		t.Fatal("a legacy raft.db was ignored")
	}
	if !strings.Contains(err.Error(), "state transfer") {
		t.Fatalf("error %q does not say what to do", err)
	}
}
