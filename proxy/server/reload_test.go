package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/proxy/admin/api"
)

// reloadSpec renders a configuration file over the shared MariaDB. A
// configuration file needs every service server monitored; the Galera
// monitor sees a plain MariaDB as Running, so the service is a
// readconnroute over running servers.
type reloadSpec struct {
	datadir   string
	dbPort    int
	servers   []string // names, all at the shared MariaDB
	listeners []reloadListener
	level     string
	cacheSize int
	maxConns  int
	// adminPort, when set, enables the admin API as ops/adminPassword.
	adminPort     int
	adminPassword string
}

type reloadListener struct {
	name      string
	port      int
	cert, key string // set: ssl = true
}

func (r reloadSpec) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[proxy]\ndatadir = %q\nclassifier_cache_size = %d\n\n[log]\nlevel = %q\n\n[metrics]\nenabled = false\n\n",
		r.datadir, r.cacheSize, r.level)
	if r.adminPort == 0 {
		b.WriteString("[admin]\nenabled = false\n\n")
	} else {
		fmt.Fprintf(&b, "[admin]\nenabled = true\nlisten = \"127.0.0.1:%d\"\nuser = \"ops\"\npassword = %q\n\n", r.adminPort, r.adminPassword)
	}
	var quoted []string
	for _, s := range r.servers {
		fmt.Fprintf(&b, "[[server]]\nname = %q\naddress = \"127.0.0.1\"\nport = %d\n\n", s, r.dbPort)
		quoted = append(quoted, strconv.Quote(s))
	}
	fmt.Fprintf(&b, "[[monitor]]\nname = \"mon\"\ntype = \"galera\"\nservers = [%s]\nuser = %q\npassword = %q\nmonitor_interval = \"100ms\"\n\n",
		strings.Join(quoted, ", "), harness.MonitorAccount.User, harness.MonitorAccount.Password)
	fmt.Fprintf(&b, "[[service]]\nname = \"svc\"\nrouter = \"readconnroute\"\nrouter_options = [\"running\"]\ncluster = \"mon\"\nuser = %q\npassword = %q\nusers_refresh_time = \"0s\"\nmax_connections = %d\n\n",
		harness.ServiceAccount.User, harness.ServiceAccount.Password, r.maxConns)
	for _, l := range r.listeners {
		fmt.Fprintf(&b, "[[listener]]\nname = %q\nservice = \"svc\"\naddress = \"127.0.0.1\"\nport = %d\n", l.name, l.port)
		if l.cert != "" {
			fmt.Fprintf(&b, "ssl = true\nssl_cert = %q\nssl_key = %q\n", l.cert, l.key)
		}
		b.WriteString("\n")
	}
	return b.String()
}

type reloadProxy struct {
	*testProxy
	path  string
	level *slog.LevelVar
}

