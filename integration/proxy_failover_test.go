package integration

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestProxyFailover stops the writer node of the shared cluster under
// open sessions: a session outside a transaction moves to the new writer
// (its history replayed there), a session inside a transaction on the old
// writer gets ER_CONNECTION_KILLED naming the server and is closed, never
// a silent loss. The node is restarted (IST) before the test returns.
func TestProxyFailover(t *testing.T) {
	g, p := startProxy(t, "")
	ctx := ctxFor(t, 3*time.Minute)
	db := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	mustExec(t, db, "CREATE DATABASE IF NOT EXISTS proxyfo")
	mustExec(t, db, "CREATE OR REPLACE TABLE proxyfo.t (id INT PRIMARY KEY)")
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS proxyfo") })

	free, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer free.Close()
	if _, err := free.ExecContext(ctx, "SET SESSION wsrep_sync_wait = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := free.ExecContext(ctx, "INSERT INTO proxyfo.t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	inTrx, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer inTrx.Close()
	if _, err := inTrx.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := inTrx.ExecContext(ctx, "INSERT INTO proxyfo.t VALUES (2)"); err != nil {
		t.Fatal(err)
	}

	master, _ := roles(t, p)
	n, err := strconv.Atoi(strings.TrimPrefix(master, "node"))
	if err != nil {
		t.Fatalf("writer %q: %v", master, err)
	}
	node := g.Server(n)
	stopStart := time.Now()
	if err := node.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s stopped in %v", master, time.Since(stopStart).Round(time.Millisecond))
	t.Cleanup(func() {
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		if err := node.Start(rctx); err != nil {
			t.Errorf("restart %s: %v", master, err)
			return
		}
		if err := g.WaitSynced(rctx); err != nil {
			t.Errorf("cluster after restarting %s: %v", master, err)
		}
		t.Logf("%s rejoined in %v", master, time.Since(start).Round(time.Millisecond))
	})
	err = harness.Poll(ctx, "a new writer in the proxy's topology", 50*time.Millisecond, func(context.Context) error {
		if m := p.srv.Topology("rw").Master(); m == nil || m.Name == master {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Outside a transaction the session moves to the new writer; its
	// session state (wsrep_sync_wait) comes along.
	if _, err := free.ExecContext(ctx, "INSERT INTO proxyfo.t VALUES (3)"); err != nil {
		t.Fatalf("write after failover: %v", err)
	}
	var syncWait int
	if err := free.QueryRowContext(ctx, "SELECT @@session.wsrep_sync_wait FOR UPDATE").Scan(&syncWait); err != nil || syncWait != 1 {
		t.Errorf("wsrep_sync_wait on the new writer = %d, %v; want 1 (history replayed)", syncWait, err)
	}

	// The transaction lived on the stopped node.
	_, err = inTrx.ExecContext(ctx, "INSERT INTO proxyfo.t VALUES (4)")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1927 || !strings.Contains(me.Message, master) {
		t.Fatalf("statement of a transaction on the stopped writer: %v; want 1927 naming %s", err, master)
	}
	if _, err := inTrx.ExecContext(ctx, "DO 1"); err == nil {
		t.Error("the session that lost its transaction is still open")
	}
	var ids []int
	rows, err := free.QueryContext(ctx, "SELECT id FROM proxyfo.t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 3 {
		t.Errorf("rows after failover = %v, want [1 3] (the lost transaction's row rolled back)", ids)
	}
}
