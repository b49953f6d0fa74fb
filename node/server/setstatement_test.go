package server

import "testing"

func TestSplitSetStatement(t *testing.T) {
	for _, tc := range []struct {
		in, set, inner string
		ok             bool
	}{
		{"SET STATEMENT wsrep_sync_wait=1 FOR SELECT v FROM t", "SET wsrep_sync_wait=1 ", "SELECT v FROM t", true},
		{"  set statement a = 'x for y', b=(SELECT 1 FOR UPDATE) for\nUPDATE t SET v = 1", "SET a = 'x for y', b=(SELECT 1 FOR UPDATE) ", "UPDATE t SET v = 1", true},
		{"SET STATEMENT sql_mode='' FOR SELECT 1 FOR UPDATE", "SET sql_mode='' ", "SELECT 1 FOR UPDATE", true},
		{"SET statement = 1", "", "", false},
		{"SET STATEMENT x=1", "", "", false},
		{"SELECT 1", "", "", false},
		{"SET STATEMENTS x=1 FOR SELECT 1", "", "", false},
		{"SET STATEMENT x='it''s' FOR SELECT 1", "SET x='it''s' ", "SELECT 1", true},
	} {
		set, inner, ok := splitSetStatement(tc.in)
		if ok != tc.ok || set != tc.set || inner != tc.inner {
			t.Errorf("splitSetStatement(%q) = %q, %q, %v; want %q, %q, %v", tc.in, set, inner, ok, tc.set, tc.inner, tc.ok)
		}
	}
}
