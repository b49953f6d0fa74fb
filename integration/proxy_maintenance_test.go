package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

// routedTo is every command the rw service sent to server, whatever the
// routing target.
func (p *runningProxy) routedTo(t *testing.T, server string) float64 {
	t.Helper()
	mfs, err := p.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "maxproxy_queries_routed_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matchLabels(m, map[string]string{"service": "rw", "server": server}) {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// backendConns is the number of backend connections the rw service's
// sessions hold to server.
func (p *runningProxy) backendConns(t *testing.T, server string) float64 {
	t.Helper()
	return p.metric(t, "maxproxy_backend_connections", map[string]string{"service": "rw", "server": server})
}

// sessionsOn returns the ids of the sessions with a connection to server.
func (p *runningProxy) sessionsOn(server string) []uint32 {
	var ids []uint32
	for _, in := range p.srv.SessionInfos() {
		for _, b := range in.Backends {
			if b.Server == server {
				ids = append(ids, in.ID)
				break
			}
		}
	}
	return ids
}

// setState runs `maxproxy ctl set|clear server NAME STATE` and waits until
// the proxy's topology shows the change.
func setState(t *testing.T, ctx context.Context, p *runningProxy, addr, verb, server string) {
	t.Helper()
	if code, _, stderr := ctlRun(ctx, addr, adminITPassword, verb, "server", server, "maintenance"); code != 0 {
		t.Fatalf("%s server %s maintenance: exit %d: %s", verb, server, code, stderr)
	}
	want := verb == "set"
	err := harness.Poll(ctx, "maintenance of "+server+" in the topology", 20*time.Millisecond, func(context.Context) error {
		if ts := p.srv.Topology("rw").Server(server); ts == nil || ts.State.Has(topology.Maintenance) != want {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestProxyMaintenanceReader puts a reader in maintenance while sessions
// hold connections to it: no new statement goes there, except those of a
// read-only transaction already open on it, which finishes; each session
// closes its connection to the reader at its next safe point; no client
// sees an error.
func TestProxyMaintenanceReader(t *testing.T) {
	p, addr := startProxyWithAdmin(t)
	ctx := ctxFor(t, 2*time.Minute)
	master, slaves := roles(t, p)
	if len(slaves) < 2 {
		t.Fatalf("readers %v, want 2", slaves)
	}
	reader := slaves[0]

	// Reads spread over the readers: open sessions until one runs a
	// read-only transaction on reader and two more have read from it.
	db := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	newConn := func() *sql.Conn {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var trx *sql.Conn
	for i := 0; trx == nil; i++ {
		if i == 30 {
			t.Fatalf("30 read-only transactions and none on %s", reader)
		}
		c := newConn()
		before := p.routedTo(t, reader)
		for _, q := range []string{"START TRANSACTION READ ONLY", "SELECT 1"} {
			if _, err := c.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if p.routedTo(t, reader) > before {
			trx = c
		} else if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
			t.Fatal(err)
		}
	}
	var onReader []*sql.Conn
	for i := 0; len(onReader) < 2; i++ {
		if i == 30 {
			t.Fatalf("30 sessions and only %d read from %s", len(onReader), reader)
		}
		c := newConn()
		before := p.routedTo(t, reader)
		var one int
		if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
		if p.routedTo(t, reader) > before {
			onReader = append(onReader, c)
		}
	}
	holders := len(p.sessionsOn(reader))
	t.Logf("%d sessions hold a connection to %s (writer %s)", holders, reader, master)

	setState(t, ctx, p, addr, "set", reader)
	before := p.routedTo(t, reader)
	// Two commands per session: the first may still find the reader as
	// the previous statement's server, the second is past it.
	for _, c := range onReader {
		for range 2 {
			var one int
			if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				t.Fatalf("read after maintenance: %v", err)
			}
		}
	}
	if got := p.routedTo(t, reader) - before; got != 0 {
		t.Errorf("%s in maintenance got %v new commands from sessions outside a transaction", reader, got)
	}
	// The read-only transaction finishes where it is.
	var one int
	if err := trx.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("read in the open transaction: %v", err)
	}
	if _, err := trx.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatalf("COMMIT of the read-only transaction: %v", err)
	}
	if got := p.routedTo(t, reader) - before; got != 2 {
		t.Errorf("%s got %v commands, want the 2 of the open transaction", reader, got)
	}
	for range 2 {
		if err := trx.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("read after COMMIT: %v", err)
		}
	}
	if ids := p.sessionsOn(reader); len(ids) != 0 {
		t.Errorf("sessions %v still hold a connection to %s", ids, reader)
	}
	if n := p.backendConns(t, reader); n != 0 {
		t.Errorf("maxproxy_backend_connections{server=%q} = %v, want 0", reader, n)
	}

	// Cleared: the reader takes reads again.
	setState(t, ctx, p, addr, "clear", reader)
	err := harness.Poll(ctx, reader+" routed to again", 10*time.Millisecond, func(ctx context.Context) error {
		before := p.routedTo(t, reader)
		c, err := db.Conn(ctx)
		if err != nil {
			return harness.Permanent(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return harness.Permanent(err)
		}
		if p.routedTo(t, reader) == before {
			return errors.New("no read on it yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestProxyMaintenanceWriter puts the writer in maintenance: the monitor
// names another writer; a transaction open on the old one finishes there
// and commits; sessions outside a transaction write to the new writer
// with their session state (the history is replayed), and close their
// connection to the old one; nobody sees an error.
func TestProxyMaintenanceWriter(t *testing.T) {
	p, addr := startProxyWithAdmin(t)
	ctx := ctxFor(t, 2*time.Minute)
	master, _ := roles(t, p)
	db := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	mustExec(t, db, "CREATE DATABASE IF NOT EXISTS proxymaint")
	mustExec(t, db, "CREATE OR REPLACE TABLE proxymaint.t (id INT PRIMARY KEY, node VARCHAR(64))")
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS proxymaint") })
	// The session moves to another node: the table must be there first.
	waitEverywhere(t, ctx, galera3.Get(t).Nodes(), "SELECT COUNT(*) FROM proxymaint.t", "0")

	conn := func() *sql.Conn {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	exec := func(c *sql.Conn, q string, args ...any) {
		t.Helper()
		if _, err := c.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Every write records the node that ran it.
	const insert = "INSERT INTO proxymaint.t VALUES (?, @@wsrep_node_name)"
	free, inTrx := conn(), conn()
	exec(free, "SET @@session.sql_mode = 'ANSI_QUOTES'")
	exec(free, insert, 1)
	exec(inTrx, "BEGIN")
	exec(inTrx, insert, 2)

	setState(t, ctx, p, addr, "set", master)
	t.Cleanup(func() {
		code, _, stderr := ctlRun(context.Background(), addr, adminITPassword, "clear", "server", master, "maintenance")
		if code != 0 {
			t.Errorf("clear maintenance: %s", stderr)
		}
	})
	var newMaster string
	err := harness.Poll(ctx, "a new writer", 20*time.Millisecond, func(context.Context) error {
		if m := p.srv.Topology("rw").Master(); m != nil && m.Name != master {
			newMaster = m.Name
			return nil
		}
		return errors.New("not yet")
	})
	if err != nil {
		t.Fatal(err)
	}

	// The transaction finishes on the old writer.
	exec(inTrx, insert, 3)
	exec(inTrx, "COMMIT")
	exec(inTrx, insert, 4)
	// The free session moves, with its sql_mode.
	exec(free, `INSERT INTO "proxymaint"."t" VALUES (5, @@wsrep_node_name)`)
	exec(free, "DO 1")
	exec(inTrx, "DO 1")

	check := conn()
	exec(check, "SET SESSION wsrep_sync_wait = 1") // see every node's commits
	rows, err := check.QueryContext(ctx, "SELECT id, node FROM proxymaint.t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id int
		var node string
		if err := rows.Scan(&id, &node); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d@%s", id, node))
	}
	rows.Close()
	want := []string{"1@" + master, "2@" + master, "3@" + master, "4@" + newMaster, "5@" + newMaster}
	if !slices.Equal(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
	if ids := p.sessionsOn(master); len(ids) != 0 {
		t.Errorf("sessions %v still hold a connection to %s (in maintenance)", ids, master)
	}
	if n := p.backendConns(t, master); n != 0 {
		t.Errorf("maxproxy_backend_connections{server=%q} = %v, want 0", master, n)
	}
}
