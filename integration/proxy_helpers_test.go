package integration

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
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

// proxyConfig renders a configuration for the cluster g. extra is
// appended to the [[service]] "rw" table. users_refresh_time is 0 so that
// databases the tests create are known to the account check at once
// (a login naming a database the proxy has not seen reloads the accounts).
func proxyConfig(t *testing.T, g *harness.Galera, rwPort, roPort int, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[proxy]\ndatadir = %q\n\n[admin]\nenabled = false\n\n[metrics]\nenabled = false\n\n", t.TempDir())
	var names []string
	for i := range g.Size() {
		srv := g.Server(i + 1)
		name := fmt.Sprintf("node%d", i+1)
		names = append(names, fmt.Sprintf("%q", name))
		fmt.Fprintf(&b, "[[server]]\nname = %q\naddress = \"127.0.0.1\"\nport = %d\n\n", name, srv.Port())
	}
	fmt.Fprintf(&b, "[[monitor]]\nname = \"galera\"\ntype = \"galera\"\nservers = [%s]\nuser = %q\npassword = %q\nmonitor_interval = \"200ms\"\n\n",
		strings.Join(names, ", "), harness.MonitorAccount.User, harness.MonitorAccount.Password)
	fmt.Fprintf(&b, "[[service]]\nname = \"rw\"\nrouter = \"readwritesplit\"\ncluster = \"galera\"\nuser = %q\npassword = %q\nusers_refresh_time = \"0s\"\n%s\n\n",
		harness.ServiceAccount.User, harness.ServiceAccount.Password, extra)
	fmt.Fprintf(&b, "[[service]]\nname = \"ro\"\nrouter = \"readconnroute\"\nrouter_options = [\"slave\"]\ncluster = \"galera\"\nuser = %q\npassword = %q\nusers_refresh_time = \"0s\"\n\n",
		harness.ServiceAccount.User, harness.ServiceAccount.Password)
	fmt.Fprintf(&b, "[[listener]]\nname = \"rw-port\"\nservice = \"rw\"\naddress = \"127.0.0.1\"\nport = %d\n\n", rwPort)
	fmt.Fprintf(&b, "[[listener]]\nname = \"ro-port\"\nservice = \"ro\"\naddress = \"127.0.0.1\"\nport = %d\n", roPort)
	return b.String()
}

// startProxy runs a proxy for the shared cluster until the test ends, and
// waits until the rw listener runs a statement (the monitor has found the
// master and the accounts are loaded).
func startProxy(t *testing.T, extra string) (*harness.Galera, *runningProxy) {
	t.Helper()
	g := galera3.Get(t)
	ports, err := harness.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	text := proxyConfig(t, g, ports[0], ports[1], extra)
	cfg, err := config.Parse("maxproxy.toml", []byte(text))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	p := &runningProxy{reg: prometheus.NewRegistry()}
	p.srv, err = server.New(cfg, server.Options{Logger: testLogger(t), Registerer: p.reg, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p.rw, p.ro = p.srv.Addr("rw-port").String(), p.srv.Addr("ro-port").String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("proxy Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("proxy did not shut down within 30s")
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	db := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	err = harness.Poll(wctx, "proxy running a statement", 100*time.Millisecond, func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, "DO 1")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return g, p
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
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("MAXPROXY_IT_DEBUG") == "1" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
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
