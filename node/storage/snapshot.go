package storage

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/maxproxy/maxproxy/node/internal/fsutil"
)

// Snapshot stream (state transfer, Galera's SST): a consistent copy of every space at one commit seqno.
//
//	magic "MAXSNAP1"
//	'M' seqno:u64 next_space:u32
//	'C' len:uvarint name ceiling:u64               (one per counter)
//	'R' space:u32 len:uvarint key len:uvarint value (one per live key)
//	'E' crc32c:u32                                  (Castagnoli, over every byte before it)
//
// Integers are big-endian. The reader rejects anything else, so a truncated or corrupted transfer fails
// instead of producing a store that silently lacks rows.
const snapshotMagic = "MAXSNAP1"

// maxSnapshotValue bounds a value in a snapshot stream, so a corrupt length cannot make the reader allocate
// gigabytes (bbolt's own limit is 2 GiB).
const maxSnapshotValue = 1 << 30

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrSnapshotCorrupt reports a snapshot stream that does not decode.
var ErrSnapshotCorrupt = errors.New("corrupt snapshot stream")

// WriteSnapshot streams every space at the current commit seqno to w and returns that seqno. It reads an
// MVCC snapshot, so it holds no bbolt transaction and no lock across writes to w, and commits continue while
// it runs. Counters are copied at the end; they only grow, so the copy never hands out a used value.
func (db *DB) WriteSnapshot(ctx context.Context, w io.Writer) (uint64, error) {
	p := db.PinSnapshot()
	defer p.Close()
	return p.WriteTo(ctx, w)
}

// PinnedSnapshot is an MVCC snapshot held open for a state transfer: pin it while the commit position is
// known (a donor pins exactly the seqno of its checkpoint), stream it later with WriteTo.
type PinnedSnapshot struct {
	db        *DB
	tx        *Txn
	nextSpace SpaceID
}

// PinSnapshot pins the current commit seqno. Close releases it (the versions it keeps visible).
func (db *DB) PinSnapshot() *PinnedSnapshot {
	tx := db.Begin(TxOptions{ReadOnly: true})
	db.spaceMu.Lock()
	next := db.nextSpace
	db.spaceMu.Unlock()
	return &PinnedSnapshot{db: db, tx: tx, nextSpace: next}
}

// Seqno is the commit seqno the snapshot reads.
func (p *PinnedSnapshot) Seqno() uint64 { return p.tx.snap }

// Close releases the snapshot.
func (p *PinnedSnapshot) Close() { p.tx.Rollback() }

// WriteTo streams the snapshot to w (the format above) and returns its seqno.
func (p *PinnedSnapshot) WriteTo(ctx context.Context, w io.Writer) (uint64, error) {
	return p.write(ctx, w, true)
}

// WritePositionTo streams the snapshot without its rows: a store restored from it is empty but at the
// snapshot's seqno, with its space-id and counter positions (an arbitrator's state transfer).
func (p *PinnedSnapshot) WritePositionTo(ctx context.Context, w io.Writer) (uint64, error) {
	return p.write(ctx, w, false)
}

func (p *PinnedSnapshot) write(ctx context.Context, w io.Writer, rows bool) (uint64, error) {
	db, tx, nextSpace := p.db, p.tx, p.nextSpace
	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 256<<10)

	var buf []byte
	buf = append(buf, snapshotMagic...)
	buf = append(buf, 'M')
	buf = binary.BigEndian.AppendUint64(buf, tx.snap)
	buf = binary.BigEndian.AppendUint32(buf, uint32(nextSpace))
	if _, err := bw.Write(buf); err != nil {
		return 0, fmt.Errorf("storage: write snapshot: %w", err)
	}
	spaces := make([]SpaceID, 0, len(*db.spaces.Load()))
	for id := range *db.spaces.Load() {
		if rows {
			spaces = append(spaces, id)
		}
	}
	slices.Sort(spaces)
	for _, id := range spaces {
		it := tx.Scan(id, nil, nil, false)
		n := 0
		for it.Next() {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					it.Close()
					return 0, fmt.Errorf("storage: write snapshot: %w", err)
				}
			}
			buf = append(buf[:0], 'R')
			buf = binary.BigEndian.AppendUint32(buf, uint32(id))
			buf = binary.AppendUvarint(buf, uint64(len(it.Key())))
			buf = append(buf, it.Key()...)
			buf = binary.AppendUvarint(buf, uint64(len(it.Value())))
			if _, err := bw.Write(buf); err != nil {
				it.Close()
				return 0, fmt.Errorf("storage: write snapshot: %w", err)
			}
			if _, err := bw.Write(it.Value()); err != nil {
				it.Close()
				return 0, fmt.Errorf("storage: write snapshot: %w", err)
			}
		}
		err := it.Err()
		it.Close()
		if err != nil {
			return 0, fmt.Errorf("storage: write snapshot of space %d: %w", id, err)
		}
	}
	db.counterMu.Lock()
	buf = buf[:0]
	for name, c := range db.counters {
		buf = append(buf, 'C')
		buf = binary.AppendUvarint(buf, uint64(len(name)))
		buf = append(buf, name...)
		buf = binary.BigEndian.AppendUint64(buf, c.ceiling)
	}
	db.counterMu.Unlock()
	if _, err := bw.Write(append(buf, 'E')); err != nil {
		return 0, fmt.Errorf("storage: write snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("storage: write snapshot: %w", err)
	}
	if _, err := w.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return 0, fmt.Errorf("storage: write snapshot: %w", err)
	}
	return tx.snap, nil
}

