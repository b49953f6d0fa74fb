package session_test

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"io"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/proxy/session"
	"github.com/maxproxy/maxproxy/router/classify"
)

// The idle tests give the backend connections a one-second wait_timeout
// (MariaDB's smallest) through the client's own SET, which the proxy sends
// to every backend connection and replays on new ones, so that the shared
// server's global setting stays untouched.

type idleEnv struct {
	reg *session.Registry
	c   *sql.Conn
	ctx context.Context
}

func newIdleEnv(t *testing.T, mutate func(*config.Service)) *idleEnv {
	t.Helper()
	db := mariadb.Get(t)
	m, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultService(config.ReadWriteSplit)
	cfg.Name = "rw"
	mutate(&cfg)
	reg := session.NewRegistry()
	svc, err := session.NewService(session.ServiceOptions{
		Config:     cfg,
		Servers:    []*session.Server{{Name: "writer", Address: db.Addr()}, {Name: "reader", Address: db.Addr()}},
		Topology:   newFakeTopology(snapshot(master)),
		Auth:       appAuth{},
		Classifier: classify.New(100),
		Metrics:    m,
		Registry:   reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &idleEnv{reg: reg, c: serve(t, svc), ctx: context.Background()}
}

// writerThread runs a statement the router sends to the writer and
// returns the thread id that answered it.
func (e *idleEnv) writerThread(t *testing.T) (uint64, error) {
	t.Helper()
	var id uint64
	err := e.c.QueryRowContext(e.ctx, "SELECT CONNECTION_ID() FOR UPDATE").Scan(&id)
	return id, err
}

// readFor keeps the client busy with reads (routed to the reader) for d,
// so that the writer connection is unused while the client is active.
func (e *idleEnv) readFor(t *testing.T, d time.Duration) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	end := time.After(d)
	for {
		select {
		case <-end:
			return
		case <-tick.C:
			mustExec(t, e.c, "SELECT 1")
		}
	}
}

func (e *idleEnv) start(t *testing.T) uint64 {
	t.Helper()
	mustExec(t, e.c, "SET SESSION wait_timeout = 1")
	id, err := e.writerThread(t)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, e.c, "SELECT 1") // opens the reader connection
	return id
}

// TestKeepaliveActiveClient: a client busy on the reader keeps its unused
// writer connection across an idle period twice the backend's wait_timeout
// when connection_keepalive pings it; without keepalive the server closes
// it, and the client's next write gets 1927 (the proxy cannot tell whether
// a statement sent on a connection that turns out dead ran), after which
// the session goes on with a new connection.
func TestKeepaliveActiveClient(t *testing.T) {
	t.Run("on", func(t *testing.T) {
		e := newIdleEnv(t, func(c *config.Service) { c.ConnectionKeepalive = 300 * time.Millisecond })
		before := e.start(t)
		e.readFor(t, 2200*time.Millisecond)
		after, err := e.writerThread(t)
		if err != nil || after != before {
			t.Fatalf("writer thread after the idle period: %d, %v; want the same thread %d kept alive", after, err, before)
		}
	})
	t.Run("off", func(t *testing.T) {
		e := newIdleEnv(t, func(c *config.Service) { c.ConnectionKeepalive = 0 })
		before := e.start(t)
		e.readFor(t, 2200*time.Millisecond)
		_, err := e.writerThread(t)
		var me *driver.MySQLError
		if !errors.As(err, &me) || me.Number != 1927 {
			t.Fatalf("write on a writer connection the server closed: %v, want error 1927", err)
		}
		after, err := e.writerThread(t)
		if err != nil || after == before {
			t.Fatalf("next write: thread %d, %v; want a new connection (old thread %d)", after, err, before)
		}
	})
}

