package certify

import (
	"encoding/binary"
	"slices"

	"github.com/maxproxy/maxproxy/node/writeset"
)

// hashedKey is one index key: the hash of a key path prefix and the type this write-set holds it with.
type hashedKey struct {
	hash uint64
	typ  writeset.KeyType
}

// FNV-1a, 64 bit. The hash is part of the replication protocol: every node must compute the same value
// for the same bytes, forever, so it is spelled out here rather than borrowed from a library that could
// change or seed it. Collisions only cause false conflicts.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

// extend hashes one more part onto a prefix hash. The part's length goes first, so {"ab"} and {"a","b"}
// differ.
func extend(h uint64, part []byte) uint64 {
	var lb [binary.MaxVarintLen64]byte
	for _, b := range lb[:binary.PutUvarint(lb[:], uint64(len(part)))] {
		h = fnvByte(h, b)
	}
	for _, b := range part {
		h = fnvByte(h, b)
	}
	return h
}

// expandKeys appends the index keys of a key set to dst, sorted by hash with one entry per hash: the
// server-wide zero-level key and every proper prefix of a key as SHARED branch keys, the full path with
// the key's own type; a hash present several times keeps its strongest type (GALERA.md §4.2).
func expandKeys(dst []hashedKey, keys []writeset.Key) []hashedKey {
	if len(keys) == 0 {
		return dst
	}
	start := len(dst)
	dst = append(dst, hashedKey{hash: fnvOffset, typ: writeset.KeyShared})
	for _, k := range keys {
		h := uint64(fnvOffset)
		for i, p := range k.Parts {
			h = extend(h, p)
			t := writeset.KeyShared
			if i == len(k.Parts)-1 {
				t = k.Type
			}
			dst = append(dst, hashedKey{hash: h, typ: t})
		}
	}
	out := dst[start:]
	slices.SortFunc(out, func(a, b hashedKey) int {
		if a.hash != b.hash {
			if a.hash < b.hash {
				return -1
			}
			return 1
		}
		return int(b.typ) - int(a.typ) // strongest first
	})
	out = slices.CompactFunc(out, func(a, b hashedKey) bool { return a.hash == b.hash })
	return dst[:start+len(out)]
}
