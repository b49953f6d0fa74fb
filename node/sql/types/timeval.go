package types

import (
	"errors"
	"strconv"
	"time"
)

// Time is a packed DATE/DATETIME/TIMESTAMP value whose uint64 order equals chronological order:
// year<<46 | month<<42 | day<<37 | hour<<32 | minute<<26 | second<<20 | microsecond.
// The zero value is MySQL's zero date 0000-00-00 00:00:00.
type Time uint64

var errBadTime = errors.New("incorrect datetime value")

// MakeTime packs the fields; it does not validate them.
func MakeTime(year, month, day, hour, minute, second, micro int) Time {
	return Time(uint64(year)<<46 | uint64(month)<<42 | uint64(day)<<37 | uint64(hour)<<32 |
		uint64(minute)<<26 | uint64(second)<<20 | uint64(micro))
}

// FromGoTime converts a Go time (its wall clock fields are used as is).
func FromGoTime(t time.Time) Time {
	return MakeTime(t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000)
}

// Year etc. unpack the fields.
func (t Time) Year() int   { return int(t >> 46) }
func (t Time) Month() int  { return int(t>>42) & 0xf }
func (t Time) Day() int    { return int(t>>37) & 0x1f }
func (t Time) Hour() int   { return int(t>>32) & 0x1f }
func (t Time) Minute() int { return int(t>>26) & 0x3f }
func (t Time) Second() int { return int(t>>20) & 0x3f }
func (t Time) Micro() int  { return int(t & 0xfffff) }

// DateOnly drops the time of day.
func (t Time) DateOnly() Time { return t &^ (1<<37 - 1) }

// GoTime converts to a Go time in loc (zero dates become the zero time).
func (t Time) GoTime(loc *time.Location) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Date(t.Year(), time.Month(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Micro()*1000, loc)
}

// AppendDate appends YYYY-MM-DD.
func (t Time) AppendDate(b []byte) []byte {
	b = appendPad(b, t.Year(), 4)
	b = append(b, '-')
	b = appendPad(b, t.Month(), 2)
	b = append(b, '-')
	return appendPad(b, t.Day(), 2)
}

// AppendDatetime appends YYYY-MM-DD hh:mm:ss[.ffffff] with fsp fractional digits.
func (t Time) AppendDatetime(b []byte, fsp int) []byte {
	b = t.AppendDate(b)
	b = append(b, ' ')
	b = appendPad(b, t.Hour(), 2)
	b = append(b, ':')
	b = appendPad(b, t.Minute(), 2)
	b = append(b, ':')
	b = appendPad(b, t.Second(), 2)
	if fsp > 0 {
		b = append(b, '.')
		us := appendPad(nil, t.Micro(), 6)
		b = append(b, us[:fsp]...)
	}
	return b
}

func appendPad(b []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func daysIn(year, month int) int {
	switch month {
	case 1, 3, 5, 7, 8, 10, 12:
		return 31
	case 4, 6, 9, 11:
		return 30
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 0
}

// ParseTime parses the literal forms MySQL accepts for DATE/DATETIME: 'YYYY-MM-DD[ hh:mm:ss[.f]]'
// with any punctuation delimiter, 'YYYYMMDD[hhmmss]' and 2-digit years. Zero dates are accepted.
func ParseTime(s string) (Time, error) {
	var nums [7]int
	var widths [7]int
	n := 0
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	end := len(s)
	for end > i && isSpace(s[end-1]) {
		end--
	}
	s = s[i:end]
	if s == "" {
		return 0, errBadTime
	}
	// Pure digit strings: YYYYMMDD, YYMMDD, YYYYMMDDhhmmss, YYMMDDhhmmss.
	allDigits := true
	for j := 0; j < len(s); j++ {
		if s[j] < '0' || s[j] > '9' {
			if s[j] == '.' && j >= 12 {
				break
			}
			allDigits = false
			break
		}
	}
	if allDigits {
		return parseDigitTime(s)
	}
	j := 0
	for n < 7 && j < len(s) {
		if s[j] < '0' || s[j] > '9' {
			return 0, errBadTime
		}
		v, w := 0, 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			if w < 9 {
				v = v*10 + int(s[j]-'0')
			}
			w++
			j++
		}
		nums[n], widths[n] = v, w
		n++
		if j >= len(s) {
			break
		}
		// delimiter: one punctuation char, or 'T'/space between date and time
		if n == 6 && s[j] == '.' {
			j++
			continue
		}
		if n == 6 {
			return 0, errBadTime
		}
		j++
		for j < len(s) && isSpace(s[j]) && n == 3 {
			j++
		}
	}
	if j < len(s) || n < 3 {
		return 0, errBadTime
	}
	if n == 7 {
		// fractional part: scale to microseconds
		w := widths[6]
		v := nums[6]
		for w < 6 {
			v *= 10
			w++
		}
		for w > 6 && w <= 9 {
			v /= 10
			w--
		}
		nums[6] = v
	}
	if widths[0] <= 2 {
		nums[0] = twoDigitYear(nums[0])
	}
	return checkTime(nums)
}

func twoDigitYear(y int) int {
	if y < 70 {
		return 2000 + y
	}
	return 1900 + y
}

func parseDigitTime(s string) (Time, error) {
	frac := ""
	if k := indexByte(s, '.'); k >= 0 {
		frac = s[k+1:]
		s = s[:k]
	}
	var nums [7]int
	at := func(a, b int) int { v, _ := strconv.Atoi(s[a:b]); return v }
	switch len(s) {
	case 8, 14:
		nums[0], nums[1], nums[2] = at(0, 4), at(4, 6), at(6, 8)
		if len(s) == 14 {
			nums[3], nums[4], nums[5] = at(8, 10), at(10, 12), at(12, 14)
		}
	case 6, 12:
		nums[0], nums[1], nums[2] = twoDigitYear(at(0, 2)), at(2, 4), at(4, 6)
		if len(s) == 12 {
			nums[3], nums[4], nums[5] = at(6, 8), at(8, 10), at(10, 12)
		}
	default:
		return 0, errBadTime
	}
	if frac != "" {
		for len(frac) < 6 {
			frac += "0"
		}
		nums[6], _ = strconv.Atoi(frac[:6])
	}
	return checkTime(nums)
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func checkTime(n [7]int) (Time, error) {
	y, mo, d, h, mi, se := n[0], n[1], n[2], n[3], n[4], n[5]
	if y > 9999 || mo > 12 || h > 23 || mi > 59 || se > 59 {
		return 0, errBadTime
	}
	if mo == 0 || d == 0 {
		if y == 0 && mo == 0 && d == 0 {
			return MakeTime(0, 0, 0, h, mi, se, n[6]), nil
		}
		return 0, errBadTime
	}
	if d > daysIn(y, mo) {
		return 0, errBadTime
	}
	return MakeTime(y, mo, d, h, mi, se, n[6]), nil
}

// TimeFromInt interprets a number like 20240102 or 20240102030405 as MySQL does.
func TimeFromInt(v int64) (Time, error) {
	if v < 0 {
		return 0, errBadTime
	}
	if v == 0 {
		return 0, nil
	}
	s := strconv.FormatInt(v, 10)
	switch {
	case len(s) <= 6:
		s = zeroPad(s, 6)
	case len(s) <= 8:
		s = zeroPad(s, 8)
	case len(s) <= 12:
		s = zeroPad(s, 12)
	default:
		s = zeroPad(s, 14)
	}
	return parseDigitTime(s)
}

func zeroPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}
