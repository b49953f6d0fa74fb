package server

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestMetricsWiring: the families the server wires up (listener traffic,
// authentication failures, response times, the classifier, the build)
// move with real client traffic.
func TestMetricsWiring(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := startProxyWith(t, nil, Options{Registerer: reg, Version: "test-1"})
	ctx := ctxFor(t, time.Minute)

	// One refused login.
	bad, err := sql.Open("mysql", harness.TCPDSN(p.addr, "app", "wrong", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.PingContext(ctx); err == nil {
		t.Fatal("login with a wrong password succeeded")
	} else if me, ok := err.(*driver.MySQLError); !ok || me.Number != 1045 {
		t.Fatalf("wrong password: %v, want error 1045", err)
	}

	c := p.conn(t, ctx)
	for range 5 {
		queryString(t, ctx, c, "SELECT 1")
	}
	mustExec(t, ctx, c, "SET @x = 1")

	// A reply reaches the client before its relay returns and is timed,
	// and a session command's copies to the other backends run after the
	// client has its answer: the counts agree once the session is idle.
	var got gathered
	err = harness.Poll(ctx, "every routed command timed", 10*time.Millisecond, func(context.Context) error {
		got = gatherValues(t, reg)
		var routed float64
		for _, srv := range []string{"writer", "reader"} {
			routed += got.sum("maxproxy_queries_routed_total", srv)
		}
		if h := got.histCount("maxproxy_query_duration_seconds"); h != routed {
			return fmt.Errorf("%v timed, %v routed", h, routed)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if v := got.value("maxproxy_auth_failures_total", "rw"); v != 1 {
		t.Errorf("auth failures = %v, want 1", v)
	}
	if v := got.value("maxproxy_listener_connections_total", "rw-port"); v < 2 {
		t.Errorf("accepted connections = %v, want at least 2 (one refused, one session)", v)
	}
	if v := got.value("maxproxy_listener_connections", "rw-port"); v < 1 {
		t.Errorf("open connections = %v, want at least the session's", v)
	}
	// A handshake and six statements each way: a few hundred bytes.
	if in, out := got.value("maxproxy_listener_received_bytes_total", "rw-port"), got.value("maxproxy_listener_sent_bytes_total", "rw-port"); in < 100 || out < 100 {
		t.Errorf("client bytes received %v, sent %v: want both above 100", in, out)
	}
	var routed float64
	for _, srv := range []string{"writer", "reader"} {
		routed += got.sum("maxproxy_queries_routed_total", srv)
	}
	if hist := got.histCount("maxproxy_query_duration_seconds"); routed < 6 || hist != routed {
		t.Errorf("response-time observations %v, routed commands %v: want equal and at least 6", hist, routed)
	}
	// The reads were timed as slave reads on the reader.
	if r, h := got.labelled("maxproxy_queries_routed_total", map[string]string{"server": "reader", "target": "slave"}),
		got.histCountOf("maxproxy_query_duration_seconds", map[string]string{"server": "reader", "target": "slave"}); r < 5 || h != r {
		t.Errorf("reads on the reader: %v routed, %v timed", r, h)
	}
	if hits, misses := got.value("maxproxy_classifier_cache_hits_total", ""), got.value("maxproxy_classifier_cache_misses_total", ""); hits < 4 || misses < 1 {
		t.Errorf("classifier hits %v misses %v: want 4 repeats of SELECT 1 to hit", hits, misses)
	}
	if v := got.labelled("maxproxy_build_info", map[string]string{"version": "test-1", "goversion": runtime.Version()}); v != 1 {
		t.Errorf("build info = %v, want 1 for version test-1", v)
	}
}

// gathered holds a registry's families by name.
type gathered map[string]*dto.MetricFamily

func gatherValues(t *testing.T, g prometheus.Gatherer) gathered {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := gathered{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return 0
}

// labelled sums the series of family name carrying every label in want.
func (g gathered) labelled(name string, want map[string]string) float64 {
	var sum float64
	for _, m := range g[name].GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if match {
			sum += metricValue(m)
		}
	}
	return sum
}

// value reads the series whose service, listener or server label is
// owner ("" for an unlabelled family).
func (g gathered) value(name, owner string) float64 {
	for _, m := range g[name].GetMetric() {
		if len(m.GetLabel()) == 0 && owner == "" {
			return metricValue(m)
		}
		for _, lp := range m.GetLabel() {
			if lp.GetValue() == owner {
				return metricValue(m)
			}
		}
	}
	return -1
}

func (g gathered) sum(name, server string) float64 {
	return g.labelled(name, map[string]string{"server": server})
}

func (g gathered) histCount(name string) float64 { return g.histCountOf(name, nil) }

// histCountOf adds the observation counts of the histograms of family name
// carrying every label in want.
func (g gathered) histCountOf(name string, want map[string]string) float64 {
	var n uint64
	for _, m := range g[name].GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if match {
			n += m.GetHistogram().GetSampleCount()
		}
	}
	return float64(n)
}