// TestKeepaliveIdleClient: a client idle for longer than the interval is
// not pinged (MaxScale's rule), so the backend's wait_timeout closes its
// connections; when it comes back the proxy finds them dead before using
// them and its statement runs on a new connection without an error.
func TestKeepaliveIdleClient(t *testing.T) {
	e := newIdleEnv(t, func(c *config.Service) { c.ConnectionKeepalive = 300 * time.Millisecond })
	before := e.start(t)
	time.Sleep(2 * time.Second) // the idle period under test
	after, err := e.writerThread(t)
	if err != nil {
		t.Fatalf("first write after the client idled past the backend's wait_timeout: %v", err)
	}
	if after == before {
		t.Fatalf("writer thread %d survived the backend's wait_timeout: was it pinged while the client idled?", after)
	}
	var n int
	if err := e.c.QueryRowContext(e.ctx, "SELECT @@wait_timeout").Scan(&n); err != nil || n != 1 {
		t.Errorf("session variable on the new connections: %d, %v; want 1 (history replayed)", n, err)
	}
}

// TestWaitTimeout: the proxy's wait_timeout ends an idle client the way
// MariaDB's does (the connection is reset, no error packet: the driver
// reports a bad connection), never a running statement or a LOAD DATA
// LOCAL INFILE upload slower than the timeout.
func TestWaitTimeout(t *testing.T) {
	const wait = 300 * time.Millisecond
	t.Run("as MariaDB", func(t *testing.T) {
		db := mariadb.Get(t)
		pool, err := sql.Open("mysql", harness.TCPDSN(db.Addr(), "app", "app", ""))
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		direct, err := pool.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Close()
		mustExec(t, direct, "SET SESSION wait_timeout = 1")
		e := newIdleEnv(t, func(c *config.Service) { c.WaitTimeout = wait })
		mustExec(t, e.c, "SELECT 1")
		time.Sleep(1500 * time.Millisecond) // both idle beyond their timeout
		_, derr := direct.ExecContext(context.Background(), "DO 1")
		_, perr := e.c.ExecContext(e.ctx, "DO 1")
		if !errors.Is(derr, sqldriver.ErrBadConn) {
			t.Fatalf("MariaDB's client after its wait_timeout: %v, want %v", derr, sqldriver.ErrBadConn)
		}
		if !errors.Is(perr, sqldriver.ErrBadConn) {
			t.Errorf("proxy's client after wait_timeout: %v, want %v as from MariaDB", perr, sqldriver.ErrBadConn)
		}
	})
	t.Run("long statement", func(t *testing.T) {
		e := newIdleEnv(t, func(c *config.Service) { c.WaitTimeout = wait })
		var v int
		if err := e.c.QueryRowContext(e.ctx, "SELECT SLEEP(0.8) + 1").Scan(&v); err != nil || v != 1 {
			t.Fatalf("statement longer than wait_timeout: %d, %v", v, err)
		}
		mustExec(t, e.c, "DO 1")
	})
	t.Run("slow LOAD DATA LOCAL", func(t *testing.T) {
		e := newIdleEnv(t, func(c *config.Service) { c.WaitTimeout = wait })
		mustExec(t, e.c, "CREATE DATABASE IF NOT EXISTS idletest")
		mustExec(t, e.c, "CREATE OR REPLACE TABLE idletest.infile (id INT)")
		driver.RegisterReaderHandler("slow", func() io.Reader {
			return &slowReader{rows: []string{"1\n", "2\n", "3\n"}, pause: 400 * time.Millisecond}
		})
		defer driver.DeregisterReaderHandler("slow")
		mustExec(t, e.c, "LOAD DATA LOCAL INFILE 'Reader::slow' INTO TABLE idletest.infile")
		var n int
		if err := e.c.QueryRowContext(e.ctx, "SELECT COUNT(*) FROM idletest.infile FOR UPDATE").Scan(&n); err != nil || n != 3 {
			t.Fatalf("rows loaded by an upload slower than wait_timeout: %d, %v; want 3", n, err)
		}
	})
}

// slowReader yields one row per Read, pausing before each: the upload as a
// whole takes longer than the proxy's wait_timeout.
type slowReader struct {
	rows  []string
	pause time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.rows) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause) // the client is slow, not idle
	n := copy(p, r.rows[0])
	r.rows = r.rows[1:]
	return n, nil
}
