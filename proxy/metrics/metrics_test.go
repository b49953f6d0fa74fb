package metrics

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
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

func TestQueryDuration(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	n1, err := m.Service("rw", []string{"node1"}).Server("node1")
	if err != nil {
		t.Fatal(err)
	}
	n1.Replied(TargetSlave, 200*time.Microsecond)
	n1.Replied(TargetSlave, 3*time.Millisecond)
	n1.Replied(TargetSlave, 40*time.Second) // beyond the last bucket: only +Inf
	n1.Replied(TargetMaster, time.Millisecond)
	h := histogram(t, reg, "maxproxy_query_duration_seconds", "node1", "slave")
	if got := h.GetSampleCount(); got != 3 {
		t.Errorf("count = %d, want 3", got)
	}
	if got, want := h.GetSampleSum(), 40.0032; got < want-1e-9 || got > want+1e-9 {
		t.Errorf("sum = %v, want %v", got, want)
	}
	for _, b := range h.GetBucket() {
		var want uint64
		switch le := b.GetUpperBound(); {
		case le >= 0.005:
			want = 2
		case le >= 0.00025:
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

// The hot path of a routed statement must not allocate.
func TestRoutedAndRepliedDoNotAllocate(t *testing.T) {
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := m.Service("rw", []string{"node1"}).Server("node1")
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		srv.Routed(TargetSlave)
		srv.Replied(TargetSlave, time.Millisecond)
	}); n != 0 {
		t.Errorf("%v allocations per routed statement", n)
	}
}

func TestAuth(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	a := m.Auth("rw")
	m.Auth("ro") // resolved at start: its zeros are exported
	a.LoginFailed()
	a.LoginFailed()
	a.HostBlocked()
	a.BlockedHostRefused()
	a.BlockedHostRefused()
	a.BlockedHostRefused()
	want := `
# HELP maxproxy_auth_failures_total Client logins the proxy refused (wrong password, unknown or locked account, database not allowed or unknown), per service.
# TYPE maxproxy_auth_failures_total counter
maxproxy_auth_failures_total{service="ro"} 0
maxproxy_auth_failures_total{service="rw"} 2
# HELP maxproxy_auth_hosts_blocked_total Times a client host was blocked after max_auth_errors_until_block failed logins, per service.
# TYPE maxproxy_auth_hosts_blocked_total counter
maxproxy_auth_hosts_blocked_total{service="ro"} 0
maxproxy_auth_hosts_blocked_total{service="rw"} 1
# HELP maxproxy_auth_blocked_connections_total Client connections refused because their host was blocked, per service.
# TYPE maxproxy_auth_blocked_connections_total counter
maxproxy_auth_blocked_connections_total{service="ro"} 0
maxproxy_auth_blocked_connections_total{service="rw"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "maxproxy_auth_failures_total",
		"maxproxy_auth_hosts_blocked_total", "maxproxy_auth_blocked_connections_total"); err != nil {
		t.Error(err)
	}
}

func TestListener(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	l := m.Listener("rw-listener", "rw")
	client, server := net.Pipe()
	defer client.Close()
	nc := l.Conn(server)
	if u, ok := nc.(interface{ NetConn() net.Conn }); !ok || u.NetConn() != server {
		t.Error("the counted connection does not lead to the socket beneath (NetConn)")
	}
	if got := testutil.ToFloat64(m.listenerOpen); got != 1 {
		t.Errorf("open connections = %v, want 1", got)
	}
	go func() {
		_, _ = client.Write([]byte("hello"))
		buf := make([]byte, 16)
		_, _ = io.ReadFull(client, buf[:3])
	}()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Close()
	_ = nc.Close() // a second Close must not count the connection closed twice
	want := `
# HELP maxproxy_listener_connections Client connections currently open on a listener (including ones still in their handshake).
# TYPE maxproxy_listener_connections gauge
maxproxy_listener_connections{listener="rw-listener",service="rw"} 0
# HELP maxproxy_listener_connections_total Client connections a listener accepted.
# TYPE maxproxy_listener_connections_total counter
maxproxy_listener_connections_total{listener="rw-listener",service="rw"} 1
# HELP maxproxy_listener_received_bytes_total Bytes read from clients of a listener, as on the wire (TLS included).
# TYPE maxproxy_listener_received_bytes_total counter
maxproxy_listener_received_bytes_total{listener="rw-listener",service="rw"} 5
# HELP maxproxy_listener_sent_bytes_total Bytes written to clients of a listener, as on the wire (TLS included).
# TYPE maxproxy_listener_sent_bytes_total counter
maxproxy_listener_sent_bytes_total{listener="rw-listener",service="rw"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "maxproxy_listener_connections",
		"maxproxy_listener_connections_total", "maxproxy_listener_received_bytes_total", "maxproxy_listener_sent_bytes_total"); err != nil {
		t.Error(err)
	}
}

func TestClassifierAndBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is reported before a classifier is watched.
	if n, err := testutil.GatherAndCount(reg, "maxproxy_classifier_cache_hits_total"); err != nil || n != 0 {
		t.Errorf("unwatched classifier: %d series, %v", n, err)
	}
	st := ClassifierStats{Hits: 90, Misses: 10, Evictions: 2, Fallbacks: 1, Entries: 8, Capacity: 256}
	m.WatchClassifier(func() ClassifierStats { return st })
	st.Hits = 91 // read at scrape time, not at WatchClassifier
	m.SetBuildInfo("1.2.3")
	want := `
# HELP maxproxy_build_info Always 1; the labels name the maxproxy version and the Go version it was built with.
# TYPE maxproxy_build_info gauge
maxproxy_build_info{goversion="` + runtime.Version() + `",version="1.2.3"} 1
# HELP maxproxy_classifier_cache_capacity Most canonical texts the classifier cache holds (classifier_cache_size rounded up).
# TYPE maxproxy_classifier_cache_capacity gauge
maxproxy_classifier_cache_capacity 256
# HELP maxproxy_classifier_cache_entries Canonical texts currently cached.
# TYPE maxproxy_classifier_cache_entries gauge
maxproxy_classifier_cache_entries 8
# HELP maxproxy_classifier_cache_evictions_total Cached classes replaced to make room for new canonical texts.
# TYPE maxproxy_classifier_cache_evictions_total counter
maxproxy_classifier_cache_evictions_total 2
# HELP maxproxy_classifier_cache_hits_total Statements whose class was found in the classifier cache by their canonical text.
# TYPE maxproxy_classifier_cache_hits_total counter
maxproxy_classifier_cache_hits_total 91
# HELP maxproxy_classifier_cache_misses_total Statements the classifier had to parse because their canonical text was not cached.
# TYPE maxproxy_classifier_cache_misses_total counter
maxproxy_classifier_cache_misses_total 10
# HELP maxproxy_classifier_fallbacks_total Parsed statements the SQL parser rejected, classified by the token fallback (sent to the writer).
# TYPE maxproxy_classifier_fallbacks_total counter
maxproxy_classifier_fallbacks_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "maxproxy_build_info",
		"maxproxy_classifier_cache_capacity", "maxproxy_classifier_cache_entries", "maxproxy_classifier_cache_evictions_total",
		"maxproxy_classifier_cache_hits_total", "maxproxy_classifier_cache_misses_total", "maxproxy_classifier_fallbacks_total"); err != nil {
		t.Error(err)
	}
	m.WatchClassifier(nil)
	if n, err := testutil.GatherAndCount(reg, "maxproxy_classifier_cache_hits_total"); err != nil || n != 0 {
		t.Errorf("after WatchClassifier(nil): %d series, %v", n, err)
	}
}

// TestPromtoolCheck scrapes every family over HTTP, as Prometheus does,
// and runs promtool's own linter on the exposition.
func TestPromtoolCheck(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian: prometheus package); the exposition lint needs it")
	}
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	populate(t, m)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// populate creates a series in every family.
func populate(t *testing.T, m *Metrics) {
	t.Helper()
	svc := m.Service("rw", []string{"node1"})
	srv, err := svc.Server("node1")
	if err != nil {
		t.Fatal(err)
	}
	srv.Routed(TargetMaster)
	srv.Replied(TargetSlave, time.Millisecond)
	m.Auth("rw").LoginFailed()
	c1, c2 := net.Pipe()
	defer c2.Close()
	_ = m.Listener("rw-listener", "rw").Conn(c1).Close()
	m.WatchClassifier(func() ClassifierStats { return ClassifierStats{Hits: 1, Capacity: 256} })
	m.SetBuildInfo("test")
}

func histogram(t *testing.T, g prometheus.Gatherer, name, server, target string) *dto.Histogram {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["server"] == server && labels["target"] == target {
				return s.GetHistogram()
			}
		}
	}
	t.Fatalf("no %s{server=%q,target=%q}", name, server, target)
	return nil
}

// BenchmarkRoutedStatement is what the metrics add to each routed
// statement: the count, the two clock reads around the relay and the
// histogram observation.
func BenchmarkRoutedStatement(b *testing.B) {
	m, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := m.Service("rw", []string{"node1"}).Server("node1")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		srv.Routed(TargetSlave)
		start := time.Now()
		srv.Replied(TargetSlave, time.Since(start))
	}
}

// BenchmarkCountedWrite is the cost the listener's byte counting adds to a
// client write (one reply flush).
func BenchmarkCountedWrite(b *testing.B) {
	m, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	c := m.Listener("rw-port", "rw").Conn(nopConn{})
	p := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(p); err != nil {
			b.Fatal(err)
		}
	}
}

// nopConn is a net.Conn whose writes succeed at once.
type nopConn struct{ net.Conn }

func (nopConn) Write(p []byte) (int, error) { return len(p), nil }
