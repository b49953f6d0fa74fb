//go:build integration

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/proxy/server"
)

// observedProxy is a proxy in front of the shared cluster with its
// Prometheus endpoint and admin API on loopback ports, registered the way
// `maxproxy serve` registers (Go and process collectors beside the
// proxy's own). stop ends it before the test does (for restarts).
type observedProxy struct {
	*runningProxy
	metricsURL string
	adminAddr  string
	stop       func()
}

// startObservedProxy runs such a proxy with its state in datadir.
func startObservedProxy(t *testing.T, datadir string) *observedProxy {
	t.Helper()
	g := galera3.Get(t)
	ports, err := harness.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	text := proxyConfig(t, g.Nodes(), ports[0], ports[1], "", "")
	cfg, err := config.Parse("maxproxy.toml", []byte(text))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	cfg.Proxy.DataDir = datadir
	cfg.Metrics.Enabled, cfg.Metrics.Listen = true, "127.0.0.1:0"
	cfg.Admin.Enabled, cfg.Admin.Listen = true, "127.0.0.1:0"
	cfg.Admin.User, cfg.Admin.Password = "ops", adminITPassword
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p := &observedProxy{runningProxy: &runningProxy{reg: reg}}
	p.srv, err = server.New(cfg, server.Options{Logger: testLogger(t), Registerer: reg, Gatherer: reg,
		ShutdownTimeout: 5 * time.Second, Version: "it-metrics"})
	if err != nil {
		t.Fatal(err)
	}
	p.rw, p.ro = p.srv.Addr("rw-port").String(), p.srv.Addr("ro-port").String()
	p.metricsURL = "http://" + p.srv.MetricsAddr().String() + "/metrics"
	p.adminAddr = p.srv.AdminAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.srv.Run(ctx) }()
	stopped := false
	p.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("proxy Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("proxy did not shut down within 30s")
		}
	}
	t.Cleanup(p.stop)
	db := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	err = harness.Poll(ctxFor(t, 30*time.Second), "proxy running a statement", 100*time.Millisecond, func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, "DO 1")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return p
}

