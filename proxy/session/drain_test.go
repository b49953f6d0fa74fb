package session_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	driver "github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/proxy/session"
	"github.com/maxproxy/maxproxy/router/classify"
)

// backendsOf lists the servers the test's session has connections to.
func (e *failoverEnv) backendsOf(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, in := range e.reg.Sessions() {
		for _, b := range in.Backends {
			out = append(out, b.Server)
		}
	}
	slices.Sort(out)
	return out
}

func (e *failoverEnv) expectBackends(t *testing.T, when string, want ...string) {
	t.Helper()
	if got := e.backendsOf(t); !slices.Equal(got, want) {
		t.Errorf("%s: session connected to %v, want %v", when, got, want)
	}
}

// TestMaintenanceReader: a reader put in maintenance gets no new reads,
// and the session closes its connection to it at the first command
// boundary where nothing needs it, without the client noticing.
func TestMaintenanceReader(t *testing.T) {
	e := newFailoverEnv(t, nil)
	e.topo.publish(twoNames(master, slave))
	mustExec(t, e.c, "SET @@session.sql_mode = 'ANSI_QUOTES'")
	var n int
	if err := e.c.QueryRowContext(e.ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	e.expectBackends(t, "after a write and a read", "a", "b")

	e.topo.publish(twoNames(master, slave|topology.Maintenance))
	// The first command after the change: b ran the previous statement
	// (FOUND_ROWS() and the like would read it), so it stays for now; the
	// read goes to the writer.
	if err := e.c.QueryRowContext(e.ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatalf("read with the reader in maintenance: %v", err)
	}
	mustExec(t, e.c, `INSERT INTO "t" VALUES (1, 1)`)
	e.expectBackends(t, "two commands after maintenance", "a")

	// Back from maintenance: a new connection, with the session's state.
	e.topo.publish(twoNames(master, slave))
	var mode string
	if err := e.c.QueryRowContext(e.ctx, "SELECT @@session.sql_mode").Scan(&mode); err != nil || mode != "ANSI_QUOTES" {
		t.Errorf("sql_mode read on the returning reader = %q, %v", mode, err)
	}
	e.expectBackends(t, "after maintenance ended", "a", "b")
}

// TestMaintenanceWriter: the writer goes into maintenance and the monitor
// names another. The open transaction finishes on the old writer; the
// session's next write moves (history replayed); a session with a
// temporary table stays on the old writer until the table is dropped.
func TestMaintenanceWriter(t *testing.T) {
	t.Run("transaction finishes first", func(t *testing.T) {
		e := newFailoverEnv(t, nil)
		mustExec(t, e.c, "SET @@session.sql_mode = 'ANSI_QUOTES'")
		mustExec(t, e.c, "BEGIN")
		mustExec(t, e.c, "INSERT INTO t VALUES (1, 1)")
		e.topo.publish(twoNames(slave|topology.Maintenance, master))
		mustExec(t, e.c, "INSERT INTO t VALUES (2, 2)")
		mustExec(t, e.c, "COMMIT")
		e.expectBackends(t, "after COMMIT", "a")
		mustExec(t, e.c, `INSERT INTO "t" VALUES (3, 3)`) // needs ANSI_QUOTES on b
		mustExec(t, e.c, "DO 1")
		e.expectBackends(t, "after a write outside the transaction", "b")
		if got := e.rows(t); got != "1=1,2=2,3=3,100=1" {
			t.Errorf("table = %s", got)
		}
	})
	t.Run("temporary table", func(t *testing.T) {
		e := newFailoverEnv(t, nil)
		mustExec(t, e.c, "CREATE TEMPORARY TABLE tmp (x INT)")
		e.topo.publish(twoNames(slave|topology.Maintenance, master))
		// Without the table's server, strict_tmp_tables would refuse the
		// move with 2003; the session stays where its table is.
		mustExec(t, e.c, "INSERT INTO tmp VALUES (1)")
		mustExec(t, e.c, "INSERT INTO t SELECT x, x FROM tmp")
		e.expectBackends(t, "with the temporary table", "a")
		mustExec(t, e.c, "DROP TEMPORARY TABLE tmp")
		mustExec(t, e.c, "INSERT INTO t VALUES (2, 2)")
		mustExec(t, e.c, "DO 1")
		e.expectBackends(t, "after the table was dropped", "b")
		if got := e.rows(t); got != "1=1,2=2,100=1" {
			t.Errorf("table = %s", got)
		}
	})
}

// TestWriterMissedOnce: a writer the monitor failed to reach for a while
// keeps the session's connection (readers' connections go), so that a
// session without master_reconnection goes on writing when it is back.
func TestWriterMissedOnce(t *testing.T) {
	e := newFailoverEnv(t, func(c *config.Service) { c.TransactionReplay, c.MasterReconnection = false, false })
	mustExec(t, e.c, "INSERT INTO t VALUES (1, 1)")
	mustExec(t, e.c, "SELECT COUNT(*) FROM t")
	e.expectBackends(t, "after a write and a read", "a", "b")
	e.topo.publish(twoNames(0, slave)) // a: a failed probe
	mustExec(t, e.c, "SELECT 1")
	mustExec(t, e.c, "SELECT 2")
	e.expectBackends(t, "while the monitor misses the writer", "a", "b")
	e.topo.publish(twoNames(master, slave))
	mustExec(t, e.c, "INSERT INTO t VALUES (2, 2)")
	if got := e.rows(t); got != "1=1,2=2,100=1" {
		t.Errorf("table = %s", got)
	}
}

// TestMaintenanceReadConnRoute: a readconnroute session cannot move (its
// state is on its one connection), so when its server goes into
// maintenance the session ends at its first command outside a
// transaction, with 1927 saying why; an open transaction finishes first.
func TestMaintenanceReadConnRoute(t *testing.T) {
	db := mariadb.Get(t)
	m, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultService(config.ReadConnRoute)
	cfg.Name, cfg.RouterOptions = "ro", []string{"slave"}
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
	e := &failoverEnv{reg: reg, ctx: context.Background()}
	mustExec(t, c, "BEGIN")
	mustExec(t, c, "SELECT 1")
	e.expectBackends(t, "readconnroute with router_options slave", "b")

	topo.publish(twoNames(master, slave|topology.Maintenance))
	mustExec(t, c, "SELECT 2")
	mustExec(t, c, "COMMIT")
	_, err = c.ExecContext(e.ctx, "SELECT 3")
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 1927 || !strings.Contains(me.Message, "left routing") {
		t.Fatalf("first statement after the transaction: %v; want 1927 saying b left routing", err)
	}
	if err := c.PingContext(e.ctx); err == nil {
		t.Error("the session is still open")
	}
}
