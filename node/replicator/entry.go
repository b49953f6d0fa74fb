package replicator

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/maxproxy/maxproxy/node/storage"
	"github.com/maxproxy/maxproxy/node/writeset"
)

// Log entry kinds. Every entry the replicator proposes starts with one of these bytes; the rest is the
// kind's payload.
const (
	kindWriteSet byte = 'W' // payload: writeset encoding
	kindCluster  byte = 'C' // payload: state UUID [16] | base seqno uvarint — the bootstrap of a cluster
)

var errBadEntry = errors.New("replicator: malformed log entry")

// clusterEntry founds the cluster: the first one in the log fixes wsrep_cluster_state_uuid on every node
// and says at which seqno the founder's data stands (its first seqno is base+1).
type clusterEntry struct {
	uuid writeset.UUID
	base uint64
}

func encodeCluster(c clusterEntry) []byte {
	b := make([]byte, 0, 1+16+binary.MaxVarintLen64)
	b = append(b, kindCluster)
	b = append(b, c.uuid[:]...)
	return binary.AppendUvarint(b, c.base)
}

func decodeCluster(p []byte) (clusterEntry, error) {
	var c clusterEntry
	if len(p) < 16 {
		return c, errBadEntry
	}
	copy(c.uuid[:], p[:16])
	base, n := binary.Uvarint(p[16:])
	if n <= 0 || 16+n != len(p) {
		return c, errBadEntry
	}
	c.base = base
	return c, nil
}

// certKeys derives the certification keys of a storage write-set. The storage ops carry node/sql's
// memcomparable keys, already normalised by collation, so {space, key} identifies a row (or a unique index
// entry) identically on every node; certify adds the {space} branch key itself. A dropped space (DROP
// TABLE, TRUNCATE) gets an EXCLUSIVE key on the space, which conflicts with any later row write to it.
func certKeys(ops []storage.Op, dst []writeset.Key) []writeset.Key {
	for i := range ops {
		op := &ops[i]
		space := binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(op.Space))
		if op.DropSpace {
			dst = append(dst, writeset.Key{Type: writeset.KeyExclusive, Parts: [][]byte{space}})
			continue
		}
		dst = append(dst, writeset.Key{Type: writeset.KeyUpdate, Parts: [][]byte{space, op.Key}})
	}
	return dst
}

func encodeWriteSet(ws *writeset.WriteSet) ([]byte, error) {
	b := make([]byte, 1, 1+ws.Size())
	b[0] = kindWriteSet
	b, err := ws.AppendEncode(b)
	if err != nil {
		return nil, fmt.Errorf("replicator: encode write-set: %w", err)
	}
	return b, nil
}
