package types

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Status is the outcome of a conversion, mapped by callers onto MySQL warnings or errors.
type Status uint8

const (
	OK         Status = iota
	Truncated         // part of the input was ignored ('12abc' → 12): 1265 / 1292
	Invalid           // the input is not a number/date at all ('abc'): 1366 / 1292
	OutOfRange        // clipped to the type's range: 1264
	TooLong           // string longer than the column: 1406
	Rounded           // fractional digits rounded away: a note only
)

// parseNumberPrefix returns the longest numeric prefix of s as a float, and whether the whole (trimmed)
// string was numeric.
func parseNumberPrefix(s string) (float64, Status) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	start := i
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		if start == len(s) {
			return 0, Invalid
		}
		return 0, Invalid
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && s[j] >= '0' && s[j] <= '9' {
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			i = j
		}
	}
	f, err := strconv.ParseFloat(s[start:i], 64)
	if err != nil {
		// overflow: ParseFloat returns ±Inf with ErrRange
		if math.IsInf(f, 0) {
			return f, OutOfRange
		}
		return 0, Invalid
	}
	rest := i
	for rest < len(s) && isSpace(s[rest]) {
		rest++
	}
	if rest < len(s) {
		return f, Truncated
	}
	return f, OK
}

// ToFloat converts v to a double.
func ToFloat(v Value) (float64, Status) {
	switch v.kind {
	case KindInt:
		return float64(int64(v.n)), OK
	case KindUint:
		return float64(v.n), OK
	case KindFloat:
		return v.Float(), OK
	case KindDecimal:
		return v.d.Float(), OK
	case KindString, KindBytes:
		return parseNumberPrefix(v.s)
	case KindDate, KindDatetime:
		return float64(timeNumber(v)), OK
	case KindTime:
		return durationDecimal(v.Duration()).Float(), OK
	}
	return 0, OK
}

func timeNumber(v Value) int64 {
	t := Time(v.n)
	d := int64(t.Year())*10000 + int64(t.Month())*100 + int64(t.Day())
	if v.kind == KindDate {
		return d
	}
	return d*1000000 + int64(t.Hour())*10000 + int64(t.Minute())*100 + int64(t.Second())
}

func roundFloat(f float64) float64 { return math.Round(f) } // half away from zero, as MySQL

// ToInt converts v to int64 with MySQL rounding and clipping.
func ToInt(v Value) (int64, Status) {
	switch v.kind {
	case KindInt:
		return int64(v.n), OK
	case KindUint:
		if v.n > math.MaxInt64 {
			return math.MaxInt64, OutOfRange
		}
		return int64(v.n), OK
	case KindFloat:
		return floatToInt(v.Float())
	case KindDecimal:
		i, ok := v.d.Int64()
		if !ok {
			return i, OutOfRange
		}
		return i, OK
	case KindString, KindBytes:
		return stringToInt(v.s)
	case KindDate, KindDatetime:
		return timeNumber(v), OK
	case KindTime:
		i, _ := durationDecimal(v.Duration()).Round(0).Int64()
		return i, OK
	}
	return 0, OK
}

func floatToInt(f float64) (int64, Status) {
	r := roundFloat(f)
	if r >= 9.223372036854775807e18 {
		return math.MaxInt64, OutOfRange
	}
	if r < -9.223372036854775808e18 {
		return math.MinInt64, OutOfRange
	}
	return int64(r), OK
}

func stringToInt(s string) (int64, Status) {
	// Fast path: plain integers are exact (no float rounding for big values).
	t := trimSpaces(s)
	if i, err := strconv.ParseInt(t, 10, 64); err == nil {
		return i, OK
	}
	if d, n, err := ParseDecimal(t); err == nil && n == len(t) {
		i, ok := d.Int64()
		if !ok {
			return i, OutOfRange
		}
		return i, OK
	}
	f, st := parseNumberPrefix(s)
	i, st2 := floatToInt(f)
	if st == OK {
		st = st2
	}
	return i, st
}

