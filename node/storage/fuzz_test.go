package storage

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func FuzzDecodeSpaceBucket(f *testing.F) {
	f.Add([]byte("d\x00\x00\x00\x07"))
	f.Add([]byte("meta"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, name []byte) {
		id, ok := decodeSpaceBucket(name)
		if !ok {
			return
		}
		if !bytes.Equal(spaceBucket(id), name) {
			t.Fatalf("bucket %x decodes to space %d which encodes to %x", name, id, spaceBucket(id))
		}
	})
}

// FuzzOpenMeta writes arbitrary bytes where Open expects its meta integers and counter ceilings: Open must
// either load them exactly or fail with an error, never panic or invent values.
func FuzzOpenMeta(f *testing.F) {
	f.Add(encodeUint64(7), encodeUint64(3), encodeUint64(100))
	f.Add([]byte{1}, []byte{}, []byte("xxxxxxxxx"))
	f.Add(encodeUint64(0), encodeUint64(1<<40), encodeUint64(1))
	f.Fuzz(func(t *testing.T, seqno, nextSpace, ceiling []byte) {
		dir := t.TempDir()
		bdb, err := bolt.Open(filepath.Join(dir, dataFile), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = bdb.Update(func(tx *bolt.Tx) error {
			m, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if err := m.Put(keySeqno, seqno); err != nil {
				return err
			}
			if err := m.Put(keyNextSpace, nextSpace); err != nil {
				return err
			}
			c, err := tx.CreateBucket(bucketCounters)
			if err != nil {
				return err
			}
			return c.Put([]byte("ctr"), ceiling)
		})
		if cerr := bdb.Close(); err != nil || cerr != nil {
			t.Fatal(err, cerr)
		}
		db, err := Open(dir, Options{FlushPolicy: 2})
		valid := len(seqno) == 8 && len(nextSpace) == 8 && len(ceiling) == 8 &&
			binary.BigEndian.Uint64(nextSpace) <= uint64(^SpaceID(0))
		if !valid {
			if err == nil {
				db.Close()
				t.Fatal("Open accepted malformed meta")
			}
			return
		}
		if err != nil {
			t.Fatalf("Open rejected well-formed meta: %v", err)
		}
		defer db.Close()
		if db.LastCommitted() != binary.BigEndian.Uint64(seqno) {
			t.Fatalf("seqno %d, stored %x", db.LastCommitted(), seqno)
		}
		c := binary.BigEndian.Uint64(ceiling)
		if got, err := db.NextCounter([]byte("ctr"), 0, 0); err != nil || got != max(c, 1) {
			t.Fatalf("counter = %d (%v), stored ceiling %d", got, err, c)
		}
	})
}

func FuzzKeyOrder(f *testing.F) {
	f.Add([]byte("abcdefgh"), []byte("abcdefgh\x00"))
	f.Add([]byte{}, []byte{0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if got, want := cmpKey(makeKey(a), makeKey(b)), bytes.Compare(a, b); got != want {
			t.Fatalf("cmpKey(%x,%x) = %d, bytes.Compare = %d", a, b, got, want)
		}
	})
}
