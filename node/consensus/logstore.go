package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// LogFileName is the bbolt file under the data directory that holds the raft log and hard state.
const LogFileName = "raft.db"

var (
	bucketLog  = []byte("log")
	bucketMeta = []byte("meta")

	keyHardState = []byte("hardstate")
	keySnapshot  = []byte("snapshot")  // the checkpoint (Checkpoint.snapshot): the restart base
	keyCompacted = []byte("compacted") // index and term of the last discarded entry
	keyApply     = []byte("apply")
	keyEpoch     = []byte("epoch")
)

// applyState is what the apply loop has consumed, persisted atomically with the next log write so that a
// restart resumes exactly where the filter and the configuration were (see doc.go, "Proposal outcomes").
type applyState struct {
	applied   uint64
	conf      *pb.ConfState
	confIndex uint64            // index of the last applied configuration change
	lastSeq   map[uint64]uint64 // proposer node id -> highest sequence number applied
}

// logStore is the durable raft log: a bbolt file (fsync on every commit, never disabled) mirrored by a
// raft.MemoryStorage that raft reads from. Only the node's owner goroutine writes; raft's reads of the
// MemoryStorage are synchronised by the MemoryStorage itself.
type logStore struct {
	*raft.MemoryStorage
	db     *bolt.DB
	conf   *pb.ConfState // configuration as of the persisted applyState, returned by InitialState
	base   *pb.Snapshot  // the checkpoint a replay starts from (with its data); empty before the first
	marker *pb.Snapshot  // index and term of the last discarded entry; empty before the first compaction
	syncs  atomic.Uint64
}

// openLogStore opens (or creates) dir/raft.db and loads it into memory.
func openLogStore(dir string) (*logStore, applyState, error) {
	var st applyState
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, st, fmt.Errorf("create data dir: %w", err)
	}
	// NoSync stays false: raft's safety depends on the log and hard state being on disk before we answer.
	db, err := bolt.Open(filepath.Join(dir, LogFileName), 0o600, &bolt.Options{NoFreelistSync: true})
	if err != nil {
		return nil, st, fmt.Errorf("open raft log: %w", err)
	}
	ls := &logStore{MemoryStorage: raft.NewMemoryStorage(), db: db, conf: &pb.ConfState{}}
	st.lastSeq = map[uint64]uint64{}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketLog); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketMeta)
		return err
	})
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error { return ls.load(tx, &st) })
	}
	if err != nil {
		_ = db.Close()
		return nil, st, fmt.Errorf("load raft log: %w", err)
	}
	if st.conf != nil {
		ls.conf = st.conf
	}
	return ls, st, nil
}

func (ls *logStore) load(tx *bolt.Tx, st *applyState) error {
	meta := tx.Bucket(bucketMeta)
	ls.base, ls.marker = &pb.Snapshot{}, &pb.Snapshot{}
	if b := meta.Get(keySnapshot); b != nil {
		if err := proto.Unmarshal(b, ls.base); err != nil {
			return fmt.Errorf("decode snapshot: %w", err)
		}
		ls.conf = pb.EnsureConfState(ls.base.GetMetadata().GetConfState())
	}
	if b := meta.Get(keyCompacted); len(b) == 16 {
		ls.marker = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
			Index: new(binary.BigEndian.Uint64(b)), Term: new(binary.BigEndian.Uint64(b[8:]))}}
	} else if !raft.IsEmptySnap(ls.base) && len(ls.base.GetData()) == 0 {
		// Written by a version whose compaction kept no checkpoint: a marker only.
		ls.marker, ls.base = ls.base, &pb.Snapshot{}
	}
	hs := &pb.HardState{}
	if b := meta.Get(keyHardState); b != nil {
		if err := proto.Unmarshal(b, hs); err != nil {
			return fmt.Errorf("decode hard state: %w", err)
		}
	}
	if b := meta.Get(keyApply); b != nil {
		if err := decodeApplyState(b, st); err != nil {
			return err
		}
	}
	c := tx.Bucket(bucketLog).Cursor()
	var ents []*pb.Entry
	for k, v := c.First(); k != nil; k, v = c.Next() {
		e, err := decodeEntry(k, v)
		if err != nil {
			return err
		}
		if n := len(ents); n > 0 && ents[n-1].GetIndex()+1 != e.GetIndex() {
			return fmt.Errorf("raft log has a gap between %d and %d", ents[n-1].GetIndex(), e.GetIndex())
		}
		ents = append(ents, e)
	}
	mem, err := buildMemory(ls.marker, ls.base, hs, ents)
	if err != nil {
		return err
	}
	ls.MemoryStorage = mem
	return nil
}

// checkpoint returns the restart base, nil before the first.
func (ls *logStore) checkpoint() (*Checkpoint, error) {
	if raft.IsEmptySnap(ls.base) {
		return nil, nil
	}
	return checkpointOf(ls.base)
}