// RestoreSnapshot builds a store in dir, which must not hold one yet, from a stream written by WriteSnapshot,
// and returns the stream's seqno. It writes a temporary file and renames it into place only after the whole
// stream has been verified and synced, so a crash or a bad stream never leaves a partial store behind. Open
// the directory as usual afterwards.
func RestoreSnapshot(ctx context.Context, dir string, r io.Reader) (uint64, error) {
	seqno, err := restoreSnapshot(ctx, dir, r)
	if err != nil {
		return 0, fmt.Errorf("storage: restore snapshot: %w", err)
	}
	return seqno, nil
}

func restoreSnapshot(ctx context.Context, dir string, r io.Reader) (seqno uint64, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	path := filepath.Join(dir, dataFile)
	if _, err := os.Stat(path); err == nil {
		return 0, fmt.Errorf("%s already exists", path)
	}
	walDir := filepath.Join(dir, walDirName)
	segs, err := listWAL(walDir)
	if err != nil {
		return 0, err
	}
	if len(segs) > 0 {
		// Left by an earlier store: replaying it over the snapshot would mix two histories.
		return 0, fmt.Errorf("%s holds the log of an earlier store", walDir)
	}
	tmp := path + ".restore"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err // a leftover of an interrupted restore
	}
	bdb, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return 0, err
	}
	defer func() {
		if bdb != nil {
			_ = bdb.Close()
		}
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	bdb.NoSync = true // one fsync at the end
	seqno, err = decodeSnapshot(ctx, r, func(batch []snapRecord) error {
		return bdb.Update(func(tx *bolt.Tx) error { return writeSnapRecords(tx, batch) })
	})
	if err != nil {
		return 0, err
	}
	if err := bdb.Sync(); err != nil {
		return 0, err
	}
	err = bdb.Close()
	bdb = nil
	if err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	return seqno, fsutil.SyncDir(dir)
}

// snapRecord is one decoded record: meta (kind 'M'), counter ('C') or row ('R').
type snapRecord struct {
	kind      byte
	space     SpaceID
	key, val  []byte
	seqno     uint64
	nextSpace SpaceID
}

