package integration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestProxyFailoverInterruptedCommit: with transaction_replay (and its
// default transaction_replay_safe_commit) a COMMIT that reached the writer
// but got no reply is never replayed, since the transaction may have
// committed. The writer is frozen (SIGSTOP) so that the COMMIT is sent and
// cannot be answered, then SIGKILLed: the client gets ER_CONNECTION_KILLED
// (1927) saying the outcome is unknown, its session goes on outside the
// transaction, and the row is on no node (the frozen node never saw the
// COMMIT, and nothing replayed it). The node is restarted before the test
// returns.
func TestProxyFailoverInterruptedCommit(t *testing.T) {
	g, p := startProxy(t, replayConfig)
	ctx := ctxFor(t, 2*time.Minute)
	db := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	mustExec(t, db, "CREATE DATABASE IF NOT EXISTS commitfo")
	mustExec(t, db, "CREATE OR REPLACE TABLE commitfo.t (id INT PRIMARY KEY)")
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS commitfo") })

	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{"BEGIN", "INSERT INTO commitfo.t VALUES (1)"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The pool's other sessions are idle outside a transaction.
	var sessionID uint32
	for _, in := range p.srv.SessionInfos() {
		if in.InTransaction {
			sessionID = in.ID
		}
	}
	if sessionID == 0 {
		t.Fatal("no session in a transaction in the proxy's view")
	}

	master, node := writerNode(t, g, p)
	if err := node.Pause(); err != nil {
		t.Fatal(err)
	}
	restartAfter(t, g, master, node)
	done := make(chan error, 1)
	go func() {
		_, err := c.ExecContext(ctx, "COMMIT")
		done <- err
	}()
	// The session is busy once it has taken the COMMIT; the frozen node
	// cannot answer it.
	err = harness.Poll(ctx, "the session to run the COMMIT", 5*time.Millisecond, func(context.Context) error {
		for _, in := range p.srv.SessionInfos() {
			if in.ID == sessionID && in.State == "Running" {
				return nil
			}
		}
		return errors.New("not yet")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("froze and SIGKILLed the writer %s under a COMMIT", master)

	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatal("COMMIT still waiting")
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1927 || !strings.Contains(me.Message, master) || !strings.Contains(me.Message, "while committing") {
		t.Fatalf("interrupted COMMIT: %v; want 1927 naming %s (never replayed)", err, master)
	}

	// The transaction is over, whatever its outcome: the same session goes
	// on, once the survivors have a primary component and the proxy a new
	// writer, and finds that the row was committed nowhere.
	var n int
	err = harness.Poll(ctx, "a write-routed read through the session after the failover", 100*time.Millisecond, func(ctx context.Context) error {
		return c.QueryRowContext(ctx, "SELECT COUNT(*) FROM commitfo.t FOR UPDATE").Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("rows after the interrupted COMMIT = %d, want 0: the COMMIT was replayed", n)
	}
}
