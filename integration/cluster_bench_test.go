//go:build integration

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

// BenchmarkClusterVsGalera runs sysbench oltp_read_write and
// oltp_write_only against a 3-node bin/maxnode cluster and a 3-node
// MariaDB Galera cluster on this machine in the same run, at 4 and 16
// threads, with every client on node 1 ("one") and with clients spread
// over the three nodes ("spread": sysbench hands out its connections
// round-robin over the port list). The two clusters alternate run by run
// so that load from elsewhere on the machine hits both. It reports each
// cluster's queries per second and the maxnode/Galera ratio per case, and
// logs a table at the end.
//
// Both clusters run innodb_flush_log_at_trx_commit=2 (the harness's
// MariaDB setting; Galera's durability is the replication itself), but
// maxnode's raft log is always fsynced before a write-set is ordered,
// which Galera's group communication never does: the comparison favours
// Galera on durability cost. Spread runs write on every node, so both
// clusters see certification conflicts; sysbench retries them and they
// are reported as ignored errors.
//
// `make bench` runs it; MAXPROXY_BENCH_SECONDS sets each run's length
// (default 5) and MAXPROXY_BENCH_ROUNDS the number of alternations
// (default 2).
func BenchmarkClusterVsGalera(b *testing.B) {
	requireMaxnodeBinary(b)
	tools := harness.RequireTools(b, harness.Sysbench)
	harness.RequireGalera(b)
	bin, err := tools.Path(harness.Sysbench)
	if err != nil {
		b.Fatal(err)
	}
	seconds := envInt(b, "MAXPROXY_BENCH_SECONDS", 5)
	nRounds := envInt(b, "MAXPROXY_BENCH_ROUNDS", 2)

	galera := harness.StartGalera(b, 3, harness.GaleraOptions{})
	maxnode := harness.StartMaxnodeCluster(b, 3, harness.MaxnodeOptions{Settings: []string{
		"innodb_flush_log_at_trx_commit = 2", "max_connections = 500",
	}})
	clusters := []struct {
		name  string
		nodes []harness.Node
	}{
		{"maxnode", maxnode.Nodes()},
		{"galera", galera.Nodes()},
	}

	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Minute)
	defer cancel()
	common := []string{"--tables=4", "--table-size=10000", "--db-ps-mode=auto"}
	for _, c := range clusters {
		first := c.nodes[0]
		db := nodeDB(b, harness.TCPDSN(first.Addr(), harness.AppAccount.User, harness.AppAccount.Password, ""))
		nodeExec(b, db, "CREATE DATABASE sbtest")
		sb := sysbenchRunner{bin: bin, addr: first.Addr(), common: common}
		if out, err := sb.run(ctx, "oltp_read_write", "prepare"); err != nil {
			b.Fatalf("%s: %v\n%s", c.name, err, clip(out))
		}
		if err := waitTablesEverywhere(ctx, c.nodes, 4, 10000); err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		// The first writes after prepare pay for catch-up work (maxnode's
		// apply queue and log, InnoDB's buffer pool); a short unmeasured
		// run keeps that out of the first measured one.
		if out, err := sb.run(ctx, "oltp_write_only", "--threads=4", "--time=2", "run"); err != nil {
			b.Fatalf("%s warm-up: %v\n%s", c.name, err, clip(out))
		}
	}

	type row struct {
		name         string
		qps, ignored [2]float64
	}
	var rows []row
	for _, script := range []string{"oltp_read_write", "oltp_write_only"} {
		for _, threads := range []int{4, 16} {
			for _, placement := range []string{"one", "spread"} {
				name := fmt.Sprintf("%s/threads=%d/%s", script, threads, placement)
				b.Run(name, func(b *testing.B) {
					var r row
					r.name = name
					for range b.N {
						for round := range nRounds {
							for i, c := range clusters {
								sb := sysbenchRunner{bin: bin, addr: sysbenchAddr(c.nodes, placement), common: common}
								out, err := sb.run(ctx, script, "--threads="+strconv.Itoa(threads),
									"--time="+strconv.Itoa(seconds), "run")
								if err != nil {
									b.Fatalf("%s: %v\n%s", c.name, err, clip(out))
								}
								res, err := parseSysbench(out)
								if err != nil {
									b.Fatal(err)
								}
								b.Logf("round %d %s %s: %.0f queries/s, p95 %.2f ms, %d ignored errors",
									round+1, name, c.name, res.qps, res.p95ms, res.ignored)
								r.qps[i] += res.qps
								r.ignored[i] += float64(res.ignored)
							}
						}
					}
					runs := float64(b.N * nRounds)
					b.ReportMetric(r.qps[0]/runs, "maxnode-qps")
					b.ReportMetric(r.qps[1]/runs, "galera-qps")
					b.ReportMetric(r.qps[0]/r.qps[1], "maxnode/galera")
					r.qps[0], r.qps[1] = r.qps[0]/runs, r.qps[1]/runs
					r.ignored[0], r.ignored[1] = r.ignored[0]/runs, r.ignored[1]/runs
					rows = append(rows, r)
				})
			}
		}
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "case\tmaxnode qps\tgalera qps\tmaxnode/galera\tignored errors m/g per run\t")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%.2f\t%.0f/%.0f\t\n", r.name, r.qps[0], r.qps[1], r.qps[0]/r.qps[1], r.ignored[0], r.ignored[1])
	}
	_ = w.Flush()
}

// sysbenchAddr is the host:port sysbenchRunner passes on: node 1 alone,
// or every node's port as sysbench's --mysql-port list (all nodes listen
// on the same loopback host), which sysbench cycles through per
// connection.
func sysbenchAddr(nodes []harness.Node, placement string) string {
	if placement == "one" {
		return nodes[0].Addr()
	}
	ports := make([]string, len(nodes))
	for i, n := range nodes {
		ports[i] = strconv.Itoa(n.Port())
	}
	return "127.0.0.1:" + strings.Join(ports, ",")
}

// waitTablesEverywhere waits until every node has replicated sysbench's
// prepared rows, so that the first timed run does not measure catch-up.
func waitTablesEverywhere(ctx context.Context, nodes []harness.Node, tables, rows int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	want := strconv.Itoa(rows)
	for _, n := range nodes {
		for t := 1; t <= tables; t++ {
			q := fmt.Sprintf("SELECT COUNT(*) FROM sbtest.sbtest%d", t)
			for {
				got, err := n.QueryString(ctx, q)
				if err == nil && got == want {
					break
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("%s: %s = %q, want %s (last error %v): %w", n.Name(), q, got, want, err, ctx.Err())
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
	}
	return nil
}
