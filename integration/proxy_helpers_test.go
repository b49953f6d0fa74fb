package integration

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/proxy/server"
)

// runningProxy is a maxproxy runtime started in-process in front of the
// shared Galera cluster, with a readwritesplit listener (rw) and a
// readconnroute listener on the readers (ro).
type runningProxy struct {
	srv    *server.Server
	reg    *prometheus.Registry
	rw, ro string // listener addresses
}

// proxyConfig renders a configuration for the nodes of a cluster: one
// galera monitor over all of them, a readwritesplit service "rw" (its
// listener "rw-port" on rwPort) and a readconnroute service "ro" on the
// readers ("ro-port" on roPort). serviceExtra is appended to the "rw"
// table, monitorExtra to the monitor's. users_refresh_time is 0 so that
// databases the tests create are known to the account check at once (a
// login naming a database the proxy has not seen reloads the accounts).
func proxyConfig(tb testing.TB, nodes []harness.Node, rwPort, roPort int, serviceExtra, monitorExtra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[proxy]\ndatadir = %q\n\n[admin]\nenabled = false\n\n[metrics]\nenabled = false\n\n", tb.TempDir())
	var names []string
	for _, n := range nodes {
		host, port, err := net.SplitHostPort(n.Addr())
		if err != nil {
			tb.Fatal(err)
		}
		names = append(names, fmt.Sprintf("%q", n.Name()))
		fmt.Fprintf(&b, "[[server]]\nname = %q\naddress = %q\nport = %s\n\n", n.Name(), host, port)
	}
	fmt.Fprintf(&b, "[[monitor]]\nname = \"galera\"\ntype = \"galera\"\nservers = [%s]\nuser = %q\npassword = %q\nmonitor_interval = \"200ms\"\n%s\n\n",
		strings.Join(names, ", "), harness.MonitorAccount.User, harness.MonitorAccount.Password, monitorExtra)
	fmt.Fprintf(&b, "[[service]]\nname = \"rw\"\nrouter = \"readwritesplit\"\ncluster = \"galera\"\nuser = %q\npassword = %q\nusers_refresh_time = \"0s\"\n%s\n\n",
		harness.ServiceAccount.User, harness.ServiceAccount.Password, serviceExtra)
	fmt.Fprintf(&b, "[[service]]\nname = \"ro\"\nrouter = \"readconnroute\"\nrouter_options = [\"slave\"]\ncluster = \"galera\"\nuser = %q\npassword = %q\nusers_refresh_time = \"0s\"\n\n",
		harness.ServiceAccount.User, harness.ServiceAccount.Password)
	fmt.Fprintf(&b, "[[listener]]\nname = \"rw-port\"\nservice = \"rw\"\naddress = \"127.0.0.1\"\nport = %d\n\n", rwPort)
	fmt.Fprintf(&b, "[[listener]]\nname = \"ro-port\"\nservice = \"ro\"\naddress = \"127.0.0.1\"\nport = %d\n", roPort)
	return b.String()
}

// parseProxyConfig renders and parses a configuration for nodes on two
// free ports.
func parseProxyConfig(tb testing.TB, nodes []harness.Node, serviceExtra, monitorExtra string) *config.Config {
	tb.Helper()
	ports, err := harness.FreePorts(2)
	if err != nil {
		tb.Fatal(err)
	}
	text := proxyConfig(tb, nodes, ports[0], ports[1], serviceExtra, monitorExtra)
	cfg, err := config.Parse("maxproxy.toml", []byte(text))
	if err != nil {
		tb.Fatalf("config: %v\n%s", err, text)
	}
	return cfg
}

// runProxy runs a proxy for cfg in-process until the test ends, and waits
// until its rw listener runs a statement (the monitor has found the
// writer and the accounts are loaded).
func runProxy(tb testing.TB, cfg *config.Config, version string) *runningProxy {
	tb.Helper()
	p := &runningProxy{reg: prometheus.NewRegistry()}
	var err error
	p.srv, err = server.New(cfg, server.Options{Logger: testLogger(tb), Registerer: p.reg, ShutdownTimeout: 5 * time.Second, Version: version})
	if err != nil {
		tb.Fatal(err)
	}
	p.rw, p.ro = p.srv.Addr("rw-port").String(), p.srv.Addr("ro-port").String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.srv.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("proxy Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			tb.Error("proxy did not shut down within 30s")
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	db, err := sql.Open("mysql", harness.TCPDSN(p.rw, "app", "app", ""))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	err = harness.Poll(wctx, "proxy running a statement", 100*time.Millisecond, func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, "DO 1")
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// startProxy runs a proxy for the shared cluster until the test ends; extra
// is appended to the rw service.
func startProxy(t *testing.T, extra string) (*harness.Galera, *runningProxy) {
	t.Helper()
	g := galera3.Get(t)
	return g, runProxy(t, parseProxyConfig(t, g.Nodes(), extra, ""), "")
}

// startProxyOn runs a proxy for nodes (any cluster) until the test ends;
// monitorExtra is appended to the monitor's table.
func startProxyOn(t *testing.T, nodes []harness.Node, monitorExtra string) *runningProxy {
	t.Helper()
	return runProxy(t, parseProxyConfig(t, nodes, "", monitorExtra), "")
}

func sqlOpen(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// routed returns maxproxy_queries_routed_total for a service, server and
// target.
func (p *runningProxy) routed(t *testing.T, service, server, target string) float64 {
	t.Helper()
	return p.metric(t, "maxproxy_queries_routed_total", map[string]string{"service": service, "server": server, "target": target})
}

func (p *runningProxy) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := p.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matchLabels(m, labels) {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func matchLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// mariadbCLI runs the mariadb client against addr and returns its
// combined output.
func mariadbCLI(t *testing.T, addr, user, password string, args ...string) (string, error) {
	t.Helper()
	path, err := harness.Find().Path(harness.Client)
	if err != nil {
		t.Skip(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	argv := append([]string{"--no-defaults", "-h" + host, "-P" + port, "-u" + user, "-p" + password, "--protocol=TCP", "--batch", "--skip-column-names"}, args...)
	out, err := exec.CommandContext(ctxFor(t, 60*time.Second), path, argv...).CombinedOutput()
	return string(out), err
}

// testLogger sends the proxy's log to the test log (info and above; debug
// when MAXPROXY_IT_DEBUG=1).
func testLogger(tb testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("MAXPROXY_IT_DEBUG") == "1" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: level}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitEverywhere waits until query answers want on every node, queried
// directly: replication to the other nodes is asynchronous (Galera's TOI and
// write-sets are applied there after the origin answered), so a test that
// next reads through a reader, or fails over to another node, must first
// let its setup reach them.
func waitEverywhere(t *testing.T, ctx context.Context, nodes []harness.Node, query, want string) {
	t.Helper()
	for _, n := range nodes {
		err := harness.Poll(ctx, n.Name()+": "+query, 20*time.Millisecond, func(ctx context.Context) error {
			got, err := n.QueryString(ctx, query)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("got %q, want %q", got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
