package consensus

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/maxproxy/maxproxy/node/internal/fsutil"
)

// LogDirName is the directory under the data directory that holds the raft log segments.
const LogDirName = "raft"

// legacyLogFileName is the bbolt file earlier versions kept the raft state in.
const legacyLogFileName = "raft.db"

// segmentSize is how much of a segment file is allocated when it is created; a segment is closed once a
// write would go past it (a single larger write still goes whole into one segment). Writes inside the
// allocated size leave the file's size alone, so their fdatasync has no size change to journal.
const segmentSize = 64 << 20

// Record types. A record is: length (4, big-endian, of type and payload) | crc32c (4, of type and
// payload) | type (1) | payload. A length of zero marks the end of a segment's records (segments are
// allocated zeroed).
const (
	recEntries   byte = 1 // entries (index 8 | term 8 | type 1 | length 4 | data)...; replaces the log from the first one on
	recHardState byte = 2 // raftpb.HardState
	recApply     byte = 3 // encodeApplyState
	recEpoch     byte = 4 // epoch (8)
	recBase      byte = 5 // raftpb.Snapshot: the checkpoint (Checkpoint.snapshot), the restart base
	recMarker    byte = 6 // index (8) | term (8) of the last discarded entry; discards the entries up to it
	recTruncate  byte = 7 // index (8): discards the entries after it
)

const recHeader = 9

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// applyState is what the apply loop has consumed, persisted atomically with the next log write so that a
// restart resumes exactly where the filter and the configuration were (see doc.go, "Proposal outcomes").
type applyState struct {
	applied   uint64
	conf      *pb.ConfState
	confIndex uint64            // index of the last applied configuration change
	lastSeq   map[uint64]uint64 // proposer node id -> highest sequence number applied
}

// logStore is the durable raft log, mirrored by a raft.MemoryStorage that raft reads from. Only the
// node's owner goroutine writes; raft's reads of the MemoryStorage are synchronised by the MemoryStorage
// itself.
//
// On disk it is a directory of append-only segment files (LogDirName) holding records: entries, hard
// states, apply states, epochs, checkpoints and compaction markers. Replaying every segment in order
// rebuilds the state. One save is one write of its records and one fdatasync (never turned off: raft's
// safety depends on the log and hard state being on disk before anything is acknowledged). A crash can
// only damage the records of the last, unacknowledged write, at the end of the last segment: Open drops
// them. Each new segment starts with the durable state that is not entries (checkpoint, marker, hard
// state, apply state, epoch), so that compaction can delete the oldest segments once every entry in
// them is discarded.
type logStore struct {
	*raft.MemoryStorage
	dir    string
	conf   *pb.ConfState // configuration as of the persisted applyState, returned by InitialState
	base   *pb.Snapshot  // the checkpoint a replay starts from (with its data); empty before the first
	marker *pb.Snapshot  // index and term of the last discarded entry; empty before the first compaction
	syncs  atomic.Uint64 // fdatasynced record writes (starting a segment is not counted)

	// The durable non-entry state, repeated at the start of every new segment.
	hs    *pb.HardState
	apply []byte // encoded applyState
	epoch uint64

	segs      []segment // oldest first; the last one is written to
	f         *os.File  // the last segment
	off       int64     // where the next record goes in f
	headerEnd int64     // where the state written when f was created ends (0: f was loaded)
	segSize   int64     // segmentSize; smaller in tests
	buf       []byte    // reused for building records
}

type segment struct {
	seq      uint64
	maxIndex uint64 // the highest entry index written to it (0: none)
}

func segmentName(seq uint64) string { return fmt.Sprintf("%016x.log", seq) }

// openLogStore opens (or creates) dir's raft log and loads it into memory.
func openLogStore(dir string) (*logStore, applyState, error) {
	return openLogStoreSized(dir, segmentSize)
}

