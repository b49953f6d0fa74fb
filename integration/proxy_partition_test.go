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
	"github.com/maxproxy/maxproxy/monitor/topology"
)

// TestProxyNonPrimaryMaxnode isolates one reader of a 3-node bin/maxnode
// cluster behind the proxy by freezing the other two (SIGSTOP): alone it
// has no raft majority and reports wsrep_cluster_status=non-Primary. The
// monitor takes it out of routing, so clients get a clear error (2003
// naming the servers' states) instead of its possibly stale data, and
// nothing is routed to it; a session that had read from it survives. When
// the others resume it is Primary and Synced again and takes reads.
func TestProxyNonPrimaryMaxnode(t *testing.T) {
	requireMaxnodeBinary(t)
	ctx := ctxFor(t, 2*time.Minute)
	c := harness.StartMaxnodeCluster(t, 3, harness.MaxnodeOptions{})
	p := startProxyOn(t, c.Nodes(), "")
	db := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	mustExec(t, db, "CREATE DATABASE partition_it")
	mustExec(t, db, "CREATE TABLE partition_it.t (id INT PRIMARY KEY, v VARCHAR(16))")
	mustExec(t, db, "INSERT INTO partition_it.t VALUES (1, 'before')")
	waitEverywhere(t, ctx, c.Nodes(), "SELECT v FROM partition_it.t WHERE id = 1", "before")

	_, slaves := roles(t, p)
	survivor := slaves[0]
	var node harness.Node
	var others []harness.Node
	for _, n := range c.Nodes() {
		if n.Name() == survivor {
			node = n
		} else {
			others = append(others, n)
		}
	}

	// A session that reads from the survivor-to-be.
	held, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	read := func(c *sql.Conn) (string, error) {
		var v string
		err := c.QueryRowContext(ctx, "SELECT v FROM partition_it.t WHERE id = 1").Scan(&v)
		return v, err
	}
	err = harness.Poll(ctx, "a read of the held session on "+survivor, 10*time.Millisecond, func(context.Context) error {
		before := p.routedTo(t, survivor)
		if _, err := read(held); err != nil {
			return harness.Permanent(err)
		}
		if p.routedTo(t, survivor) == before {
			return errors.New("read went elsewhere")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, o := range others {
		if err := o.Pause(); err != nil {
			t.Fatal(err)
		}
	}
	resumed := false
	resume := func() {
		if resumed {
			return
		}
		resumed = true
		for _, o := range others {
			if err := o.Resume(); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(resume)

	err = harness.Poll(ctx, survivor+" non-Primary", 50*time.Millisecond, func(ctx context.Context) error {
		if st, err := node.Status(ctx, "wsrep_cluster_status"); err != nil || st != "non-Primary" {
			return fmt.Errorf("wsrep_cluster_status=%q, %v", st, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = harness.Poll(ctx, survivor+" out of routing", 20*time.Millisecond, func(context.Context) error {
		ts := p.srv.Topology("rw").Server(survivor)
		if ts == nil || ts.State&(topology.Synced|topology.Slave|topology.Master) != 0 {
			return fmt.Errorf("state %v", ts)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := node.Status(ctx, "wsrep_ready"); err != nil || st != "OFF" {
		t.Errorf("%s: wsrep_ready = %q, %v; want OFF", survivor, st, err)
	}

	// Nobody in routing: a clear error, never the survivor's data.
	before := p.routedTo(t, survivor)
	for _, c := range []*sql.Conn{held, newConn(t, ctx, db)} {
		for _, q := range []string{"SELECT v FROM partition_it.t WHERE id = 1", "INSERT INTO partition_it.t VALUES (2, 'during')"} {
			_, err := c.ExecContext(ctx, q)
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 2003 {
				t.Errorf("%s with %s non-Primary and the others frozen: %v; want error 2003", q, survivor, err)
			} else {
				t.Logf("%s: %v", q, err)
			}
		}
	}
	if got := p.routedTo(t, survivor) - before; got != 0 {
		t.Errorf("%v commands routed to the non-Primary %s", got, survivor)
	}

	// The others return: the survivor is Primary, Synced and read from.
	resume()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := harness.WaitSynced(wctx, c.Nodes(), 3); err != nil {
		t.Fatal(err)
	}
	err = harness.Poll(ctx, survivor+" a reader again", 20*time.Millisecond, func(context.Context) error {
		if ts := p.srv.Topology("rw").Server(survivor); ts == nil || !ts.State.Has(topology.Synced|topology.Slave) {
			return fmt.Errorf("state %v", ts)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := read(held); err != nil || v != "before" {
		t.Errorf("read of the held session after the partition: %q, %v", v, err)
	}
	mustExec(t, db, "INSERT INTO partition_it.t VALUES (2, 'after')")
	err = harness.Poll(ctx, "a read on "+survivor+" again", 10*time.Millisecond, func(ctx context.Context) error {
		before := p.routedTo(t, survivor)
		if _, err := read(newConn(t, ctx, db)); err != nil {
			return harness.Permanent(err)
		}
		if p.routedTo(t, survivor) == before {
			return errors.New("read went elsewhere")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// newConn opens a session of db that lives until the test ends.
func newConn(t *testing.T, ctx context.Context, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
