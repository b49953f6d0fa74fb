package codec

import (
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"unsafe"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

const rowFormatV1 = 1

// ErrCorruptRow reports an undecodable row image.
var ErrCorruptRow = errors.New("corrupt row image")

// AppendRow encodes a row: format byte, then per column (id uvarint, kind byte, payload). NULLs are explicit
// so that a missing id means "column added after this row was written".
func AppendRow(dst []byte, ids []uint32, vals []types.Value) []byte {
	dst = append(dst, rowFormatV1)
	for i, v := range vals {
		dst = binary.AppendUvarint(dst, uint64(ids[i]))
		dst = append(dst, byte(v.Kind()))
		switch v.Kind() {
		case types.KindInt:
			dst = binary.AppendVarint(dst, v.Int())
		case types.KindUint, types.KindDate, types.KindDatetime:
			dst = binary.AppendUvarint(dst, v.Uint())
		case types.KindFloat:
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(v.Float()))
		case types.KindDecimal:
			d := v.Decimal()
			c := d.Coef()
			sign := byte(0)
			if c.Sign() < 0 {
				sign = 1
			}
			mag := c.Bytes()
			dst = append(dst, byte(d.Scale()), sign)
			dst = binary.AppendUvarint(dst, uint64(len(mag)))
			dst = append(dst, mag...)
		case types.KindString, types.KindBytes:
			dst = binary.AppendUvarint(dst, uint64(len(v.Str())))
			dst = append(dst, v.Str()...)
		}
	}
	return dst
}

// DecodeRow decodes a row image into out, placing each column by pos(id) (ok=false: a dropped column, or one
// the caller does not need: skipped without materialising its value, so a scan that reads one column of a
// wide row does not copy the others' strings). present[i] is set for every column found; callers fill absent
// ones with defaults.
func DecodeRow(b []byte, pos func(id uint32) (int, bool), out []types.Value, present []bool) error {
	return decodeRow(b, pos, out, present, false)
}

// DecodeRowShared is DecodeRow for an image that is never modified while any decoded value lives (node/storage
// returns such values): strings point into b instead of being copied, which saves a copy and an allocation
// per string column of every row a scan reads.
func DecodeRowShared(b []byte, pos func(id uint32) (int, bool), out []types.Value, present []bool) error {
	return decodeRow(b, pos, out, present, true)
}

func decodeRow(b []byte, pos func(id uint32) (int, bool), out []types.Value, present []bool, shared bool) error {
	if len(b) == 0 || b[0] != rowFormatV1 {
		return ErrCorruptRow
	}
	b = b[1:]
	for len(b) > 0 {
		id, n := binary.Uvarint(b)
		if n <= 0 || len(b) < n+1 {
			return ErrCorruptRow
		}
		kind := types.Kind(b[n])
		b = b[n+1:]
		p, want := pos(uint32(id))
		want = want && p < len(out)
		var v types.Value
		switch kind {
		case types.KindNull:
		case types.KindInt:
			i, m := binary.Varint(b)
			if m <= 0 {
				return ErrCorruptRow
			}
			v, b = types.NewInt(i), b[m:]
		case types.KindUint, types.KindDate, types.KindDatetime:
			u, m := binary.Uvarint(b)
			if m <= 0 {
				return ErrCorruptRow
			}
			b = b[m:]
			switch kind {
			case types.KindUint:
				v = types.NewUint(u)
			case types.KindDate:
				v = types.NewDate(types.Time(u))
			default:
				v = types.NewDatetime(types.Time(u))
			}
		case types.KindFloat:
			if len(b) < 8 {
				return ErrCorruptRow
			}
			v, b = types.NewFloat(math.Float64frombits(binary.BigEndian.Uint64(b))), b[8:]
		case types.KindDecimal:
			if len(b) < 2 {
				return ErrCorruptRow
			}
			scale, sign := int32(b[0]), b[1]
			l, m := binary.Uvarint(b[2:])
			if m <= 0 || uint64(len(b)-2-m) < l {
				return ErrCorruptRow
			}
			if want {
				c := new(big.Int).SetBytes(b[2+m : 2+m+int(l)])
				if sign == 1 {
					c.Neg(c)
				}
				v = types.NewDecimal(types.MakeDecimal(c, scale))
			}
			b = b[2+m+int(l):]
		case types.KindString, types.KindBytes:
			l, m := binary.Uvarint(b)
			if m <= 0 || uint64(len(b)-m) < l {
				return ErrCorruptRow
			}
			if want {
				var s string
				if shared && l > 0 {
					s = unsafe.String(&b[m], int(l))
				} else {
					s = string(b[m : m+int(l)])
				}
				if kind == types.KindString {
					v = types.NewString(s)
				} else {
					v = types.NewBinary(s)
				}
			}
			b = b[m+int(l):]
		default:
			return ErrCorruptRow
		}
		if want {
			out[p] = v
			present[p] = true
		}
	}
	return nil
}
