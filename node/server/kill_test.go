package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// sleeper runs SELECT SLEEP() on its own connection and reports the outcome.
func startSleeper(t *testing.T, ts *testServer, db *sql.DB) (*sql.Conn, uint32, <-chan error) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	done := make(chan error, 1)
	go func() {
		var v int
		done <- conn.QueryRowContext(ctx, "SELECT SLEEP(100)").Scan(&v)
	}()
	select {
	case id := <-ts.eng.sleeping:
		return conn, id, done
	case err := <-done:
		t.Fatalf("SLEEP returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("SLEEP never started")
	}
	return nil, 0, nil
}

func TestKillQuery(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("app", "secret", "", ""))
	victim, id, done := startSleeper(t, ts, db)
	if _, err := db.Exec(fmt.Sprintf("KILL QUERY %d", id)); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if code, msg := mysqlErr(err); code != 1317 || msg != "Query execution was interrupted" {
		t.Fatalf("victim got %v, want 1317", err)
	}
	// The connection survives and keeps its id.
	var got uint32
	if err := victim.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&got); err != nil || got != id {
		t.Fatalf("after KILL QUERY: id %d err %v, want %d", got, err, id)
	}
}

func TestKillConnection(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("app", "secret", "", ""))
	_, id, done := startSleeper(t, ts, db)
	if _, err := db.Exec(fmt.Sprintf("KILL %d", id)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("killed connection's query succeeded")
	}
	waitFor(t, func() bool { return ts.ConnCount() == 1 && ts.eng.openSessions() == 1 })
}

func TestKillErrors(t *testing.T) {
	ts := startServer(t, nil)
	app := ts.open(t, ts.dsn("app", "secret", "", ""))
	other := ts.open(t, ts.dsn("other", "pw2", "", ""))
	root := ts.open(t, ts.dsn("root", "", "", ""))

	_, err := app.Exec("KILL 4000000")
	if code, msg := mysqlErr(err); code != 1094 || msg != "Unknown thread id: 4000000" {
		t.Errorf("unknown id: %d %q", code, msg)
	}

	_, id, done := startSleeper(t, ts, app)
	_, err = other.Exec(fmt.Sprintf("KILL QUERY %d", id))
	if code, msg := mysqlErr(err); code != 1095 || msg != fmt.Sprintf("You are not owner of thread %d", id) {
		t.Errorf("other user's thread: %d %q", code, msg)
	}
	// An account with SUPER (KillAny) may.
	if _, err := root.Exec(fmt.Sprintf("KILL QUERY %d", id)); err != nil {
		t.Errorf("root KILL QUERY: %v", err)
	}
	if code, _ := mysqlErr(<-done); code != 1317 {
		t.Errorf("victim: want 1317")
	}

	// Killing oneself reports 1927 and closes the connection.
	conn, err := app.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var self uint32
	if err := conn.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&self); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(context.Background(), fmt.Sprintf("KILL %d", self))
	if code, msg := mysqlErr(err); code != 1927 || msg != "Connection was killed" {
		t.Errorf("self kill: %d %q", code, msg)
	}
}

func TestComProcessKill(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("root", "", "", ""))
	_, id, done := startSleeper(t, ts, db)
	c := dialRaw(t, ts.addr)
	c.mustLogin(baseClientCaps)
	c.command(mysql.COM_PROCESS_KILL, appendUint32(nil, id))
	if p := c.read(); p[0] != 0 {
		t.Fatalf("COM_PROCESS_KILL: %x", p)
	}
	if err := <-done; err == nil {
		t.Fatal("killed connection's query succeeded")
	}
}

func TestShutdownWaitsForRunningStatements(t *testing.T) {
	eng := newFakeEngine()
	srv, err := New(Config{Engine: eng, Version: "10.11.99-MariaDB-maxnode"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ts := &testServer{Server: srv, eng: eng, addr: ln.Addr().String()}
	db := ts.open(t, ts.dsn("root", "", "", ""))
	idle, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := idle.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, _, done := startSleeper(t, ts, db)

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	// Shutdown has begun once the listener refuses new connections.
	waitFor(t, func() bool {
		c, err := net.Dial("tcp", ts.addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(eng.release)
	if err := <-done; err != nil {
		t.Errorf("running statement should finish during a graceful shutdown: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	if n := eng.openSessions(); n != 0 {
		t.Errorf("%d sessions open after shutdown", n)
	}
}

func TestShutdownInterruptsAfterDeadline(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("root", "", "", ""))
	_, _, done := startSleeper(t, ts, db)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
	if err := <-done; err == nil {
		t.Error("statement survived a forced shutdown")
	}
	if n := ts.eng.openSessions(); n != 0 {
		t.Errorf("%d sessions open after shutdown", n)
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEnginePanicClosesOnlyThatConnection(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("root", "", "", ""))
	_, err := db.Exec("SELECT PANIC()")
	if code, msg := mysqlErr(err); code != erUnknown || msg != "Internal error: fake engine bug" {
		t.Errorf("panicking statement: %d %q", code, msg)
	}
	waitFor(t, func() bool { return ts.ConnCount() == 0 })
	fresh := ts.open(t, ts.dsn("root", "", "", ""))
	if err := fresh.Ping(); err != nil {
		t.Errorf("server unusable after a panic: %v", err)
	}
}
