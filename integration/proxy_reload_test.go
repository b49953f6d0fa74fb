//go:build integration

package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/proxy/server"
)

// reloadConfig is a proxy configuration for the shared cluster whose
// parts the reload tests change: which nodes are servers, which
// listeners exist, and a restart-only key.
type reloadConfig struct {
	datadir   string
	nodes     []int // 1-based node numbers of the cluster
	rwPort    int
	roPort    int // 0: no ro-port listener
	adminPort int
	cacheSize int
}

func (r reloadConfig) render(g *harness.Galera) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[proxy]\ndatadir = %q\nclassifier_cache_size = %d\n\n", r.datadir, r.cacheSize)
	fmt.Fprintf(&b, "[admin]\nenabled = true\nlisten = \"127.0.0.1:%d\"\nuser = \"ops\"\npassword = %q\n\n[metrics]\nenabled = false\n\n", r.adminPort, adminITPassword)
	var names []string
	for _, i := range r.nodes {
		name := fmt.Sprintf("node%d", i)
		names = append(names, strconv.Quote(name))
		fmt.Fprintf(&b, "[[server]]\nname = %q\naddress = \"127.0.0.1\"\nport = %d\n\n", name, g.Server(i).Port())
	}
	fmt.Fprintf(&b, "[[monitor]]\nname = \"galera\"\ntype = \"galera\"\nservers = [%s]\nuser = %q\npassword = %q\nmonitor_interval = \"200ms\"\n\n",
		strings.Join(names, ", "), harness.MonitorAccount.User, harness.MonitorAccount.Password)
	for _, svc := range []struct{ name, router, extra string }{
		{"rw", "readwritesplit", ""},
		{"ro", "readconnroute", "router_options = [\"slave\"]\n"},
	} {
		fmt.Fprintf(&b, "[[service]]\nname = %q\nrouter = %q\n%scluster = \"galera\"\nuser = %q\npassword = %q\nusers_refresh_time = \"0s\"\n\n",
			svc.name, svc.router, svc.extra, harness.ServiceAccount.User, harness.ServiceAccount.Password)
	}
	fmt.Fprintf(&b, "[[listener]]\nname = \"rw-port\"\nservice = \"rw\"\naddress = \"127.0.0.1\"\nport = %d\n\n", r.rwPort)
	if r.roPort != 0 {
		fmt.Fprintf(&b, "[[listener]]\nname = \"ro-port\"\nservice = \"ro\"\naddress = \"127.0.0.1\"\nport = %d\n", r.roPort)
	}
	return b.String()
}

