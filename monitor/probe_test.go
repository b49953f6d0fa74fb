package monitor

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/maxproxy/maxproxy/monitor/galera"
)

// fakeMySQL is a MySQL-protocol server on 127.0.0.1 that answers the
// monitor's two SHOW statements from tables the test sets.
type fakeMySQL struct {
	t      *testing.T
	ln     net.Listener
	srv    *server.Server
	wg     sync.WaitGroup
	mu     sync.Mutex
	status [][]any
	vars   [][]any
	// marker is the maxproxy.writer row; nil: the table does not exist.
	marker []any
	// queryErr answers every query with this error when set.
	queryErr *mysql.MyError
	// hang makes queries wait until it is closed or the client goes away.
	hang chan struct{}
	// sha2 logs the user in with caching_sha2_password although the
	// server has no RSA key, which go-mysql's client cannot handle.
	sha2       bool
	conns      []net.Conn
	collations []uint8
	queries    []string
}

// startFakeMySQL starts the server after configure (if any) has set it up.
func startFakeMySQL(t *testing.T, configure ...func(*fakeMySQL)) *fakeMySQL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Collation 45 (utf8mb4_general_ci), never go-mysql's default 255.
	f := &fakeMySQL{t: t, ln: ln, srv: server.NewServer("10.11.6-MariaDB-fake", 45, mysql.AUTH_NATIVE_PASSWORD, nil, nil)}
	f.status = [][]any{
		{"wsrep_local_state", "4"}, {"wsrep_local_state_comment", "Synced"}, {"wsrep_ready", "ON"},
		{"wsrep_cluster_status", "Primary"}, {"wsrep_cluster_state_uuid", "u1"}, {"wsrep_cluster_size", "3"},
		{"wsrep_local_index", "1"}, {"wsrep_local_recv_queue", "7"}, {"wsrep_flow_control_sent", "12"},
		{"wsrep_flow_control_paused", "0.5"}, {"wsrep_local_bf_aborts", "0"},
	}
	f.vars = [][]any{
		{"wsrep_desync", "OFF"}, {"wsrep_reject_queries", "NONE"}, {"wsrep_sst_donor_rejects_queries", "OFF"},
		{"wsrep_sst_method", "mariabackup"}, {"wsrep_node_name", "node2"}, {"wsrep_sst_donor", ""},
		{"wsrep_provider_options", strings.Repeat("x", 3000)},
	}
	for _, c := range configure {
		c(f)
	}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.stop)
	return f
}

func (f *fakeMySQL) addr() string { return f.ln.Addr().String() }

func (f *fakeMySQL) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serve(c)
	}
}

func (f *fakeMySQL) serve(nc net.Conn) {
	defer f.wg.Done()
	defer nc.Close()
	f.mu.Lock()
	auth := server.NewInMemoryAuthenticationHandler(mysql.AUTH_NATIVE_PASSWORD)
	if f.sha2 {
		auth = server.NewInMemoryAuthenticationHandler()
	}
	f.mu.Unlock()
	if err := auth.AddUser("maxmon", "secret"); err != nil {
		f.t.Error(err)
		return
	}
	c, err := f.srv.NewCustomizedConn(nc, auth, &fakeHandler{f: f, nc: nc})
	if err != nil {
		return // failed login: go-mysql has answered with ER_ACCESS_DENIED
	}
	f.mu.Lock()
	f.collations = append(f.collations, c.Charset())
	f.mu.Unlock()
	for !c.Closed() {
		if err := c.HandleCommand(); err != nil {
			return
		}
	}
}

// dropAll closes every server-side connection, as a server restart would.
func (f *fakeMySQL) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

func (f *fakeMySQL) stop() {
	f.ln.Close()
	f.mu.Lock()
	if f.hang != nil {
		select {
		case <-f.hang:
		default:
			close(f.hang)
		}
	}
	f.mu.Unlock()
	f.dropAll()
	f.wg.Wait()
}

type fakeHandler struct {
	server.EmptyHandler
	f  *fakeMySQL
	nc net.Conn
}

