package integration

import (
	"testing"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestProxySysbenchMaxnode runs sysbench 1.0.20 through readwritesplit over
// a 3-node maxnode cluster, as TestProxySysbench does over MariaDB Galera:
// the proxy cannot tell the two apart, so the same scripts must run without
// an error, reads must reach the readers and writes the writer.
func TestProxySysbenchMaxnode(t *testing.T) {
	requireMaxnodeBinary(t)
	c := harness.StartMaxnodeCluster(t, 3, harness.MaxnodeOptions{})
	p := startProxyOn(t, c.Nodes(), "")
	mustExec(t, sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", "")), "CREATE DATABASE sbtest")
	// As on Galera, oltp_read_write's transactions conflict now and then on
	// the writer (1213, which sysbench retries); reads never.
	proxySysbench(t, p.rw, 3, 10, []sysbenchCase{
		{"oltp_read_write", []string{"--db-ps-mode=auto"}},
		{"oltp_read_write", []string{"--db-ps-mode=disable"}},
		{"oltp_read_only", []string{"--db-ps-mode=auto", "--skip-trx=on"}},
		{"oltp_point_select", []string{"--db-ps-mode=disable"}},
	})

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
