package server

import (
	"strconv"
)

// dateTime is a DATE/DATETIME/TIMESTAMP value in its fields, as the binary protocol carries it.
type dateTime struct {
	year                 uint16
	month, day           uint8
	hour, minute, second uint8
	micro                uint32
}

// timeValue is a TIME value: a signed duration of up to 838:59:59.
type timeValue struct {
	neg            bool
	hours          uint32
	minute, second uint8
	micro          uint32
}

// digits parses exactly n ASCII digits at the start of b.
func digits(b []byte, n int) (int, bool) {
	if len(b) < n {
		return 0, false
	}
	v := 0
	for _, ch := range b[:n] {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		v = v*10 + int(ch-'0')
	}
	return v, true
}

// fraction parses ".ffffff" (1 to 6 digits) into microseconds; an empty b is 0.
func fraction(b []byte) (uint32, bool) {
	if len(b) == 0 {
		return 0, true
	}
	if b[0] != '.' || len(b) < 2 || len(b) > 7 {
		return 0, false
	}
	n, ok := digits(b[1:], len(b)-1)
	for i := len(b) - 1; i < 6; i++ {
		n *= 10
	}
	return uint32(n), ok
}

// parseDateTime parses "YYYY-MM-DD" and "YYYY-MM-DD HH:MM:SS[.ffffff]".
func parseDateTime(b []byte) (dateTime, bool) {
	var dt dateTime
	if len(b) < 10 {
		return dt, false
	}
	y, ok1 := digits(b, 4)
	mo, ok2 := digits(b[5:], 2)
	d, ok3 := digits(b[8:], 2)
	if !ok1 || !ok2 || !ok3 || b[4] != '-' || b[7] != '-' {
		return dt, false
	}
	dt.year, dt.month, dt.day = uint16(y), uint8(mo), uint8(d)
	if len(b) == 10 {
		return dt, true
	}
	if len(b) < 19 || (b[10] != ' ' && b[10] != 'T') || b[13] != ':' || b[16] != ':' {
		return dt, false
	}
	h, ok1 := digits(b[11:], 2)
	mi, ok2 := digits(b[14:], 2)
	s, ok3 := digits(b[17:], 2)
	us, ok4 := fraction(b[19:])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return dt, false
	}
	dt.hour, dt.minute, dt.second, dt.micro = uint8(h), uint8(mi), uint8(s), us
	return dt, true
}

// parseTime parses "[-]H...H:MM:SS[.ffffff]".
func parseTime(b []byte) (timeValue, bool) {
	var t timeValue
	if len(b) > 0 && b[0] == '-' {
		t.neg = true
		b = b[1:]
	}
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 || i > 9 || len(b) < i+6 || b[i] != ':' || b[i+3] != ':' {
		return t, false
	}
	h, _ := strconv.ParseUint(string(b[:i]), 10, 32)
	mi, ok1 := digits(b[i+1:], 2)
	s, ok2 := digits(b[i+4:], 2)
	us, ok3 := fraction(b[i+6:])
	if !ok1 || !ok2 || !ok3 {
		return t, false
	}
	t.hours, t.minute, t.second, t.micro = uint32(h), uint8(mi), uint8(s), us
	return t, true
}

func appendBinaryDateTime(b []byte, dt dateTime) []byte {
	switch {
	case dt.micro != 0:
		b = append(b, 11)
	case dt.hour != 0 || dt.minute != 0 || dt.second != 0:
		b = append(b, 7)
	case dt.year != 0 || dt.month != 0 || dt.day != 0:
		b = append(b, 4)
	default:
		return append(b, 0)
	}
	n := b[len(b)-1]
	b = appendUint16(b, dt.year)
	b = append(b, dt.month, dt.day)
	if n >= 7 {
		b = append(b, dt.hour, dt.minute, dt.second)
	}
	if n == 11 {
		b = appendUint32(b, dt.micro)
	}
	return b
}

func appendBinaryTime(b []byte, t timeValue) []byte {
	switch {
	case t.micro != 0:
		b = append(b, 12)
	case t.hours != 0 || t.minute != 0 || t.second != 0:
		b = append(b, 8)
	default:
		return append(b, 0)
	}
	n := b[len(b)-1]
	neg := byte(0)
	if t.neg {
		neg = 1
	}
	b = append(b, neg)
	b = appendUint32(b, t.hours/24)
	b = append(b, byte(t.hours%24), t.minute, t.second)
	if n == 12 {
		b = appendUint32(b, t.micro)
	}
	return b
}

func appendPadded(b []byte, v uint64, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendUint(tmp[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendDateTimeText formats dt as MariaDB text; withTime false gives a DATE.
func appendDateTimeText(b []byte, dt dateTime, withTime bool) []byte {
	b = appendPadded(b, uint64(dt.year), 4)
	b = append(b, '-')
	b = appendPadded(b, uint64(dt.month), 2)
	b = append(b, '-')
	b = appendPadded(b, uint64(dt.day), 2)
	if !withTime {
		return b
	}
	b = append(b, ' ')
	b = appendPadded(b, uint64(dt.hour), 2)
	b = append(b, ':')
	b = appendPadded(b, uint64(dt.minute), 2)
	b = append(b, ':')
	b = appendPadded(b, uint64(dt.second), 2)
	if dt.micro != 0 {
		b = append(b, '.')
		b = appendPadded(b, uint64(dt.micro), 6)
	}
	return b
}

func appendTimeText(b []byte, t timeValue) []byte {
	if t.neg {
		b = append(b, '-')
	}
	b = appendPadded(b, uint64(t.hours), 2)
	b = append(b, ':')
	b = appendPadded(b, uint64(t.minute), 2)
	b = append(b, ':')
	b = appendPadded(b, uint64(t.second), 2)
	if t.micro != 0 {
		b = append(b, '.')
		b = appendPadded(b, uint64(t.micro), 6)
	}
	return b
}
