package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/maxproxy/maxproxy/node/internal/fsutil"
)

// Write-ahead log. Each group commit is one record appended to the current segment with a single write (and
// an fsync under policy 1), instead of a bbolt transaction that rewrites a 4 KiB page per changed row plus the
// tree above it. A background checkpoint copies what the log holds into bbolt (fsynced) and deletes the
// segments it covers, so bbolt stays the complete image up to its meta seqno and the log holds only what came
// after. Open replays the log into bbolt before loading.
//
// Segments are files under dir/wal named by the first seqno they may hold (20 decimal digits). A record is
//
//	length:u64 crc32c:u32 first:u64 last:u64 nops:uvarint op...
//	op = 'P' space:u32 klen:uvarint key vlen:uvarint value | 'D' space:u32 klen:uvarint key | 'X' space:u32
//
// big-endian, the checksum (Castagnoli) covering everything after it; first..last are the consecutive seqnos
// the record's commits were applied at (an empty write-set only advances the position). A checkpoint always
// ends at a record boundary.
const (
	walDirName   = "wal"
	walSuffix    = ".log"
	walHeaderLen = 12
)

const (
	walOpPut    = 'P'
	walOpDelete = 'D'
	walOpDrop   = 'X'
)

// Checkpoint triggers: log bytes since the last checkpoint, or time with uncheckpointed commits. Bigger
// checkpoints write each changed bbolt page once for many commits; the bytes bound what a restart replays.
const (
	defaultCheckpointBytes = 32 << 20
	checkpointInterval     = 10 * time.Second
)

var errWALRecord = errors.New("incomplete or damaged log record")

func walSegmentPath(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", first, walSuffix))
}

type walSegment struct {
	path  string
	first uint64
}

// listWAL returns the segments under dir in log order; a missing dir has none.
func listWAL(dir string) ([]walSegment, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var segs []walSegment
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), walSuffix)
		if !ok {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected file %s in the log directory", e.Name())
		}
		segs = append(segs, walSegment{path: filepath.Join(dir, e.Name()), first: first})
	}
	slices.SortFunc(segs, func(a, b walSegment) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	return segs, nil
}

// appendWALRecord encodes the commits first..last with their ops.
func appendWALRecord(buf []byte, first, last uint64, ops []Op) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, walHeaderLen)...)
	buf = binary.BigEndian.AppendUint64(buf, first)
	buf = binary.BigEndian.AppendUint64(buf, last)
	buf = binary.AppendUvarint(buf, uint64(len(ops)))
	for i := range ops {
		op := &ops[i]
		switch {
		case op.DropSpace:
			buf = append(buf, walOpDrop)
			buf = binary.BigEndian.AppendUint32(buf, uint32(op.Space))
			continue
		case op.Delete:
			buf = append(buf, walOpDelete)
		default:
			buf = append(buf, walOpPut)
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(op.Space))
		buf = binary.AppendUvarint(buf, uint64(len(op.Key)))
		buf = append(buf, op.Key...)
		if !op.Delete {
			buf = binary.AppendUvarint(buf, uint64(len(op.Value)))
			buf = append(buf, op.Value...)
		}
	}
	payload := buf[start+walHeaderLen:]
	binary.BigEndian.PutUint64(buf[start:], uint64(len(payload)))
	binary.BigEndian.PutUint32(buf[start+8:], crc32.Checksum(payload, crcTable))
	return buf
}

