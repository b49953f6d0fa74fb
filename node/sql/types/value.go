// Package types holds the SQL value model of maxnode's SQL engine: runtime values, exact decimals, packed
// date/times, column field types, MySQL's type conversion and comparison rules, and the utf8mb4 collations.
//
// Contracts: a Value is immutable and cheap to copy; conversions report MySQL's truncation/range outcomes
// so callers can turn them into warnings (non-strict) or errors (STRICT_TRANS_TABLES); comparisons follow
// MySQL's rules for mixed types (numbers vs strings compare as DOUBLE, temporal vs string as temporal).
package types

import (
	"math"
	"strconv"
	"strings"
)

// Kind is the runtime class of a Value.
type Kind uint8

const (
	KindNull Kind = iota
	KindInt
	KindUint
	KindFloat
	KindDecimal
	KindString // character string (utf8mb4)
	KindBytes  // binary string
	KindDate
	KindDatetime
	KindTime // TIME: signed microseconds (only computed by expressions; no column stores it)
)

// Value is one SQL value.
type Value struct {
	kind Kind
	n    uint64 // int64/uint64/float64 bits/Time
	s    string
	d    Decimal
}

// Null is the SQL NULL.
var Null = Value{}

func NewInt(i int64) Value       { return Value{kind: KindInt, n: uint64(i)} }
func NewUint(u uint64) Value     { return Value{kind: KindUint, n: u} }
func NewFloat(f float64) Value   { return Value{kind: KindFloat, n: math.Float64bits(f)} }
func NewDecimal(d Decimal) Value { return Value{kind: KindDecimal, d: d} }
func NewString(s string) Value   { return Value{kind: KindString, s: s} }
func NewBytes(b []byte) Value    { return Value{kind: KindBytes, s: string(b)} }
func NewBinary(s string) Value   { return Value{kind: KindBytes, s: s} }
func NewDate(t Time) Value       { return Value{kind: KindDate, n: uint64(t.DateOnly())} }
func NewDatetime(t Time) Value   { return Value{kind: KindDatetime, n: uint64(t)} }
func NewBool(b bool) Value {
	if b {
		return NewInt(1)
	}
	return NewInt(0)
}

func (v Value) Kind() Kind        { return v.kind }
func (v Value) IsNull() bool      { return v.kind == KindNull }
func (v Value) Int() int64        { return int64(v.n) }
func (v Value) Uint() uint64      { return v.n }
func (v Value) Float() float64    { return math.Float64frombits(v.n) }
func (v Value) Decimal() Decimal  { return v.d }
func (v Value) Str() string       { return v.s }
func (v Value) Time() Time        { return Time(v.n) }
func (v Value) IsNumeric() bool   { return v.kind >= KindInt && v.kind <= KindDecimal }
func (v Value) IsStringish() bool { return v.kind == KindString || v.kind == KindBytes }
func (v Value) IsTemporal() bool  { return v.kind == KindDate || v.kind == KindDatetime }

// AppendText appends the value as MySQL's text protocol shows it (NULL must be handled by the caller).
// fsp is the fractional-second digits to show for datetimes; floatBits is 32 for FLOAT columns.
func (v Value) AppendText(b []byte, fsp int, floatBits int) []byte {
	switch v.kind {
	case KindInt:
		return strconv.AppendInt(b, int64(v.n), 10)
	case KindUint:
		return strconv.AppendUint(b, v.n, 10)
	case KindFloat:
		return AppendFloat(b, v.Float(), floatBits)
	case KindDecimal:
		return v.d.Append(b)
	case KindString, KindBytes:
		return append(b, v.s...)
	case KindDate:
		return Time(v.n).AppendDate(b)
	case KindDatetime:
		return Time(v.n).AppendDatetime(b, fsp)
	case KindTime:
		return AppendDuration(b, int64(v.n), fsp)
	}
	return append(b, "NULL"...)
}

// String is the text form (NULL as "NULL"), with datetimes at second precision unless they carry micros.
func (v Value) String() string {
	fsp := 0
	if (v.kind == KindDatetime && Time(v.n).Micro() != 0) || (v.kind == KindTime && int64(v.n)%1000000 != 0) {
		fsp = 6
	}
	return string(v.AppendText(nil, fsp, 64))
}

// AppendFloat formats a double the way MariaDB prints it: shortest round-trip digits (6 significant digits
// for FLOAT, bits=32), plain notation for decimal exponents in [-15, 15), otherwise 1.5e20 / 1e-16 style.
func AppendFloat(b []byte, f float64, bits int) []byte {
	if f == 0 {
		return append(b, '0')
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, "NULL"...)
	}
	if bits == 32 {
		f, _ = strconv.ParseFloat(strconv.FormatFloat(f, 'g', 6, 64), 64)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expStr, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expStr)
	if exp >= -15 && exp < 15 {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	b = append(b, mant...)
	b = append(b, 'e')
	return strconv.AppendInt(b, int64(exp), 10)
}