// scrape fetches /metrics over HTTP as Prometheus would and parses it with
// Prometheus's own text parser.
func (p *observedProxy) scrape(t *testing.T) (scraped, []byte) {
	t.Helper()
	resp, err := http.Get(p.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", p.metricsURL, resp.Status, err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	return scraped(families), body
}

// scraped is a parsed scrape by family name.
type scraped map[string]*dto.MetricFamily

// series returns the series of family name carrying every label in want.
func (s scraped) series(name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range s[name].GetMetric() {
		if matchLabels(m, want) {
			out = append(out, m)
		}
	}
	return out
}

// sum adds the values (a histogram's count) of the matching series.
func (s scraped) sum(name string, want map[string]string) float64 {
	var v float64
	for _, m := range s.series(name, want) {
		switch {
		case m.GetCounter() != nil:
			v += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			v += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		case m.GetUntyped() != nil:
			v += m.GetUntyped().GetValue()
		}
	}
	return v
}

// TestProxyMetrics runs sysbench through a proxy in front of the real
// Galera cluster and reads the proxy's /metrics as Prometheus would: the
// scrape parses and passes `promtool check metrics`, and its values agree
// with what happened (reads on the readers, writes on the writer, one
// response time per routed statement, one refused login, the monitor's view
// of every node, a classifier cache that mostly hits).
func TestProxyMetrics(t *testing.T) {
	tools := harness.RequireTools(t, harness.Sysbench)
	bin, err := tools.Path(harness.Sysbench)
	if err != nil {
		t.Fatal(err)
	}
	p := startObservedProxy(t, t.TempDir())
	ctx := ctxFor(t, 3*time.Minute)
	admin := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	mustExec(t, admin, "CREATE DATABASE IF NOT EXISTS sbmetrics")
	admin.Close() // no idle session left behind: see the wait below
	t.Cleanup(func() {
		mustExec(t, sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", "")), "DROP DATABASE IF EXISTS sbmetrics")
	})

	// One refused login.
	bad := sqlOpen(t, harness.TCPDSN(p.rw, "app", "not-the-password", ""))
	var me *driver.MySQLError
	if err := bad.PingContext(ctx); !errors.As(err, &me) || me.Number != 1045 {
		t.Fatalf("login with a wrong password: %v, want error 1045", err)
	}

	host, port, _ := strings.Cut(p.rw, ":")
	common := []string{"--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=sbmetrics", "--tables=1", "--table-size=1000"}
	for _, args := range [][]string{
		{"oltp_read_write", "prepare"},
		{"oltp_read_write", "--threads=4", "--time=5", "--db-ps-mode=disable", "run"},
	} {
		out, err := exec.CommandContext(ctx, bin, append(append([]string{args[0]}, common...), args[1:]...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("sysbench %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// Wait for every session to end: the last relays of a session (its
	// COM_QUIT) are counted after sysbench has exited.
	var s scraped
	var body []byte
	err = harness.Poll(ctx, "the rw sessions to end", 20*time.Millisecond, func(context.Context) error {
		s, body = p.scrape(t)
		if n := s.sum("maxproxy_sessions", map[string]string{"service": "rw"}); n != 0 {
			return fmt.Errorf("%v sessions open", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("promtool", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			t.Skip("promtool is not installed (Debian package prometheus); the exposition lint needs it")
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})

	// The monitor's view: every node up and Synced, one writer, the others
	// readers.
	nodes := []string{"node1", "node2", "node3"}
	var writer string
	var readers []string
	for _, n := range nodes {
		bit := func(state string) float64 {
			return s.sum("maxproxy_monitor_server_state", map[string]string{"monitor": "galera", "server": n, "state": state})
		}
		if len(s.series("maxproxy_monitor_server_state", map[string]string{"server": n})) != 10 {
			t.Errorf("%s: want its 10 state bits exported", n)
		}
		if bit("running") != 1 || bit("synced") != 1 {
			t.Errorf("%s: running %v synced %v, want 1 and 1", n, bit("running"), bit("synced"))
		}
		switch {
		case bit("master") == 1 && bit("slave") == 0:
			writer = n
		case bit("master") == 0 && bit("slave") == 1:
			readers = append(readers, n)
		default:
			t.Errorf("%s: master %v slave %v: want exactly one role", n, bit("master"), bit("slave"))
		}
		if v := s.sum("maxproxy_monitor_wsrep_local_state", map[string]string{"server": n}); v != 4 {
			t.Errorf("%s: wsrep_local_state %v, want 4", n, v)
		}
		for _, name := range []string{"maxproxy_monitor_wsrep_local_recv_queue", "maxproxy_monitor_wsrep_flow_control_sent_total"} {
			if ms := s.series(name, map[string]string{"server": n}); len(ms) != 1 {
				t.Errorf("%s: %d %s series, want 1", n, len(ms), name)
			}
		}
		if c := s.sum("maxproxy_monitor_probe_duration_seconds", map[string]string{"server": n}); c < 1 {
			t.Errorf("%s: %v probes timed", n, c)
		}
	}
	if writer == "" || len(readers) != 2 {
		t.Fatalf("writer %q, readers %v: want one and two", writer, readers)
	}

	// Routing: writes on the writer only, autocommit reads on the readers
	// only (sysbench's transactions read on the writer: those count as
	// "previous" or "master").
	rw := func(server, target string) float64 {
		return s.sum("maxproxy_queries_routed_total", map[string]string{"service": "rw", "server": server, "target": target})
	}
	if rw(writer, "master") < 1000 {
		t.Errorf("writer %s got %v statements as master, want sysbench's thousands", writer, rw(writer, "master"))
	}
	for _, r := range readers {
		if v := rw(r, "master"); v != 0 {
			t.Errorf("reader %s got %v statements routed to the master", r, v)
		}
	}
	if v := rw(writer, "slave"); v != 0 {
		t.Errorf("writer %s got %v reads routed to a slave (master_accept_reads is off)", writer, v)
	}
	if v := rw(readers[0], "slave") + rw(readers[1], "slave"); v < 1 {
		t.Errorf("no autocommit read reached a reader: %v", v)
	}

	// One response time per routed statement that got its reply, under
	// the same server and target.
	routed := s.sum("maxproxy_queries_routed_total", map[string]string{"service": "rw"})
	timed := s.sum("maxproxy_query_duration_seconds", map[string]string{"service": "rw"})
	errs := s.sum("maxproxy_backend_errors_total", map[string]string{"service": "rw"})
	if timed > routed || timed < routed-errs || timed < 1000 {
		t.Errorf("response times %v for %v routed statements (%v backend errors)", timed, routed, errs)
	}
	for _, n := range nodes {
		for _, target := range []string{"master", "slave", "previous", "all"} {
			labels := map[string]string{"service": "rw", "server": n, "target": target}
			r, h := s.sum("maxproxy_queries_routed_total", labels), s.sum("maxproxy_query_duration_seconds", labels)
			if h > r || h < r-errs {
				t.Errorf("%s %s: %v response times for %v routed statements", n, target, h, r)
			}
		}
	}
	for _, m := range s.series("maxproxy_query_duration_seconds", map[string]string{"service": "rw", "server": writer, "target": "master"}) {
		h := m.GetHistogram()
		if mean := h.GetSampleSum() / float64(h.GetSampleCount()); mean <= 0 || mean > 1 {
			t.Errorf("mean response time of %s: %vs", writer, mean)
		}
	}

	// Clients: the refused login, sessions, traffic.
	if v := s.sum("maxproxy_auth_failures_total", map[string]string{"service": "rw"}); v != 1 {
		t.Errorf("auth failures of rw: %v, want 1", v)
	}
	if v := s.sum("maxproxy_sessions_total", map[string]string{"service": "rw"}); v < 5 {
		t.Errorf("rw sessions: %v, want sysbench's 4 and more", v)
	}
	lis := map[string]string{"listener": "rw-port", "service": "rw"}
	if in, out := s.sum("maxproxy_listener_received_bytes_total", lis), s.sum("maxproxy_listener_sent_bytes_total", lis); in < 100_000 || out < 100_000 {
		t.Errorf("rw-port traffic: %v bytes in, %v out; want sysbench's hundreds of kilobytes", in, out)
	}
	if v := s.sum("maxproxy_listener_connections_total", lis); v < 6 {
		t.Errorf("rw-port accepted %v connections", v)
	}

	// The classifier: sysbench repeats a dozen statement shapes.
	hits, misses := s.sum("maxproxy_classifier_cache_hits_total", nil), s.sum("maxproxy_classifier_cache_misses_total", nil)
	if hits <= 10*misses {
		t.Errorf("classifier cache: %v hits, %v misses; want mostly hits", hits, misses)
	}
	if e := s.sum("maxproxy_classifier_cache_entries", nil); e < 1 || e > s.sum("maxproxy_classifier_cache_capacity", nil) {
		t.Errorf("classifier cache holds %v entries", e)
	}

	if v := s.sum("maxproxy_build_info", map[string]string{"version": "it-metrics", "goversion": runtime.Version()}); v != 1 {
		t.Errorf("build info: %v", v)
	}
	t.Logf("routed %v, timed %v, classifier %v hits / %v misses, writer %s", routed, timed, hits, misses, writer)
}

// TestProxyMaintenanceSurvivesRestart: maintenance set with `maxproxy ctl`
// is still in force after the proxy restarts on the same data directory —
// shown by ctl and by the reads, which keep off the server.
func TestProxyMaintenanceSurvivesRestart(t *testing.T) {
	datadir := t.TempDir()
	ctx := ctxFor(t, 2*time.Minute)
	p := startObservedProxy(t, datadir)
	names := []string{"node1", "node2", "node3"}
	master, _ := roles(t, p.runningProxy)
	reader := "node2"
	if master == reader {
		reader = "node3"
	}
	if code, _, stderr := ctlRun(ctx, p.adminAddr, adminITPassword, "set", "server", reader, "maintenance"); code != 0 {
		t.Fatalf("set maintenance: exit %d: %s", code, stderr)
	}
	waitServer(t, ctx, p.adminAddr, reader, "maintenance to show", func(row string) bool { return strings.Contains(row, "Maintenance") })
	p.stop()

	p2 := startObservedProxy(t, datadir)
	if row := serverRows(t, ctx, p2.adminAddr)[reader]; !strings.Contains(row, "Maintenance") {
		t.Fatalf("after the restart %s is %q, want Maintenance", reader, row)
	}
	readsAvoid(t, ctx, p2.runningProxy, names, reader) // in maintenance since before the restart
	if code, _, stderr := ctlRun(ctx, p2.adminAddr, adminITPassword, "clear", "server", reader, "maintenance"); code != 0 {
		t.Fatalf("clear maintenance: exit %d: %s", code, stderr)
	}
	waitServer(t, ctx, p2.adminAddr, reader, "maintenance to clear", func(row string) bool {
		return row != "" && !strings.Contains(row, "Maintenance")
	})
}