// rewind moves the apply position back to from-1 for Config.ReplayFrom and rebuilds the per-proposer
// filter as it was then by admitting the retained entries before from, in order, starting from the
// checkpoint's filter (or the empty one at index 0). A replay from at or before the checkpoint starts
// right after it (the caller restores the FSM from cp). The configuration is
// left as persisted (the latest applied one); the node skips replayed configuration changes.
func (ls *logStore) rewind(st *applyState, from uint64, cp *Checkpoint) error {
	first, err := ls.FirstIndex()
	if err != nil {
		return fmt.Errorf("consensus: replay: %w", err)
	}
	st.lastSeq = map[uint64]uint64{}
	if cp != nil && from <= cp.Index+1 {
		// Resume from the checkpoint: its filter is the state after cp.Index.
		maps.Copy(st.lastSeq, cp.LastSeq)
		st.applied = cp.Index
		return nil
	}
	if cp != nil {
		maps.Copy(st.lastSeq, cp.LastSeq)
		first = cp.Index + 1
	} else if first > 1 {
		return fmt.Errorf("%w (first retained index %d, replay from %d)", ErrReplayCompacted, first, from)
	}
	if from > first {
		ents, err := ls.Entries(first, from, math.MaxUint64)
		if err != nil {
			return fmt.Errorf("consensus: replay: %w", err)
		}
		for _, e := range ents {
			// The same admission rule as applyNormal/applyConf: envelopes of the entry's own kind only.
			data, want := e.GetData(), func(k entryKind) bool { return k != kindConf }
			switch e.GetType() {
			case pb.EntryNormal:
			case pb.EntryConfChange:
				cc := &pb.ConfChange{}
				if proto.Unmarshal(data, cc) != nil {
					continue
				}
				data, want = cc.GetContext(), func(k entryKind) bool { return k == kindConf }
			default:
				continue
			}
			k, proposer, seq, _, err := parseEnvelope(data)
			if err == nil && want(k) && seq > st.lastSeq[proposer] {
				st.lastSeq[proposer] = seq
			}
		}
	}
	st.applied = from - 1
	return nil
}

// InitialState returns the configuration matching the persisted apply position (raft restores its
// progress tracker from it and replays nothing at or below Config.Applied).
func (ls *logStore) InitialState() (*pb.HardState, *pb.ConfState, error) {
	hs, _, err := ls.MemoryStorage.InitialState()
	return hs, ls.conf, err
}

// nextEpoch durably increments and returns the proposal epoch (one per process start, and one more
// whenever a run exhausts its sequence counter). It is at least the current Unix time in seconds: a node
// whose data directory was emptied and that comes back under the same id has lost its persisted epoch,
// and the cluster's per-proposer filter would skip every proposal of a lower one as overtaken.
func (ls *logStore) nextEpoch() (uint64, error) {
	var epoch uint64
	err := ls.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if b := meta.Get(keyEpoch); len(b) == 8 {
			epoch = binary.BigEndian.Uint64(b)
		}
		epoch = max(epoch+1, uint64(time.Now().Unix()))
		return meta.Put(keyEpoch, binary.BigEndian.AppendUint64(nil, epoch))
	})
	ls.syncs.Add(1)
	return epoch, err
}

// save persists one Ready's durable part in one bbolt transaction (one fsync) and then exposes it to raft
// through the MemoryStorage. ents may overwrite a conflicting suffix of the log.
func (ls *logStore) save(hs *pb.HardState, ents []*pb.Entry, st *applyState) error {
	emptyHS := hs == nil || raft.IsEmptyHardState(hs)
	if emptyHS && len(ents) == 0 && st == nil {
		return nil
	}
	err := ls.db.Update(func(tx *bolt.Tx) error {
		meta, log := tx.Bucket(bucketMeta), tx.Bucket(bucketLog)
		if len(ents) > 0 {
			// A new entry at index i replaces whatever the log held from i on (raft log matching).
			if err := deleteFrom(log, ents[0].GetIndex(), 0); err != nil {
				return err
			}
			var key [8]byte
			for _, e := range ents {
				binary.BigEndian.PutUint64(key[:], e.GetIndex())
				if err := log.Put(key[:], encodeEntry(e)); err != nil {
					return err
				}
			}
		}
		if !emptyHS {
			b, err := proto.Marshal(hs)
			if err != nil {
				return err
			}
			if err := meta.Put(keyHardState, b); err != nil {
				return err
			}
		}
		if st != nil {
			b, err := encodeApplyState(st)
			if err != nil {
				return err
			}
			return meta.Put(keyApply, b)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("persist raft state: %w", err)
	}
	ls.syncs.Add(1)
	if err := ls.Append(ents); err != nil {
		return err
	}
	if !emptyHS {
		return ls.SetHardState(hs)
	}
	return nil
}

// compact durably makes cp (when not nil) the restart base and deletes the entries up to through, in one
// fsynced transaction, then does the same to the in-memory log.
func (ls *logStore) compact(cp *Checkpoint, through uint64) error {
	term, err := ls.Term(through)
	if err != nil {
		return fmt.Errorf("compact raft log to %d: %w", through, err)
	}
	var base []byte
	if cp != nil {
		if base, err = proto.Marshal(cp.snapshot()); err != nil {
			return err
		}
	}
	err = ls.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if base != nil {
			if err := meta.Put(keySnapshot, base); err != nil {
				return err
			}
		}
		if err := meta.Put(keyCompacted, compactedMarker(through, term)); err != nil {
			return err
		}
		return deleteFrom(tx.Bucket(bucketLog), 0, through+1)
	})
	if err != nil {
		return fmt.Errorf("compact raft log: %w", err)
	}
	ls.syncs.Add(1)
	if cp != nil {
		ls.base = cp.snapshot()
		if _, err := ls.CreateSnapshot(cp.Index, cp.Conf, nil); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
			return err
		}
	}
	ls.marker = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(through), Term: new(term)}}
	if first, _ := ls.FirstIndex(); through >= first {
		return ls.Compact(through)
	}
	return nil
}

