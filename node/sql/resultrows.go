package sql

import (
	"encoding/binary"
	"slices"

	"github.com/maxproxy/maxproxy/node/sql/codec"
	"github.com/maxproxy/maxproxy/node/sql/types"
)

// Keys for DISTINCT and GROUP BY only need equality under each field's collation, not order, so a string
// is keyed by its collation weights behind a length prefix instead of codec.AppendKey's escaped,
// terminated form: the same equality (weights are equal exactly when the strings compare equal), without
// rescanning the weights for zero bytes or re-growing the buffer byte by byte. sysbench's
// SELECT DISTINCT c over 100 rows of CHAR(120) spent most of its projection time there.

// keyWeights tags a length-prefixed weight string; AppendKey's own encodings start with 0x00 or 0x01.
const keyWeights = 0x02

// appendEqualityKey appends a self-delimiting key for v (already coerced to ft) that is equal for two values
// exactly when codec.AppendKey's encodings are.
func appendEqualityKey(dst []byte, v types.Value, ft *types.FieldType) []byte {
	if v.IsNull() {
		return codec.AppendKey(dst, v, ft)
	}
	switch ft.Class() {
	case types.ClassInt, types.ClassFloat, types.ClassDecimal, types.ClassDate, types.ClassDatetime:
		return codec.AppendKey(dst, v, ft)
	}
	s := types.ToText(v)
	dst = slices.Grow(dst, 5+2*len(s))
	dst = append(dst, keyWeights, 0, 0, 0, 0)
	start := len(dst)
	dst = ft.Coll.AppendWeights(dst, s)
	binary.BigEndian.PutUint32(dst[start-4:start], uint32(len(dst)-start))
	return dst
}

// dedup remembers the projected rows already returned by a DISTINCT query.
type dedup struct {
	seen map[string]struct{}
	buf  []byte // key scratch, reused across rows
}

func newDedup() *dedup { return &dedup{seen: map[string]struct{}{}} }

// add reports whether row (the projected fields of qp) is new, and remembers it.
func (d *dedup) add(qp *queryPlan, row []types.Value) bool {
	k := d.buf[:0]
	for i, v := range row {
		k = appendEqualityKey(k, v, &qp.fields[i].typ().ft)
	}
	d.buf = k
	if _, dup := d.seen[string(k)]; dup {
		return false
	}
	d.seen[string(k)] = struct{}{}
	return true
}

// rowSlab hands out result rows carved from shared blocks: a range select keeps every projected row until
// the result is sent, so one allocation per block instead of one per row. Blocks start at one row and
// double, so a point select allocates no more than before. Each row is capped at its own capacity, so
// appending to it never writes into its neighbour.
type rowSlab struct {
	free  []types.Value
	block int // rows in the next block
}

// maxSlabRows bounds a block.
const maxSlabRows = 64

// alloc returns a row of length n and capacity c; a nil slab allocates it alone.
func (sl *rowSlab) alloc(n, c int) []types.Value {
	if sl == nil || c == 0 {
		return make([]types.Value, n, c)
	}
	if len(sl.free) < c {
		sl.block = min(max(sl.block*2, 1), maxSlabRows)
		sl.free = make([]types.Value, c*sl.block)
	}
	row := sl.free[:n:c]
	sl.free = sl.free[c:]
	return row
}
