package metrics

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	svc := m.Service("rw", []string{"node1", "node2"})
	n1, err := svc.Server("node1")
	if err != nil {
		t.Fatal(err)
	}
	n1.Routed(TargetMaster)
	n1.Routed(TargetMaster)
	n1.Errors.Inc()
	svc.SessionsTotal.Inc()
	svc.SessionsActive.Inc()
	if _, err := svc.Server("node9"); !errors.Is(err, ErrUnknownServer) {
		t.Errorf("unknown server: %v", err)
	}
	want := `
# HELP maxproxy_queries_routed_total Client commands sent to a server, by service, server and routing target kind.
# TYPE maxproxy_queries_routed_total counter
maxproxy_queries_routed_total{server="node1",service="rw",target="all"} 0
maxproxy_queries_routed_total{server="node1",service="rw",target="connection"} 0
maxproxy_queries_routed_total{server="node1",service="rw",target="hint"} 0
maxproxy_queries_routed_total{server="node1",service="rw",target="master"} 2
maxproxy_queries_routed_total{server="node1",service="rw",target="previous"} 0
maxproxy_queries_routed_total{server="node1",service="rw",target="slave"} 0
maxproxy_queries_routed_total{server="node2",service="rw",target="all"} 0
maxproxy_queries_routed_total{server="node2",service="rw",target="connection"} 0
maxproxy_queries_routed_total{server="node2",service="rw",target="hint"} 0
maxproxy_queries_routed_total{server="node2",service="rw",target="master"} 0
maxproxy_queries_routed_total{server="node2",service="rw",target="previous"} 0
maxproxy_queries_routed_total{server="node2",service="rw",target="slave"} 0
# HELP maxproxy_backend_errors_total Backend connections that failed (connect, login, broken mid-reply, failed session command), per service and server.
# TYPE maxproxy_backend_errors_total counter
maxproxy_backend_errors_total{server="node1",service="rw"} 1
maxproxy_backend_errors_total{server="node2",service="rw"} 0
# HELP maxproxy_sessions Client sessions currently open, per service.
# TYPE maxproxy_sessions gauge
maxproxy_sessions{service="rw"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"maxproxy_queries_routed_total", "maxproxy_backend_errors_total", "maxproxy_sessions"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	// A second set on the same registry is refused, and the first can be
	// removed cleanly.
	if _, err := New(reg); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
	m.Unregister()
	if _, err := New(reg); err != nil {
		t.Errorf("after Unregister: %v", err)
	}
}
