package types

import "testing"

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // AppendDuration with 6 digits, or "" for Invalid
		fsp  int
		st   Status
	}{
		{"10:11:12", "10:11:12.000000", 0, OK},
		{"-01:30:00.5", "-01:30:00.500000", 1, OK},
		{"1 10:00:00", "34:00:00.000000", 0, OK},
		{"10:11", "10:11:00.000000", 0, OK},
		{"101112", "10:11:12.000000", 0, OK},
		{"112", "00:01:12.000000", 0, OK},
		{"2024-01-01 10:11:12.25", "10:11:12.250000", 2, OK},
		{"838:59:59", "838:59:59.000000", 0, OK},
		{"839:00:00", "838:59:59.999999", 0, OutOfRange},
		{"-900:00:00", "-838:59:59.999999", 0, OutOfRange},
		{"2024-01-01", "00:20:24.000000", 0, Truncated}, // MariaDB reads the leading number
		{"10:61:00", "", 0, Invalid},
		{"abc", "", 0, Invalid},
		{"", "", 0, Invalid},
		{"-", "", 0, Invalid},
	} {
		us, fsp, st := ParseDuration(tc.in)
		if st != tc.st {
			t.Errorf("ParseDuration(%q) status %v, want %v", tc.in, st, tc.st)
			continue
		}
		if st == Invalid {
			continue
		}
		if got := string(AppendDuration(nil, us, 6)); got != tc.want || fsp != tc.fsp {
			t.Errorf("ParseDuration(%q) = %s fsp %d, want %s fsp %d", tc.in, got, fsp, tc.want, tc.fsp)
		}
	}
}

func TestNumbersAsTimes(t *testing.T) {
	d, _, _ := ParseDecimal("0.1234567")
	for _, tc := range []struct {
		v    Value
		want string // datetime with 6 digits, or "" for Invalid
	}{
		{NewFloat(0.3), "0000-00-00 00:00:00.300000"},
		{NewFloat(20240102030405.3), "2024-01-02 03:04:05.300781"},
		{NewFloat(-0.25), ""},
		{NewDecimal(d), "0000-00-00 00:00:00.123456"},
		{NewFloat(20240102.5), "2024-01-02 00:00:00.500000"},
		{NewInt(-1), ""},
	} {
		tm, st := ToTime(tc.v)
		got := ""
		if st == OK {
			got = string(tm.AppendDatetime(nil, 6))
		}
		if got != tc.want {
			t.Errorf("ToTime(%v) = %q (%v), want %q", tc.v, got, st, tc.want)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"10:11:12", "-1 02:03:04.5", "101112.000001", "2024-01-01 10:00:00", "838:59:59", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		us, _, st := ParseDuration(s)
		if st == Invalid {
			return
		}
		if us > MaxDuration || us < -MaxDuration {
			t.Fatalf("ParseDuration(%q) = %d beyond TIME's range", s, us)
		}
		// What it prints parses back to the same value.
		back, _, st2 := ParseDuration(string(AppendDuration(nil, us, 6)))
		if st2 == Invalid || back != us {
			t.Fatalf("ParseDuration(%q) = %d prints %s, which parses to %d (%v)", s, us, AppendDuration(nil, us, 6), back, st2)
		}
	})
}
