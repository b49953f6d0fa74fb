package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestMaxnodeCluster runs three bin/maxnode processes as a cluster and
// checks what an application sees: writes on one node are read on another,
// conflicting commits on two nodes end in one deadlock error (1213), and the
// majority keeps serving writes while a third node is frozen or stopped.
// The subtests share one cluster and run in order; each leaves every node
// running and Synced.
func TestMaxnodeCluster(t *testing.T) {
	c := harness.StartMaxnodeCluster(t, 3, harness.MaxnodeOptions{})
	const db = "it_maxnode"
	if err := c.Node(1).Exec(t.Context(), "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	if err := c.Node(1).Exec(t.Context(), "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	app := func(i int) *sql.DB {
		a := harness.AppAccount
		return nodeDB(t, c.Node(i).DSN(a.User, a.Password, db))
	}
	n1, n2, n3 := app(1), app(2), app(3)

	t.Run("write on node 1 is read on node 3", func(t *testing.T) {
		nodeExec(t, n1, "INSERT INTO t VALUES (1, 'one')")
		waitValue(t, n3, 1, "one")
		for i, n := range c.Nodes() {
			got, err := n.Status(t.Context(), "wsrep_cluster_size")
			if err != nil {
				t.Fatal(err)
			}
			if got != "3" {
				t.Errorf("node%d: wsrep_cluster_size = %s, want 3", i+1, got)
			}
		}
	})

	t.Run("conflicting commits on two nodes: one gets 1213", func(t *testing.T) {
		nodeExec(t, n1, "INSERT INTO t VALUES (2, 'start')")
		waitValue(t, n2, 2, "start")
		ctx := t.Context()
		tx1, err := n1.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx1.Rollback()
		tx2, err := n2.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx2.Rollback()
		if _, err := tx1.ExecContext(ctx, "UPDATE t SET v = 'node1' WHERE id = 2"); err != nil {
			t.Fatal(err)
		}
		if _, err := tx2.ExecContext(ctx, "UPDATE t SET v = 'node2' WHERE id = 2"); err != nil {
			t.Fatal(err)
		}
		if err := tx1.Commit(); err != nil {
			t.Fatalf("first commit on node1: %v", err)
		}
		// node2's transaction read a snapshot older than node1's committed
		// write-set: it fails certification (or is brute-force aborted by
		// the applier first), which the client sees as a deadlock.
		err = tx2.Commit()
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1213 {
			t.Fatalf("second commit on node2: %v, want error 1213", err)
		}
		for _, n := range []*sql.DB{n1, n2, n3} {
			waitValue(t, n, 2, "node1")
		}
	})

	t.Run("majority serves writes while node 3 is frozen", func(t *testing.T) {
		if err := c.Node(3).Pause(); err != nil {
			t.Fatal(err)
		}
		resumed := false
		defer func() {
			if !resumed {
				_ = c.Node(3).Resume()
			}
		}()
		nodeExec(t, n1, "INSERT INTO t VALUES (3, 'before')")
		// node 3 may have been the raft leader: the first writes may wait
		// for an election, so the write is retried (it is idempotent).
		waitWrite(t, n1, 3, "paused")
		waitWrite(t, n2, 3, "paused-2")
		if err := c.Node(3).Resume(); err != nil {
			t.Fatal(err)
		}
		resumed = true
		waitValue(t, n3, 3, "paused-2")
		waitSynced(t, c, 3)
	})

	t.Run("majority serves writes while node 2 is stopped, and it rejoins", func(t *testing.T) {
		if err := c.Node(2).Stop(); err != nil {
			t.Fatal(err)
		}
		nodeExec(t, n1, "INSERT INTO t VALUES (4, 'before')")
		waitWrite(t, n3, 4, "stopped")
		waitValue(t, n1, 4, "stopped")
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if err := c.Node(2).Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitValue(t, n2, 4, "stopped")
		waitSynced(t, c, 3)
	})
}

// waitValue polls until row id of t reads v through db.
func waitValue(t *testing.T, db *sql.DB, id int, v string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := harness.Poll(ctx, fmt.Sprintf("row %d = %q", id, v), 20*time.Millisecond, func(ctx context.Context) error {
		var got string
		if err := db.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&got); err != nil {
			return err
		}
		if got != v {
			return fmt.Errorf("v = %q", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitWrite retries an idempotent UPDATE of row id until it has committed a change to it.
func waitWrite(t *testing.T, db *sql.DB, id int, v string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := harness.Poll(ctx, fmt.Sprintf("UPDATE of row %d committed", id), 100*time.Millisecond, func(ctx context.Context) error {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		defer acancel()
		res, err := db.ExecContext(actx, "UPDATE t SET v = ? WHERE id = ?", v, id)
		if err != nil {
			return err
		}
		// Without wsrep_sync_wait a node may not have applied a row another node just inserted: the
		// UPDATE then changes nothing, as on Galera. (An earlier attempt may also have committed.)
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			var cur string
			if qerr := db.QueryRowContext(actx, "SELECT v FROM t WHERE id = ?", id).Scan(&cur); qerr != nil || cur != v {
				return fmt.Errorf("UPDATE changed %d rows (%v); row holds %q (%v)", n, err, cur, qerr)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func waitSynced(t *testing.T, c harness.Cluster, size int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := harness.WaitSynced(ctx, c.Nodes(), size); err != nil {
		t.Fatal(err)
	}
}
