package storage

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/maxproxy/maxproxy/node/storage/btree"
)

// space is one ordered map of key -> newest version. The tree (including the head pointers stored in it) is
// guarded by mu; version chains below the head are read without locks.
type space struct {
	mu   sync.RWMutex
	tree *btree.Tree[mkey, *version]
}

func newSpace() *space { return &space{tree: btree.New[mkey, *version](cmpKey)} }

// mkey is a tree key: its first 16 bytes as two big-endian integers (zero padded) next to the full key, so
// that most comparisons during a descent read only the node's own key array instead of chasing a pointer per
// key. 16 bytes cover node/sql's integer keys (flag byte + 8 bytes) completely. Zero padding keeps the
// prefix order consistent with bytes.Compare; equal prefixes fall back to the remaining bytes.
type mkey struct {
	p0, p1 uint64
	b      []byte
}

func makeKey(b []byte) mkey {
	if len(b) >= 16 {
		return mkey{p0: binary.BigEndian.Uint64(b), p1: binary.BigEndian.Uint64(b[8:]), b: b}
	}
	var buf [16]byte
	copy(buf[:], b)
	return mkey{p0: binary.BigEndian.Uint64(buf[:]), p1: binary.BigEndian.Uint64(buf[8:]), b: b}
}

func cmpKey(a, b mkey) int {
	switch {
	case a.p0 != b.p0:
		if a.p0 < b.p0 {
			return -1
		}
		return 1
	case a.p1 != b.p1:
		if a.p1 < b.p1 {
			return -1
		}
		return 1
	case len(a.b) > 16 && len(b.b) > 16:
		return bytes.Compare(a.b[16:], b.b[16:])
	default:
		// Equal zero-padded prefixes and one key of at most 16 bytes: the shorter key is a prefix of the
		// longer one, so lengths decide without touching the key bytes (a cache miss per key).
		return cmp.Compare(len(a.b), len(b.b))
	}
}

// version is one committed state of a key. Versions are immutable once published except for next, which the
// collector cuts when no snapshot can reach further. A space's tree stores the newest version of each key.
type version struct {
	seq  uint64
	val  []byte
	del  bool
	next atomic.Pointer[version]
}

// at returns the newest version of the chain starting at v that is visible at snapshot seq, or nil.
func (v *version) at(seq uint64) *version {
	for ; v != nil; v = v.next.Load() {
		if v.seq <= seq {
			return v
		}
	}
	return nil
}

// truncate drops versions no snapshot at or above horizon can see: everything older than the newest version
// with seq <= horizon. A reader with snapshot >= horizon stops at that version at the latest.
func (v *version) truncate(horizon uint64) {
	for ; v != nil; v = v.next.Load() {
		if v.seq <= horizon {
			if v.next.Load() != nil {
				v.next.Store(nil)
			}
			return
		}
	}
}

func (db *DB) space(id SpaceID) *space { return (*db.spaces.Load())[id] }

func (db *DB) spaceOrCreate(id SpaceID) *space {
	if sp := db.space(id); sp != nil {
		return sp
	}
	db.spacesMu.Lock()
	defer db.spacesMu.Unlock()
	old := *db.spaces.Load()
	if sp := old[id]; sp != nil {
		return sp
	}
	m := make(map[SpaceID]*space, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	sp := newSpace()
	m[id] = sp
	db.spaces.Store(&m)
	return sp
}
