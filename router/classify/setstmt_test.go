package classify

import "testing"

func TestSetStatementBody(t *testing.T) {
	tests := []struct{ sql, want string }{
		{"SET STATEMENT a=1 FOR SELECT 1", " SELECT 1"},
		{"  /* x */ set  statement a=1 for select 1", " select 1"},
		{"SET STATEMENT a='for', b=\"FOR\" FOR SELECT 2", " SELECT 2"},
		{"SET STATEMENT a=(SELECT 1 FOR UPDATE) FOR SELECT 3", " SELECT 3"},
		{"SET STATEMENT a=1 /* for */ -- for\n FOR SELECT 4", " SELECT 4"},
		{"SET STATEMENT `for`=1 FOR SELECT 5", " SELECT 5"},
		{"SET STATEMENT forward=1 FOR SELECT 6", " SELECT 6"},
		{"SET STATEMENT a=1", ""},
		{"SET a=1", ""},
		{"SET STATEMENTS a=1 FOR SELECT 1", ""},
		{"SELECT 1 FOR UPDATE", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(setStatementBody([]byte(tt.sql))); got != tt.want {
			t.Errorf("setStatementBody(%q) = %q, want %q", tt.sql, got, tt.want)
		}
	}
}
