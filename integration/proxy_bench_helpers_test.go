package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// benchProxyConfig renders a maxproxy configuration with one
// readwritesplit listener on port over the cluster g. It logs warnings
// only: a benchmark measures routing, not log formatting.
func benchProxyConfig(datadir string, g *harness.Galera, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[proxy]\ndatadir = %q\n\n[log]\nlevel = \"warn\"\n\n[admin]\nenabled = false\n\n[metrics]\nenabled = false\n\n", datadir)
	var names []string
	for i := range g.Size() {
		name := fmt.Sprintf("node%d", i+1)
		names = append(names, fmt.Sprintf("%q", name))
		fmt.Fprintf(&b, "[[server]]\nname = %q\naddress = \"127.0.0.1\"\nport = %d\n\n", name, g.Server(i+1).Port())
	}
	fmt.Fprintf(&b, "[[monitor]]\nname = \"galera\"\ntype = \"galera\"\nservers = [%s]\nuser = %q\npassword = %q\nmonitor_interval = \"1s\"\n\n",
		strings.Join(names, ", "), harness.MonitorAccount.User, harness.MonitorAccount.Password)
	fmt.Fprintf(&b, "[[service]]\nname = \"rw\"\nrouter = \"readwritesplit\"\ncluster = \"galera\"\nuser = %q\npassword = %q\nusers_refresh_time = \"0s\"\n\n",
		harness.ServiceAccount.User, harness.ServiceAccount.Password)
	fmt.Fprintf(&b, "[[listener]]\nname = \"rw-port\"\nservice = \"rw\"\naddress = \"127.0.0.1\"\nport = %d\n", port)
	return b.String()
}

// startBenchProxy runs bin/maxproxy (a process of its own, as HAProxy
// is) in scope and returns its readwritesplit address once a statement
// runs through it.
func startBenchProxy(b *testing.B, scope *harness.Scope, g *harness.Galera) string {
	b.Helper()
	ports, err := harness.FreePorts(1)
	if err != nil {
		b.Fatal(err)
	}
	datadir, err := scope.MkdirFor("maxproxy-data")
	if err != nil {
		b.Fatal(err)
	}
	proc, err := scope.StartBinary(harness.BinarySpec{
		Name:   "maxproxy",
		Binary: "maxproxy",
		Config: []byte(benchProxyConfig(datadir, g, ports[0])),
	})
	if err != nil {
		b.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	if err := waitStatement(b, addr); err != nil {
		b.Fatalf("maxproxy: %v\n%s", err, proc.Tail(40))
	}
	return addr
}

// haproxyConfig is a minimal TCP-mode HAProxy in front of every node of
// g: what a Galera deployment without a SQL-aware proxy typically runs.
func haproxyConfig(g *harness.Galera, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global\n    maxconn 4096\n\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 10m\n    timeout server 10m\n\n")
	fmt.Fprintf(&b, "listen galera\n    bind 127.0.0.1:%d\n    balance roundrobin\n", port)
	for i := range g.Size() {
		fmt.Fprintf(&b, "    server node%d 127.0.0.1:%d\n", i+1, g.Server(i+1).Port())
	}
	return b.String()
}

// startHAProxy runs `haproxy -f cfg -db` (foreground) in scope, which
// stops it by PID, and returns its address once a statement runs through
// it.
func startHAProxy(b *testing.B, scope *harness.Scope, bin string, g *harness.Galera) string {
	b.Helper()
	ports, err := harness.FreePorts(1)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := scope.WriteFile("haproxy.cfg", []byte(haproxyConfig(g, ports[0])))
	if err != nil {
		b.Fatal(err)
	}
	proc, err := scope.StartProcess(harness.ProcessSpec{Name: "haproxy", Path: bin, Args: []string{"-f", cfg, "-db"}, StopTimeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	if err := waitStatement(b, addr); err != nil {
		b.Fatalf("haproxy: %v\n%s", err, proc.Tail(40))
	}
	return addr
}

// waitStatement polls until the app account runs a statement at addr.
func waitStatement(b *testing.B, addr string) error {
	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Second)
	defer cancel()
	db := nodeDB(b, harness.TCPDSN(addr, harness.AppAccount.User, harness.AppAccount.Password, ""))
	defer db.Close()
	return harness.Poll(ctx, "a statement through "+addr, 100*time.Millisecond, func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, "DO 1")
		return err
	})
}

// proxyWriter returns the address of the node maxproxy writes to: a
// statement inside a transaction runs on the writer.
func proxyWriter(b *testing.B, proxy string, g *harness.Galera) string {
	b.Helper()
	db := nodeDB(b, harness.TCPDSN(proxy, harness.AppAccount.User, harness.AppAccount.Password, ""))
	defer db.Close()
	tx, err := db.BeginTx(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var port int
	if err := tx.QueryRowContext(b.Context(), "SELECT @@port").Scan(&port); err != nil {
		b.Fatal(err)
	}
	for i := range g.Size() {
		if g.Server(i+1).Port() == port {
			return g.Server(i + 1).Addr()
		}
	}
	b.Fatalf("maxproxy's writer reports port %d, which is no node of the cluster", port)
	return ""
}

// loadAverage is the 1, 5 and 15 minute load average, for the report: the
// machine is shared and the numbers mean little without it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return strings.TrimSpace(string(b))
	}
	return strings.Join(f[:3], " ")
}