func (h *fakeHandler) HandleQuery(q string) (*mysql.Result, error) {
	f := h.f
	f.mu.Lock()
	f.queries = append(f.queries, q)
	hang, qerr := f.hang, f.queryErr
	status, vars, marker := f.status, f.vars, f.marker
	f.mu.Unlock()
	if hang != nil {
		<-hang
	}
	if qerr != nil {
		return nil, qerr
	}
	var rows [][]any
	switch q {
	case statusQuery:
		rows = status
	case variablesQuery:
		rows = vars
	case markerQuery:
		if marker == nil {
			return nil, mysql.NewError(mysql.ER_NO_SUCH_TABLE, "Table 'maxproxy.writer' doesn't exist")
		}
		rs, err := mysql.BuildSimpleTextResultset([]string{"node", "version"}, [][]any{marker})
		if err != nil {
			return nil, err
		}
		return &mysql.Result{Resultset: rs}, nil
	default:
		if strings.HasPrefix(q, "SET GLOBAL wsrep_sst_donor") {
			return &mysql.Result{}, nil
		}
		return nil, mysql.NewError(mysql.ER_NOT_SUPPORTED_YET, "fake server: "+q)
	}
	rs, err := mysql.BuildSimpleTextResultset([]string{"Variable_name", "Value"}, rows)
	if err != nil {
		return nil, err
	}
	return &mysql.Result{Resultset: rs}, nil
}

func newTestProber(addr, password string, read time.Duration) *mysqlProber {
	o := Options{User: "maxmon", Password: password, BackendReadTimeout: read}.withDefaults()
	return &mysqlProber{srv: Server{Name: "s1", Address: addr}, opts: o}
}

func TestProbeReadsWsrepStatusAndVariables(t *testing.T) {
	f := startFakeMySQL(t)
	p := newTestProber(f.addr(), "secret", time.Second)
	defer p.Close()
	r := p.Probe(context.Background())
	if !r.Up || !r.HasStatus || r.Err != "" {
		t.Fatalf("probe = %+v", r)
	}
	s := r.Status
	if s.LocalState != 4 || !s.Ready || s.ClusterStatus != "Primary" || s.ClusterUUID != "u1" || s.ClusterSize != 3 ||
		s.LocalIndex != 1 || s.RecvQueue != 7 || s.FlowControlSent != 12 || s.Desync || s.RejectQueries != "NONE" ||
		s.SSTMethod != "mariabackup" || s.NodeName != "node2" {
		t.Fatalf("status = %+v", s)
	}
	// A second probe reuses the connection.
	if r := p.Probe(context.Background()); !r.Up {
		t.Fatalf("second probe: %+v", r)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.collations) != 1 || f.collations[0] != 45 {
		t.Fatalf("logins with collations %v; want one login with utf8mb4_general_ci (45)", f.collations)
	}
	if want := []string{statusQuery, variablesQuery, statusQuery, variablesQuery}; strings.Join(f.queries, "|") != strings.Join(want, "|") {
		t.Fatalf("queries %q", f.queries)
	}
}

func TestProbeReconnectsAfterTheServerDroppedTheConnection(t *testing.T) {
	f := startFakeMySQL(t)
	p := newTestProber(f.addr(), "secret", time.Second)
	defer p.Close()
	if r := p.Probe(context.Background()); !r.Up {
		t.Fatal(r.Err)
	}
	f.dropAll()
	if r := p.Probe(context.Background()); !r.Up || !r.HasStatus {
		t.Fatalf("after a dropped connection: %+v", r)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.collations) != 2 {
		t.Fatalf("%d logins, want 2", len(f.collations))
	}
}

