package consensus

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	c := newCluster(t, 14, 3, nil)
	lead := c.leader(1, 2, 3)
	c.mustPropose(lead, "x")
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewCollector(c.nodes[lead])); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP maxnode_raft_leader 1 if this node is the raft leader.
# TYPE maxnode_raft_leader gauge
maxnode_raft_leader 1
`), "maxnode_raft_leader"); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 10 {
		t.Fatalf("%d metric families, want 10", len(families))
	}
	for _, f := range families {
		if f.GetName() == "maxnode_raft_proposals_total" && f.GetMetric()[0].GetCounter().GetValue() < 1 {
			t.Fatalf("proposals_total %v after a proposal", f.GetMetric()[0].GetCounter().GetValue())
		}
	}
}