// decodeWALRecord decodes the record at the start of b and returns how many bytes it took. Keys and values
// alias b. A truncated or damaged record fails with errWALRecord.
func decodeWALRecord(b []byte) (first, last uint64, ops []Op, n int, err error) {
	if len(b) < walHeaderLen {
		return 0, 0, nil, 0, fmt.Errorf("%w: %d header bytes", errWALRecord, len(b))
	}
	size := binary.BigEndian.Uint64(b)
	if size > uint64(len(b)-walHeaderLen) {
		return 0, 0, nil, 0, fmt.Errorf("%w: length %d beyond the end of the segment", errWALRecord, size)
	}
	payload := b[walHeaderLen : walHeaderLen+int(size)]
	if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(b[8:]) {
		return 0, 0, nil, 0, fmt.Errorf("%w: checksum mismatch", errWALRecord)
	}
	bad := func(what string) error { return fmt.Errorf("%w: %s", errWALRecord, what) }
	if len(payload) < 16 {
		return 0, 0, nil, 0, bad("short payload")
	}
	first, last = binary.BigEndian.Uint64(payload), binary.BigEndian.Uint64(payload[8:])
	if first == 0 || last < first {
		return 0, 0, nil, 0, bad("seqno range")
	}
	p := payload[16:]
	count, k := uvarint(p)
	if k <= 0 || count > uint64(len(p)) {
		return 0, 0, nil, 0, bad("op count")
	}
	p = p[k:]
	bytesField := func() ([]byte, bool) {
		l, k := uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, false
		}
		v := p[k : k+int(l) : k+int(l)]
		p = p[k+int(l):]
		return v, true
	}
	ops = make([]Op, 0, count)
	for range count {
		if len(p) < 5 {
			return 0, 0, nil, 0, bad("short op")
		}
		kind, space := p[0], SpaceID(binary.BigEndian.Uint32(p[1:]))
		p = p[5:]
		op := Op{Space: space}
		switch kind {
		case walOpDrop:
			op.DropSpace = true
		case walOpPut, walOpDelete:
			key, ok := bytesField()
			if !ok || len(key) == 0 {
				return 0, 0, nil, 0, bad("key")
			}
			op.Key = key
			if kind == walOpDelete {
				op.Delete = true
				break
			}
			if op.Value, ok = bytesField(); !ok {
				return 0, 0, nil, 0, bad("value")
			}
		default:
			return 0, 0, nil, 0, bad(fmt.Sprintf("op kind %q", kind))
		}
		ops = append(ops, op)
	}
	if len(p) != 0 {
		return 0, 0, nil, 0, bad("trailing bytes")
	}
	return first, last, ops, walHeaderLen + int(size), nil
}

// uvarint is binary.Uvarint refusing overlong encodings, so a record has exactly one valid encoding.
func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n > 1 && b[n-1] == 0 {
		return 0, -1
	}
	return v, n
}

// replayWAL copies every logged commit bbolt does not hold yet into it (one fsynced bbolt transaction per
// segment), then deletes the segments. Only the last segment may end in an incomplete record (a write cut off
// by a crash, never acknowledged); damage anywhere else, or a gap in the seqnos, fails: acknowledged commits
// would be missing.
func replayWAL(bdb *bolt.DB, dir string, log *slog.Logger) (replayed int, err error) {
	segs, err := listWAL(dir)
	if err != nil || len(segs) == 0 {
		return 0, err
	}
	seqno, err := boltSeqno(bdb)
	if err != nil {
		return 0, err
	}
	for i, seg := range segs {
		data, err := os.ReadFile(seg.path)
		if err != nil {
			return replayed, err
		}
		var ops []Op
		last := seqno
		for off := 0; off < len(data); {
			if len(data)-off >= walHeaderLen && binary.BigEndian.Uint64(data[off:]) == 0 && allZero(data[off:]) {
				break // the preallocated tail of the segment written last (no record has length 0)
			}
			first, l, recOps, n, err := decodeWALRecord(data[off:])
			if err != nil {
				if i != len(segs)-1 {
					return replayed, fmt.Errorf("log segment %s at offset %d: %w", seg.path, off, err)
				}
				log.Warn("storage: ignoring an incomplete record at the end of the log (a write cut off by a crash)",
					"segment", seg.path, "offset", off, "bytes", len(data)-off, "err", err)
				break
			}
			off += n
			if l <= last {
				continue // in bbolt already: the crash came between a checkpoint and the deletion of its segments
			}
			if first != last+1 {
				return replayed, fmt.Errorf("log segment %s: record of seqnos %d..%d follows %d", seg.path, first, l, last)
			}
			ops = append(ops, recOps...)
			last = l
			replayed += int(l - first + 1)
		}
		if last > seqno {
			if err := writeBatch(bdb, [][]Op{ops}, last); err != nil {
				return replayed, fmt.Errorf("replay %s: %w", seg.path, err)
			}
			seqno = last
		}
	}
	for _, seg := range segs {
		if err := os.Remove(seg.path); err != nil {
			return replayed, err
		}
	}
	return replayed, fsutil.SyncDir(dir)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func boltSeqno(bdb *bolt.DB) (uint64, error) {
	var seqno uint64
	err := bdb.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		v := meta.Get(keySeqno)
		if v == nil {
			return nil
		}
		s, err := decodeUint64(v)
		if err != nil {
			return fmt.Errorf("meta seqno: %w", err)
		}
		seqno = s
		return nil
	})
	return seqno, err
}