func TestProbeFailures(t *testing.T) {
	t.Run("wrong password is an auth error and down", func(t *testing.T) {
		f := startFakeMySQL(t)
		p := newTestProber(f.addr(), "wrong", time.Second)
		defer p.Close()
		r := p.Probe(context.Background())
		if r.Up || !r.AuthError || !strings.Contains(r.Err, "1045") {
			t.Fatalf("probe = %+v", r)
		}
	})
	t.Run("a client library panic on a malformed handshake is reported as down", func(t *testing.T) {
		f := startFakeMySQL(t, func(f *fakeMySQL) { f.sha2 = true })
		p := newTestProber(f.addr(), "secret", time.Second)
		defer p.Close()
		r := p.Probe(context.Background())
		if r.Up || !strings.Contains(r.Err, "handshake failed") {
			t.Fatalf("probe = %+v", r)
		}
	})
	t.Run("a server that accepts but never greets is down after the connect timeout", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				accepted <- c
			}
			close(accepted)
		}()
		p := newTestProber(ln.Addr().String(), "secret", time.Hour)
		p.opts.BackendConnectTimeout = 100 * time.Millisecond
		r := p.Probe(context.Background())
		if r.Up || !strings.Contains(r.Err, "deadline exceeded") {
			t.Fatalf("probe = %+v", r)
		}
		if c, ok := <-accepted; ok {
			c.Close()
		}
	})
	t.Run("refused connection is down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		p := newTestProber(addr, "secret", time.Second)
		p.opts.BackendConnectAttempts = 2
		r := p.Probe(context.Background())
		if r.Up || r.AuthError || r.Err == "" {
			t.Fatalf("probe = %+v", r)
		}
	})
	t.Run("missing privilege is an auth error while running", func(t *testing.T) {
		f := startFakeMySQL(t, func(f *fakeMySQL) {
			f.queryErr = mysql.NewError(mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR,
				"Access denied; you need (at least one of) the REPLICATION CLIENT privilege(s)")
		})
		p := newTestProber(f.addr(), "secret", time.Second)
		defer p.Close()
		r := p.Probe(context.Background())
		if !r.Up || !r.AuthError || r.HasStatus {
			t.Fatalf("probe = %+v", r)
		}
	})
	t.Run("other query errors leave the server running without status", func(t *testing.T) {
		f := startFakeMySQL(t, func(f *fakeMySQL) {
			f.queryErr = mysql.NewError(mysql.ER_UNKNOWN_COM_ERROR, "WSREP has not yet prepared node for application use")
		})
		p := newTestProber(f.addr(), "secret", time.Second)
		defer p.Close()
		r := p.Probe(context.Background())
		if !r.Up || r.AuthError || r.HasStatus || !strings.Contains(r.Err, "1047") {
			t.Fatalf("probe = %+v", r)
		}
	})
	t.Run("a hung server is down after the read timeout", func(t *testing.T) {
		f := startFakeMySQL(t)
		p := newTestProber(f.addr(), "secret", 100*time.Millisecond)
		defer p.Close()
		if r := p.Probe(context.Background()); !r.Up {
			t.Fatal(r.Err)
		}
		f.mu.Lock()
		f.hang = make(chan struct{})
		f.mu.Unlock()
		r := p.Probe(context.Background())
		if r.Up || r.Err == "" {
			t.Fatalf("probe of a hung server = %+v", r)
		}
		if p.conn != nil {
			t.Fatal("connection to a hung server kept")
		}
		f.mu.Lock()
		logins := len(f.collations)
		f.mu.Unlock()
		if logins != 1 {
			t.Fatalf("%d logins: a timed-out server was retried within the same probe", logins)
		}
	})
	t.Run("cancelling the context ends a probe", func(t *testing.T) {
		f := startFakeMySQL(t)
		p := newTestProber(f.addr(), "secret", time.Hour)
		defer p.Close()
		if r := p.Probe(context.Background()); !r.Up {
			t.Fatal(r.Err)
		}
		f.mu.Lock()
		f.hang = make(chan struct{})
		f.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if r := p.Probe(ctx); r.Up {
				t.Errorf("cancelled probe reported up: %+v", r)
			}
		}()
		cancel()
		<-done
	})
}

func TestExec(t *testing.T) {
	f := startFakeMySQL(t)
	p := newTestProber(f.addr(), "secret", time.Second)
	defer p.Close()
	if err := p.Exec(context.Background(), "SET GLOBAL wsrep_sst_donor = 'a'"); err == nil {
		t.Fatal("Exec without a connection succeeded")
	}
	p.Probe(context.Background())
	if err := p.Exec(context.Background(), "SET GLOBAL wsrep_sst_donor = 'a'"); err != nil {
		t.Fatal(err)
	}
	err := p.Exec(context.Background(), "DROP TABLE x")
	var me *mysql.MyError
	if !errors.As(err, &me) || me.Code != mysql.ER_NOT_SUPPORTED_YET {
		t.Fatalf("Exec error %v", err)
	}
}

func TestProbeReadsTheWriterMarker(t *testing.T) {
	f := startFakeMySQL(t)
	p := newTestProber(f.addr(), "secret", time.Second)
	p.opts.StickyWriter = true
	defer p.Close()
	r := p.Probe(context.Background())
	if !r.Up || r.MarkerErr != "" || r.Marker != (galera.WriterMarker{Read: true}) {
		t.Fatalf("without the table: %+v", r)
	}
	f.mu.Lock()
	f.marker = []any{"node3", "42"}
	f.mu.Unlock()
	if r := p.Probe(context.Background()); r.Marker != (galera.WriterMarker{Read: true, Node: "node3", Version: 42}) {
		t.Fatalf("with a row: %+v", r.Marker)
	}
	f.mu.Lock()
	f.marker = []any{"node3", "not a number"}
	f.mu.Unlock()
	if r := p.Probe(context.Background()); r.Marker.Read || r.MarkerErr == "" || !r.Up {
		t.Fatalf("with a bad row: %+v", r)
	}
	// A node that is not ready is not asked.
	f.mu.Lock()
	f.status = append(f.status, []any{"wsrep_ready", "OFF"})
	f.queries = nil
	f.mu.Unlock()
	if r := p.Probe(context.Background()); r.Marker.Read || r.Status.Ready {
		t.Fatalf("not ready: %+v", r)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.queries {
		if q == markerQuery {
			t.Fatal("marker read from a node that is not ready")
		}
	}
}
