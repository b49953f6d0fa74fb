package types

import (
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// MaxDecimalPrecision and MaxDecimalScale are MariaDB's DECIMAL limits.
const (
	MaxDecimalPrecision = 65
	MaxDecimalScale     = 38
	// DivPrecisionIncrement is MariaDB's default div_precision_increment: the scale a division adds.
	DivPrecisionIncrement = 4
)

var errBadDecimal = errors.New("invalid decimal literal")

// Decimal is an exact fixed-point number: coef * 10^-scale. The zero value is 0.
// Decimals are immutable: every operation returns a new value.
type Decimal struct {
	coef  *big.Int // nil means 0
	scale int32
}

var bigTen = big.NewInt(10)

func pow10(n int32) *big.Int {
	return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil)
}

// MakeDecimal builds coef*10^-scale.
func MakeDecimal(coef *big.Int, scale int32) Decimal { return Decimal{coef: coef, scale: scale} }

// DecimalFromInt converts an int64.
func DecimalFromInt(i int64) Decimal { return Decimal{coef: big.NewInt(i)} }

// DecimalFromUint converts a uint64.
func DecimalFromUint(u uint64) Decimal { return Decimal{coef: new(big.Int).SetUint64(u)} }

// DecimalFromFloat converts a float using its shortest decimal representation.
func DecimalFromFloat(f float64) (Decimal, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return Decimal{}, errBadDecimal
	}
	d, _, err := ParseDecimal(strconv.FormatFloat(f, 'f', -1, 64))
	return d, err
}

// ParseDecimal parses a decimal literal (optionally with exponent). It returns the number of
// leading bytes consumed; callers treat a short prefix as truncation (MySQL semantics).
func ParseDecimal(s string) (Decimal, int, error) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	start := i
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var digits strings.Builder
	nd := 0
	scale := int32(0)
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		digits.WriteByte(s[i])
		i++
		nd++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			digits.WriteByte(s[i])
			i++
			nd++
			scale++
		}
	}
	if nd == 0 {
		return Decimal{}, start, errBadDecimal
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		eneg := false
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			eneg = s[j] == '-'
			j++
		}
		k := j
		exp := 0
		for k < len(s) && s[k] >= '0' && s[k] <= '9' && exp < 10000 {
			exp = exp*10 + int(s[k]-'0')
			k++
		}
		if k > j {
			i = k
			if eneg {
				scale += int32(exp)
			} else {
				scale -= int32(exp)
			}
		}
	}
	coef, ok := new(big.Int).SetString(digits.String(), 10)
	if !ok {
		return Decimal{}, start, errBadDecimal
	}
	if neg {
		coef.Neg(coef)
	}
	if scale < 0 {
		coef.Mul(coef, pow10(-scale))
		scale = 0
	}
	if scale > MaxDecimalScale {
		d := Decimal{coef: coef, scale: scale}.Round(MaxDecimalScale)
		return d, i, nil
	}
	return Decimal{coef: coef, scale: scale}, i, nil
}

func (d Decimal) c() *big.Int {
	if d.coef == nil {
		return new(big.Int)
	}
	return d.coef
}

// Scale is the number of fractional digits.
func (d Decimal) Scale() int32 { return d.scale }

// Sign returns -1, 0 or 1.
func (d Decimal) Sign() int {
	if d.coef == nil {
		return 0
	}
	return d.coef.Sign()
}

func align(a, b Decimal) (*big.Int, *big.Int, int32) {
	ac, bc := a.c(), b.c()
	switch {
	case a.scale < b.scale:
		ac = new(big.Int).Mul(ac, pow10(b.scale-a.scale))
		return ac, bc, b.scale
	case a.scale > b.scale:
		bc = new(big.Int).Mul(bc, pow10(a.scale-b.scale))
		return ac, bc, a.scale
	}
	return ac, bc, a.scale
}

// Add returns a+b.
func (d Decimal) Add(o Decimal) Decimal {
	a, b, s := align(d, o)
	return Decimal{coef: new(big.Int).Add(a, b), scale: s}
}

// Sub returns a-b.
func (d Decimal) Sub(o Decimal) Decimal {
	a, b, s := align(d, o)
	return Decimal{coef: new(big.Int).Sub(a, b), scale: s}
}

// Mul returns a*b with the summed scale (capped at MaxDecimalScale, as MariaDB).
func (d Decimal) Mul(o Decimal) Decimal {
	r := Decimal{coef: new(big.Int).Mul(d.c(), o.c()), scale: d.scale + o.scale}
	if r.scale > MaxDecimalScale {
		return r.Round(MaxDecimalScale)
	}
	return r
}

