package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// BenchmarkProxySysbench compares three ways to reach the shared Galera
// cluster with sysbench oltp_point_select, oltp_read_only and
// oltp_read_write at 4 and 64 threads: directly on the writer node,
// through HAProxy in TCP mode over all three nodes, and through
// bin/maxproxy's readwritesplit. For each workload it alternates the
// three targets inside one loop on the same prepared tables, so that load
// from elsewhere on the machine hits all of them, and reports each
// target's queries per second and 95th-percentile latency and the
// maxproxy/haproxy and maxproxy/direct qps ratios; at the end it logs the
// whole table with the load average to standard output. sysbench ignores (and counts) the
// deadlock and certification-conflict errors 1213/1205/1020, which
// HAProxy's writes on every node provoke.
//
// `make bench` runs it. MAXPROXY_BENCH_SECONDS sets the length of each
// sysbench run (default 10; 18 runs per round) and MAXPROXY_BENCH_ROUNDS
// the number of alternations (default 1).
func BenchmarkProxySysbench(b *testing.B) {
	if os.Getenv("MAXPROXY_BIN") == "" {
		if _, err := harness.RepoBinary("maxproxy"); err != nil {
			b.Skipf("bin/maxproxy not built (make bench builds it): %v", err)
		}
	}
	tools := harness.RequireTools(b, harness.Sysbench, harness.HAProxy)
	sbBin, err := tools.Path(harness.Sysbench)
	if err != nil {
		b.Fatal(err)
	}
	haBin, err := tools.Path(harness.HAProxy)
	if err != nil {
		b.Fatal(err)
	}
	seconds := envInt(b, "MAXPROXY_BENCH_SECONDS", 10)
	nRounds := envInt(b, "MAXPROXY_BENCH_ROUNDS", 1)

	g := galera3.Get(b)
	scope := harness.TestScope(b)
	proxy := startBenchProxy(b, scope, g)
	targets := []struct {
		name string
		sb   sysbenchRunner
	}{
		{"direct", sysbenchRunner{bin: sbBin, addr: proxyWriter(b, proxy, g)}},
		{"haproxy", sysbenchRunner{bin: sbBin, addr: startHAProxy(b, scope, haBin, g)}},
		{"maxproxy", sysbenchRunner{bin: sbBin, addr: proxy}},
	}
	tables := []string{"--tables=4", "--table-size=10000", "--db-ps-mode=auto"}
	for i := range targets {
		targets[i].sb.common = tables
	}
	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Minute)
	defer cancel()

	admin := nodeDB(b, harness.TCPDSN(targets[0].sb.addr, harness.AppAccount.User, harness.AppAccount.Password, ""))
	nodeExec(b, admin, "DROP DATABASE IF EXISTS sbtest")
	nodeExec(b, admin, "CREATE DATABASE sbtest")
	b.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS sbtest") })
	if out, err := targets[0].sb.run(ctx, "oltp_read_write", "--threads=4", "prepare"); err != nil {
		b.Fatalf("prepare: %v\n%s", err, clip(out))
	}
	if err := g.WaitSynced(ctx); err != nil {
		b.Fatal(err)
	}

	type row struct {
		workload string
		threads  int
		qps, p95 [3]float64
		ignored  [3]int
	}
	var table []row
	loadBefore := loadAverage()
	for _, script := range []string{"oltp_point_select", "oltp_read_only", "oltp_read_write"} {
		b.Run(script, func(b *testing.B) {
			for _, threads := range []int{4, 64} {
				b.Run("threads="+strconv.Itoa(threads), func(b *testing.B) {
					r := row{workload: script, threads: threads}
					runs := 0
					for range b.N {
						for round := range nRounds {
							for i, tg := range targets {
								out, err := tg.sb.run(ctx, script, "--threads="+strconv.Itoa(threads), "--time="+strconv.Itoa(seconds), "run")
								if err != nil {
									b.Fatalf("%s: %v", tg.name, err)
								}
								res, err := parseSysbench(out)
								if err != nil {
									b.Fatalf("%s: %v", tg.name, err)
								}
								if res.queries == 0 {
									b.Fatalf("%s: no queries ran\n%s", tg.name, clip(out))
								}
								b.Logf("round %d %s: %.0f queries/s, p95 %.2f ms, %d ignored errors",
									round+1, tg.name, res.qps, res.p95ms, res.ignored)
								r.qps[i] += res.qps
								r.p95[i] += res.p95ms
								r.ignored[i] += res.ignored
							}
							runs++
						}
					}
					for i, tg := range targets {
						r.qps[i] /= float64(runs)
						r.p95[i] /= float64(runs)
						b.ReportMetric(r.qps[i], tg.name+"-qps")
						b.ReportMetric(r.p95[i], tg.name+"-p95-ms")
					}
					b.ReportMetric(r.qps[2]/r.qps[1], "maxproxy/haproxy")
					b.ReportMetric(r.qps[2]/r.qps[0], "maxproxy/direct")
					// The time per b.N iteration is that of nRounds x 3
					// fixed-length sysbench runs: no information.
					b.ReportMetric(0, "ns/op")
					table = append(table, r)
				})
			}
		})
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "sysbench %ds x %d round(s), --tables=4 --table-size=10000, ps-mode auto; load average before %s, after %s\n",
		seconds, nRounds, loadBefore, loadAverage())
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "workload\tthreads\tdirect qps\thaproxy qps\tmaxproxy qps\tmaxproxy/haproxy\tmaxproxy/direct\tp95 ms d/h/m\tignored errors d/h/m\t")
	for _, r := range table {
		fmt.Fprintf(w, "%s\t%d\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%.1f/%.1f/%.1f\t%d/%d/%d\t\n", r.workload, r.threads,
			r.qps[0], r.qps[1], r.qps[2], r.qps[2]/r.qps[1], r.qps[2]/r.qps[0],
			r.p95[0], r.p95[1], r.p95[2], r.ignored[0], r.ignored[1], r.ignored[2])
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	// A parent benchmark's log is not shown when its sub-benchmarks pass,
	// and this table is the point of the run.
	fmt.Print(sb.String())
}
