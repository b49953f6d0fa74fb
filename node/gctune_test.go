package node

import "testing"

func TestParseMemTotal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"MemTotal:       24684092 kB\nMemFree:        21071504 kB\n", 24684092 * 1024, true},
		{"MemFree:        21071504 kB\nMemTotal: 1024 kB\n", 1024 * 1024, true},
		{"MemFree:        21071504 kB\n", 0, false},
		{"MemTotal: lots kB\n", 0, false},
		{"MemTotal: 1024 MB\n", 0, false},
		{"MemTotal: 0 kB\n", 0, false},
		{"", 0, false},
	} {
		got, ok := parseMemTotal([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseMemTotal(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseCgroupLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"max\n", 0, false},
		{"9223372036854771712\n", 0, false}, // cgroup v1 without a limit
		{"2147483648\n", 2147483648, true},
		{"", 0, false},
		{"-1", 0, false},
	} {
		got, ok := parseCgroupLimit([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseCgroupLimit(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