// write replaces the configuration file.
func (p *reloadProxy) write(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(p.path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startFromFile runs a proxy from a configuration file, as maxproxy serve
// does, so that Reload has a file to read.
func startFromFile(t *testing.T, spec reloadSpec) *reloadProxy {
	t.Helper()
	db := mariadb.Get(t)
	p := &reloadProxy{path: filepath.Join(t.TempDir(), "maxproxy.toml"), level: new(slog.LevelVar)}
	p.write(t, spec.text())
	cfg, err := config.Load(p.path)
	if err != nil {
		t.Fatalf("%v\n%s", err, spec.text())
	}
	reg := prometheus.NewRegistry()
	p.testProxy = &testProxy{reg: reg, db: db, done: make(chan error, 1)}
	p.srv, err = New(cfg, Options{Logger: testLogger(t), Registerer: reg, ShutdownTimeout: 5 * time.Second, ConfigFile: p.path, LogLevel: p.level})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- p.srv.Run(ctx) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// clientSession opens one client connection through addr and waits until it
// runs a statement (the monitor has seen the server, the accounts are
// loaded).
func clientSession(t *testing.T, ctx context.Context, addr string) *sql.Conn {
	t.Helper()
	c, err := driver.ParseDSN(harness.TCPDSN(addr, "app", "app", ""))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var conn *sql.Conn
	err = harness.Poll(ctx, "a session through "+addr, 50*time.Millisecond, func(ctx context.Context) error {
		cn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		if err := cn.PingContext(ctx); err != nil {
			cn.Close()
			return err
		}
		conn = cn
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func works(t *testing.T, ctx context.Context, c *sql.Conn, what string) {
	t.Helper()
	var n int
	if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%s: SELECT 1 = %d, %v", what, n, err)
	}
}

func refuses(t *testing.T, port int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("port %d still accepts connections", port)
	}
}

func changeStrings(res ReloadResult) []string {
	var out []string
	for _, c := range res.Changes {
		out = append(out, c.String())
	}
	return out
}

// TestReload drives a running proxy through a series of reloads, each
// checked the way a client and an operator would notice it.
func TestReload(t *testing.T) {
	db := mariadb.Get(t)
	_, portStr, _ := net.SplitHostPort(db.Addr())
	dbPort, _ := strconv.Atoi(portStr)
	ports, err := harness.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	spec := reloadSpec{
		datadir: t.TempDir(), dbPort: dbPort, servers: []string{"db1"}, level: "info", cacheSize: 1000,
		listeners: []reloadListener{{name: "one", port: ports[0]}},
	}
	p := startFromFile(t, spec)
	ctx := ctxFor(t, 2*time.Minute)
	onOne := clientSession(t, ctx, "127.0.0.1:"+strconv.Itoa(ports[0]))
	holder := p.srv.Topology("svc")

	// Unchanged file: nothing to do.
	res, err := p.srv.Reload(ctx)
	if err != nil || len(res.Changes) != 0 || len(res.RestartRequired) != 0 {
		t.Fatalf("reload of the same file: %+v, %v", res, err)
	}

	// A server and a listener added.
	spec.servers = append(spec.servers, "db2")
	spec.listeners = append(spec.listeners, reloadListener{name: "two", port: ports[1]})
	p.write(t, spec.text())
	res, err = p.srv.Reload(ctx)
	want := []string{`added server "db2"`, `changed monitor "mon" (servers)`, `added listener "two"`}
	if err != nil || !slices.Equal(changeStrings(res), want) {
		t.Fatalf("adding a server and a listener: %q, %v; want %q", changeStrings(res), err, want)
	}
	onTwo := clientSession(t, ctx, "127.0.0.1:"+strconv.Itoa(ports[1]))
	works(t, ctx, onTwo, "a session on the new listener")
	works(t, ctx, onOne, "a session opened before the reload")
	// The replaced monitor publishes into the same holder: generations
	// continue and the new server shows up.
	waitFor(t, "the monitor to report db2", func() bool {
		snap := p.srv.Topology("svc")
		return snap != nil && snap.Server("db2") != nil && snap.Server("db2").State.String() != "Down" && snap.Generation > holder.Generation
	})

	// A listener removed: its port stops accepting, its session runs on.
	spec.listeners = spec.listeners[1:]
	p.write(t, spec.text())
	if res, err = p.srv.Reload(ctx); err != nil || !slices.Equal(changeStrings(res), []string{`removed listener "one"`}) {
		t.Fatalf("removing a listener: %q, %v", changeStrings(res), err)
	}
	refuses(t, ports[0])
	works(t, ctx, onOne, "a session of the removed listener")
	if p.srv.Addr("one") != nil {
		t.Error("the removed listener is still listed")
	}

	// An invalid file is refused with its file:line and nothing changes.
	p.write(t, strings.Replace(spec.text(), "max_connections = 0", "max_connections = \"many\"", 1))
	res, err = p.srv.Reload(ctx)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), p.path+":") || !strings.Contains(err.Error(), `service "svc".max_connections`) {
		t.Fatalf("invalid file: %+v, %v; want ErrConfig naming file:line and key", res, err)
	}
	works(t, ctx, onTwo, "a session after a refused reload")
	works(t, ctx, clientSession(t, ctx, "127.0.0.1:"+strconv.Itoa(ports[1])), "a new session after a refused reload")

	// A restart-only key is reported and keeps its value, and keeps being
	// reported; log.level applies at once.
	spec.cacheSize, spec.level = 5, "debug"
	p.write(t, spec.text())
	for range 2 {
		res, err = p.srv.Reload(ctx)
		if err != nil || !slices.Equal(res.RestartRequired, []string{"proxy.classifier_cache_size"}) {
			t.Fatalf("restart-only key: %+v, %v", res, err)
		}
	}
	if p.level.Level() != slog.LevelDebug {
		t.Errorf("log level %v after reloading level = debug", p.level.Level())
	}

	// A changed service: new sessions get max_connections = 1, the
	// sessions opened before keep running.
	spec.maxConns = 1
	p.write(t, spec.text())
	if res, err = p.srv.Reload(ctx); err != nil || !slices.Equal(changeStrings(res), []string{`changed service "svc" (max_connections)`}) {
		t.Fatalf("changing a service: %q, %v", changeStrings(res), err)
	}
	first := clientSession(t, ctx, "127.0.0.1:"+strconv.Itoa(ports[1]))
	var me *driver.MySQLError
	c2, _ := driver.ParseDSN(harness.TCPDSN("127.0.0.1:"+strconv.Itoa(ports[1]), "app", "app", ""))
	db2, _ := sql.Open("mysql", c2.FormatDSN())
	defer db2.Close()
	if err := db2.PingContext(ctx); !errors.As(err, &me) || me.Number != 1040 {
		t.Errorf("a second session of the changed service: %v, want 1040 Too many connections", err)
	}
	works(t, ctx, first, "the first session of the changed service")
	works(t, ctx, onTwo, "a session opened before the service changed")
	works(t, ctx, onOne, "a session of the removed listener, after its service changed")
	// The service's count still has the sessions of its replaced runtimes.
	waitFor(t, "the service's session count to match its live sessions", func() bool {
		live := 0
		for _, in := range p.srv.SessionInfos() {
			if in.Service == "svc" {
				live++
			}
		}
		st, _ := p.srv.ServiceStats("svc")
		return live >= 3 && st.Current == int64(live) && st.Total >= uint64(live)
	})

	// A listener moved to another port: the new port accepts, the old one
	// refuses, its session runs on.
	spec.maxConns = 0
	spec.listeners[0].port = ports[2]
	p.write(t, spec.text())
	if res, err = p.srv.Reload(ctx); err != nil || !slices.Equal(changeStrings(res), []string{`changed service "svc" (max_connections)`, `changed listener "two" (port)`}) {
		t.Fatalf("moving a listener: %q, %v", changeStrings(res), err)
	}
	refuses(t, ports[1])
	works(t, ctx, clientSession(t, ctx, "127.0.0.1:"+strconv.Itoa(ports[2])), "a session on the moved listener")
	works(t, ctx, onTwo, "a session of the listener's old port")
}

// A reload that cannot bind a new listener changes nothing, not even the
// parts of the file that could have been applied; once the port is free
// the same file applies.
func TestReloadRefusedChangesNothing(t *testing.T) {
	db := mariadb.Get(t)
	_, portStr, _ := net.SplitHostPort(db.Addr())
	dbPort, _ := strconv.Atoi(portStr)
	spec := reloadSpec{datadir: t.TempDir(), dbPort: dbPort, servers: []string{"db1"}, level: "info", listeners: []reloadListener{{name: "one", port: freePort(t)}}}
	p := startFromFile(t, spec)
	ctx := ctxFor(t, time.Minute)
	onOne := clientSession(t, ctx, p.srv.Addr("one").String())

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	spec.servers = append(spec.servers, "db2")
	spec.level = "debug"
	spec.listeners = append(spec.listeners, reloadListener{name: "two", port: busy.Addr().(*net.TCPAddr).Port})
	p.write(t, spec.text())
	res, err := p.srv.Reload(ctx)
	if err == nil || errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `listener "two"`) {
		t.Fatalf("reload onto a busy port: %+v, %v; want the listener's bind error", res, err)
	}
	p.srv.mu.RLock()
	servers := len(p.srv.cfg.Servers)
	p.srv.mu.RUnlock()
	if p.srv.Addr("two") != nil || servers != 1 || p.level.Level() != slog.LevelInfo {
		t.Errorf("a refused reload applied something: listener two %v, %d servers, level %v", p.srv.Addr("two"), servers, p.level.Level())
	}
	works(t, ctx, onOne, "a session after the refused reload")

	busy.Close()
	if res, err = p.srv.Reload(ctx); err != nil || len(res.Changes) != 4 {
		t.Fatalf("the same file once the port is free: %q, %v", changeStrings(res), err)
	}
	works(t, ctx, clientSession(t, ctx, p.srv.Addr("two").String()), "a session on the listener added")
}

// Reload needs a running proxy started from a file.
func TestReloadNeedsRunningProxyAndFile(t *testing.T) {
	cfg := config.Default()
	cfg.Proxy.DataDir = t.TempDir()
	cfg.Metrics.Enabled = false
	srv, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Reload(context.Background()); !errors.Is(err, ErrNoConfigFile) {
		t.Errorf("reload without a file: %v, want ErrNoConfigFile", err)
	}
	path := filepath.Join(t.TempDir(), "maxproxy.toml")
	if err := os.WriteFile(path, []byte("[log]\nlevel = \"debug\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.configFile = path
	if _, err := srv.Reload(context.Background()); !errors.Is(err, errNotRunning) {
		t.Errorf("reload before Run: %v, want errNotRunning", err)
	}
}

// Clients connecting while the service they reach is rebuilt again and
// again are never refused, and a session opened before keeps working.
func TestReloadKeepsAccepting(t *testing.T) {
	db := mariadb.Get(t)
	_, portStr, _ := net.SplitHostPort(db.Addr())
	dbPort, _ := strconv.Atoi(portStr)
	spec := reloadSpec{datadir: t.TempDir(), dbPort: dbPort, servers: []string{"db1"}, level: "info", listeners: []reloadListener{{name: "one", port: freePort(t)}}}
	p := startFromFile(t, spec)
	ctx := ctxFor(t, time.Minute)
	addr := p.srv.Addr("one").String()
	before := clientSession(t, ctx, addr)

	stop := make(chan struct{})
	failed := make(chan error, 1)
	connects := make(chan int, 1)
	go func() {
		n := 0
		defer func() { connects <- n }()
		c, _ := driver.ParseDSN(harness.TCPDSN(addr, "app", "app", ""))
		for {
			select {
			case <-stop:
				return
			default:
			}
			sdb, err := sql.Open("mysql", c.FormatDSN())
			if err == nil {
				err = sdb.PingContext(ctx)
				sdb.Close()
			}
			if err != nil {
				failed <- err
				return
			}
			n++
		}
	}()
	for i := range 6 {
		spec.maxConns = 100 + i // a changed service: a new runtime each time
		p.write(t, spec.text())
		if _, err := p.srv.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		works(t, ctx, before, "a session opened before the reloads")
	}
	close(stop)
	n := <-connects // sent last, so a failure is already in failed
	select {
	case err := <-failed:
		t.Fatalf("a client connecting during the reloads failed after %d connections: %v", n, err)
	default:
	}
	if n == 0 {
		t.Fatal("no client connected during the reloads")
	}
	t.Logf("%d connections during 6 reloads", n)

	// Every one of them is in the service's total, before and after a
	// reload lets go of the runtimes whose sessions all ended.
	st, _ := p.srv.ServiceStats("svc")
	if st.Total < uint64(n+1) {
		t.Errorf("service total %d after %d sessions", st.Total, n+1)
	}
	spec.maxConns = 0
	p.write(t, spec.text())
	if _, err := p.srv.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _ := p.srv.ServiceStats("svc"); after.Total < st.Total {
		t.Errorf("after folding the idle runtimes: %+v, was %+v; want the total kept", after, st)
	}
	waitFor(t, "the count to drop to the one session still open", func() bool {
		st, _ := p.srv.ServiceStats("svc")
		return st.Current == 1
	})
}

// POST /v1/reload applies the file and answers what it did; a reloaded
// admin password is the one the API accepts from then on.
func TestReloadThroughAdminAPI(t *testing.T) {
	db := mariadb.Get(t)
	_, portStr, _ := net.SplitHostPort(db.Addr())
	dbPort, _ := strconv.Atoi(portStr)
	spec := reloadSpec{datadir: t.TempDir(), dbPort: dbPort, servers: []string{"db1"}, level: "info",
		listeners: []reloadListener{{name: "one", port: freePort(t)}}, adminPort: freePort(t), adminPassword: adminPasswordHash}
	p := startFromFile(t, spec)
	ctx := ctxFor(t, time.Minute)
	c := adminClient(t, p.testProxy, adminPassword)

	// The file holds lowest-cost bcrypt hashes (see adminPasswordHash).
	const rotated, rotatedHash = "rotated-secret", "$2a$04$efICJ1ZsD0NWYKM8tFrQ3.eywHJzWHDEsWPi7J.SF.4YHjgd9nsEu"
	spec.adminPassword, spec.cacheSize = rotatedHash, 7
	p.write(t, spec.text())
	res, err := c.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := api.ReloadAttributes{
		Changes:         []api.ReloadChange{{Action: "changed", Section: "admin", Keys: []string{"password"}}},
		RestartRequired: []string{"proxy.classifier_cache_size"},
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("reload answered %+v, want %+v", res, want)
	}
	if _, err := adminClient(t, p.testProxy, adminPassword).Servers(ctx); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("the old password after the reload: %v, want 401", err)
	}
	if _, err := adminClient(t, p.testProxy, rotated).Servers(ctx); err != nil {
		t.Errorf("the new password after the reload: %v", err)
	}

	// A refused file: 400 with the file and line, and nothing changes.
	p.write(t, spec.text()+"\n[[listener]]\nname = \"broken\"\n")
	_, err = adminClient(t, p.testProxy, "rotated-secret").Reload(ctx)
	if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), p.path+":") {
		t.Errorf("reload of an invalid file: %v, want 400 naming %s:line", err, p.path)
	}
}