// openLogStoreSized is openLogStore with segments of segSize bytes (tests use small ones).
func openLogStoreSized(dir string, segSize int64) (*logStore, applyState, error) {
	st := applyState{lastSeq: map[uint64]uint64{}}
	logDir := filepath.Join(dir, LogDirName)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, st, fmt.Errorf("create data dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyLogFileName)); err == nil {
		if _, err := os.Stat(logDir); errors.Is(err, os.ErrNotExist) {
			return nil, st, fmt.Errorf("raft state %s is in the format of an earlier version; this node needs a state transfer (empty its data directory)",
				filepath.Join(dir, legacyLogFileName))
		}
	}
	if err := os.MkdirAll(logDir, 0o750); err != nil {
		return nil, st, fmt.Errorf("create raft log dir: %w", err)
	}
	ls := &logStore{MemoryStorage: raft.NewMemoryStorage(), dir: logDir, segSize: segSize, conf: &pb.ConfState{},
		base: &pb.Snapshot{}, marker: &pb.Snapshot{}, hs: &pb.HardState{}}
	if err := ls.load(&st); err != nil {
		if ls.f != nil {
			_ = ls.f.Close()
		}
		return nil, st, fmt.Errorf("load raft log: %w", err)
	}
	if st.conf != nil {
		ls.conf = st.conf
	}
	return ls, st, nil
}

// replayState is the state being rebuilt from the records, in order.
type replayState struct {
	ents []*pb.Entry
}

func (r *replayState) appendEntries(ents []*pb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	first := ents[0].GetIndex()
	if n := len(r.ents); n > 0 {
		switch head, last := r.ents[0].GetIndex(), r.ents[n-1].GetIndex(); {
		case first > last+1:
			return fmt.Errorf("raft log has a gap between %d and %d", last, first)
		case first <= head:
			r.ents = r.ents[:0]
		default:
			r.ents = r.ents[:first-head]
		}
	}
	r.ents = append(r.ents, ents...)
	return nil
}

// keep drops the entries outside [from, to].
func (r *replayState) keep(from, to uint64) {
	r.ents = slices.DeleteFunc(r.ents, func(e *pb.Entry) bool { return e.GetIndex() < from || e.GetIndex() > to })
}

func (ls *logStore) load(st *applyState) error {
	names, err := os.ReadDir(ls.dir)
	if err != nil {
		return err
	}
	for _, de := range names {
		name := de.Name()
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".log"), 16, 64)
		if err != nil || !strings.HasSuffix(name, ".log") || name != segmentName(seq) {
			continue
		}
		ls.segs = append(ls.segs, segment{seq: seq})
	}
	slices.SortFunc(ls.segs, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	if len(ls.segs) == 0 {
		if err := ls.createSegment(1); err != nil {
			return err
		}
		return ls.finishLoad(&replayState{}, st)
	}
	var rs replayState
	for i := range ls.segs {
		seg := &ls.segs[i]
		last := i == len(ls.segs)-1
		path := filepath.Join(ls.dir, segmentName(seg.seq))
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		end, torn, err := ls.replaySegment(b, seg, &rs)
		if err != nil {
			return fmt.Errorf("%s at offset %d: %w", path, end, err)
		}
		if torn && !last {
			return fmt.Errorf("%s: damaged record at offset %d before the last segment", path, end)
		}
		if last {
			if ls.f, err = os.OpenFile(path, os.O_RDWR, 0o600); err != nil {
				return err
			}
			ls.off = end
			if torn {
				// The tail of a write cut off by a crash (never acknowledged). Cut it off so that no byte
				// of it can be read as a record later, and allocate the segment again.
				if err := ls.f.Truncate(end); err == nil {
					err = ls.f.Truncate(max(end, ls.segSize))
				}
				if err == nil {
					err = datasync(ls.f)
				}
				if err != nil {
					return fmt.Errorf("drop the damaged tail of %s: %w", path, err)
				}
			}
		}
	}
	return ls.finishLoad(&rs, st)
}