// Div returns d/o. Like MariaDB it computes d.scale+DivPrecisionIncrement fractional digits rounded up to
// whole 9-digit words (so 1/3*3 is 0.999999999, shown as 1.0000 at the result type's scale); callers round
// to the SQL result scale. ok is false on division by zero.
func (d Decimal) Div(o Decimal) (Decimal, bool) {
	if o.Sign() == 0 {
		return Decimal{}, false
	}
	scale := (d.scale + DivPrecisionIncrement + 8) / 9 * 9
	if scale > MaxDecimalScale {
		scale = MaxDecimalScale
	}
	// result coef = d.coef * 10^(scale - d.scale + o.scale) / o.coef, rounded half away from zero.
	num := new(big.Int).Mul(d.c(), pow10(scale-d.scale+o.scale+1))
	q := new(big.Int).Quo(num, o.c())
	return roundLastDigit(q, scale), true
}

// Mod returns d mod o (sign of d); ok is false on zero divisor.
func (d Decimal) Mod(o Decimal) (Decimal, bool) {
	if o.Sign() == 0 {
		return Decimal{}, false
	}
	a, b, s := align(d, o)
	return Decimal{coef: new(big.Int).Rem(a, b), scale: s}, true
}

// roundLastDigit drops one extra digit of q, rounding half away from zero.
func roundLastDigit(q *big.Int, scale int32) Decimal {
	r := new(big.Int)
	q2, r := new(big.Int).QuoRem(q, bigTen, r)
	if r.CmpAbs(big.NewInt(5)) >= 0 {
		if q.Sign() < 0 {
			q2.Sub(q2, big.NewInt(1))
		} else {
			q2.Add(q2, big.NewInt(1))
		}
	}
	return Decimal{coef: q2, scale: scale}
}

// Neg returns -d.
func (d Decimal) Neg() Decimal { return Decimal{coef: new(big.Int).Neg(d.c()), scale: d.scale} }

// Cmp compares two decimals.
func (d Decimal) Cmp(o Decimal) int {
	a, b, _ := align(d, o)
	return a.Cmp(b)
}

// Round rounds (half away from zero) or extends to the given scale.
func (d Decimal) Round(scale int32) Decimal {
	if scale == d.scale {
		return d
	}
	if scale > d.scale {
		return Decimal{coef: new(big.Int).Mul(d.c(), pow10(scale-d.scale)), scale: scale}
	}
	q := new(big.Int).Quo(d.c(), pow10(d.scale-scale-1))
	return roundLastDigit(q, scale)
}

// Truncate drops digits beyond scale (toward zero).
func (d Decimal) Truncate(scale int32) Decimal {
	if scale >= d.scale {
		return d.Round(scale)
	}
	return Decimal{coef: new(big.Int).Quo(d.c(), pow10(d.scale-scale)), scale: scale}
}

// IntDigits is the number of digits before the decimal point (0 for |d| < 1).
func (d Decimal) IntDigits() int {
	ip := new(big.Int).Quo(new(big.Int).Abs(d.c()), pow10(d.scale))
	if ip.Sign() == 0 {
		return 0
	}
	return len(ip.String())
}

// String formats with exactly Scale fractional digits.
func (d Decimal) String() string { return string(d.Append(nil)) }

// Append appends the text form to b.
func (d Decimal) Append(b []byte) []byte {
	c := d.c()
	if c.Sign() < 0 {
		b = append(b, '-')
	}
	digits := new(big.Int).Abs(c).String()
	if d.scale <= 0 {
		return append(b, digits...)
	}
	s := int(d.scale)
	if len(digits) <= s {
		b = append(b, '0', '.')
		for i := len(digits); i < s; i++ {
			b = append(b, '0')
		}
		return append(b, digits...)
	}
	b = append(b, digits[:len(digits)-s]...)
	b = append(b, '.')
	return append(b, digits[len(digits)-s:]...)
}

// Float converts to float64.
func (d Decimal) Float() float64 {
	f, _ := strconv.ParseFloat(d.String(), 64)
	return f
}

// Int64 rounds to an integer; ok is false when out of range.
func (d Decimal) Int64() (int64, bool) {
	r := d.Round(0).c()
	if !r.IsInt64() {
		if r.Sign() < 0 {
			return math.MinInt64, false
		}
		return math.MaxInt64, false
	}
	return r.Int64(), true
}

// Uint64 rounds to an unsigned integer; ok is false when out of range or negative.
func (d Decimal) Uint64() (uint64, bool) {
	r := d.Round(0).c()
	if r.Sign() < 0 {
		return 0, false
	}
	if !r.IsUint64() {
		return math.MaxUint64, false
	}
	return r.Uint64(), true
}

// Coef exposes the coefficient (read-only) for encoders.
func (d Decimal) Coef() *big.Int { return d.c() }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
