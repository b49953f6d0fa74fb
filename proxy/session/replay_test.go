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
				var me *driver.MySQLError
				// The proxy's 1927 when the connection drops; the server's
				// own when it answers the killed COMMIT first.
				if !errors.As(err, &me) || me.Number != 1927 ||
					!(strings.Contains(me.Message, "while committing") || strings.Contains(me.Message, "Connection was killed")) {
					t.Fatalf("interrupted COMMIT: %v; want 1927 saying the outcome is unknown (not replayed)", err)
				}
				if strings.Contains(me.Message, "while committing") {
					// The transaction is over: the session goes on.
					var n int
					if err := e.c.QueryRowContext(e.ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
						t.Errorf("after the interrupted COMMIT the session reads %d rows, %v; want 1 (100)", n, err)
					}
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

// notReadyProc creates replaytest.p(), which counts its calls in a
// non-transactional table and fails with Galera's 1047 while
// replaytest.gate.closed is 1, as a node outside the primary component
// answers.
func notReadyProc(t *testing.T, e *failoverEnv) {
	t.Helper()
	for _, q := range []string{
		"CREATE OR REPLACE TABLE replaytest.calls (n INT) ENGINE=Aria",
		"INSERT INTO replaytest.calls VALUES (0)",
		"CREATE OR REPLACE TABLE replaytest.gate (closed INT) ENGINE=Aria",
		"INSERT INTO replaytest.gate VALUES (1)",
		`CREATE OR REPLACE PROCEDURE replaytest.p()
BEGIN
  UPDATE replaytest.calls SET n = n + 1;
  IF (SELECT closed FROM replaytest.gate) = 1 THEN
    SIGNAL SQLSTATE '08S01' SET MYSQL_ERRNO = 1047, MESSAGE_TEXT = 'WSREP has not yet prepared node for application use';
  END IF;
  INSERT INTO replaytest.t VALUES (3, 30);
END`,
	} {
		if err := e.db.Exec(e.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

// openGate waits until p() has been refused once, then lets it through and
// publishes "b" as the master.
func (e *failoverEnv) openGate(t *testing.T) {
	t.Helper()
	waitFor(t, "p() to be refused with 1047", func() bool {
		n, err := e.db.QueryString(e.ctx, "SELECT n FROM replaytest.calls")
		return err == nil && n == "1"
	})
	if err := e.db.Exec(e.ctx, "UPDATE replaytest.gate SET closed = 0"); err != nil {
		t.Fatal(err)
	}
	e.topo.publish(twoNames(slave, master))
}

// TestNotReady: a node's 1047 ("not ready, try elsewhere") is not shown to
// the client when the session can recover: an autocommit write waits for
// the monitor's next writer and runs there; inside a transaction the
// transaction is replayed on the new writer. Without delayed_retry the
// client gets the 1047.
func TestNotReady(t *testing.T) {
	call := func(e *failoverEnv) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := e.c.ExecContext(e.ctx, "CALL p()")
			done <- err
		}()
		return done
	}
	wait := func(t *testing.T, done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("CALL still waiting")
			return nil
		}
	}
	t.Run("autocommit", func(t *testing.T) {
		e := newFailoverEnv(t, func(c *config.Service) { c.TransactionReplay = false })
		notReadyProc(t, e)
		done := call(e)
		e.openGate(t)
		if err := wait(t, done); err != nil {
			t.Fatalf("CALL refused with 1047, then a new writer: %v", err)
		}
		if got := e.rows(t); got != "3=30,100=1" {
			t.Errorf("table = %s", got)
		}
	})
	t.Run("in a transaction", func(t *testing.T) {
		e := newFailoverEnv(t, nil)
		notReadyProc(t, e)
		mustExec(t, e.c, "BEGIN")
		mustExec(t, e.c, "INSERT INTO t VALUES (1, 10)")
		done := call(e)
		e.openGate(t)
		if err := wait(t, done); err != nil {
			t.Fatalf("CALL in a transaction refused with 1047: %v", err)
		}
		mustExec(t, e.c, "COMMIT")
		if got := e.rows(t); got != "1=10,3=30,100=1" {
			t.Errorf("table = %s", got)
		}
	})
	t.Run("without delayed_retry", func(t *testing.T) {
		e := newFailoverEnv(t, func(c *config.Service) { c.TransactionReplay, c.DelayedRetry = false, false })
		notReadyProc(t, e)
		_, err := e.c.ExecContext(e.ctx, "CALL p()")
		var me *driver.MySQLError
		if !errors.As(err, &me) || me.Number != 1047 {
			t.Fatalf("CALL: %v; want the node's 1047", err)
		}
	})
}

// TestReplayOnDeadlock: with transaction_replay_retry_on_deadlock a
// transaction chosen as a deadlock victim is replayed; the client sees no
// error and both transactions' updates are applied.
func TestReplayOnDeadlock(t *testing.T) {
	e := newFailoverEnv(t, func(c *config.Service) { c.TransactionReplayRetryOnDeadlock = true })
	if err := e.db.Exec(e.ctx, "INSERT INTO replaytest.t VALUES (101, 1)"); err != nil {
		t.Fatal(err)
	}
	otherDB, err := sql.Open("mysql", e.db.DSN("app", "app", "replaytest"))
	if err != nil {
		t.Fatal(err)
	}
	defer otherDB.Close()
	other, err := otherDB.Conn(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	mustExec(t, e.c, "BEGIN")
	mustExec(t, e.c, "UPDATE t SET v = v + 1 WHERE id = 100")
	// The other transaction writes more rows, so InnoDB picks the proxy's,
	// the smaller one, as the victim.
	for _, q := range []string{"BEGIN", "INSERT INTO t VALUES (1, 0), (2, 0), (3, 0), (4, 0)", "UPDATE t SET v = v + 10 WHERE id = 101"} {
		mustExec(t, other, q)
	}
	otherDone := make(chan error, 1)
	go func() {
		_, err := other.ExecContext(e.ctx, "UPDATE t SET v = v + 10 WHERE id = 100") // waits for the proxy's lock
		if err == nil {
			_, err = other.ExecContext(e.ctx, "COMMIT")
		}
		otherDone <- err
	}()
	// The statement cannot finish while the proxy's transaction holds row
	// 100, so once the server shows it running it is waiting for that lock.
	// (innodb_lock_waits missed the wait on a loaded machine.)
	waitFor(t, "the other transaction to wait for the row lock", func() bool {
		n, err := e.db.QueryString(e.ctx, "SELECT COUNT(*) FROM information_schema.processlist WHERE info = 'UPDATE t SET v = v + 10 WHERE id = 100'")
		return err == nil && n != "0"
	})
	// Closes the cycle: the proxy's transaction is rolled back with 1213,
	// the other one commits, and the replay then runs after it.
	mustExec(t, e.c, "UPDATE t SET v = v + 1 WHERE id = 101")
	mustExec(t, e.c, "COMMIT")
	if err := <-otherDone; err != nil {
		t.Fatalf("the other transaction: %v", err)
	}
	if got, want := e.rows(t), "1=0,2=0,3=0,4=0,100=12,101=12"; got != want {
		t.Errorf("table = %s, want %s", got, want)
	}
}

// TestTransactionReplayMaxSize: a transaction whose statements exceed
// transaction_replay_max_size is not replayed: losing its writer ends the
// session with 1927, as without transaction replay.
func TestTransactionReplayMaxSize(t *testing.T) {
	e := newFailoverEnv(t, func(c *config.Service) { c.TransactionReplayMaxSize = 40 })
	mustExec(t, e.c, "BEGIN")
	mustExec(t, e.c, "INSERT INTO t VALUES (1, 10), (2, 20), (3, 30)") // with BEGIN, over 40 bytes
	e.failWriter(t)
	_, err := e.c.ExecContext(e.ctx, "INSERT INTO t VALUES (4, 40)")
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 1927 || !strings.Contains(me.Message, "during a transaction") {
		t.Fatalf("statement after losing a too large transaction: %v; want 1927 for the lost transaction", err)
	}
	if got := e.rows(t); got != "100=1" {
		t.Errorf("table = %s, want 100=1", got)
	}
}

// TestNotReadyRead: an autocommit read that a reader refuses with 1047 is
// retried elsewhere; the client sees the rows. The refusing "node" is one
// backend connection, picked by its thread id in a view's function.
func TestNotReadyRead(t *testing.T) {
	e := newFailoverEnv(t, nil)
	for _, q := range []string{
		"CREATE OR REPLACE TABLE replaytest.refuse (thread BIGINT) ENGINE=Aria",
		"INSERT INTO replaytest.refuse VALUES (0)",
		`CREATE OR REPLACE FUNCTION replaytest.f() RETURNS INT READS SQL DATA
BEGIN
  IF CONNECTION_ID() = (SELECT thread FROM replaytest.refuse) THEN
    SIGNAL SQLSTATE '08S01' SET MYSQL_ERRNO = 1047, MESSAGE_TEXT = 'WSREP has not yet prepared node for application use';
  END IF;
  RETURN 7;
END`,
		"CREATE OR REPLACE VIEW replaytest.v AS SELECT replaytest.f() AS x",
	} {
		if err := e.db.Exec(e.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var x int
	if err := e.c.QueryRowContext(e.ctx, "SELECT x FROM v").Scan(&x); err != nil || x != 7 {
		t.Fatalf("read = %d, %v", x, err)
	}
	reader := e.thread(t, "b")
	if err := e.db.Exec(e.ctx, "UPDATE replaytest.refuse SET thread = ?", reader); err != nil {
		t.Fatal(err)
	}
	if err := e.c.QueryRowContext(e.ctx, "SELECT x FROM v").Scan(&x); err != nil || x != 7 {
		t.Fatalf("read refused by the reader with 1047: %d, %v; want it answered elsewhere", x, err)
	}
	if got := e.thread(t, "b"); got != reader {
		t.Errorf("the refusing reader's connection was replaced (%d -> %d): a 1047 leaves it usable", reader, got)
	}
}

// TestBeginAfterLostWriter: a BEGIN whose connection turns out dead (it
// was killed while the session was idle) starts the transaction on a new
// connection instead of failing: with no transaction open it changed
// nothing.
func TestBeginAfterLostWriter(t *testing.T) {
	e := newFailoverEnv(t, func(c *config.Service) { c.TransactionReplay = false })
	mustExec(t, e.c, "INSERT INTO t VALUES (1, 10)")
	// The connection dies (a server-side KILL, wait_timeout): the monitor
	// sees nothing, "a" stays the master.
	if err := e.db.Exec(e.ctx, fmt.Sprintf("KILL %d", e.thread(t, "a"))); err != nil {
		t.Fatal(err)
	}
	mustExec(t, e.c, "BEGIN")
	mustExec(t, e.c, "INSERT INTO t VALUES (2, 20)")
	mustExec(t, e.c, "COMMIT")
	if got := e.rows(t); got != "1=10,2=20,100=1" {
		t.Errorf("table = %s", got)
	}
}