// replaySegment applies b's records to the store and rs. It returns where the records end and whether
// they end with a damaged record rather than the zero end marker or the end of the file.
func (ls *logStore) replaySegment(b []byte, seg *segment, rs *replayState) (int64, bool, error) {
	off := 0
	for off+recHeader <= len(b) {
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n == 0 {
			break // the end marker: what follows must be the zeroes the segment was allocated with
		}
		if n > len(b)-off-8 || crc32.Checksum(b[off+8:off+8+n], crcTable) != binary.BigEndian.Uint32(b[off+4:]) {
			return int64(off), true, nil
		}
		typ, p := b[off+8], b[off+9:off+8+n]
		if err := ls.replayRecord(typ, p, seg, rs); err != nil {
			return int64(off), false, err
		}
		off += 8 + n
	}
	if off < len(b) && slices.ContainsFunc(b[off:], func(c byte) bool { return c != 0 }) {
		return int64(off), true, nil
	}
	return int64(off), false, nil
}

func (ls *logStore) replayRecord(typ byte, p []byte, seg *segment, rs *replayState) error {
	switch typ {
	case recEntries:
		ents, err := decodeEntries(p)
		if err != nil {
			return err
		}
		seg.maxIndex = max(seg.maxIndex, ents[len(ents)-1].GetIndex())
		return rs.appendEntries(ents)
	case recHardState:
		hs := &pb.HardState{}
		if err := proto.Unmarshal(p, hs); err != nil {
			return fmt.Errorf("decode hard state: %w", err)
		}
		ls.hs = hs
	case recApply:
		ls.apply = slices.Clone(p)
	case recEpoch:
		if len(p) != 8 {
			return errors.New("corrupt epoch record")
		}
		ls.epoch = binary.BigEndian.Uint64(p)
	case recBase:
		base := &pb.Snapshot{}
		if err := proto.Unmarshal(p, base); err != nil {
			return fmt.Errorf("decode checkpoint: %w", err)
		}
		ls.base = base
	case recMarker:
		if len(p) != 16 {
			return errors.New("corrupt compaction marker")
		}
		ls.marker = markerSnap(binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:]))
		rs.keep(ls.marker.GetMetadata().GetIndex()+1, math.MaxUint64)
	case recTruncate:
		if len(p) != 8 {
			return errors.New("corrupt truncation record")
		}
		rs.keep(0, binary.BigEndian.Uint64(p))
	default:
		return fmt.Errorf("unknown record type %d", typ)
	}
	return nil
}

func (ls *logStore) finishLoad(rs *replayState, st *applyState) error {
	if !raft.IsEmptySnap(ls.base) {
		ls.conf = pb.EnsureConfState(ls.base.GetMetadata().GetConfState())
	}
	if len(ls.apply) > 0 {
		if err := decodeApplyState(ls.apply, st); err != nil {
			return err
		}
	}
	if len(rs.ents) > 0 {
		// buildMemory's start: right after the marker (index 0 when nothing was discarded), or right
		// after the base when no entry before it is retained.
		first, mi, bi := rs.ents[0].GetIndex(), ls.marker.GetMetadata().GetIndex(), ls.base.GetMetadata().GetIndex()
		if first != mi+1 && (raft.IsEmptySnap(ls.base) || first != bi+1) {
			return fmt.Errorf("raft log starts at %d, want %d (right after the discarded entries)", first, mi+1)
		}
	}
	mem, err := buildMemory(ls.marker, ls.base, ls.hs, rs.ents)
	if err != nil {
		return err
	}
	ls.MemoryStorage = mem
	return nil
}

func markerSnap(index, term uint64) *pb.Snapshot {
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(index), Term: new(term)}}
}

