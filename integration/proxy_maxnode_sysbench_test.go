package integration

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestProxySysbenchMaxnode runs sysbench 1.0.20 through readwritesplit over
// a 3-node maxnode cluster, as TestProxySysbench does over MariaDB Galera:
// the proxy cannot tell the two apart, so the same scripts must run without
// an error, reads must reach the readers and writes the writer.
func TestProxySysbenchMaxnode(t *testing.T) {
	requireMaxnodeBinary(t)
	tools := harness.RequireTools(t, harness.Sysbench)
	bin, err := tools.Path(harness.Sysbench)
	if err != nil {
		t.Fatal(err)
	}
	c := harness.StartMaxnodeCluster(t, 3, harness.MaxnodeOptions{})
	p := startProxyOn(t, c.Nodes(), "")
	mustExec(t, sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", "")), "CREATE DATABASE sbtest")

	host, port, _ := strings.Cut(p.rw, ":")
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

	for _, tc := range []struct {
		script string
		args   []string
	}{
		{"oltp_read_write", []string{"--db-ps-mode=auto"}},
		{"oltp_read_write", []string{"--db-ps-mode=disable"}},
		{"oltp_read_only", []string{"--db-ps-mode=auto", "--skip-trx=on"}},
		{"oltp_point_select", []string{"--db-ps-mode=disable"}},
	} {
		t.Run(tc.script+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			out := sysbench(t, tc.script, append(tc.args, "--threads=4", "--time=3", "run")...)
			total, ignored, err := sysbenchCounts(out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if total == 0 {
				t.Fatalf("no queries ran\n%s", out)
			}
			// As on Galera: oltp_read_write's transactions conflict now and
			// then on the writer (1213, which sysbench retries); reads never.
			if ignored != 0 && (tc.script != "oltp_read_write" || ignored > total/100) {
				t.Errorf("queries %d, ignored errors %d\n%s", total, ignored, out)
			}
			t.Logf("%s %v: %d queries, %d ignored errors", tc.script, tc.args, total, ignored)
		})
	}

	master, slaves := roles(t, p)
	if got := p.routed(t, "rw", master, "master"); got == 0 {
		t.Errorf("no statement was routed to the writer %s", master)
	}
	var reads float64
	for _, s := range slaves {
		reads += p.routed(t, "rw", s, "slave")
		if w := p.routed(t, "rw", s, "master"); w != 0 {
			t.Errorf("%s, a reader, got %v statements as the writer", s, w)
		}
	}
	if reads == 0 {
		t.Errorf("no read was routed to the readers %v", slaves)
	}
}