// Turning TLS on for a listener is a reload: the next client may use TLS,
// on the same port, and a plain session opened before keeps working.
func TestReloadListenerTLS(t *testing.T) {
	db := mariadb.Get(t)
	_, portStr, _ := net.SplitHostPort(db.Addr())
	dbPort, _ := strconv.Atoi(portStr)
	spec := reloadSpec{datadir: t.TempDir(), dbPort: dbPort, servers: []string{"db1"}, level: "info", listeners: []reloadListener{{name: "one", port: freePort(t)}}}
	p := startFromFile(t, spec)
	ctx := ctxFor(t, time.Minute)
	addr := p.srv.Addr("one").String()
	plain := clientSession(t, ctx, addr)
	tlsPing := func() error {
		dc, err := driver.ParseDSN(harness.TCPDSN(addr, "app", "app", ""))
		if err != nil {
			t.Fatal(err)
		}
		dc.TLSConfig = "skip-verify"
		sdb, err := sql.Open("mysql", dc.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		defer sdb.Close()
		return sdb.PingContext(ctx)
	}
	if err := tlsPing(); err == nil {
		t.Fatal("a TLS client was accepted before ssl was turned on")
	}

	spec.listeners[0].cert, spec.listeners[0].key = selfSigned(t, t.TempDir())
	p.write(t, spec.text())
	res, err := p.srv.Reload(ctx)
	if err != nil || !slices.Equal(changeStrings(res), []string{`changed listener "one" (ssl, ssl_cert, ssl_key)`}) {
		t.Fatalf("turning TLS on: %q, %v", changeStrings(res), err)
	}
	if p.srv.Addr("one").String() != addr {
		t.Errorf("the listener moved from %s to %s; a TLS change keeps the socket", addr, p.srv.Addr("one"))
	}
	if err := tlsPing(); err != nil {
		t.Errorf("a TLS client after the reload: %v", err)
	}
	works(t, ctx, plain, "a plain session opened before TLS was turned on")
}