// ToUint converts v to uint64 (negative values clip to 0 with OutOfRange).
func ToUint(v Value) (uint64, Status) {
	switch v.kind {
	case KindUint:
		return v.n, OK
	case KindInt:
		if int64(v.n) < 0 {
			return 0, OutOfRange
		}
		return v.n, OK
	case KindFloat:
		r := roundFloat(v.Float())
		if r < 0 {
			return 0, OutOfRange
		}
		if r >= 1.8446744073709552e19 {
			return math.MaxUint64, OutOfRange
		}
		return uint64(r), OK
	case KindDecimal:
		u, ok := v.d.Uint64()
		if !ok {
			return u, OutOfRange
		}
		return u, OK
	case KindString, KindBytes:
		t := trimSpaces(v.s)
		if u, err := strconv.ParseUint(t, 10, 64); err == nil {
			return u, OK
		}
		d, n, err := ParseDecimal(t)
		if err != nil {
			return 0, Invalid
		}
		u, ok := d.Uint64()
		st := OK
		if !ok {
			st = OutOfRange
		}
		if n < len(t) {
			st = Truncated
		}
		return u, st
	case KindDate, KindDatetime:
		return uint64(timeNumber(v)), OK
	}
	return 0, OK
}

// ToDecimal converts v to a decimal.
func ToDecimal(v Value) (Decimal, Status) {
	switch v.kind {
	case KindInt:
		return DecimalFromInt(int64(v.n)), OK
	case KindUint:
		return DecimalFromUint(v.n), OK
	case KindFloat:
		d, err := DecimalFromFloat(v.Float())
		if err != nil {
			return Decimal{}, OutOfRange
		}
		return d, OK
	case KindDecimal:
		return v.d, OK
	case KindString, KindBytes:
		t := trimSpaces(v.s)
		d, n, err := ParseDecimal(t)
		if err != nil {
			return Decimal{}, Invalid
		}
		if n < len(t) {
			return d, Truncated
		}
		return d, OK
	case KindDate, KindDatetime:
		return DecimalFromInt(timeNumber(v)), OK
	case KindTime:
		return durationDecimal(v.Duration()), OK
	}
	return Decimal{}, OK
}

// ToText converts v to its string form (NULL → "").
func ToText(v Value) string {
	switch v.kind {
	case KindString, KindBytes:
		return v.s
	case KindNull:
		return ""
	}
	return v.String()
}

// ToTime converts v to a date/time.
func ToTime(v Value) (Time, Status) {
	switch v.kind {
	case KindDate, KindDatetime:
		return Time(v.n), OK
	case KindString, KindBytes:
		t, err := ParseTime(v.s)
		if err != nil {
			return 0, Invalid
		}
		return t, OK
	case KindInt, KindUint:
		t, err := TimeFromInt(int64(v.n))
		if err != nil {
			return 0, Invalid
		}
		return t, OK
	case KindFloat:
		f := v.Float()
		if f < 0 || f >= 1e15 || math.IsNaN(f) {
			return 0, Invalid
		}
		// As MariaDB's Sec6 from a double: the fraction's nanoseconds, rounded to microseconds.
		whole := math.Floor(f)
		ns := int64((f - whole) * 1e9)
		return numberTime(int64(whole), int((ns+500)/1000))
	case KindDecimal:
		d := v.Decimal()
		if d.Sign() < 0 {
			return 0, Invalid
		}
		whole, ok := d.Truncate(0).Int64()
		if !ok {
			return 0, Invalid
		}
		// Digits beyond microseconds are truncated.
		frac := d.Sub(DecimalFromInt(whole)).Mul(DecimalFromInt(1000000)).Truncate(0)
		us, _ := frac.Int64()
		return numberTime(whole, int(us))
	}
	return 0, Invalid
}

// numberTime is the date/time a number like 20240102030405.5 denotes: the integer part as
// TimeFromInt reads it, plus micro microseconds.
func numberTime(whole int64, micro int) (Time, Status) {
	t, err := TimeFromInt(whole)
	if err != nil {
		return 0, Invalid
	}
	micro = min(micro, 999999)
	return t + Time(micro), OK
}

