package consensus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Checkpoint is a node's state at one applied raft index: what raft needs to resume from there (the
// configuration and the per-proposer filter) together with the FSM's own state at that index. It is the
// base a crash restart replays from once the log before it is discarded (Compact), and what a state
// transfer installs on a node that lags behind every member's retained log (InstallCheckpoint).
type Checkpoint struct {
	Index, Term uint64
	Conf        *pb.ConfState
	ConfIndex   uint64            // index of the last configuration change at or before Index
	LastSeq     map[uint64]uint64 // the per-proposer filter after Index
	Data        []byte            // the FSM's state at Index
}

// Marshal encodes the checkpoint as a raft snapshot whose data is the filter followed by the FSM state.
func (c *Checkpoint) Marshal() ([]byte, error) {
	b, err := proto.Marshal(c.snapshot())
	if err != nil {
		return nil, fmt.Errorf("consensus: encode checkpoint: %w", err)
	}
	return b, nil
}

// UnmarshalCheckpoint decodes what Marshal produced.
func UnmarshalCheckpoint(b []byte) (*Checkpoint, error) {
	snap := &pb.Snapshot{}
	if err := proto.Unmarshal(b, snap); err != nil {
		return nil, fmt.Errorf("consensus: decode checkpoint: %w", err)
	}
	return checkpointOf(snap)
}

func (c *Checkpoint) snapshot() *pb.Snapshot {
	st, _ := encodeApplyState(&applyState{applied: c.Index, conf: c.Conf, confIndex: c.ConfIndex, lastSeq: c.LastSeq})
	data := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(st)+len(c.Data)), uint32(len(st)))
	data = append(append(data, st...), c.Data...)
	return &pb.Snapshot{
		Metadata: &pb.SnapshotMetadata{Index: new(c.Index), Term: new(c.Term), ConfState: pb.EnsureConfState(c.Conf)},
		Data:     data,
	}
}

func checkpointOf(snap *pb.Snapshot) (*Checkpoint, error) {
	d := snap.GetData()
	if len(d) < 4 || uint64(len(d)-4) < uint64(binary.BigEndian.Uint32(d)) {
		return nil, errors.New("consensus: corrupt checkpoint")
	}
	n := binary.BigEndian.Uint32(d)
	st := applyState{lastSeq: map[uint64]uint64{}}
	if err := decodeApplyState(d[4:4+n], &st); err != nil {
		return nil, fmt.Errorf("consensus: checkpoint: %w", err)
	}
	md := snap.GetMetadata()
	if st.applied != md.GetIndex() {
		return nil, errors.New("consensus: corrupt checkpoint: index mismatch")
	}
	return &Checkpoint{
		Index: md.GetIndex(), Term: md.GetTerm(), Conf: pb.EnsureConfState(md.GetConfState()),
		ConfIndex: st.confIndex, LastSeq: st.lastSeq, Data: d[4+n:],
	}, nil
}

// Checkpoint captures the node's state at its applied index. capture runs on the owner goroutine with
// the FSM at exactly that index (no entry is applied meanwhile) and returns the FSM's state; keep it
// short, the node does nothing else while it runs.
func (n *Node) Checkpoint(ctx context.Context, capture func(index uint64) ([]byte, error)) (*Checkpoint, error) {
	type res struct {
		cp  *Checkpoint
		err error
	}
	r, err := onOwner(ctx, n, func() res {
		cp, err := n.checkpoint(capture)
		return res{cp, err}
	})
	if err != nil {
		return nil, err
	}
	return r.cp, r.err
}

func (n *Node) checkpoint(capture func(uint64) ([]byte, error)) (*Checkpoint, error) {
	idx := n.apply.applied
	term, err := n.store.Term(idx)
	if err != nil {
		return nil, fmt.Errorf("consensus: checkpoint at %d: %w", idx, err)
	}
	data, err := capture(idx)
	if err != nil {
		return nil, fmt.Errorf("consensus: checkpoint at %d: %w", idx, err)
	}
	return &Checkpoint{
		Index: idx, Term: term, Conf: proto.CloneOf(pb.EnsureConfState(n.apply.conf)), ConfIndex: n.apply.confIndex,
		LastSeq: maps.Clone(n.apply.lastSeq), Data: data,
	}, nil
}

// Compact makes cp the node's restart base and discards the log before it, keeping the newest entries
// that fit in retainBytes (Galera's gcache: what followers that fell behind can still receive without a
// state transfer); it never discards an entry after cp.Index, which a crash restart replays. The FSM
// must have made everything up to cp.Index durable on its own: after a crash the node restarts from cp
// (Config.Restore) and the entries after it. cp nil keeps the current base. The change is fsynced.
// It returns the first retained index.
func (n *Node) Compact(ctx context.Context, cp *Checkpoint, retainBytes uint64) (uint64, error) {
	type res struct {
		first uint64
		err   error
	}
	r, err := onOwner(ctx, n, func() res {
		first, err := n.compact(cp, retainBytes)
		return res{first, err}
	})
	if err != nil {
		return 0, err
	}
	return r.first, r.err
}

