package integration

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestProxySysbench runs sysbench 1.0.20's OLTP scripts through
// readwritesplit, with and without prepared statements, and requires that
// no statement failed: sysbench exits non-zero on any error it does not
// ignore, and its "ignored errors" counter (deadlocks, lock waits) must be
// zero for the read-only scripts.
func TestProxySysbench(t *testing.T) {
	_, p := startProxy(t, "")
	mustExec(t, sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", "")), "CREATE DATABASE IF NOT EXISTS sbtest")
	t.Cleanup(func() {
		mustExec(t, sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", "")), "DROP DATABASE IF EXISTS sbtest")
	})
	// oltp_read_write's transactions deadlock now and then inside InnoDB
	// on the single writer (4 threads on 2000 rows), which sysbench counts
	// as ignored errors 1213/1205 exactly as it does when connected to the
	// node directly. Reads cannot.
	proxySysbench(t, p.rw, 5, 1, []sysbenchCase{
		{"oltp_read_write", []string{"--db-ps-mode=auto"}},
		{"oltp_read_write", []string{"--db-ps-mode=disable"}},
		{"oltp_read_only", []string{"--db-ps-mode=auto"}},
		{"oltp_read_only", []string{"--db-ps-mode=disable"}},
		{"oltp_read_only", []string{"--db-ps-mode=auto", "--skip-trx=on"}},
		{"oltp_read_only", []string{"--db-ps-mode=disable", "--skip-trx=on"}},
		{"oltp_point_select", []string{"--db-ps-mode=auto"}},
		{"oltp_point_select", []string{"--db-ps-mode=disable"}},
	})
}

// sysbenchCase is one sysbench script and its options.
type sysbenchCase struct {
	script string
	args   []string
}

// proxySysbench prepares sysbench's tables (2 x 1000 rows) in database
// sbtest through the proxy at addr, then runs each case for seconds with 4
// threads. A case fails when sysbench fails, runs nothing, or ignores an
// error, except oltp_read_write's deadlocks up to perThousand per thousand
// statements (sysbench retries them, as it does on a node itself).
func proxySysbench(t *testing.T, addr string, seconds, perThousand int, cases []sysbenchCase) {
	t.Helper()
	tools := harness.RequireTools(t, harness.Sysbench)
	bin, err := tools.Path(harness.Sysbench)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	common := []string{
		"--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=sbtest",
		"--tables=2", "--table-size=1000",
	}
	sysbench := func(t *testing.T, script string, args ...string) string {
		t.Helper()
		argv := append(append([]string{script}, common...), args...)
		out, err := exec.CommandContext(ctxFor(t, 2*time.Minute), bin, argv...).CombinedOutput()
		if err != nil {
			t.Fatalf("sysbench %s: %v\n%s", strings.Join(argv, " "), err, out)
		}
		return string(out)
	}
	sysbench(t, "oltp_read_write", "prepare")
	for _, tc := range cases {
		t.Run(tc.script+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			out := sysbench(t, tc.script, append(tc.args, "--threads=4", "--time="+strconv.Itoa(seconds), "run")...)
			total, ignored, err := sysbenchCounts(out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if total == 0 {
				t.Fatalf("no queries ran\n%s", out)
			}
			if ignored != 0 && (tc.script != "oltp_read_write" || ignored*1000 > total*perThousand) {
				t.Errorf("queries %d, ignored errors %d; want none\n%s", total, ignored, out)
			}
			t.Logf("%s %v: %d queries, %d ignored errors", tc.script, tc.args, total, ignored)
		})
	}
}

var (
	sbTotal   = regexp.MustCompile(`(?m)^\s+total:\s+(\d+)`)
	sbIgnored = regexp.MustCompile(`(?m)^\s+ignored errors:\s+(\d+)`)
)

// sysbenchCounts reads the total queries and the ignored errors of a run.
func sysbenchCounts(out string) (total, ignored int, err error) {
	var vals [2]int
	for i, re := range []*regexp.Regexp{sbTotal, sbIgnored} {
		m := re.FindStringSubmatch(out)
		if m == nil {
			return 0, 0, fmt.Errorf("sysbench output lacks %s", re)
		}
		vals[i], _ = strconv.Atoi(m[1])
	}
	return vals[0], vals[1], nil
}
