// Package codec encodes SQL values for node/storage: memcomparable index keys whose byte order equals
// SQL order (NULL first, collation weights for strings), and a compact self-describing row format keyed by
// column id so that ADD/DROP COLUMN need no rewrite.
//
// Key encodings are not reversible for collated strings (they hold weights), so rows are always read from
// the primary space; secondary index entries store the primary row key as their value.
package codec

import (
	"encoding/binary"
	"math"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

const (
	keyNull    = 0x00
	keyNotNull = 0x01
)

// AppendKey appends the memcomparable encoding of v, which must already be cast to ft (types.Cast).
func AppendKey(dst []byte, v types.Value, ft *types.FieldType) []byte {
	if v.IsNull() {
		return append(dst, keyNull)
	}
	dst = append(dst, keyNotNull)
	switch ft.Class() {
	case types.ClassInt:
		if ft.Unsigned {
			u, _ := types.ToUint(v)
			return binary.BigEndian.AppendUint64(dst, u)
		}
		i, _ := types.ToInt(v)
		return binary.BigEndian.AppendUint64(dst, uint64(i)^(1<<63))
	case types.ClassFloat:
		f, _ := types.ToFloat(v)
		return AppendFloatKey(dst, f)
	case types.ClassDecimal:
		d, _ := types.ToDecimal(v)
		return AppendDecimalKey(dst, d.Round(int32(ft.Decimals)))
	case types.ClassDate, types.ClassDatetime:
		t, _ := types.ToTime(v)
		return binary.BigEndian.AppendUint64(dst, uint64(t))
	}
	return AppendStringKey(dst, types.ToText(v), ft.Coll)
}

// AppendFloatKey encodes a double so that byte order equals numeric order (-0 == 0).
func AppendFloatKey(dst []byte, f float64) []byte {
	if f == 0 {
		f = 0
	}
	u := math.Float64bits(f)
	if f >= 0 {
		u |= 1 << 63
	} else {
		u = ^u
	}
	return binary.BigEndian.AppendUint64(dst, u)
}

// AppendDecimalKey encodes a decimal of a fixed scale: sign class, then the coefficient's magnitude
// length-prefixed (complemented for negatives) so longer magnitudes sort further from zero.
func AppendDecimalKey(dst []byte, d types.Decimal) []byte {
	c := d.Coef()
	switch c.Sign() {
	case 0:
		return append(dst, 0x80)
	case 1:
		mag := c.Bytes()
		dst = append(dst, 0x81, byte(len(mag)))
		return append(dst, mag...)
	}
	mag := c.Bytes() // absolute value
	dst = append(dst, 0x7f, ^byte(len(mag)))
	for _, b := range mag {
		dst = append(dst, ^b)
	}
	return dst
}

// AppendStringKey appends the collation weights of s, escaped so the encoding is self-delimiting and
// order-preserving: 0x00 → 0x00 0xFF, terminated by 0x00 0x01.
func AppendStringKey(dst []byte, s string, coll types.Collation) []byte {
	start := len(dst)
	dst = coll.AppendWeights(dst, s)
	// escape in place from the back only when a zero byte exists (rare except for binary data)
	zeros := 0
	for _, b := range dst[start:] {
		if b == 0 {
			zeros++
		}
	}
	if zeros > 0 {
		w := append([]byte(nil), dst[start:]...)
		dst = dst[:start]
		for _, b := range w {
			if b == 0 {
				dst = append(dst, 0x00, 0xFF)
			} else {
				dst = append(dst, b)
			}
		}
	}
	return append(dst, 0x00, 0x01)
}

// PrefixEnd returns the smallest key greater than every key that starts with prefix, or nil (unbounded)
// when no such key exists.
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
