package integration

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// BenchmarkNodeVsMariaDB runs sysbench oltp_point_select and
// oltp_read_write (4 threads, prepared statements) against bin/maxnode
// and a plain MariaDB 10.11 on this machine in the same run, alternating
// between them so that load from elsewhere on the machine hits both, and
// reports each server's queries per second, 95th-percentile latency and
// the maxnode/MariaDB ratios. Both run innodb_flush_log_at_trx_commit=2,
// the harness's MariaDB setting. `make bench` runs it;
// MAXPROXY_BENCH_SECONDS sets the length of each run (default 5) and
// MAXPROXY_BENCH_ROUNDS the number of alternations (default 3).
func BenchmarkNodeVsMariaDB(b *testing.B) {
	requireMaxnodeBinary(b)
	tools := harness.RequireTools(b, harness.Sysbench)
	bin, err := tools.Path(harness.Sysbench)
	if err != nil {
		b.Fatal(err)
	}
	seconds := envInt(b, "MAXPROXY_BENCH_SECONDS", 5)
	nRounds := envInt(b, "MAXPROXY_BENCH_ROUNDS", 3)

	ref := harness.StartMariaDB(b, harness.MariaDBOptions{Name: "reference"})
	n := startMaxnode(b, harness.TestScope(b), maxnodeOptions{Settings: []string{
		"innodb_flush_log_at_trx_commit = 2", "max_connections = 500",
	}})
	servers := []struct {
		name string
		sb   sysbenchRunner
	}{
		{"maxnode", sysbenchRunner{bin: bin, addr: n.addr}},
		{"mariadb", sysbenchRunner{bin: bin, addr: ref.Addr()}},
	}
	common := []string{"--tables=4", "--table-size=10000", "--threads=4", "--db-ps-mode=auto"}
	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Minute)
	defer cancel()
	for i := range servers {
		servers[i].sb.common = common
		nodeExec(b, nodeDB(b, harness.TCPDSN(servers[i].sb.addr, harness.AppAccount.User, harness.AppAccount.Password, "")), "CREATE DATABASE sbtest")
		if out, err := servers[i].sb.run(ctx, "oltp_read_write", "prepare"); err != nil {
			b.Fatalf("%s: %v\n%s", servers[i].name, err, clip(out))
		}
	}

	for _, script := range []string{"oltp_point_select", "oltp_read_write"} {
		b.Run(script, func(b *testing.B) {
			var qps, p95 [2]float64
			for range b.N {
				for round := range nRounds {
					for i, s := range servers {
						out, err := s.sb.run(ctx, script, "--time="+strconv.Itoa(seconds), "run")
						if err != nil {
							b.Fatalf("%s: %v", s.name, err)
						}
						res, err := parseSysbench(out)
						if err != nil {
							b.Fatal(err)
						}
						b.Logf("round %d %s %s: %.0f queries/s, p95 %.2f ms, %d ignored errors",
							round+1, script, s.name, res.qps, res.p95ms, res.ignored)
						qps[i] += res.qps
						p95[i] += res.p95ms
					}
				}
			}
			runs := float64(b.N * nRounds)
			b.ReportMetric(qps[0]/runs, "maxnode-qps")
			b.ReportMetric(qps[1]/runs, "mariadb-qps")
			b.ReportMetric(qps[0]/qps[1], "qps-ratio")
			b.ReportMetric(p95[0]/runs, "maxnode-p95-ms")
			b.ReportMetric(p95[1]/runs, "mariadb-p95-ms")
			b.ReportMetric(p95[0]/p95[1], "p95-ratio")
		})
	}
}

// envInt reads a positive number from the environment, or def.
func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}
