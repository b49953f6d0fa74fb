package session_test

import (
	"context"
	sqldriver "database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/proxy/session"
	"github.com/maxproxy/maxproxy/router/classify"
)

// cutter sits between the proxy and MariaDB for server "a" and, once
// armed, cuts the connection that sends a COMMIT: before forwarding it
// (the COMMIT never ran) or after the server answered (it committed, the
// reply is lost). That is a writer dying under a COMMIT, with a known
// outcome for the test to compare against.
type cutter struct {
	ln      net.Listener
	target  string
	mode    atomic.Int32
	execute atomic.Bool // the COMMIT comes as a COM_STMT_EXECUTE
	tripped chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

const (
	cutNone int32 = iota
	cutRequest
	cutReply
)

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target, tripped: make(chan struct{})}
	c.wg.Go(func() {
		for {
			cl, err := ln.Accept()
			if err != nil {
				return
			}
			sv, err := net.Dial("tcp", target)
			if err != nil {
				cl.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, cl, sv)
			c.mu.Unlock()
			c.wg.Go(func() { c.pipe(cl, sv) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		c.mu.Lock()
		for _, nc := range c.conns {
			nc.Close()
		}
		c.mu.Unlock()
		c.wg.Wait()
	})
	return c
}

func (c *cutter) addr() string { return c.ln.Addr().String() }

func (c *cutter) pipe(cl, sv net.Conn) {
	defer cl.Close()
	defer sv.Close()
	var swallow atomic.Bool
	c.wg.Go(func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := sv.Read(buf)
			if n > 0 && swallow.Load() {
				cl.Close()
				sv.Close()
				return
			}
			if n > 0 {
				if _, werr := cl.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				cl.Close()
				return
			}
		}
	})
	hdr := make([]byte, 4)
	for {
		if _, err := io.ReadFull(cl, hdr); err != nil {
			return
		}
		payload := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
		if _, err := io.ReadFull(cl, payload); err != nil {
			return
		}
		if string(payload) == "\x03COMMIT" || (c.execute.Load() && len(payload) > 0 && payload[0] == 0x17) {
			switch mode := c.mode.Swap(cutNone); mode {
			case cutRequest:
				c.once.Do(func() { close(c.tripped) })
				return
			case cutReply:
				swallow.Store(true)
				c.once.Do(func() { close(c.tripped) })
			}
		}
		if _, err := sv.Write(append(hdr, payload...)); err != nil {
			return
		}
	}
}

type commitEnv struct {
	*failoverEnv
	cut *cutter
}

