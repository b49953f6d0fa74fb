package node

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSysbench runs sysbench 1.0's OLTP scripts against an in-process node, with prepared statements
// (binary protocol) and without (text protocol).
func TestSysbench(t *testing.T) {
	bin, err := exec.LookPath("sysbench")
	if err != nil {
		t.Skip("sysbench is not installed (apt-get install sysbench); skipping the sysbench run")
	}
	if testing.Short() {
		t.Skip("sysbench run skipped in -short mode")
	}
	n := startNode(t, testConfig(t))
	db := openDB(t, n, "root", "", "", "")
	mustExec(t, db, "CREATE DATABASE sbtest")
	host, port, _ := strings.Cut(n.Addr().String(), ":")
	sysbench := func(script, psMode, time, command string) string {
		t.Helper()
		cmd := exec.Command(bin, script, "--mysql-host="+host, "--mysql-port="+port, "--mysql-user=root",
			"--mysql-db=sbtest", "--tables=2", "--table-size=500", "--threads=4", "--time="+time,
			"--db-ps-mode="+psMode, "--mysql-ignore-errors=1213,1205", command)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "FATAL") {
			t.Fatalf("sysbench %s %s %s: %v\n%s", script, psMode, command, err, out)
		}
		return string(out)
	}
	sysbench("oltp_read_write", "auto", "1", "prepare")
	for _, tc := range []struct{ script, psMode string }{
		{"oltp_point_select", "auto"},
		{"oltp_read_write", "auto"},
		{"oltp_read_write", "disable"},
	} {
		out := sysbench(tc.script, tc.psMode, "2", "run")
		if !strings.Contains(out, "queries:") || strings.Contains(out, "queries:                             0 ") {
			t.Errorf("%s ps-mode=%s ran no queries:\n%s", tc.script, tc.psMode, out)
		}
	}
	sysbench("oltp_read_write", "auto", "1", "cleanup")
	var tables int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sbtest'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("after cleanup: %d tables, err %v", tables, err)
	}
}