func newReloadConfig(t *testing.T) reloadConfig {
	t.Helper()
	ports, err := harness.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	return reloadConfig{datadir: t.TempDir(), nodes: []int{1, 2}, rwPort: ports[0], roPort: ports[1], adminPort: ports[2], cacheSize: 10000}
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitQuery polls until db runs DO 1 (the monitor found a writer, the
// accounts are loaded).
func waitQuery(t *testing.T, ctx context.Context, db *sql.DB, what string) {
	t.Helper()
	err := harness.Poll(ctx, what, 100*time.Millisecond, func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, "DO 1")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// mustCtl runs `maxproxy ctl` and fails the test unless it exits 0.
func mustCtl(t *testing.T, ctx context.Context, addr string, args ...string) string {
	t.Helper()
	code, out, stderr := ctlRun(ctx, addr, adminITPassword, args...)
	if code != 0 {
		t.Fatalf("ctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
	}
	return out
}

func portRefuses(t *testing.T, port int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+itoa(port), 2*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("port %d still accepts connections after its listener was removed", port)
	}
}

// TestProxyReload changes the configuration file of a proxy in front of
// the real cluster and reloads it with `maxproxy ctl reload`, as an
// operator would: a new server is listed, monitored and routed to; a
// removed listener's port closes while a session opened on it keeps
// working; an invalid file is refused with its file:line and nothing
// changes; a restart-only key is reported and not applied.
func TestProxyReload(t *testing.T) {
	g := galera3.Get(t)
	ctx := ctxFor(t, 3*time.Minute)
	rc := newReloadConfig(t)
	path := filepath.Join(t.TempDir(), "maxproxy.toml")
	writeConfig(t, path, rc.render(g))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, server.Options{Logger: testLogger(t), Registerer: prometheus.NewRegistry(),
		ShutdownTimeout: 5 * time.Second, ConfigFile: path, LogLevel: new(slog.LevelVar)})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
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
	admin := srv.AdminAddr().String()
	rwAddr, roAddr := "127.0.0.1:"+itoa(rc.rwPort), "127.0.0.1:"+itoa(rc.roPort)
	waitQuery(t, ctx, sqlOpen(t, harness.TCPDSN(rwAddr, "app", "app", "")), "the proxy running a statement")
	if _, ok := serverRows(t, ctx, admin)["node3"]; ok {
		t.Fatal("node3 is listed before it is configured")
	}
	roDB := sqlOpen(t, harness.TCPDSN(roAddr, "app", "app", ""))
	waitQuery(t, ctx, roDB, "the ro listener running a statement")
	onRO, err := roDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer onRO.Close()

	// Add a server.
	rc.nodes = []int{1, 2, 3}
	writeConfig(t, path, rc.render(g))
	out := mustCtl(t, ctx, admin, "reload")
	for _, want := range []string{`added    server "node3"`, `changed  monitor "galera"`} {
		if !strings.Contains(out, want) {
			t.Errorf("reload output lacks %q:\n%s", want, out)
		}
	}
	waitServer(t, ctx, admin, "node3", "the monitor to report node3 Synced", func(row string) bool {
		return strings.Contains(row, "Synced, Running")
	})
	rwDB := sqlOpen(t, harness.TCPDSN(rwAddr, "app", "app", ""))
	var port int
	if err := rwDB.QueryRowContext(ctx, "SELECT @@port -- maxproxy route to server node3").Scan(&port); err != nil || port != g.Server(3).Port() {
		t.Errorf("a read routed to node3 ran on port %d (%v), want node3's %d", port, err, g.Server(3).Port())
	}

	// Remove a listener.
	roPort := rc.roPort
	rc.roPort = 0
	writeConfig(t, path, rc.render(g))
	if out := mustCtl(t, ctx, admin, "reload"); !strings.Contains(out, `removed  listener "ro-port"`) {
		t.Errorf("reload output lacks the removed listener:\n%s", out)
	}
	portRefuses(t, roPort)
	if err := onRO.QueryRowContext(ctx, "SELECT 1").Scan(new(int)); err != nil {
		t.Errorf("a session of the removed listener: %v", err)
	}
	if out := mustCtl(t, ctx, admin, "list", "listeners"); strings.Contains(out, "ro-port") {
		t.Errorf("the removed listener is still listed:\n%s", out)
	}

	// An invalid file is refused; everything keeps working.
	good := rc.render(g)
	writeConfig(t, path, strings.Replace(good, "monitor_interval = \"200ms\"", "monitor_interval = 200", 1))
	code, out, stderr := ctlRun(ctx, admin, adminITPassword, "reload")
	if code != 1 || !strings.Contains(stderr, path+":") || !strings.Contains(stderr, "monitor_interval") || !strings.Contains(stderr, "HTTP 400") {
		t.Errorf("reload of an invalid file: exit %d\n%s%s\nwant exit 1 and the file:line of monitor_interval", code, out, stderr)
	}
	if _, err := rwDB.ExecContext(ctx, "DO 1"); err != nil {
		t.Errorf("a statement after the refused reload: %v", err)
	}
	if _, ok := serverRows(t, ctx, admin)["node3"]; !ok {
		t.Error("node3 is gone after a refused reload")
	}

	// A restart-only key is reported, not applied.
	rc.cacheSize = 5
	writeConfig(t, path, rc.render(g))
	out = mustCtl(t, ctx, admin, "reload")
	if !strings.Contains(out, "only after a restart") || !strings.Contains(out, "proxy.classifier_cache_size") {
		t.Errorf("reload of a restart-only key:\n%s", out)
	}
}

// TestProxyReloadSIGHUP: bin/maxproxy reloads its file on SIGHUP as `ctl
// reload` does, keeps running when the new file is invalid, and logs why.
func TestProxyReloadSIGHUP(t *testing.T) {
	if os.Getenv("MAXPROXY_BIN") == "" {
		if _, err := harness.RepoBinary("maxproxy"); err != nil {
			t.Skipf("bin/maxproxy not built (make build, or make test-integration, builds it): %v", err)
		}
	}
	g := galera3.Get(t)
	ctx := ctxFor(t, 3*time.Minute)
	rc := newReloadConfig(t)
	scope := harness.TestScope(t)
	proc, err := scope.StartBinary(harness.BinarySpec{Name: "maxproxy", Binary: "maxproxy", Config: []byte(rc.render(g))})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(scope.Dir(), "maxproxy.toml")
	admin := "127.0.0.1:" + itoa(rc.adminPort)
	if err := harness.WaitTCP(ctx, admin); err != nil {
		t.Fatalf("%v\n%s", err, proc.Tail(40))
	}
	hup := func() {
		t.Helper()
		if err := syscall.Kill(proc.PID(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitLog := func(what, line string) {
		t.Helper()
		err := harness.Poll(ctx, what, 100*time.Millisecond, func(context.Context) error {
			if !strings.Contains(proc.Tail(200), line) {
				return errors.New("not logged yet")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v\n%s", err, proc.Tail(40))
		}
	}

	// An invalid file: logged with its file:line, the proxy keeps running.
	writeConfig(t, path, strings.Replace(rc.render(g), "monitor_interval = \"200ms\"", "monitor_interval = 200", 1))
	hup()
	waitLog("the refused reload to be logged", "reload on signal failed")
	if !strings.Contains(proc.Tail(200), path+":") {
		t.Errorf("the refused reload's log does not name the file and line:\n%s", proc.Tail(20))
	}
	if exited, err := proc.Exited(); exited {
		t.Fatalf("maxproxy exited after SIGHUP with an invalid file: %v\n%s", err, proc.Tail(40))
	}

	// A server added and a restart-only key changed.
	rc.nodes, rc.cacheSize = []int{1, 2, 3}, 5
	writeConfig(t, path, rc.render(g))
	hup()
	waitServer(t, ctx, admin, "node3", "node3 listed and Synced after SIGHUP", func(row string) bool {
		return strings.Contains(row, "Synced, Running")
	})
	waitLog("the restart-only key to be reported", "key=proxy.classifier_cache_size")
	db := sqlOpen(t, harness.TCPDSN("127.0.0.1:"+itoa(rc.rwPort), "app", "app", ""))
	waitQuery(t, ctx, db, "a statement through bin/maxproxy after the reload")

	if err := proc.Stop(); err != nil {
		t.Fatal(err)
	}
	if exited, err := proc.Exited(); !exited || err != nil {
		t.Errorf("maxproxy after SIGTERM: exited=%v, %v\n%s", exited, err, proc.Tail(40))
	}
}
