package server

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	driver "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/proxy/protocol"
	"github.com/maxproxy/maxproxy/proxy/session"
)

// mariadb is one plain MariaDB shared by the package's tests. The proxy
// sees it as two servers, "writer" and "reader" (same address, static
// topology: the first is Master, the second Slave), so that routing,
// lazy connections, history replay and lazy prepares run across two
// backend connections of one session.
var mariadb = harness.NewShared("mariadb", func(ctx context.Context, s *harness.Scope) (*harness.Server, error) {
	return harness.NewMariaDB(ctx, s, harness.MariaDBOptions{})
})

func TestMain(m *testing.M) { os.Exit(harness.Main(m, mariadb)) }

type testProxy struct {
	srv    *Server
	reg    *prometheus.Registry
	addr   string
	db     *harness.Server
	cancel context.CancelFunc
	done   chan error
}

// startProxy runs a proxy on the shared MariaDB; mutate adjusts the
// configuration first.
func startProxy(t testing.TB, mutate func(*config.Config)) *testProxy {
	t.Helper()
	return startProxyWith(t, mutate, Options{})
}

// startProxyWith is startProxy with options (a nil Registerer gets a fresh
// registry).
func startProxyWith(t testing.TB, mutate func(*config.Config), opts Options) *testProxy {
	t.Helper()
	db := mariadb.Get(t)
	_, portStr, _ := net.SplitHostPort(db.Addr())
	port, _ := strconv.Atoi(portStr)
	cfg := config.Default()
	cfg.Proxy.DataDir = t.TempDir()
	cfg.Metrics.Enabled = false
	for _, name := range []string{"writer", "reader"} {
		s := config.DefaultServer()
		s.Name, s.Address, s.Port = name, "127.0.0.1", port
		cfg.Servers = append(cfg.Servers, s)
	}
	svc := config.DefaultService(config.ReadWriteSplit)
	svc.Name, svc.Servers = "rw", []string{"writer", "reader"}
	svc.User, svc.Password = harness.ServiceAccount.User, harness.ServiceAccount.Password
	svc.UsersRefreshTime = 0
	cfg.Services = []config.Service{svc}
	ln := config.DefaultListener()
	ln.Name, ln.Service, ln.Address, ln.Port = "rw-port", "rw", "127.0.0.1", freePort(t)
	cfg.Listeners = []config.Listener{ln}
	if mutate != nil {
		mutate(cfg)
	}
	if opts.Registerer == nil {
		reg := prometheus.NewRegistry()
		opts.Registerer = reg
	}
	reg, _ := opts.Registerer.(*prometheus.Registry)
	p := &testProxy{reg: reg, db: db, done: make(chan error, 1)}
	opts.Logger, opts.ShutdownTimeout = testLogger(t), 5*time.Second
	var err error
	p.srv, err = New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	p.addr = p.srv.Addr("rw-port").String()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- p.srv.Run(ctx) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *testProxy) stop(t testing.TB) {
	t.Helper()
	p.cancel()
	select {
	case err, ok := <-p.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(p.done)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30s after its context ended")
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (p *testProxy) open(t *testing.T, db string) *sql.DB {
	t.Helper()
	c, err := driver.ParseDSN(harness.TCPDSN(p.addr, "app", "app", db))
	if err != nil {
		t.Fatal(err)
	}
	c.MultiStatements = true
	sdb, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sdb.Close() })
	return sdb
}