// createSegment starts segment seq, allocated and beginning with the durable non-entry state, and makes
// it the one written to. extra records follow that state in the same write.
func (ls *logStore) createSegment(seq uint64, extra ...func()) error {
	path := filepath.Join(ls.dir, segmentName(seq))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create raft log segment: %w", err)
	}
	ls.buf = ls.buf[:0]
	if !raft.IsEmptySnap(ls.base) {
		if err := ls.appendProto(recBase, ls.base); err != nil {
			_ = f.Close()
			return err
		}
	}
	if !raft.IsEmptySnap(ls.marker) {
		md := ls.marker.GetMetadata()
		ls.appendRecord(recMarker, compactedMarker(md.GetIndex(), md.GetTerm()))
	}
	if !raft.IsEmptyHardState(ls.hs) {
		if err := ls.appendProto(recHardState, ls.hs); err != nil {
			_ = f.Close()
			return err
		}
	}
	if len(ls.apply) > 0 {
		ls.appendRecord(recApply, ls.apply)
	}
	if ls.epoch > 0 {
		ls.appendRecord(recEpoch, binary.BigEndian.AppendUint64(nil, ls.epoch))
	}
	for _, add := range extra {
		add()
	}
	err = f.Truncate(max(ls.segSize, int64(len(ls.buf))))
	if err == nil {
		_, err = f.WriteAt(ls.buf, 0)
	}
	if err == nil {
		err = datasync(f)
	}
	if err == nil {
		err = fsutil.SyncDir(ls.dir)
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("create raft log segment: %w", err)
	}
	if ls.f != nil {
		_ = ls.f.Close()
	}
	ls.f, ls.off, ls.headerEnd = f, int64(len(ls.buf)), int64(len(ls.buf))
	if n := len(ls.segs); n == 0 || ls.segs[n-1].seq != seq {
		ls.segs = append(ls.segs, segment{seq: seq})
	}
	return nil
}