// Truth evaluates v as a condition: NULL is unknown (ok=false).
func Truth(v Value) (truth bool, ok bool) {
	switch v.kind {
	case KindNull:
		return false, false
	case KindInt, KindUint:
		return v.n != 0, true
	case KindFloat:
		return v.Float() != 0, true
	case KindDecimal:
		return v.d.Sign() != 0, true
	case KindDate, KindDatetime, KindTime:
		return v.n != 0, true
	}
	f, _ := parseNumberPrefix(v.s)
	return f != 0, true
}

func trimSpaces(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// Compare compares two non-NULL values with MySQL's mixed-type rules; coll applies to string pairs.
func Compare(a, b Value, coll Collation) int {
	ak, bk := a.kind, b.kind
	switch {
	case a.IsStringish() && b.IsStringish():
		if ak == KindBytes || bk == KindBytes {
			return CollationBinary.Compare(a.s, b.s)
		}
		return coll.Compare(a.s, b.s)
	case (ak == KindInt || ak == KindUint) && (bk == KindInt || bk == KindUint):
		return compareInts(a, b)
	case ak == KindTime || bk == KindTime:
		if c, ok := compareDurations(a, b); ok {
			return c
		}
	case a.IsTemporal() && b.IsTemporal():
		return cmpU(a.n, b.n)
	case a.IsTemporal() && b.IsStringish():
		if t, st := ToTime(b); st == OK {
			return cmpU(a.n, uint64(t))
		}
	case a.IsStringish() && b.IsTemporal():
		if t, st := ToTime(a); st == OK {
			return cmpU(uint64(t), b.n)
		}
	case (ak == KindDecimal || ak == KindInt || ak == KindUint) && (bk == KindDecimal || bk == KindInt || bk == KindUint):
		da, _ := ToDecimal(a)
		db, _ := ToDecimal(b)
		return da.Cmp(db)
	}
	fa, _ := ToFloat(a)
	fb, _ := ToFloat(b)
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

// compareDurations compares a TIME with another TIME or a string (read as TIME); other operands compare as
// numbers (HHMMSS).
func compareDurations(a, b Value) (int, bool) {
	ad, bd := a, b
	if a.kind != KindTime {
		if !a.IsStringish() {
			return 0, false
		}
		us, st := ToDuration(a)
		if st == Invalid {
			return 0, false
		}
		ad = NewDuration(us)
	}
	if b.kind != KindTime {
		if !b.IsStringish() {
			return 0, false
		}
		us, st := ToDuration(b)
		if st == Invalid {
			return 0, false
		}
		bd = NewDuration(us)
	}
	x, y := ad.Duration(), bd.Duration()
	switch {
	case x < y:
		return -1, true
	case x > y:
		return 1, true
	}
	return 0, true
}

func compareInts(a, b Value) int {
	if a.kind == b.kind {
		if a.kind == KindInt {
			ai, bi := int64(a.n), int64(b.n)
			switch {
			case ai < bi:
				return -1
			case ai > bi:
				return 1
			}
			return 0
		}
		return cmpU(a.n, b.n)
	}
	if a.kind == KindInt {
		if int64(a.n) < 0 {
			return -1
		}
		return cmpU(a.n, b.n)
	}
	if int64(b.n) < 0 {
		return 1
	}
	return cmpU(a.n, b.n)
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CharLen counts characters of a utf8mb4 string.
func CharLen(s string) int { return utf8.RuneCountInString(s) }

// Cast converts v for storage in a column of type ft. The returned value has the column's storage kind.
// Status reports what MySQL would warn about (or refuse in strict mode).
func Cast(v Value, ft *FieldType) (Value, Status) {
	if v.kind == KindNull {
		return v, OK
	}
	switch ft.Class() {
	case ClassInt:
		minV, maxV := ft.IntRange()
		if ft.Unsigned {
			u, st := ToUint(v)
			if u > maxV {
				return NewUint(maxV), OutOfRange
			}
			return NewUint(u), st
		}
		i, st := ToInt(v)
		if i < minV {
			return NewInt(minV), OutOfRange
		}
		if i > int64(maxV) {
			return NewInt(int64(maxV)), OutOfRange
		}
		return NewInt(i), st
	case ClassFloat:
		f, st := ToFloat(v)
		if ft.Unsigned && f < 0 {
			return NewFloat(0), OutOfRange
		}
		if ft.Flen > 0 && ft.Decimals >= 0 && ft.Decimals < 31 {
			// FLOAT(M,D)/DOUBLE(M,D) store the value rounded to D digits (half to even, as rint), rounding
			// the double before it is narrowed to FLOAT.
			p := math.Pow10(ft.Decimals)
			f = math.RoundToEven(f*p) / p
			if limit := math.Pow10(ft.Flen-ft.Decimals) - 1/p; math.Abs(f) > limit {
				return NewFloat(math.Copysign(limit, f)), OutOfRange
			}
		}
		if ft.Tp == 4 { // FLOAT
			if math.Abs(f) > math.MaxFloat32 {
				return NewFloat(math.Copysign(math.MaxFloat32, f)), OutOfRange
			}
			f = float64(float32(f))
		}
		return NewFloat(f), st
	case ClassDecimal:
		d, st := ToDecimal(v)
		if st == Invalid {
			return NewDecimal(DecimalFromInt(0).Round(int32(ft.Decimals))), Invalid
		}
		r := d.Round(int32(ft.Decimals))
		if st == OK && r.Cmp(d) != 0 {
			st = Rounded
		}
		if r.IntDigits() > ft.Flen-ft.Decimals || (ft.Unsigned && r.Sign() < 0) {
			return NewDecimal(maxDecimal(ft, r.Sign() < 0 && !ft.Unsigned)), OutOfRange
		}
		return NewDecimal(r), st
	case ClassDate, ClassDatetime:
		t, st := ToTime(v)
		if st != OK {
			if ft.Class() == ClassDate {
				return NewDate(0), st
			}
			return NewDatetime(0), st
		}
		if ft.Class() == ClassDate {
			rst := OK
			if t != t.DateOnly() && v.IsStringish() {
				rst = Rounded
			}
			return NewDate(t), rst
		}
		return NewDatetime(roundMicro(t, ft.Decimals)), OK
	}
	// strings
	s := ToText(v)
	if v.kind == KindFloat {
		s = string(AppendFloat(nil, v.Float(), 64))
	}
	limit := ft.MaxChars()
	if ft.Coll == CollationBinary {
		if len(s) > limit {
			return NewBinary(s[:limit]), TooLong
		}
		if ft.Tp == 254 && len(s) < limit { // BINARY(n) pads with zero bytes
			b := make([]byte, limit)
			copy(b, s)
			return NewBytes(b), OK
		}
		return NewBinary(s), OK
	}
	if !utf8.ValidString(s) {
		return NewString(""), Invalid
	}
	if n := utf8.RuneCountInString(s); n > limit {
		cut := runePrefix(s, limit)
		// Trailing spaces beyond the limit are not an error (PAD SPACE).
		if trimTrailingSpaces(s[len(cut):]) == "" {
			return NewString(cut), OK
		}
		return NewString(cut), TooLong
	}
	if ft.Tp == 254 { // CHAR strips trailing spaces on retrieval; store stripped
		s = trimTrailingSpaces(s)
	}
	return NewString(s), OK
}

func runePrefix(s string, n int) string {
	i := 0
	for c := 0; c < n && i < len(s); c++ {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return s[:i]
}

func roundMicro(t Time, fsp int) Time {
	if fsp >= 6 {
		return t
	}
	div := int(math.Pow10(6 - fsp))
	m := t.Micro()
	return t - Time(m) + Time(m/div*div)
}

func maxDecimal(ft *FieldType, neg bool) Decimal {
	s := ""
	for i := 0; i < ft.Flen-ft.Decimals; i++ {
		s += "9"
	}
	if ft.Decimals > 0 {
		s += "."
		for i := 0; i < ft.Decimals; i++ {
			s += "9"
		}
	}
	if s == "" {
		s = "0"
	}
	d, _, _ := ParseDecimal(s)
	if neg {
		return d.Neg()
	}
	return d
}