// walPrealloc is how far past the write offset a segment's blocks are allocated (where the filesystem
// supports it). Writes then land inside the file's size, so the fdatasync of policy 1 need not also commit a
// size change: about half the cost of an fsync per group commit. The zero-filled tail is cut off when the
// segment is closed; after a crash, replay reads a zero header as the end of the log.
const walPrealloc = 4 << 20

// walWriter appends records to the current segment. It is owned by the flusher goroutine.
type walWriter struct {
	dir   string
	f     *os.File
	path  string
	off   int64 // write offset in the current segment
	alloc int64 // end of the preallocated region (0: none)
	bytes int64 // written since the last checkpoint hand-off
	buf   []byte
	// closed holds segments no longer written to whose commits are not yet handed to a checkpoint.
	closed []string
}

// open starts a new segment for the commits after seqno.
func (w *walWriter) open(seqno uint64) error {
	path := walSegmentPath(w.dir, seqno+1)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w.f, w.path, w.off, w.alloc = f, path, 0, 0
	err = w.reserve(1) // preallocate now rather than in the first commit
	if err == nil {
		// The new name must survive an OS crash as well as the records written to it.
		err = fsutil.SyncDir(w.dir)
	}
	if err != nil {
		_ = f.Close()
		w.f = nil
		return err
	}
	return nil
}

// reserve makes sure n more bytes fit in the preallocated region, extending it by walPrealloc when not.
func (w *walWriter) reserve(n int64) error {
	if w.off+n <= w.alloc {
		return nil
	}
	end := w.off + n + walPrealloc
	ok, err := preallocate(w.f, end)
	if err != nil || !ok {
		return err
	}
	w.alloc = end
	// The new size and blocks must be durable before writes that are only fdatasynced rely on them.
	return w.f.Sync()
}

func (w *walWriter) append(first, last uint64, ops []Op, sync bool) error {
	w.buf = appendWALRecord(w.buf[:0], first, last, ops)
	if err := w.reserve(int64(len(w.buf))); err != nil {
		return err
	}
	if _, err := w.f.WriteAt(w.buf, w.off); err != nil {
		return err
	}
	w.off += int64(len(w.buf))
	w.bytes += int64(len(w.buf))
	if cap(w.buf) > 1<<20 {
		w.buf = nil // do not pin the memory of one huge transaction
	}
	if sync {
		return datasync(w.f)
	}
	return nil
}

// rotate closes the current segment (its preallocated tail cut off, synced) and, unless last, opens the next
// one after seqno.
func (w *walWriter) rotate(seqno uint64, last bool) error {
	if w.f != nil {
		err := w.f.Truncate(w.off)
		if err == nil {
			err = w.f.Sync()
		}
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
		w.f = nil
		if err != nil {
			return err
		}
		w.closed = append(w.closed, w.path)
	}
	w.bytes = 0
	if last {
		return nil
	}
	return w.open(seqno)
}

func (w *walWriter) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
