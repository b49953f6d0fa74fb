package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// sysbenchScripts are every OLTP script sysbench 1.0.20 ships.
var sysbenchScripts = []string{
	"oltp_read_write", "oltp_read_only", "oltp_write_only", "oltp_point_select",
	"oltp_update_index", "oltp_update_non_index", "oltp_delete", "oltp_insert",
	"select_random_points", "select_random_ranges", "bulk_insert",
}

// TestNodeSysbench runs every script of an unmodified sysbench 1.0.20
// against one bin/maxnode, with prepared statements (--db-ps-mode=auto,
// the binary protocol) and without (disable): prepare, a short run with 4
// threads, cleanup. Every command must exit 0 and print no FATAL, with no
// reconnect. Only deadlocks (1213) are tolerated, and only where a real
// InnoDB has them too: oltp_read_write and oltp_write_only run
// multi-statement transactions on sysbench's skewed ("special") key
// distribution, where MariaDB 10.11 with the same options reports 7–13
// deadlocks a second. Every other script runs single statements or reads,
// which cannot deadlock: its "ignored errors" must be 0. Any other error
// code fails the command. MAXPROXY_TEST_LONG=1 runs bigger tables for
// longer.
func TestNodeSysbench(t *testing.T) {
	requireMaxnodeBinary(t)
	tools := harness.RequireTools(t, harness.Sysbench)
	bin, err := tools.Path(harness.Sysbench)
	if err != nil {
		t.Fatal(err)
	}
	n := startMaxnode(t, harness.TestScope(t), maxnodeOptions{})
	db := nodeDB(t, n.dsn(""))
	nodeExec(t, db, "CREATE DATABASE sbtest")

	size, runTime := "1000", "2"
	if os.Getenv("MAXPROXY_TEST_LONG") == "1" {
		size, runTime = "20000", "30"
	}
	start := time.Now()
	for _, script := range sysbenchScripts {
		// The select_random_* scripts refuse --tables > 1.
		tables := "--tables=2"
		if strings.HasPrefix(script, "select_random_") {
			tables = "--tables=1"
		}
		sb := sysbenchRunner{bin: bin, addr: n.addr, common: []string{
			tables, "--table-size=" + size, "--threads=4", "--mysql-ignore-errors=1213"}}
		for _, psMode := range []string{"auto", "disable"} {
			t.Run(script+"/ps-mode="+psMode, func(t *testing.T) {
				ps := "--db-ps-mode=" + psMode
				// cleanup runs even when the run failed, so the next
				// script's prepare starts from an empty schema.
				defer sb.mustRun(t, script, ps, "cleanup")
				sb.mustRun(t, script, ps, "prepare")
				res := sb.mustRun(t, script, ps, "--time="+runTime, "run")
				if res.queries == 0 {
					t.Errorf("no queries ran\n%s", clip(res.out))
				}
				if res.reconnects != 0 {
					t.Errorf("%d reconnects; want none\n%s", res.reconnects, clip(res.out))
				}
				deadlocks := script == "oltp_read_write" || script == "oltp_write_only"
				if res.ignored != 0 && (!deadlocks || res.ignored*100 > res.transactions) {
					t.Errorf("%d deadlocks in %d transactions; want none (at most 1%% for %s)\n%s",
						res.ignored, res.transactions, script, clip(res.out))
				}
				t.Logf("%d queries (%.0f/s), %d transactions, %d deadlocks", res.queries, res.qps, res.transactions, res.ignored)
			})
		}
	}
	t.Logf("sysbench matrix: %v", time.Since(start).Round(time.Millisecond))
	// cleanup must have dropped every table its prepare created.
	if rows := nodeQuery(t, db, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sbtest'"); len(rows) != 0 {
		t.Errorf("tables left after cleanup: %v", rows)
	}
}