func (ls *logStore) appendRecord(typ byte, p []byte) {
	start := len(ls.buf)
	ls.buf = append(ls.buf, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	ls.buf = append(ls.buf, p...)
	ls.sealRecord(start)
}

// sealRecord fills in the length and checksum of the record that starts at ls.buf[start].
func (ls *logStore) sealRecord(start int) {
	body := ls.buf[start+8:]
	binary.BigEndian.PutUint32(ls.buf[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(ls.buf[start+4:], crc32.Checksum(body, crcTable))
}

func (ls *logStore) appendProto(typ byte, m proto.Message) error {
	start := len(ls.buf)
	ls.buf = append(ls.buf, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	var err error
	if ls.buf, err = (proto.MarshalOptions{}).MarshalAppend(ls.buf, m); err != nil {
		ls.buf = ls.buf[:start]
		return fmt.Errorf("encode raft record: %w", err)
	}
	ls.sealRecord(start)
	return nil
}

func (ls *logStore) appendEntries(ents []*pb.Entry) {
	start := len(ls.buf)
	ls.buf = append(ls.buf, 0, 0, 0, 0, 0, 0, 0, 0, recEntries)
	for _, e := range ents {
		ls.buf = binary.BigEndian.AppendUint64(ls.buf, e.GetIndex())
		ls.buf = binary.BigEndian.AppendUint64(ls.buf, e.GetTerm())
		ls.buf = append(ls.buf, byte(e.GetType()))
		ls.buf = binary.BigEndian.AppendUint32(ls.buf, uint32(len(e.GetData())))
		ls.buf = append(ls.buf, e.GetData()...)
	}
	ls.sealRecord(start)
}

func decodeEntries(p []byte) ([]*pb.Entry, error) {
	var ents []*pb.Entry
	for len(p) > 0 {
		if len(p) < 21 {
			return nil, errors.New("corrupt raft log entry")
		}
		n := binary.BigEndian.Uint32(p[17:])
		if uint64(n) > uint64(len(p)-21) {
			return nil, errors.New("corrupt raft log entry")
		}
		e := &pb.Entry{
			Index: new(binary.BigEndian.Uint64(p)),
			Term:  new(binary.BigEndian.Uint64(p[8:])),
			Type:  pb.EntryType(p[16]).Enum(),
		}
		if n > 0 {
			e.Data = slices.Clone(p[21 : 21+n])
		}
		if k := len(ents); k > 0 && ents[k-1].GetIndex()+1 != e.GetIndex() {
			return nil, errors.New("raft log entries out of order in one record")
		}
		ents = append(ents, e)
		p = p[21+n:]
	}
	if len(ents) == 0 {
		return nil, errors.New("empty entries record")
	}
	return ents, nil
}

// write appends the records built in ls.buf to the last segment (starting a new one when they do not
// fit in it) and fdatasyncs it. maxIndex is the highest entry index among them (0: none).
func (ls *logStore) write(maxIndex uint64) error {
	if ls.off > ls.headerEnd && ls.off+int64(len(ls.buf)) > ls.segSize {
		recs := slices.Clone(ls.buf)
		if err := ls.createSegment(ls.segs[len(ls.segs)-1].seq + 1); err != nil {
			return err
		}
		ls.buf = append(ls.buf[:0], recs...)
	}
	if _, err := ls.f.WriteAt(ls.buf, ls.off); err != nil {
		return err
	}
	if err := datasync(ls.f); err != nil {
		return err
	}
	ls.syncs.Add(1)
	ls.off += int64(len(ls.buf))
	seg := &ls.segs[len(ls.segs)-1]
	seg.maxIndex = max(seg.maxIndex, maxIndex)
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
	epoch := max(ls.epoch+1, uint64(time.Now().Unix()))
	ls.buf = ls.buf[:0]
	ls.appendRecord(recEpoch, binary.BigEndian.AppendUint64(nil, epoch))
	if err := ls.write(0); err != nil {
		return 0, fmt.Errorf("persist epoch: %w", err)
	}
	ls.epoch = epoch
	return epoch, nil
}

// save persists one Ready's durable part in one write and one fdatasync, and then exposes it to raft
// through the MemoryStorage. ents may overwrite a conflicting suffix of the log.
func (ls *logStore) save(hs *pb.HardState, ents []*pb.Entry, st *applyState) error {
	var apply []byte
	if st != nil {
		var err error
		if apply, err = encodeApplyState(st); err != nil {
			return fmt.Errorf("persist raft state: %w", err)
		}
	}
	var batch [][]*pb.Entry
	if len(ents) > 0 {
		batch = [][]*pb.Entry{ents}
	}
	return ls.saveBatch(hs, batch, apply)
}

// saveBatch is save for several appends at once, in order (each may overwrite a suffix of the ones
// before), with the latest hard state and encoded apply state: one write, one fdatasync.
func (ls *logStore) saveBatch(hs *pb.HardState, ents [][]*pb.Entry, apply []byte) error {
	emptyHS := hs == nil || raft.IsEmptyHardState(hs)
	if emptyHS && len(ents) == 0 && apply == nil {
		return nil
	}
	ls.buf = ls.buf[:0]
	var maxIndex uint64
	for _, e := range ents {
		if len(e) > 0 {
			ls.appendEntries(e)
			maxIndex = max(maxIndex, e[len(e)-1].GetIndex())
		}
	}
	if !emptyHS {
		if err := ls.appendProto(recHardState, hs); err != nil {
			return fmt.Errorf("persist raft state: %w", err)
		}
	}
	if apply != nil {
		ls.appendRecord(recApply, apply)
	}
	if err := ls.write(maxIndex); err != nil {
		return fmt.Errorf("persist raft state: %w", err)
	}
	if !emptyHS {
		ls.hs = hs
	}
	if apply != nil {
		ls.apply = apply
	}
	for _, e := range ents {
		if err := ls.Append(e); err != nil {
			return err
		}
	}
	if !emptyHS {
		return ls.SetHardState(hs)
	}
	return nil
}

// compact durably makes cp (when not nil) the restart base and discards the entries up to through, in one
// fdatasynced write, then does the same to the in-memory log and deletes the oldest segments that hold
// nothing but discarded entries.
func (ls *logStore) compact(cp *Checkpoint, through uint64) error {
	term, err := ls.Term(through)
	if err != nil {
		return fmt.Errorf("compact raft log to %d: %w", through, err)
	}
	ls.buf = ls.buf[:0]
	var base *pb.Snapshot
	if cp != nil {
		base = cp.snapshot()
		if err := ls.appendProto(recBase, base); err != nil {
			return err
		}
	}
	ls.appendRecord(recMarker, compactedMarker(through, term))
	if err := ls.write(0); err != nil {
		return fmt.Errorf("compact raft log: %w", err)
	}
	if cp != nil {
		ls.base = base
		if _, err := ls.CreateSnapshot(cp.Index, cp.Conf, nil); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
			return err
		}
	}
	ls.marker = markerSnap(through, term)
	if first, _ := ls.FirstIndex(); through >= first {
		if err := ls.Compact(through); err != nil {
			return err
		}
	}
	return ls.dropSegments(through)
}

// dropSegments deletes the oldest segments (never the last) whose entries are all at or before through.
// Only a prefix goes: a later segment may have replaced entries of an earlier one, which must then stay
// to be replaced again on replay. Every segment starts with the state that is not entries, so the
// first one left holds everything the deleted ones did.
func (ls *logStore) dropSegments(through uint64) error {
	n := 0
	for n < len(ls.segs)-1 && ls.segs[n].maxIndex <= through {
		n++
	}
	if n == 0 {
		return nil
	}
	for _, seg := range ls.segs[:n] {
		if err := os.Remove(filepath.Join(ls.dir, segmentName(seg.seq))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("delete raft log segment: %w", err)
		}
	}
	ls.segs = slices.Delete(ls.segs, 0, n)
	if err := fsutil.SyncDir(ls.dir); err != nil {
		return fmt.Errorf("delete raft log segment: %w", err)
	}
	return nil
}

func (ls *logStore) close() error {
	if ls.f == nil {
		return nil
	}
	err := ls.f.Close()
	ls.f = nil
	return err
}

// truncateAfter durably deletes the log entries after index (ForceNewCluster's uncommitted tail) and
// rebuilds the in-memory copy without them.
func (ls *logStore) truncateAfter(index uint64) error {
	last, err := ls.LastIndex()
	if err != nil || last <= index {
		return err
	}
	ls.buf = ls.buf[:0]
	ls.appendRecord(recTruncate, binary.BigEndian.AppendUint64(nil, index))
	if err := ls.write(0); err != nil {
		return fmt.Errorf("truncate raft log: %w", err)
	}
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

// install makes cp the base of an empty log (InstallCheckpoint): a new segment records it, with the
// hard state and the apply state at cp, and the older segments are deleted.
func (ls *logStore) install(cp *Checkpoint) error {
	hs := proto.CloneOf(ls.hs)
	// Votes are per term: keep the vote while the term stays, drop it when the checkpoint's term is newer.
	if hs.GetTerm() < cp.Term {
		hs = &pb.HardState{Term: new(cp.Term), Vote: new(uint64(0))}
	}
	hs.Commit = new(cp.Index) // raft needs commit <= last index, and the log now ends at cp.Index
	apply, err := encodeApplyState(&applyState{applied: cp.Index, conf: cp.Conf, confIndex: cp.ConfIndex, lastSeq: cp.LastSeq})
	if err != nil {
		return err
	}
	ls.base, ls.marker, ls.hs, ls.apply = cp.snapshot(), markerSnap(cp.Index, cp.Term), hs, apply
	// The new segment's state records discard the entries up to cp.Index; the truncation after them
	// discards the rest, so a crash before the old segments are gone still leaves an empty log.
	truncate := func() { ls.appendRecord(recTruncate, binary.BigEndian.AppendUint64(nil, cp.Index)) }
	if err := ls.createSegment(ls.segs[len(ls.segs)-1].seq+1, truncate); err != nil {
		return err
	}
	return ls.dropSegments(math.MaxUint64)
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
