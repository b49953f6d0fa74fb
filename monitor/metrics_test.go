package monitor

import (
	"maps"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestServerStateBits: every state bit of every server is exported, and
// follows the published state (a failover moves master; maintenance shows).
func TestServerStateBits(t *testing.T) {
	h := newRig(t, Options{}, 2, nil)
	h.next()
	want := func(server string, on ...string) {
		t.Helper()
		set := map[string]bool{}
		for _, s := range on {
			set[s] = true
		}
		for _, l := range stateLabels {
			v := 0.0
			if set[l.label] {
				v = 1
			}
			if got := testutil.ToFloat64(h.m.metrics.serverState.WithLabelValues(server, l.label)); got != v {
				t.Errorf("%s state %s = %v, want %v", server, l.label, got, v)
			}
		}
	}
	want("s1", "running", "synced", "master")
	want("s2", "running", "synced", "slave")
	if n := testutil.CollectAndCount(h.m.metrics.serverState); n != 2*len(stateLabels) {
		t.Errorf("%d state series, want %d", n, 2*len(stateLabels))
	}

	h.fakes["s1"].set(nil)
	if err := h.m.SetMaintenance("s1"); err != nil {
		t.Fatal(err)
	}
	h.next() // SetMaintenance wakes a round
	want("s1", "maintenance")
	want("s2", "running", "synced", "master")
}

// TestFlowControlSentCountsDeltas: the counter grows by what the node's
// cumulative counter grew between probes, starts from the first probe
// rather than the node's history, and survives a node restart.
func TestFlowControlSentCountsDeltas(t *testing.T) {
	h := newRig(t, Options{}, 1, func(h *rig) {
		h.fakes["s1"].status["wsrep_flow_control_sent"] = "100"
	})
	h.next()
	fc := func() float64 { return testutil.ToFloat64(h.m.metrics.fcSent.WithLabelValues("s1")) }
	if got := fc(); got != 0 {
		t.Fatalf("after the first probe: %v, want 0 (its 100 are the node's history)", got)
	}
	for _, step := range []struct {
		sent string
		want float64
	}{
		{"107", 7},
		{"107", 7},
		{"3", 10}, // the node restarted: its 3 are new
		{"5", 12},
	} {
		st := maps.Clone(synced(0))
		st["wsrep_flow_control_sent"] = step.sent
		h.fakes["s1"].set(st)
		h.round()
		if got := fc(); got != step.want {
			t.Errorf("after wsrep_flow_control_sent = %s: counter %v, want %v", step.sent, got, step.want)
		}
	}
	const help = `
# HELP maxproxy_monitor_wsrep_flow_control_sent_total Growth of wsrep_flow_control_sent between probes (the node asked the cluster to pause); counted from the first probe, across node restarts.
# TYPE maxproxy_monitor_wsrep_flow_control_sent_total counter
maxproxy_monitor_wsrep_flow_control_sent_total{monitor="galera",server="s1"} 12
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(help), "maxproxy_monitor_wsrep_flow_control_sent_total"); err != nil {
		t.Error(err)
	}
}