// newCommitEnv is newFailoverEnv with server "a" behind a cutter and the
// commit check as check says; the marker table does not exist at first.
func newCommitEnv(t *testing.T, check bool) *commitEnv {
	t.Helper()
	db := mariadb.Get(t)
	ctx := context.Background()
	for _, q := range []string{
		"DROP DATABASE IF EXISTS maxproxy",
		"CREATE DATABASE IF NOT EXISTS replaytest",
		"CREATE OR REPLACE TABLE replaytest.t (id INT PRIMARY KEY, v INT)",
		"INSERT INTO replaytest.t VALUES (100, 1)",
	} {
		if err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	cut := newCutter(t, db.Addr())
	m, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultService(config.ReadWriteSplit)
	cfg.Name = "rw"
	cfg.TransactionReplay, cfg.DelayedRetry, cfg.TransactionReplayCommitCheck = true, true, check
	cfg.DelayedRetryTimeout, cfg.TransactionReplayTimeout = 5*time.Second, 5*time.Second
	topo := newFakeTopology(twoNames(master, slave))
	reg := session.NewRegistry()
	svc, err := session.NewService(session.ServiceOptions{
		Config:     cfg,
		Servers:    []*session.Server{{Name: "a", Address: cut.addr()}, {Name: "b", Address: db.Addr()}},
		Topology:   topo,
		Auth:       appAuth{},
		Classifier: classify.New(100),
		Metrics:    m,
		Registry:   reg,
		Logger:     slog.New(slog.NewTextHandler(tlogW{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, svc)
	mustExec(t, c, "USE replaytest")
	return &commitEnv{failoverEnv: &failoverEnv{db: db, topo: topo, reg: reg, c: c, ctx: ctx}, cut: cut}
}

// commitCut runs a transaction and cuts its COMMIT (mode), publishing "b"
// as the writer as a monitor would; it returns the COMMIT's error.
func (e *commitEnv) commitCut(t *testing.T, mode int32, prepared bool) error {
	t.Helper()
	mustExec(t, e.c, "BEGIN")
	mustExec(t, e.c, "SELECT v FROM t WHERE id = 100")
	mustExec(t, e.c, "INSERT INTO t VALUES (1, 10)")
	commit := func() error {
		_, err := e.c.ExecContext(e.ctx, "COMMIT")
		return err
	}
	if prepared {
		// sysbench's --db-ps-mode=auto prepares its COMMIT.
		st, err := e.c.PrepareContext(e.ctx, "COMMIT")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		commit = func() error {
			_, err := st.ExecContext(e.ctx)
			return err
		}
		e.cut.execute.Store(true)
	}
	e.cut.mode.Store(mode)
	done := make(chan error, 1)
	go func() { done <- commit() }()
	select {
	case <-e.cut.tripped:
		e.topo.publish(twoNames(0, master))
	case err := <-done:
		// The cut and the answer can both be ready by the time this goroutine runs (an answer that
		// needs no new writer, such as 1927); select picks either.
		select {
		case <-e.cut.tripped:
			e.topo.publish(twoNames(0, master))
			return err
		default:
		}
		t.Fatalf("COMMIT answered (%v) without reaching the cutter", err)
	}
	return <-done
}

func (e *commitEnv) markerRows(t *testing.T) string {
	t.Helper()
	n, err := e.db.QueryString(e.ctx, "SELECT COUNT(*) FROM maxproxy.trx_marker")
	if err != nil {
		return "error: " + err.Error()
	}
	return n
}

// TestCommitCheck: with transaction_replay_commit_check a COMMIT whose
// reply is lost is settled by the marker: one that never ran is replayed
// and committed on the new writer, one that committed is answered OK;
// either way the client sees no error and the row exists once. Without
// the option the client gets 1927 (outcome unknown). The marker table is
// created on first use and the session's row deleted when it ends.
func TestCommitCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		check    bool
		mode     int32
		prepared bool
	}{
		{"never ran, replayed", true, cutRequest, false},
		{"committed, answered OK", true, cutReply, false},
		{"prepared, never ran, replayed", true, cutRequest, true},
		{"prepared, committed, answered OK", true, cutReply, true},
		{"without the check: outcome unknown", false, cutReply, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCommitEnv(t, tc.check)
			err := e.commitCut(t, tc.mode, tc.prepared)
			if !tc.check {
				var me *driver.MySQLError
				if !errors.As(err, &me) || me.Number != 1927 || !strings.Contains(me.Message, "while committing") {
					t.Fatalf("lost COMMIT without the check: %v; want 1927 while committing", err)
				}
				if got := e.markerRows(t); !strings.HasPrefix(got, "error") {
					t.Errorf("marker table exists (%s rows) without the option", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("lost COMMIT with the check: %v; want OK", err)
			}
			if got := e.rows(t); got != "1=10,100=1" {
				t.Errorf("table = %s, want 1=10,100=1 (the transaction exactly once)", got)
			}
			// The session goes on, on the new writer, outside a transaction.
			mustExec(t, e.c, "BEGIN")
			mustExec(t, e.c, "UPDATE t SET v = 11 WHERE id = 1")
			mustExec(t, e.c, "COMMIT")
			if got := e.rows(t); got != "1=11,100=1" {
				t.Errorf("after the next transaction table = %s, want 1=11,100=1", got)
			}
			if got := e.markerRows(t); got != "1" {
				t.Errorf("marker rows = %s, want the session's one", got)
			}
			// ErrBadConn makes the pool close the connection (COM_QUIT).
			_ = e.c.Raw(func(any) error { return sqldriver.ErrBadConn })
			waitFor(t, "the session's marker row to be deleted at its end", func() bool { return e.markerRows(t) == "0" })
		})
	}
}

// TestCommitCheckReadOnly: a transaction that only read writes no marker
// (its COMMIT changes nothing whatever happens to it).
func TestCommitCheckReadOnly(t *testing.T) {
	e := newCommitEnv(t, true)
	mustExec(t, e.c, "BEGIN")
	mustExec(t, e.c, "SELECT v FROM t WHERE id = 100")
	mustExec(t, e.c, "COMMIT")
	if got := e.markerRows(t); !strings.HasPrefix(got, "error") {
		t.Errorf("marker table has %s rows after a read-only transaction; want it never created", got)
	}
}

// TestCommitCheckDenied: a user who may not create or write
// maxproxy.trx_marker commits as without the option, and a lost COMMIT
// gets 1927.
func TestCommitCheckDenied(t *testing.T) {
	e := newCommitEnv(t, true)
	for _, q := range []string{
		"CREATE DATABASE maxproxy",
		"CREATE TABLE maxproxy.trx_marker (id VARCHAR(64) NOT NULL PRIMARY KEY, seq BIGINT UNSIGNED NOT NULL)",
		// A trigger stands in for the missing grant: the marker write
		// fails with 1142 as it would for a user without INSERT.
		`CREATE TRIGGER maxproxy.deny BEFORE INSERT ON maxproxy.trx_marker FOR EACH ROW
		 SIGNAL SQLSTATE '42000' SET MYSQL_ERRNO = 1142, MESSAGE_TEXT = 'INSERT command denied to user'`,
	} {
		if err := e.db.Exec(e.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, e.c, "BEGIN")
	mustExec(t, e.c, "INSERT INTO t VALUES (2, 20)")
	mustExec(t, e.c, "COMMIT")
	if got := e.rows(t); got != "2=20,100=1" {
		t.Fatalf("table = %s, want 2=20,100=1: the COMMIT goes on unchecked", got)
	}
	err := e.commitCut(t, cutReply, false)
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 1927 {
		t.Fatalf("lost COMMIT without a usable marker: %v; want 1927", err)
	}
}

// TestCommitCheckMarkerDeadlock: a deadlock on the marker write rolls the
// transaction back on a real server, so the COMMIT must not be sent
// after it (it would commit nothing and answer OK): the client gets the
// deadlock as the COMMIT's answer. A trigger raises the 1213 here.
func TestCommitCheckMarkerDeadlock(t *testing.T) {
	e := newCommitEnv(t, true)
	for _, q := range []string{
		"CREATE DATABASE maxproxy",
		"CREATE TABLE maxproxy.trx_marker (id VARCHAR(64) NOT NULL PRIMARY KEY, seq BIGINT UNSIGNED NOT NULL)",
		`CREATE TRIGGER maxproxy.deadlock BEFORE INSERT ON maxproxy.trx_marker FOR EACH ROW
		 SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'Deadlock found when trying to get lock; try restarting transaction'`,
	} {
		if err := e.db.Exec(e.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, e.c, "BEGIN")
	mustExec(t, e.c, "INSERT INTO t VALUES (3, 30)")
	_, err := e.c.ExecContext(e.ctx, "COMMIT")
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 1213 {
		t.Fatalf("COMMIT after a deadlock on the marker: %v; want 1213", err)
	}
	mustExec(t, e.c, "ROLLBACK")
	if got := e.rows(t); got != "100=1" {
		t.Errorf("table = %s, want 100=1 (nothing committed)", got)
	}
}

type tlogW struct{ t *testing.T }

func (w tlogW) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
