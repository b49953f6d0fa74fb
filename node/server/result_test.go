package server

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

func TestAppendFloat(t *testing.T) {
	double := &Column{Type: mysql.MYSQL_TYPE_DOUBLE, Decimals: notFixedDec}
	for _, tc := range []struct {
		f    float64
		col  *Column
		want string
	}{
		{0, double, "0"},
		{2.5, double, "2.5"},
		{1e20, double, "1e20"},
		{-1.5e-7, double, "-1.5e-7"},
		{1e14, double, "100000000000000"},
		{1e15, double, "1e15"},
		{0.00001, double, "0.00001"},
		{1.0 / 3, double, "0.3333333333333333"},
		{1.126, &Column{Type: mysql.MYSQL_TYPE_DOUBLE, Decimals: 2}, "1.13"},
		{0.1, &Column{Type: mysql.MYSQL_TYPE_FLOAT, Decimals: notFixedDec}, "0.1"},
	} {
		if got := string(appendFloat(nil, tc.f, tc.col)); got != tc.want {
			t.Errorf("appendFloat(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestTemporalRoundTrip(t *testing.T) {
	for _, s := range []string{"2024-02-29 13:14:15.123456", "2000-01-01 00:00:00", "0000-00-00 00:00:00", "1999-12-31 23:59:59.5"} {
		dt, ok := parseDateTime([]byte(s))
		if !ok {
			t.Fatalf("parse %q", s)
		}
		want := s
		if s == "1999-12-31 23:59:59.5" {
			want = "1999-12-31 23:59:59.500000"
		}
		if got := string(appendDateTimeText(nil, dt, true)); got != want {
			t.Errorf("%q -> %q", s, got)
		}
	}
	for _, s := range []string{"-838:59:59", "00:00:01.000001", "100:00:00"} {
		tv, ok := parseTime([]byte(s))
		if !ok {
			t.Fatalf("parse %q", s)
		}
		if got := string(appendTimeText(nil, tv)); got != s {
			t.Errorf("%q -> %q", s, got)
		}
	}
	for _, bad := range []string{"", "2024", "2024-1-1", "2024-01-01X10:00:00", "2024-01-01 10:00", "2024-01-01 10:00:00.1234567"} {
		if _, ok := parseDateTime([]byte(bad)); ok {
			t.Errorf("parseDateTime(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "1:2:3", "-", "10:00", "aa:bb:cc"} {
		if _, ok := parseTime([]byte(bad)); ok {
			t.Errorf("parseTime(%q) accepted", bad)
		}
	}
}
