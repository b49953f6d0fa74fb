package session_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/proxy/session"
	"github.com/maxproxy/maxproxy/router/classify"
)

// The failover tests run one MariaDB under two server names, "a" and "b":
// killing the session's backend connection on "a" and publishing "b" as
// the master is, for the session, a writer failure and a failover to a
// node with the same data.

const (
	up     = topology.Running | topology.Synced
	master = up | topology.Master
	slave  = up | topology.Slave
)

func twoNames(a, b topology.State) *topology.Snapshot {
	return &topology.Snapshot{Servers: []topology.Server{{Name: "a", State: a}, {Name: "b", State: b}}}
}

type failoverEnv struct {
	db   *harness.Server
	topo *fakeTopology
	reg  *session.Registry
	c    *sql.Conn
	ctx  context.Context
}

func newFailoverEnv(t *testing.T, mutate func(*config.Service)) *failoverEnv {
	t.Helper()
	db := mariadb.Get(t)
	ctx := context.Background()
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS replaytest",
		"CREATE OR REPLACE TABLE replaytest.t (id INT PRIMARY KEY, v INT)",
		"INSERT INTO replaytest.t VALUES (100, 1)",
	} {
		if err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	m, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultService(config.ReadWriteSplit)
	cfg.Name = "rw"
	cfg.TransactionReplay, cfg.DelayedRetry = true, true
	cfg.DelayedRetryTimeout, cfg.TransactionReplayTimeout = 5*time.Second, 5*time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	topo := newFakeTopology(twoNames(master, slave))
	reg := session.NewRegistry()
	svc, err := session.NewService(session.ServiceOptions{
		Config:     cfg,
		Servers:    []*session.Server{{Name: "a", Address: db.Addr()}, {Name: "b", Address: db.Addr()}},
		Topology:   topo,
		Auth:       appAuth{},
		Classifier: classify.New(100),
		Metrics:    m,
		Registry:   reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, svc)
	if _, err := c.ExecContext(ctx, "USE replaytest"); err != nil {
		t.Fatal(err)
	}
	return &failoverEnv{db: db, topo: topo, reg: reg, c: c, ctx: ctx}
}

// thread returns the backend thread id of the test's session on server.
func (e *failoverEnv) thread(t *testing.T, server string) uint32 {
	t.Helper()
	for _, in := range e.reg.Sessions() {
		for _, b := range in.Backends {
			if b.Server == server {
				return b.ThreadID
			}
		}
	}
	t.Fatalf("the session has no connection to %s", server)
	return 0
}

// failWriter kills the session's connection to "a" and makes "b" the
// master, as a monitor would after "a" died.
func (e *failoverEnv) failWriter(t *testing.T) {
	t.Helper()
	if err := e.db.Exec(e.ctx, fmt.Sprintf("KILL %d", e.thread(t, "a"))); err != nil {
		t.Fatal(err)
	}
	e.topo.publish(twoNames(0, master))
}

func (e *failoverEnv) rows(t *testing.T) string {
	t.Helper()
	rows, err := e.db.Query(e.ctx, "SELECT id, v FROM replaytest.t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, r := range rows {
		parts = append(parts, r[0]+"="+r[1])
	}
	return strings.Join(parts, ",")
}

func mustExec(t *testing.T, c *sql.Conn, q string) {
	t.Helper()
	if _, err := c.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestTransactionReplay: the writer fails in the middle of a transaction;
// the client goes on and commits without seeing an error, and the new
// writer has the whole transaction exactly once.
func TestTransactionReplay(t *testing.T) {
	for _, ps := range []bool{false, true} {
		t.Run(fmt.Sprintf("prepared=%v", ps), func(t *testing.T) {
			e := newFailoverEnv(t, nil)
			run := func(q string, args ...any) {
				t.Helper()
				var err error
				if ps {
					var st *sql.Stmt
					if st, err = e.c.PrepareContext(e.ctx, q); err == nil {
						_, err = st.ExecContext(e.ctx, args...)
						st.Close()
					}
				} else {
					_, err = e.c.ExecContext(e.ctx, q, args...)
				}
				if err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			mustExec(t, e.c, "BEGIN")
			run("INSERT INTO t VALUES (?, ?)", 1, 10)
			var n int
			if err := e.c.QueryRowContext(e.ctx, "SELECT COUNT(*) FROM t WHERE v < 100").Scan(&n); err != nil || n != 2 {
				t.Fatalf("count in trx = %d, %v", n, err)
			}
			run("UPDATE t SET v = v + 1 WHERE id = ?", 100)

			e.failWriter(t)

			run("INSERT INTO t VALUES (?, ?)", 2, 20)
			mustExec(t, e.c, "COMMIT")
			if got, want := e.rows(t), "1=10,2=20,100=2"; got != want {
				t.Errorf("after the replayed commit the table is %s, want %s", got, want)
			}
			if b := e.thread(t, "b"); b == 0 {
				t.Error("the session has no connection to the new writer")
			}
		})
	}
}

// TestTransactionReplayMismatch: when a statement of the transaction gives
// a different result on replay, the client gets an error and the session
// ends, instead of continuing on data it never saw.
func TestTransactionReplayMismatch(t *testing.T) {
	e := newFailoverEnv(t, nil)
	mustExec(t, e.c, "BEGIN")
	var v int
	if err := e.c.QueryRowContext(e.ctx, "SELECT v FROM t WHERE id = 100").Scan(&v); err != nil || v != 1 {
		t.Fatalf("v = %d, %v", v, err)
	}
	e.failWriter(t)
	if err := e.db.Exec(e.ctx, "UPDATE replaytest.t SET v = 7 WHERE id = 100"); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.ExecContext(e.ctx, "UPDATE t SET v = v + 1 WHERE id = 100")
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 1927 || !strings.Contains(me.Message, "replay failed") {
		t.Fatalf("statement after a mismatching replay: %v; want 1927 saying the replay failed", err)
	}
	if got := e.rows(t); got != "100=7" {
		t.Errorf("table = %s, want 100=7 (nothing of the transaction applied)", got)
	}
}

// TestInterruptedCommit: a COMMIT whose connection is killed before the
// reply is never replayed under transaction_replay_safe_commit (the client
// gets an error; the commit's outcome is the server's), and is replayed
// when safe_commit is off. FLUSH TABLES WITH READ LOCK holds the COMMIT on
// the server so that the kill lands between the request and its reply.
func TestInterruptedCommit(t *testing.T) {
	for _, safe := range []bool{true, false} {
		t.Run(fmt.Sprintf("safe_commit=%v", safe), func(t *testing.T) {
			e := newFailoverEnv(t, func(c *config.Service) { c.TransactionReplaySafeCommit = safe })
			mustExec(t, e.c, "BEGIN")
			mustExec(t, e.c, "INSERT INTO t VALUES (1, 10)")

			lockDB, err := sql.Open("mysql", e.db.DSN("app", "app", ""))
			if err != nil {
				t.Fatal(err)
			}
			defer lockDB.Close()
			lock, err := lockDB.Conn(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Close()
			if _, err := lock.ExecContext(e.ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
				t.Fatal(err)
			}
			unlocked := false
			unlock := func() {
				if !unlocked {
					unlocked = true
					if _, err := lock.ExecContext(e.ctx, "UNLOCK TABLES"); err != nil {
						t.Error(err)
					}
				}
			}
			defer unlock()

			thread := e.thread(t, "a")
			done := make(chan error, 1)
			go func() {
				_, err := e.c.ExecContext(e.ctx, "COMMIT")
				done <- err
			}()
			waitFor(t, "the COMMIT to wait for the read lock", func() bool {
				s, err := e.db.QueryString(e.ctx, "SELECT COUNT(*) FROM information_schema.processlist WHERE id = ? AND info = 'COMMIT'", thread)
				return err == nil && s == "1"
			})
			e.failWriter(t)
			// The killed COMMIT must have ended before the lock goes, so
			// that its outcome (rolled back) is known to the test.
			waitFor(t, "the killed thread to end", func() bool {
				s, err := e.db.QueryString(e.ctx, "SELECT COUNT(*) FROM information_schema.processlist WHERE id = ?", thread)
				return err == nil && s == "0"
			})
			unlock()

			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("COMMIT still running")
			}
			if safe {
				if err == nil {
					t.Fatal("interrupted COMMIT succeeded: it was replayed")
				}
				if got := e.rows(t); got != "100=1" {
					t.Errorf("table = %s, want 100=1 (the killed COMMIT rolled back, nothing replayed)", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("COMMIT with safe_commit off: %v; want it replayed", err)
			}
			if got := e.rows(t); got != "1=10,100=1" {
				t.Errorf("table = %s, want 1=10,100=1", got)
			}
		})
	}
}

// TestMasterReconnection: outside a transaction a session whose writer
// changes moves to the new one with its session state; with temporary
// tables (strict_tmp_tables) or master_reconnection off it gets a clear
// error instead.
func TestMasterReconnection(t *testing.T) {
	t.Run("moves with its state", func(t *testing.T) {
		e := newFailoverEnv(t, nil)
		mustExec(t, e.c, "SET @@session.sql_mode = 'ANSI_QUOTES'")
		mustExec(t, e.c, "INSERT INTO t VALUES (1, 1)")
		e.failWriter(t)
		mustExec(t, e.c, `INSERT INTO "t" VALUES (2, 2)`) // needs ANSI_QUOTES on the new connection
		if got := e.rows(t); got != "1=1,2=2,100=1" {
			t.Errorf("table = %s", got)
		}
	})
	for name, mutate := range map[string]func(*config.Service){
		"strict_tmp_tables":       nil,
		"master_reconnection off": func(c *config.Service) { c.TransactionReplay, c.MasterReconnection = false, false },
	} {
		t.Run(name, func(t *testing.T) {
			e := newFailoverEnv(t, mutate)
			mustExec(t, e.c, "CREATE TEMPORARY TABLE tmp (x INT)")
			mustExec(t, e.c, "INSERT INTO t VALUES (1, 1)")
			e.topo.publish(twoNames(slave, master))
			_, err := e.c.ExecContext(e.ctx, "INSERT INTO t VALUES (2, 2)")
			var me *driver.MySQLError
			want := "strict_tmp_tables"
			if mutate != nil {
				want = "master_reconnection is off"
			}
			if !errors.As(err, &me) || me.Number != 2003 || !strings.Contains(me.Message, want) {
				t.Fatalf("write after the writer changed: %v; want 2003 naming %s", err, want)
			}
		})
	}
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
