package server

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/config"
)

// backendThread returns the backend thread id behind the next statement
// the session routes like q (CONNECTION_ID() is answered by the backend).
func backendThread(t *testing.T, ctx context.Context, c *sql.Conn, q string) string {
	t.Helper()
	return queryString(t, ctx, c, q)
}

func TestRetryFailedRead(t *testing.T) {
	p := startProxy(t, nil)
	ctx := ctxFor(t, time.Minute)
	c := p.conn(t, ctx)
	// The read opens the reader connection; kill it behind the proxy's back.
	reader := backendThread(t, ctx, c, "SELECT CONNECTION_ID()")
	if err := p.db.Exec(ctx, "KILL "+reader); err != nil {
		t.Fatal(err)
	}
	// The next autocommit read finds the connection dead before anything
	// reached the client and is retried on the writer.
	if got := queryString(t, ctx, c, "SELECT 'retried'"); got != "retried" {
		t.Errorf("retried read = %q", got)
	}
	if got := p.metric("maxproxy_backend_errors_total", "reader"); got < 1 {
		t.Errorf("backend errors on the reader = %v, want >= 1", got)
	}
}

func TestBackendLostInTransaction(t *testing.T) {
	p := startProxy(t, nil)
	ctx := ctxFor(t, time.Minute)
	c := p.conn(t, ctx)
	mustExec(t, ctx, c, "BEGIN")
	writer := backendThread(t, ctx, c, "SELECT CONNECTION_ID()") // in a transaction: the writer
	if err := p.db.Exec(ctx, "KILL "+writer); err != nil {
		t.Fatal(err)
	}
	_, err := c.ExecContext(ctx, "DO 1")
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 1927 || !strings.Contains(me.Message, "writer") || !strings.Contains(me.Message, "transaction") {
		t.Fatalf("statement after losing the transaction's backend: %v; want ERR 1927 naming the server and the transaction", err)
	}
	// The session is closed: the driver sees a dead connection.
	if _, err := c.ExecContext(ctx, "DO 1"); err == nil {
		t.Error("session survived the loss of its transaction")
	}
}

func TestBackendLostOutsideTransaction(t *testing.T) {
	p := startProxy(t, nil)
	ctx := ctxFor(t, time.Minute)
	c := p.conn(t, ctx)
	mustExec(t, ctx, c, "CREATE DATABASE IF NOT EXISTS srvlost")
	defer mustExec(t, ctx, c, "DROP DATABASE srvlost")
	writer := backendThread(t, ctx, c, "SELECT CONNECTION_ID() FOR UPDATE")
	if err := p.db.Exec(ctx, "KILL "+writer); err != nil {
		t.Fatal(err)
	}
	// A write is not retried: its outcome would be unknown after a
	// failure mid-way, so the client is told.
	_, err := c.ExecContext(ctx, "CREATE TABLE srvlost.t (x INT)")
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 1927 {
		t.Fatalf("write on a lost writer connection: %v, want ERR 1927", err)
	}
	// The session goes on with a new writer connection.
	mustExec(t, ctx, c, "CREATE TABLE IF NOT EXISTS srvlost.t (x INT)")
}

func TestNoMaster(t *testing.T) {
	dead := deadAddr(t)
	p := startProxy(t, func(cfg *config.Config) {
		host, port, _ := net.SplitHostPort(dead)
		cfg.Servers[0].Address = host
		cfg.Servers[0].Port, _ = strconv.Atoi(port)
	})
	ctx := ctxFor(t, time.Minute)
	c := p.conn(t, ctx)
	// Reads still work on the reader.
	if got := queryString(t, ctx, c, "SELECT 1"); got != "1" {
		t.Errorf("read = %q", got)
	}
	_, err := c.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS nomaster")
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 2003 || !strings.Contains(me.Message, `"writer"`) {
		t.Errorf("write without a reachable master: %v; want 2003 naming the server", err)
	}
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestGracefulShutdown(t *testing.T) {
	p := startProxy(t, nil)
	ctx := ctxFor(t, time.Minute)
	idle := p.conn(t, ctx)
	if got := queryString(t, ctx, idle, "SELECT 1"); got != "1" {
		t.Fatal(got)
	}
	busy := p.conn(t, ctx)
	result := make(chan string, 1)
	go func() {
		var s string
		if err := busy.QueryRowContext(ctx, "SELECT SLEEP(1) + 41").Scan(&s); err != nil {
			s = err.Error()
		}
		result <- s
	}()
	p.waitRunning(t, ctx, "SELECT SLEEP(1) + 41")
	p.cancel()
	// The running statement completes; the proxy then closes both sessions.
	if got := <-result; got != "41" {
		t.Errorf("statement running at shutdown = %q, want 41", got)
	}
	if err := <-p.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	close(p.done)
	if p.srv.Sessions() != 0 {
		t.Errorf("%d sessions left after Run returned", p.srv.Sessions())
	}
	if _, err := idle.ExecContext(ctx, "DO 1"); err == nil {
		t.Error("idle session survived shutdown")
	}
	if _, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
		t.Error("listener still accepting after shutdown")
	}
}

func TestShutdownTimeoutAborts(t *testing.T) {
	p := startProxy(t, nil)
	p.srv.timeout = 200 * time.Millisecond
	ctx := ctxFor(t, time.Minute)
	busy := p.conn(t, ctx)
	result := make(chan error, 1)
	go func() {
		_, err := busy.ExecContext(ctx, "DO SLEEP(30)")
		result <- err
	}()
	p.waitRunning(t, ctx, "DO SLEEP(30)")
	start := time.Now()
	p.cancel()
	if err := <-p.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	close(p.done)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v with a 200ms timeout", d)
	}
	if err := <-result; err == nil {
		t.Error("statement aborted by shutdown reported success")
	}
}

// waitRunning waits until the backend runs statement q.
func (p *testProxy) waitRunning(t *testing.T, ctx context.Context, q string) {
	t.Helper()
	waitFor(t, q+" running on the backend", func() bool {
		rows, err := p.db.Query(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = ?", q)
		return err == nil && len(rows) == 1 && rows[0][0] == "1"
	})
}

// metric reads a per-server metric of service rw.
func (p *testProxy) metric(name, server string) float64 {
	mfs, err := p.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := 0
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "service" && lp.GetValue() == "rw" || lp.GetName() == "server" && lp.GetValue() == server {
					ok++
				}
			}
			if ok == 2 {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func TestNoMasterErrorOnWrite(t *testing.T) {
	dead := deadAddr(t)
	p := startProxy(t, func(cfg *config.Config) {
		host, port, _ := net.SplitHostPort(dead)
		cfg.Servers[0].Address = host
		cfg.Servers[0].Port, _ = strconv.Atoi(port)
		cfg.Services[0].MasterFailureMode = "error_on_write"
	})
	ctx := ctxFor(t, time.Minute)
	c := p.conn(t, ctx)
	_, err := c.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS nomaster")
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 1290 {
		t.Errorf("write with error_on_write and no master: %v; want 1290", err)
	}
	if got := queryString(t, ctx, c, "SELECT 2"); got != "2" {
		t.Errorf("read = %q", got)
	}
}