func (p *testProxy) conn(t *testing.T, ctx context.Context) *sql.Conn {
	t.Helper()
	c, err := p.open(t, "").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// routed reads maxproxy_queries_routed_total of service rw.
func (p *testProxy) routed(server, target string) float64 {
	mfs, err := p.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "maxproxy_queries_routed_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["service"] == "rw" && labels["server"] == server && labels["target"] == target {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func queryString(t *testing.T, ctx context.Context, c *sql.Conn, q string, args ...any) string {
	t.Helper()
	var s sql.NullString
	if err := c.QueryRowContext(ctx, q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s.String
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestRoutingAndHistory(t *testing.T) {
	p := startProxy(t, nil)
	ctx := ctxFor(t, time.Minute)
	c := p.conn(t, ctx)

	// A session command before any statement opens the writer and is
	// recorded; the read that follows opens the reader, which gets the
	// history replayed before it runs.
	if _, err := c.ExecContext(ctx, "SET @x = 42, SESSION sql_mode = 'ANSI_QUOTES'"); err != nil {
		t.Fatal(err)
	}
	slaveBefore := p.routed("reader", "slave")
	if got := queryString(t, ctx, c, "SELECT @x"); got != "42" {
		t.Errorf("SELECT @x on the reader = %q, want 42 (history replayed)", got)
	}
	if got := p.routed("reader", "slave") - slaveBefore; got != 1 {
		t.Errorf("reader got %v reads, want 1", got)
	}
	if got := queryString(t, ctx, c, "SELECT @@sql_mode"); got != "ANSI_QUOTES" {
		t.Errorf("sql_mode on the reader = %q", got)
	}
	// Session commands after both are open reach both.
	mustExec(t, ctx, c, "CREATE DATABASE IF NOT EXISTS srvtest")
	mustExec(t, ctx, c, "USE srvtest")
	if got := queryString(t, ctx, c, "SELECT DATABASE()"); got != "srvtest" {
		t.Errorf("DATABASE() on the reader = %q", got)
	}
	mustExec(t, ctx, c, `CREATE OR REPLACE TABLE t (id INT PRIMARY KEY, "v" VARCHAR(10))`) // ANSI_QUOTES on the writer too
	mustExec(t, ctx, c, "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
	// Reads of a temporary table go to the writer, which has it.
	mustExec(t, ctx, c, "CREATE TEMPORARY TABLE tmp (x INT)")
	mustExec(t, ctx, c, "INSERT INTO tmp VALUES (7)")
	if got := queryString(t, ctx, c, "SELECT x FROM tmp"); got != "7" {
		t.Errorf("temporary table read = %q", got)
	}
	// A read in a transaction sees the transaction's write.
	mustExec(t, ctx, c, "BEGIN")
	mustExec(t, ctx, c, "INSERT INTO t VALUES (3, 'c')")
	if got := queryString(t, ctx, c, "SELECT COUNT(*) FROM t"); got != "3" {
		t.Errorf("count in transaction = %q, want 3", got)
	}
	mustExec(t, ctx, c, "ROLLBACK")
	if got := queryString(t, ctx, c, "SELECT COUNT(*) FROM t"); got != "2" {
		t.Errorf("count after rollback = %q, want 2", got)
	}
	// FOUND_ROWS() follows the previous statement's server.
	mustExec(t, ctx, c, "DROP DATABASE srvtest")
}

func mustExec(t *testing.T, ctx context.Context, c *sql.Conn, q string) {
	t.Helper()
	if _, err := c.ExecContext(ctx, q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestPreparedAcrossBackends(t *testing.T) {
	p := startProxy(t, nil)
	ctx := ctxFor(t, time.Minute)
	c := p.conn(t, ctx)
	mustExec(t, ctx, c, "CREATE DATABASE IF NOT EXISTS srvps")
	defer mustExec(t, ctx, c, "DROP DATABASE srvps")
	mustExec(t, ctx, c, "CREATE OR REPLACE TABLE srvps.t (id INT PRIMARY KEY, v VARCHAR(10))")
	ins, err := c.PrepareContext(ctx, "INSERT INTO srvps.t VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := ins.ExecContext(ctx, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	ins.Close()
	before := p.routed("reader", "slave")
	sel, err := c.PrepareContext(ctx, "SELECT v FROM srvps.t WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close()
	for i := range 5 {
		var v string
		if err := sel.QueryRowContext(ctx, i).Scan(&v); err != nil || v != fmt.Sprint("v", i) {
			t.Errorf("execute %d = %q, %v", i, v, err)
		}
	}
	// Each EXECUTE ran on the reader (the first also prepared it there).
	if got := p.routed("reader", "slave") - before; got != 5 {
		t.Errorf("reader executed %v statements, want 5", got)
	}
	// An unknown statement id is refused with MariaDB's error.
	_, err = c.ExecContext(ctx, "EXECUTE nosuch")
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 1243 {
		t.Errorf("EXECUTE of an unknown text statement: %v, want 1243", err)
	}
}

// rawClient logs in to the proxy with the wire layer's primitives, for
// commands the drivers do not send (COM_RESET_CONNECTION,
// COM_CHANGE_USER). It returns the greeting's salt, which COM_CHANGE_USER
// replies are computed against.
func rawClient(t *testing.T, addr, user, password string) (*protocol.Conn, *protocol.ServerInfo, []byte) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := protocol.NewConn(nc)
	pkt, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	hs, err := protocol.ParseInitialHandshake(pkt)
	if err != nil {
		t.Fatal(err)
	}
	caps := uint32(mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH |
		mysql.CLIENT_DEPRECATE_EOF | mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_TRANSACTIONS)
	resp := &protocol.HandshakeResponse{
		Capabilities: caps, MaxPacketSize: 1 << 24, Collation: 45, User: user,
		AuthResponse: protocol.NativeScramble(hs.Salt, protocol.NativeStage1(password)), AuthPlugin: protocol.NativePlugin,
	}
	if err := c.WritePacket(resp.Append(nil)); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if pkt, err = c.ReadPacket(); err != nil || pkt[0] != 0 {
		t.Fatalf("login: %x, %v", pkt, err)
	}
	c.EnableReadAhead()
	return c, &protocol.ServerInfo{ConnectionID: hs.ConnectionID, Capabilities: caps & hs.Capabilities}, hs.Salt
}

// command sends one command and reads its reply; rows are returned as the
// raw text-protocol row packets' first column.
func command(t *testing.T, c *protocol.Conn, info *protocol.ServerInfo, payload []byte) (*protocol.Reply, []string) {
	t.Helper()
	var tr protocol.Tracker
	if _, err := tr.Start(payload, info.Capabilities); err != nil {
		t.Fatal(err)
	}
	c.ResetSequence()
	if err := c.WritePacket(payload); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	var rows []string
	inRows := false
	for {
		pkt, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		step, err := tr.Feed(pkt)
		if err != nil {
			t.Fatal(err)
		}
		if inRows && step == protocol.More && !protocol.IsEOF(pkt) {
			rows = append(rows, firstColumn(pkt))
		}
		if tr.Reply().NumColumns == 0 && !inRows && len(pkt) > 0 && pkt[0] == 0x03 {
			inRows = true // after column definitions (def catalog)
		}
		if step == protocol.Done {
			return tr.Reply(), rows
		}
	}
}

func firstColumn(row []byte) string {
	if len(row) == 0 || row[0] == 0xfb {
		return "NULL"
	}
	n := int(row[0])
	if n >= len(row) {
		return ""
	}
	return string(row[1 : 1+n])
}

func query(q string) []byte { return append([]byte{mysql.COM_QUERY}, q...) }

func TestResetConnectionAndChangeUser(t *testing.T) {
	p := startProxy(t, nil)
	c, info, salt := rawClient(t, p.addr, "app", "app")
	if r, _ := command(t, c, info, query("SET @x = 1")); r.IsErr {
		t.Fatal(r.Error())
	}
	if _, rows := command(t, c, info, query("SELECT @x")); len(rows) != 1 || rows[0] != "1" {
		t.Fatalf("SELECT @x = %v, want [1]", rows)
	}
	if r, _ := command(t, c, info, []byte{mysql.COM_RESET_CONNECTION}); r.IsErr {
		t.Fatal(r.Error())
	}
	if _, rows := command(t, c, info, query("SELECT @x")); len(rows) != 1 || rows[0] != "NULL" {
		t.Errorf("SELECT @x after COM_RESET_CONNECTION = %v, want [NULL]", rows)
	}
	if r, _ := command(t, c, info, query("SET @y = 2")); r.IsErr {
		t.Fatal(r.Error())
	}

	// COM_CHANGE_USER to the service account: the proxy checks the reply
	// against the greeting's salt, and the new identity reaches the
	// backends (reopened) without the old session state.
	if pkt := changeUser(t, c, info, salt, harness.ServiceAccount.User, harness.ServiceAccount.Password); pkt[0] != 0 {
		t.Fatalf("COM_CHANGE_USER: %q", pkt)
	}
	if _, rows := command(t, c, info, query("SELECT CURRENT_USER()")); len(rows) != 1 || !strings.HasPrefix(rows[0], "maxuser@") {
		t.Errorf("CURRENT_USER() after change user = %v", rows)
	}
	if _, rows := command(t, c, info, query("SELECT @y")); len(rows) != 1 || rows[0] != "NULL" {
		t.Errorf("SELECT @y after change user = %v, want [NULL]", rows)
	}
	// A wrong password is refused and, as with MariaDB, ends the session.
	pkt := changeUser(t, c, info, salt, "app", "wrong")
	if e, err := protocol.ParseERR(pkt); err != nil || e.Code != protocol.ERAccessDenied {
		t.Errorf("change user with a wrong password: %q, want ERR 1045", pkt)
	}
	if _, err := c.ReadPacket(); err == nil {
		t.Error("session still open after a failed COM_CHANGE_USER")
	}
}

// changeUser runs COM_CHANGE_USER, answering an auth switch to
// mysql_native_password with a fresh salt as MariaDB sends it, and returns
// the final OK or ERR packet.
func changeUser(t *testing.T, c *protocol.Conn, info *protocol.ServerInfo, salt []byte, user, password string) []byte {
	t.Helper()
	stage1 := protocol.NativeStage1(password)
	cu := &protocol.ChangeUser{User: user, AuthPlugin: protocol.NativePlugin, Collation: 45,
		AuthResponse: protocol.NativeScramble(salt, stage1)}
	c.ResetSequence()
	send := func(p []byte) {
		if err := c.WritePacket(p); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	send(cu.Append(nil, info.Capabilities))
	pkt, err := c.ReadPacket()
	if err != nil || len(pkt) == 0 {
		t.Fatalf("reply: %x, %v", pkt, err)
	}
	if pkt[0] == 0xfe {
		plugin, rest, ok := bytes.Cut(pkt[1:], []byte{0})
		if !ok || string(plugin) != protocol.NativePlugin || len(rest) < protocol.SaltLen {
			t.Fatalf("auth switch: %q", pkt)
		}
		send(protocol.NativeScramble(rest[:protocol.SaltLen], stage1))
		if pkt, err = c.ReadPacket(); err != nil || len(pkt) == 0 {
			t.Fatalf("reply: %x, %v", pkt, err)
		}
	}
	return append([]byte(nil), pkt...)
}

func TestKill(t *testing.T) {
	p := startProxy(t, nil)
	a, err := gomysql.Connect(p.addr, "app", "app", "")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := gomysql.Connect(p.addr, "app", "app", "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.Execute("DO 1"); err != nil { // opens a backend connection
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.Execute("SELECT SLEEP(30)")
		done <- err
	}()
	// Wait until the sleep runs on the backend, then kill the query by the
	// proxy's id of session a.
	waitFor(t, "the SLEEP to run", func() bool {
		r, err := b.Execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(30)%'")
		if err != nil {
			return false
		}
		n, _ := r.GetInt(0, 0)
		return n == 1
	})
	if _, err := b.Execute(fmt.Sprintf("KILL QUERY %d", a.GetConnectionID())); err != nil {
		t.Fatalf("KILL QUERY: %v", err)
	}
	select {
	case err := <-done:
		// MariaDB ends a killed SLEEP early (result 1) or with 1317.
		var me *mysql.MyError
		if err != nil && !(errors.As(err, &me) && me.Code == 1317) {
			t.Errorf("killed query: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("KILL QUERY did not interrupt the statement")
	}
	// The session survives KILL QUERY.
	if _, err := a.Execute("DO 1"); err != nil {
		t.Errorf("session after KILL QUERY: %v", err)
	}
	if _, err := b.Execute(fmt.Sprintf("KILL %d", a.GetConnectionID())); err != nil {
		t.Fatalf("KILL: %v", err)
	}
	if _, err := a.Execute("DO 1"); err == nil {
		t.Error("session still works after KILL CONNECTION")
	}
	_, err = b.Execute("KILL 4000000")
	var me *mysql.MyError
	if !errors.As(err, &me) || me.Code != 1094 {
		t.Errorf("KILL of an unknown id: %v, want 1094", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := harness.Poll(ctxFor(t, 20*time.Second), what, 20*time.Millisecond, func(context.Context) error {
		if cond() {
			return nil
		}
		return errors.New("not yet")
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMaxSlaveConnectionsZero(t *testing.T) {
	p := startProxy(t, func(cfg *config.Config) { cfg.Services[0].MaxSlaveConnections = 0 })
	ctx := ctxFor(t, time.Minute)
	c := p.conn(t, ctx)
	for range 3 {
		if got := queryString(t, ctx, c, "SELECT 1"); got != "1" {
			t.Fatal(got)
		}
	}
	if got := p.routed("reader", "slave"); got != 0 {
		t.Errorf("reader got %v reads with max_slave_connections = 0", got)
	}
	if got := p.routed("writer", "master"); got != 3 {
		t.Errorf("writer got %v statements, want the 3 reads", got)
	}
}

func TestWaitTimeout(t *testing.T) {
	p := startProxy(t, func(cfg *config.Config) { cfg.Services[0].WaitTimeout = 300 * time.Millisecond })
	ctx := ctxFor(t, time.Minute)
	c := p.conn(t, ctx)
	// A statement longer than wait_timeout is not cut: the timeout is for
	// idle clients only.
	if got := queryString(t, ctx, c, "SELECT SLEEP(0.5) + 1"); got != "1" {
		t.Fatalf("long statement = %q", got)
	}
	waitFor(t, "the idle session to be closed", func() bool { return p.srv.Sessions() == 0 })
	if _, err := c.ExecContext(ctx, "DO 1"); err == nil {
		t.Error("session idle beyond wait_timeout still works")
	}
}

func TestSessionViews(t *testing.T) {
	p := startProxy(t, nil)
	ctx := ctxFor(t, time.Minute)
	c := p.conn(t, ctx)
	mustExec(t, ctx, c, "BEGIN")
	mustExec(t, ctx, c, "DO 1")
	var infos []session.Info
	waitFor(t, "the session to be idle", func() bool {
		infos = p.srv.SessionInfos()
		return len(infos) == 1 && infos[0].State == "Idle"
	})
	in := infos[0]
	if in.Service != "rw" || in.User != "app" || !in.InTransaction || len(in.Backends) != 1 || in.Backends[0].Server != "writer" {
		t.Errorf("session view %+v", in)
	}
	if st := p.srv.ServerStats("writer"); st.Current != 1 || st.Total != 1 {
		t.Errorf("writer stats %+v", st)
	}
	if st, ok := p.srv.ServiceStats("rw"); !ok || st.Current != 1 || st.Total != 1 {
		t.Errorf("service stats %+v %v", st, ok)
	}
	if err := p.srv.KillSession(in.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the killed session to end", func() bool { return p.srv.Sessions() == 0 })
	if err := p.srv.KillSession(in.ID); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("killing a gone session: %v", err)
	}
}

// TestLongData sends parameters with COM_STMT_SEND_LONG_DATA (the driver
// does for values larger than maxAllowedPacket/(params+1)) and reads them
// back through a prepared read, which runs where its long data went.
func TestLongData(t *testing.T) {
	p := startProxy(t, nil)
	ctx := ctxFor(t, time.Minute)
	admin := p.conn(t, ctx)
	mustExec(t, ctx, admin, "CREATE DATABASE IF NOT EXISTS srvlong")
	defer mustExec(t, ctx, admin, "DROP DATABASE srvlong")
	mustExec(t, ctx, admin, "CREATE OR REPLACE TABLE srvlong.t (id INT PRIMARY KEY, v MEDIUMTEXT)")

	dc, err := driver.ParseDSN(harness.TCPDSN(p.addr, "app", "app", ""))
	if err != nil {
		t.Fatal(err)
	}
	dc.MaxAllowedPacket = 4096
	db, err := sql.Open("mysql", dc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := strings.Repeat("0123456789", 10_000)
	if _, err := c.ExecContext(ctx, "INSERT INTO srvlong.t VALUES (?, ?)", 1, big); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.QueryRowContext(ctx, "SELECT LENGTH(v) FROM srvlong.t WHERE id = ? AND v = ?", 1, big).Scan(&n); err != nil || n != len(big) {
		t.Errorf("long value read back: length %d, %v; want %d", n, err, len(big))
	}
	// Two SEND_LONG_DATA and the two EXECUTEs pinned to them.
	if got := p.routed("writer", "previous"); got < 4 {
		t.Errorf("writer got %v long-data commands and pinned executes, want >= 4", got)
	}
}
