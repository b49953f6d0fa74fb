package types

import (
	"errors"
	"strings"
)

// MaxDuration is TIME's range, ±838:59:59.999999, in microseconds.
const MaxDuration = (838*3600+59*60+59)*1000000 + 999999

var errBadDuration = errors.New("incorrect time value")

// NewDuration is a TIME value of us microseconds (negative for negative times).
func NewDuration(us int64) Value { return Value{kind: KindTime, n: uint64(us)} }

// Duration is a TIME value's signed microseconds.
func (v Value) Duration() int64 { return int64(v.n) }

// ClipDuration limits us to TIME's range; clipped reports that it did.
func ClipDuration(us int64) (int64, bool) {
	switch {
	case us > MaxDuration:
		return MaxDuration, true
	case us < -MaxDuration:
		return -MaxDuration, true
	}
	return us, false
}

// AppendDuration appends [-]HH:MM:SS[.ffffff] with fsp fractional digits (at least two hour digits).
func AppendDuration(b []byte, us int64, fsp int) []byte {
	if us < 0 {
		b = append(b, '-')
		us = -us
	}
	sec := us / 1000000
	b = appendPad(b, int(sec/3600), 2)
	b = append(b, ':')
	b = appendPad(b, int(sec/60%60), 2)
	b = append(b, ':')
	b = appendPad(b, int(sec%60), 2)
	if fsp > 0 {
		b = append(b, '.')
		frac := appendPad(nil, int(us%1000000), 6)
		b = append(b, frac[:min(fsp, 6)]...)
	}
	return b
}

// durationNumber is a TIME as the number HHMMSS (fraction dropped).
func durationNumber(us int64) int64 {
	neg := us < 0
	if neg {
		us = -us
	}
	sec := us / 1000000
	n := sec/3600*10000 + sec/60%60*100 + sec%60
	if neg {
		return -n
	}
	return n
}

// durationDecimal is a TIME as the exact number HHMMSS.ffffff.
func durationDecimal(us int64) Decimal {
	d := DecimalFromInt(durationNumber(us))
	frac := us % 1000000
	if frac == 0 {
		return d
	}
	f, _, _ := ParseDecimal("0." + string(appendPad(nil, int(abs64(frac)), 6)))
	if us < 0 {
		return d.Sub(f)
	}
	return d.Add(f)
}

func abs64(i int64) int64 {
	if i < 0 {
		return -i
	}
	return i
}

// ParseDuration parses the TIME literal forms: [-][D ]HH:MM[:SS[.frac]], [-]HHMMSS[.frac] (also MMSS
// and SS), and a datetime, whose time of day is taken. fsp is the number of fractional digits given.
// Values beyond ±838:59:59 are clipped (OutOfRange), as MariaDB does with a warning; other text is read
// up to its last usable leading number (Truncated: '2024-01-01' is 00:20:24, as MariaDB's str_to_time).
func ParseDuration(s string) (us int64, fsp int, st Status) {
	us, fsp, clipped, err := parseDuration(s)
	switch {
	case err == nil && clipped:
		return us, fsp, OutOfRange
	case err == nil:
		return us, fsp, OK
	}
	// The time-shaped prefix ([-]digits, ':', '.', ' '), as far as it goes: '1:2:3x' is 01:02:03, while
	// an out-of-range field ('10:61:00') stays invalid.
	t := trimSpaces(s)
	j := 0
	if j < len(t) && t[j] == '-' {
		j++
	}
	for j < len(t) && (t[j] >= '0' && t[j] <= '9' || t[j] == ':' || t[j] == '.' || t[j] == ' ') {
		j++
	}
	prefix := strings.TrimRight(t[:j], ":. ")
	if prefix == t || prefix == "" || prefix == "-" {
		return 0, 0, Invalid
	}
	us, fsp, clipped, err = parseDuration(prefix)
	if err != nil {
		return 0, 0, Invalid
	}
	if clipped {
		return us, fsp, OutOfRange
	}
	return us, fsp, Truncated
}