func (n *Node) compact(cp *Checkpoint, retainBytes uint64) (uint64, error) {
	if err := n.drainAppends(); err != nil {
		n.fatal = err
		return 0, err
	}
	base, err := n.store.Snapshot()
	if err != nil {
		return 0, fmt.Errorf("consensus: compact: %w", err)
	}
	baseIndex := base.GetMetadata().GetIndex()
	if cp != nil {
		if cp.Index > n.apply.applied {
			return 0, fmt.Errorf("consensus: cannot compact: checkpoint at %d, only %d is applied", cp.Index, n.apply.applied)
		}
		if cp.Index > baseIndex {
			baseIndex = cp.Index
		} else {
			cp = nil // not newer than the base we have
		}
	}
	first, _ := n.store.FirstIndex()
	if baseIndex < first {
		if cp == nil {
			return first, nil // nothing to discard without a newer checkpoint
		}
		baseIndex = first - 1 // a checkpoint that only replaces the base
	}
	// Keep the newest entries that fit in retainBytes, but never one after the base.
	through := baseIndex
	last, _ := n.store.LastIndex()
	if last > baseIndex {
		tail, err := n.store.Entries(baseIndex+1, last+1, math.MaxUint64)
		if err != nil {
			return 0, fmt.Errorf("consensus: compact: %w", err)
		}
		retainBytes = subSat(retainBytes, entryBytes(tail))
	}
	if baseIndex >= first {
		ents, err := n.store.Entries(first, baseIndex+1, math.MaxUint64)
		if err != nil {
			return 0, fmt.Errorf("consensus: compact: %w", err)
		}
		for i := len(ents) - 1; i >= 0; i-- {
			sz := entrySize(ents[i])
			if sz > retainBytes {
				break
			}
			retainBytes -= sz
			through = ents[i].GetIndex() - 1
		}
	}
	if err := n.store.compact(cp, through); err != nil {
		n.fatal = err
		return 0, err
	}
	n.publishStatus()
	first, _ = n.store.FirstIndex()
	return first, nil
}

func subSat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// entrySize is what an entry costs in the retained log (data plus the stored header).
func entrySize(e *pb.Entry) uint64 { return uint64(len(e.GetData())) + 17 }

func entryBytes(ents []*pb.Entry) uint64 {
	var s uint64
	for _, e := range ents {
		s += entrySize(e)
	}
	return s
}

// SnapshotRequest is what a follower learns when its leader no longer holds the entries it needs: the
// leader's checkpoint index. Only a state transfer (installing a checkpoint at least that recent taken
// by any member, with its FSM data) brings the follower back.
type SnapshotRequest struct {
	From  uint64 // the leader that sent it
	Index uint64 // the leader's checkpoint index
}

// InstallCheckpoint makes a stopped node's raft state in dataDir resume from cp: the log is emptied, cp
// becomes its base (first index cp.Index+1), the commit index moves to cp.Index, and the term and vote
// are kept (a voter must never forget a vote). This is the raft half of a state transfer: the caller
// installs the FSM's data matching cp before starting the node again. cp.Index must be committed in the
// cluster (a member's applied index is).
func InstallCheckpoint(dataDir string, cp *Checkpoint) error {
	ls, _, err := openLogStore(dataDir)
	if err != nil {
		return fmt.Errorf("consensus: install checkpoint: %w", err)
	}
	err = ls.install(cp)
	if cerr := ls.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("consensus: install checkpoint: %w", err)
	}
	return nil
}

func compactedMarker(index, term uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, index), term)
}

// buildMemory assembles the in-memory log raft reads: the entries after marker (the index and term of
// the last discarded entry) and the checkpoint base, which is at or after marker.
func buildMemory(marker, base *pb.Snapshot, hs *pb.HardState, ents []*pb.Entry) (*raft.MemoryStorage, error) {
	mem := raft.NewMemoryStorage()
	bi := base.GetMetadata().GetIndex()
	// The log starts right after the marker (nothing discarded: index 0) when entries at or before the
	// base are retained; otherwise right after the base.
	start := marker
	if !raft.IsEmptySnap(base) && (len(ents) == 0 || ents[0].GetIndex() > bi) {
		start = base
	}
	if !raft.IsEmptySnap(start) {
		md := start.GetMetadata()
		// Raft gets no snapshot data from its storage here: a leader only ever sends the metadata.
		if err := mem.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{
			Index: new(md.GetIndex()), Term: new(md.GetTerm()), ConfState: md.GetConfState()}}); err != nil {
			return nil, err
		}
	}
	if err := mem.Append(ents); err != nil {
		return nil, err
	}
	if start != base && !raft.IsEmptySnap(base) {
		if last, _ := mem.LastIndex(); bi > last {
			return nil, fmt.Errorf("checkpoint at %d is beyond the last log entry %d", bi, last)
		}
		if _, err := mem.CreateSnapshot(bi, base.GetMetadata().GetConfState(), nil); err != nil {
			return nil, err
		}
	}
	if hs != nil && !raft.IsEmptyHardState(hs) {
		if err := mem.SetHardState(hs); err != nil {
			return nil, err
		}
	}
	return mem, nil
}