func writeSnapRecords(tx *bolt.Tx, recs []snapRecord) error {
	for _, rec := range recs {
		var (
			b   *bolt.Bucket
			err error
		)
		switch rec.kind {
		case 'M':
			if b, err = tx.CreateBucketIfNotExists(bucketMeta); err == nil {
				if err = b.Put(keySeqno, encodeUint64(rec.seqno)); err == nil {
					err = b.Put(keyNextSpace, encodeUint64(uint64(rec.nextSpace)))
				}
			}
		case 'C':
			if b, err = tx.CreateBucketIfNotExists(bucketCounters); err == nil {
				err = b.Put(rec.key, rec.val)
			}
		case 'R':
			if b, err = tx.CreateBucketIfNotExists(spaceBucket(rec.space)); err == nil {
				err = b.Put(rec.key, rec.val)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

const snapBatch = 4096

// crcReader checksums exactly the bytes consumed from a buffered reader (a TeeReader under the buffer would
// also hash what was only read ahead).
type crcReader struct {
	r   *bufio.Reader
	sum uint32
	one [1]byte
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.sum = crc32.Update(c.sum, crcTable, p[:n])
	return n, err
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.one[0] = b
		c.sum = crc32.Update(c.sum, crcTable, c.one[:])
	}
	return b, err
}

// decodeSnapshot parses a snapshot stream, handing records to apply in batches, and verifies its checksum
// before handing over the last batch. It buffers, so it may consume bytes after the trailer: give it a reader
// that holds only the stream.
func decodeSnapshot(ctx context.Context, r io.Reader, apply func([]snapRecord) error) (uint64, error) {
	cr := &crcReader{r: bufio.NewReaderSize(r, 256<<10)}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrSnapshotCorrupt, fmt.Sprintf(format, args...))
	}
	var head [len(snapshotMagic) + 1 + 12]byte
	if _, err := io.ReadFull(cr, head[:]); err != nil {
		return 0, corrupt("header: %v", err)
	}
	if string(head[:len(snapshotMagic)]) != snapshotMagic || head[len(snapshotMagic)] != 'M' {
		return 0, corrupt("bad magic")
	}
	meta := head[len(snapshotMagic)+1:]
	seqno := binary.BigEndian.Uint64(meta)
	batch := []snapRecord{{kind: 'M', seqno: seqno, nextSpace: SpaceID(binary.BigEndian.Uint32(meta[8:]))}}
	readBytes := func(limit uint64, what string) ([]byte, error) {
		n, err := binary.ReadUvarint(cr)
		if err != nil {
			return nil, corrupt("%s length: %v", what, err)
		}
		if n > limit {
			return nil, corrupt("%s of %d bytes", what, n)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(cr, b); err != nil {
			return nil, corrupt("%s: %v", what, err)
		}
		return b, nil
	}
	var fixed [8]byte
	for {
		tag, err := cr.ReadByte()
		if err != nil {
			return 0, corrupt("record tag: %v", err)
		}
		switch tag {
		case 'R':
			if _, err := io.ReadFull(cr, fixed[:4]); err != nil {
				return 0, corrupt("row space: %v", err)
			}
			key, err := readBytes(MaxKeySize, "key")
			if err != nil {
				return 0, err
			}
			if len(key) == 0 {
				return 0, corrupt("empty key")
			}
			val, err := readBytes(maxSnapshotValue, "value")
			if err != nil {
				return 0, err
			}
			batch = append(batch, snapRecord{kind: 'R', space: SpaceID(binary.BigEndian.Uint32(fixed[:4])), key: key, val: val})
		case 'C':
			name, err := readBytes(MaxKeySize, "counter name")
			if err != nil {
				return 0, err
			}
			if len(name) == 0 {
				return 0, corrupt("empty counter name")
			}
			if _, err := io.ReadFull(cr, fixed[:8]); err != nil {
				return 0, corrupt("counter: %v", err)
			}
			batch = append(batch, snapRecord{kind: 'C', key: name, val: slices.Clone(fixed[:8])})
		case 'E':
			want := cr.sum
			if _, err := io.ReadFull(cr.r, fixed[:4]); err != nil {
				return 0, corrupt("checksum: %v", err)
			}
			if got := binary.BigEndian.Uint32(fixed[:4]); got != want {
				return 0, corrupt("checksum %08x, computed %08x", got, want)
			}
			if err := apply(batch); err != nil {
				return 0, err
			}
			return seqno, nil
		default:
			return 0, corrupt("unknown record tag %q", tag)
		}
		if len(batch) >= snapBatch {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			if err := apply(batch); err != nil {
				return 0, err
			}
			batch = batch[:0]
		}
	}
}

// InstallSnapshot replaces the store in dir (which must not be open) with the one in a snapshot stream and
// returns the stream's seqno: a state transfer onto a node that has data already. The new store is built
// beside the old one and swapped in only once the whole stream is verified and synced; a failed or
// interrupted transfer leaves the old store as it was, except when the process dies during the swap
// itself, which the caller detects (it marks the transfer in progress) and repeats.
func InstallSnapshot(ctx context.Context, dir string, r io.Reader) (uint64, error) {
	staging := filepath.Join(dir, "sst.staging")
	if err := os.RemoveAll(staging); err != nil {
		return 0, fmt.Errorf("storage: install snapshot: %w", err)
	}
	seqno, err := restoreSnapshot(ctx, staging, r)
	if err == nil {
		err = RemoveStore(dir)
	}
	if err == nil {
		err = os.Rename(filepath.Join(staging, dataFile), filepath.Join(dir, dataFile))
	}
	if err == nil {
		err = fsutil.SyncDir(dir)
	}
	if rerr := os.RemoveAll(staging); err == nil {
		err = rerr
	}
	if err != nil {
		return 0, fmt.Errorf("storage: install snapshot: %w", err)
	}
	return seqno, nil
}

// RemoveStore deletes the store in dir (its bbolt file and log), which must not be open.
func RemoveStore(dir string) error {
	for _, p := range []string{filepath.Join(dir, dataFile), filepath.Join(dir, dataFile+".restore"), filepath.Join(dir, walDirName)} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("storage: remove store: %w", err)
		}
	}
	return fsutil.SyncDir(dir)
}