func parseDuration(s string) (us int64, fsp int, clipped bool, err error) {
	s = trimSpaces(s)
	if s == "" {
		return 0, 0, false, errBadDuration
	}
	if t, err := ParseTime(s); err == nil && indexByte(s, ':') >= 0 && !timeFirst(s) {
		// A full datetime: its time of day.
		return int64(t.Hour()*3600+t.Minute()*60+t.Second())*1000000 + int64(t.Micro()), fracDigits(s), false, nil
	}
	neg := false
	if s[0] == '-' {
		neg = true
		s = s[1:]
	}
	num := func(i int) (int64, int) {
		v, j := int64(0), i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' && j-i < 12 {
			v = v*10 + int64(s[j]-'0')
			j++
		}
		return v, j
	}
	var h, m, sec int64
	i := 0
	if indexByte(s, ':') >= 0 {
		days := int64(0)
		v, j := num(0)
		if j == 0 {
			return 0, 0, false, errBadDuration
		}
		if j < len(s) && s[j] == ' ' {
			days = v
			v, j = num(j + 1)
		}
		h = days*24 + v
		if j >= len(s) || s[j] != ':' {
			return 0, 0, false, errBadDuration
		}
		var k int
		m, k = num(j + 1)
		if k == j+1 || m > 59 {
			return 0, 0, false, errBadDuration
		}
		i = k
		if i < len(s) && s[i] == ':' {
			sec, k = num(i + 1)
			if k == i+1 || sec > 59 {
				return 0, 0, false, errBadDuration
			}
			i = k
		}
	} else {
		v, j := num(0)
		if j == 0 {
			return 0, 0, false, errBadDuration
		}
		h, m, sec = v/10000, v/100%100, v%100
		if m > 59 || sec > 59 {
			return 0, 0, false, errBadDuration
		}
		i = j
	}
	micro := int64(0)
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			if fsp < 6 {
				micro = micro*10 + int64(s[j]-'0')
				fsp++
			}
			j++
		}
		for k := fsp; k < 6; k++ {
			micro *= 10
		}
		i = j
	}
	if i != len(s) {
		return 0, 0, false, errBadDuration
	}
	us = (h*3600+m*60+sec)*1000000 + micro
	if h > 838 {
		us = MaxDuration + 1
	}
	if neg {
		us = -us
	}
	us, clipped = ClipDuration(us)
	return us, fsp, clipped, nil
}

// fracDigits counts the digits after the last '.' of s (capped at 6).
func fracDigits(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return min(len(s)-i-1, 6)
		}
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
	}
	return 0
}

// ToDuration converts v to a TIME: datetimes give their time of day, numbers read as HHMMSS.
func ToDuration(v Value) (int64, Status) {
	switch v.kind {
	case KindTime:
		return v.Duration(), OK
	case KindDatetime:
		t := Time(v.n)
		return int64(t.Hour()*3600+t.Minute()*60+t.Second())*1000000 + int64(t.Micro()), OK
	case KindDate:
		return 0, OK
	case KindString, KindBytes:
		us, _, st := ParseDuration(v.s)
		return us, st
	case KindInt, KindUint, KindFloat, KindDecimal:
		d, _ := ToDecimal(v)
		us, _, st := ParseDuration(d.String())
		return us, st
	}
	return 0, Invalid
}

// FormatDuration is us as TIME text with six fractional digits when it has a fraction.
func FormatDuration(us int64) string {
	fsp := 0
	if us%1000000 != 0 {
		fsp = 6
	}
	return string(AppendDuration(nil, us, fsp))
}

// timeFirst reports a string whose first delimiter is ':' (or '.'): a time like 10:11:12, which
// ParseTime would also accept as the date 2010-11-12.
func timeFirst(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return s[i] == ':' || s[i] == '.'
		}
	}
	return true
}