// deleteFrom removes keys in [from, to) (to == 0: unbounded).
func deleteFrom(b *bolt.Bucket, from, to uint64) error {
	c := b.Cursor()
	start := binary.BigEndian.AppendUint64(nil, from)
	for k, _ := c.Seek(start); k != nil; k, _ = c.Seek(start) {
		if to != 0 && binary.BigEndian.Uint64(k) >= to {
			return nil
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

func (ls *logStore) close() error { return ls.db.Close() }

// truncateAfter durably deletes the log entries after index (ForceNewCluster's uncommitted tail) and
// rebuilds the in-memory copy without them.
func (ls *logStore) truncateAfter(index uint64) error {
	last, err := ls.LastIndex()
	if err != nil || last <= index {
		return err
	}
	if err := ls.db.Update(func(tx *bolt.Tx) error { return deleteFrom(tx.Bucket(bucketLog), index+1, 0) }); err != nil {
		return fmt.Errorf("truncate raft log: %w", err)
	}
	ls.syncs.Add(1)
	first, err := ls.FirstIndex()
	if err != nil {
		return err
	}
	kept, err := ls.Entries(first, index+1, math.MaxUint64)
	if err != nil {
		return fmt.Errorf("truncate raft log: %w", err)
	}
	hs, _, err := ls.MemoryStorage.InitialState()
	if err != nil {
		return err
	}
	mem, err := buildMemory(ls.marker, ls.base, hs, kept)
	if err != nil {
		return fmt.Errorf("truncate raft log: %w", err)
	}
	ls.MemoryStorage = mem
	return nil
}

// Entry value: term (8) | type (1) | data. The index is the key.
func encodeEntry(e *pb.Entry) []byte {
	b := make([]byte, 9, 9+len(e.GetData()))
	binary.BigEndian.PutUint64(b, e.GetTerm())
	b[8] = byte(e.GetType())
	return append(b, e.GetData()...)
}

func decodeEntry(k, v []byte) (*pb.Entry, error) {
	if len(k) != 8 || len(v) < 9 {
		return nil, errors.New("corrupt raft log entry")
	}
	e := &pb.Entry{
		Index: new(binary.BigEndian.Uint64(k)),
		Term:  new(binary.BigEndian.Uint64(v)),
		Type:  pb.EntryType(v[8]).Enum(),
	}
	if len(v) > 9 {
		e.Data = append([]byte(nil), v[9:]...)
	}
	return e, nil
}

// apply state: applied (8) | conf index (8) | conf length (4) | conf proto | n (4) | n × (proposer (8), seq (8)).
func encodeApplyState(st *applyState) ([]byte, error) {
	conf, err := proto.Marshal(pb.EnsureConfState(st.conf))
	if err != nil {
		return nil, err
	}
	b := binary.BigEndian.AppendUint64(nil, st.applied)
	b = binary.BigEndian.AppendUint64(b, st.confIndex)
	b = binary.BigEndian.AppendUint32(b, uint32(len(conf)))
	b = append(b, conf...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(st.lastSeq)))
	for id, seq := range st.lastSeq {
		b = binary.BigEndian.AppendUint64(b, id)
		b = binary.BigEndian.AppendUint64(b, seq)
	}
	return b, nil
}

func decodeApplyState(b []byte, st *applyState) error {
	bad := errors.New("corrupt apply state")
	if len(b) < 20 {
		return bad
	}
	st.applied = binary.BigEndian.Uint64(b)
	st.confIndex = binary.BigEndian.Uint64(b[8:])
	n := int(binary.BigEndian.Uint32(b[16:]))
	b = b[20:]
	if n > len(b) {
		return bad
	}
	st.conf = &pb.ConfState{}
	if err := proto.Unmarshal(b[:n], st.conf); err != nil {
		return fmt.Errorf("decode conf state: %w", err)
	}
	b = b[n:]
	if len(b) < 4 {
		return bad
	}
	n = int(binary.BigEndian.Uint32(b))
	b = b[4:]
	if len(b) != n*16 {
		return bad
	}
	for i := 0; i < n; i++ {
		st.lastSeq[binary.BigEndian.Uint64(b[16*i:])] = binary.BigEndian.Uint64(b[16*i+8:])
	}
	return nil
}