// requireMaxnodeBinary skips when bin/maxnode is not built and the test is
// not run by the Makefile (which builds it and sets MAXPROXY_BIN); under
// the Makefile a missing binary fails in startMaxnode.
func requireMaxnodeBinary(t testing.TB) {
	t.Helper()
	if os.Getenv("MAXPROXY_BIN") == "" {
		if _, err := harness.RepoBinary("maxnode"); err != nil {
			t.Skipf("bin/maxnode not built (make build, or make test-integration, builds it): %v", err)
		}
	}
}

// sysbenchRunner runs sysbench against one server as the app account in
// database sbtest.
type sysbenchRunner struct {
	bin    string
	addr   string
	common []string
}

// sysbenchResult is what a run's report says.
type sysbenchResult struct {
	out                   string
	queries, transactions int
	ignored, reconnects   int
	qps, tps, p95ms       float64
}

var (
	sbQueries      = regexp.MustCompile(`(?m)^\s+queries:\s+(\d+)\s+\((\d+(?:\.\d+)?) per sec\.\)`)
	sbTransactions = regexp.MustCompile(`(?m)^\s+transactions:\s+(\d+)\s+\((\d+(?:\.\d+)?) per sec\.\)`)
	sbIgnoredErrs  = regexp.MustCompile(`(?m)^\s+ignored errors:\s+(\d+)`)
	sbReconnects   = regexp.MustCompile(`(?m)^\s+reconnects:\s+(\d+)`)
	sbP95          = regexp.MustCompile(`(?m)^\s+95th percentile:\s+(\d+(?:\.\d+)?)`)
)

// run runs one sysbench command and returns its combined output; a
// non-zero exit or a FATAL line is an error.
func (r sysbenchRunner) run(ctx context.Context, script string, args ...string) (string, error) {
	host, port, _ := strings.Cut(r.addr, ":")
	argv := append([]string{script, "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=" + harness.AppAccount.User, "--mysql-password=" + harness.AppAccount.Password,
		"--mysql-db=sbtest"}, r.common...)
	argv = append(argv, args...)
	b, err := exec.CommandContext(ctx, r.bin, argv...).CombinedOutput()
	out := string(b)
	if err != nil {
		return out, fmt.Errorf("sysbench %s: %w\n%s", strings.Join(argv, " "), err, clip(out))
	}
	if strings.Contains(out, "FATAL") {
		return out, fmt.Errorf("sysbench %s printed FATAL\n%s", strings.Join(argv, " "), clip(out))
	}
	return out, nil
}

// clip shortens every line of sysbench's output to what a reader needs:
// its FATAL lines quote whole multi-row INSERTs.
func clip(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "..."
		}
	}
	return strings.Join(lines, "\n")
}

// mustRun runs a command and, for "run", parses the report.
func (r sysbenchRunner) mustRun(t testing.TB, script string, args ...string) sysbenchResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	out, err := r.run(ctx, script, args...)
	if err != nil {
		t.Fatal(err)
	}
	res := sysbenchResult{out: out}
	if args[len(args)-1] != "run" {
		return res
	}
	if res, err = parseSysbench(out); err != nil {
		t.Fatal(err)
	}
	return res
}

// parseSysbench reads the counters of a run's report.
func parseSysbench(out string) (sysbenchResult, error) {
	res := sysbenchResult{out: out}
	for _, f := range []struct {
		re  *regexp.Regexp
		n   *int
		per *float64
	}{
		{sbQueries, &res.queries, &res.qps},
		{sbTransactions, &res.transactions, &res.tps},
		{sbIgnoredErrs, &res.ignored, nil},
		{sbReconnects, &res.reconnects, nil},
	} {
		m := f.re.FindStringSubmatch(out)
		if m == nil {
			return res, fmt.Errorf("sysbench report lacks %s\n%s", f.re, out)
		}
		*f.n, _ = strconv.Atoi(m[1])
		if f.per != nil {
			*f.per, _ = strconv.ParseFloat(m[2], 64)
		}
	}
	if m := sbP95.FindStringSubmatch(out); m != nil {
		res.p95ms, _ = strconv.ParseFloat(m[1], 64)
	}
	return res, nil
}
