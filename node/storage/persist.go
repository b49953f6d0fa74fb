package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// On-disk layout (one bbolt file, dataFile):
//
//	bucket "meta":     "seqno" -> uint64 BE (last seqno whose writes are in this file)
//	                   "next_space" -> uint64 BE (next SpaceID to hand out)
//	                   "open" -> 1 while open; a store found with it was not closed cleanly
//	bucket "counters": name -> uint64 BE (ceiling: no value >= it was handed out)
//	bucket 'd'+BE32(space): key -> value, one per space holding data
const dataFile = "storage.db"

var (
	bucketMeta     = []byte("meta")
	bucketCounters = []byte("counters")
	keySeqno       = []byte("seqno")
	keyNextSpace   = []byte("next_space")
	keyOpen        = []byte("open") // present while a process has the store open: absent after a clean Close
)

const spaceBucketPrefix = 'd'

func spaceBucket(id SpaceID) []byte {
	return binary.BigEndian.AppendUint32([]byte{spaceBucketPrefix}, uint32(id))
}

// decodeSpaceBucket parses a data bucket name; ok is false for the other buckets.
func decodeSpaceBucket(name []byte) (SpaceID, bool) {
	if len(name) != 5 || name[0] != spaceBucketPrefix {
		return 0, false
	}
	return SpaceID(binary.BigEndian.Uint32(name[1:])), true
}

func encodeUint64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeUint64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("corrupt integer: %d bytes, want 8", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

type loadStats struct {
	seqno     uint64
	nextSpace SpaceID
	spaces    int
	keys      int
}

// openMarked reports whether the store was left open by a process that did not Close it.
func openMarked(bdb *bolt.DB) (bool, error) {
	var marked bool
	err := bdb.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			marked = meta.Get(keyOpen) != nil
		}
		return nil
	})
	return marked, err
}

// checkFile runs bbolt's consistency check over every page.
func checkFile(bdb *bolt.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("consistency check: %v", r)
		}
	}()
	return bdb.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			if len(errs) < 10 {
				errs = append(errs, e)
			}
		}
		return errors.Join(errs...)
	})
}

// load reads meta, counters and every space into db's memory structures. bbolt panics on some kinds of page
// damage; that becomes an error here rather than a crash.
func load(bdb *bolt.DB, db *DB) (st loadStats, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("damaged data file: %v", r)
		}
	}()
	st = loadStats{nextSpace: 1}
	err = bdb.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			if v := meta.Get(keySeqno); v != nil {
				s, err := decodeUint64(v)
				if err != nil {
					return fmt.Errorf("meta seqno: %w", err)
				}
				st.seqno = s
			}
			if v := meta.Get(keyNextSpace); v != nil {
				s, err := decodeUint64(v)
				if err != nil || s > uint64(^SpaceID(0)) {
					return fmt.Errorf("meta next_space: %w", errors.Join(err, errors.New("out of range")))
				}
				st.nextSpace = SpaceID(s)
			}
		}
		if ctr := tx.Bucket(bucketCounters); ctr != nil {
			err := ctr.ForEach(func(k, v []byte) error {
				ceiling, err := decodeUint64(v)
				if err != nil {
					return fmt.Errorf("counter %q: %w", k, err)
				}
				db.counters[string(k)] = &counter{next: ceiling, ceiling: ceiling}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			id, ok := decodeSpaceBucket(name)
			if !ok {
				return nil
			}
			sp := db.spaceOrCreate(id)
			st.spaces++
			var (
				slab     []byte
				versions []version
			)
			return b.ForEach(func(k, v []byte) error {
				// bbolt memory is only valid inside the transaction: copy into large slabs (bytes and versions)
				// to keep the number of allocations and GC work low for big tables. A slab stays alive while
				// any row in it does, which costs little because loaded rows are mostly long-lived.
				if len(slab) < len(k)+len(v) {
					slab = make([]byte, max(64<<10, len(k)+len(v)))
				}
				kc := slab[:len(k):len(k)]
				copy(kc, k)
				vc := slab[len(k) : len(k)+len(v) : len(k)+len(v)]
				copy(vc, v)
				slab = slab[len(k)+len(v):]
				if len(versions) == 0 {
					versions = make([]version, 1024)
				}
				ver := &versions[0]
				versions = versions[1:]
				ver.val = vc
				sp.tree.Set(makeKey(kc), ver)
				st.keys++
				return nil
			})
		})
	})
	return st, err
}

func (db *DB) persistMeta(key, val []byte) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(key, val)
	})
}

func (db *DB) deleteMeta(key []byte) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Delete(key)
	})
}

func (db *DB) persistCounter(name []byte, ceiling uint64) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketCounters)
		if err != nil {
			return err
		}
		return b.Put(name, encodeUint64(ceiling))
	})
}

// writeBatch stores the ops of consecutive write-sets (batches in seqno order) and the last seqno they reach
// in one bbolt transaction.
func writeBatch(bdb *bolt.DB, batches [][]Op, seqno uint64) error {
	return bdb.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySeqno, encodeUint64(seqno)); err != nil {
			return err
		}
		var (
			cur   *bolt.Bucket
			curID SpaceID
		)
		for _, ops := range batches {
			for i := range ops {
				if err := writeOp(tx, &ops[i], &cur, &curID); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// writeOp applies one op in a bbolt transaction; cur caches the bucket of space curID.
func writeOp(tx *bolt.Tx, op *Op, cur **bolt.Bucket, curID *SpaceID) (err error) {
	if op.DropSpace {
		if err := tx.DeleteBucket(spaceBucket(op.Space)); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return fmt.Errorf("drop space %d: %w", op.Space, err)
		}
		*cur = nil
		return nil
	}
	if *cur == nil || *curID != op.Space {
		if *cur, err = tx.CreateBucketIfNotExists(spaceBucket(op.Space)); err != nil {
			return fmt.Errorf("space %d: %w", op.Space, err)
		}
		*curID = op.Space
	}
	if op.Delete {
		err = (*cur).Delete(op.Key)
	} else {
		err = (*cur).Put(op.Key, op.Value)
	}
	if err != nil {
		return fmt.Errorf("space %d: %w", op.Space, err)
	}
	return nil
}
