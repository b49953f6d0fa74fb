package server

import "testing"

func TestQuoteSetAll(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"SET GLOBAL wsrep_reject_queries = ALL", "SET GLOBAL wsrep_reject_queries = 'ALL'", true},
		{"set global wsrep_reject_queries=all;", "set global wsrep_reject_queries='ALL';", true},
		{"SET @@global.wsrep_reject_queries := ALL ", "SET @@global.wsrep_reject_queries := 'ALL' ", true},
		{"SET x = ALL_KILL", "", false}, // parses as it is
		{"SELECT ALL", "", false},
		{"SET a = ALL, b = 1", "", false},
		{"SET GLOBAL x = ALL; DROP TABLE t", "", false},
	} {
		got, ok := quoteSetAll(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("quoteSetAll(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
