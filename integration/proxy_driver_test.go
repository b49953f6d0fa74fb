package integration

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

// TestProxyDriver runs go-sql-driver/mysql through readwritesplit:
// multi-statements, prepared statements (on the writer and on readers),
// transactions, LOAD DATA LOCAL INFILE, and the routing counters.
func TestProxyDriver(t *testing.T) {
	_, p := startProxy(t, "")
	ctx := ctxFor(t, 2*time.Minute)
	admin := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	mustExec(t, admin, "CREATE DATABASE IF NOT EXISTS proxydrv")
	mustExec(t, admin, "CREATE OR REPLACE TABLE proxydrv.t (id INT PRIMARY KEY, v VARCHAR(40))")
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS proxydrv") })

	dc, err := mysql.ParseDSN(harness.TCPDSN(p.rw, "app", "app", "proxydrv"))
	if err != nil {
		t.Fatal(err)
	}
	dc.MultiStatements, dc.AllowAllFiles = true, true
	db := sqlOpen(t, dc.FormatDSN())

	t.Run("multi-statement", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "INSERT INTO t VALUES (1,'a'); INSERT INTO t VALUES (2,'b'); UPDATE t SET v='bb' WHERE id=2"); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.QueryContext(ctx, "SELECT v FROM t WHERE id=1; SELECT v FROM t WHERE id=2")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				got = append(got, v)
			}
			if !rows.NextResultSet() {
				break
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if strings.Join(got, ",") != "a,bb" {
			t.Errorf("multi-statement results %v, want [a bb]", got)
		}
	})

	t.Run("prepared statements", func(t *testing.T) {
		conn := causalConn(t, ctx, db)
		ins, err := conn.PrepareContext(ctx, "INSERT INTO t VALUES (?, ?)")
		if err != nil {
			t.Fatal(err)
		}
		for i := 10; i < 20; i++ {
			if _, err := ins.ExecContext(ctx, i, "p"); err != nil {
				t.Fatal(err)
			}
		}
		ins.Close()
		// A read prepared on the writer and executed on a reader, with
		// parameter types carried over.
		sel, err := conn.PrepareContext(ctx, "SELECT COUNT(*), MAX(v) FROM t WHERE id >= ? AND v = ?")
		if err != nil {
			t.Fatal(err)
		}
		defer sel.Close()
		for range 5 {
			var n int
			var v string
			if err := sel.QueryRowContext(ctx, 10, "p").Scan(&n, &v); err != nil {
				t.Fatal(err)
			}
			if n != 10 || v != "p" {
				t.Fatalf("prepared read = %d %q, want 10 p", n, v)
			}
		}
		var missing int
		err = sel.QueryRowContext(ctx, 1000, "p").Scan(&missing, new(sql.NullString))
		if err != nil || missing != 0 {
			t.Errorf("prepared read with no match = %d, %v", missing, err)
		}
	})

	t.Run("transaction", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (100, 'trx')"); err != nil {
			t.Fatal(err)
		}
		// A read inside the transaction sees its own write: it went to the
		// transaction's backend, not a reader.
		var v string
		if err := tx.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 100").Scan(&v); err != nil || v != "trx" {
			t.Fatalf("read in transaction = %q, %v", v, err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		conn := causalConn(t, ctx, db)
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM t WHERE id = 100").Scan(&n); err != nil || n != 0 {
			t.Errorf("rolled-back row visible: %d, %v", n, err)
		}
		tx, err = db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (101, 'committed')"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM t WHERE id = 101").Scan(&n); err != nil || n != 1 {
			t.Errorf("committed row: %d, %v", n, err)
		}
	})

	t.Run("LOAD DATA LOCAL INFILE", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "rows.tsv")
		var b strings.Builder
		for i := 1000; i < 1500; i++ {
			b.WriteString(strings.Join([]string{itoa(i), "infile"}, "\t"))
			b.WriteByte('\n')
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := db.ExecContext(ctx, "LOAD DATA LOCAL INFILE '"+path+"' INTO TABLE t")
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 500 {
			t.Errorf("LOAD DATA affected %d rows, want 500", n)
		}
		mysql.RegisterReaderHandler("proxyrows", func() io.Reader { return strings.NewReader("2000\treader\n2001\treader\n") })
		defer mysql.DeregisterReaderHandler("proxyrows")
		if _, err := db.ExecContext(ctx, "LOAD DATA LOCAL INFILE 'Reader::proxyrows' INTO TABLE t"); err != nil {
			t.Fatal(err)
		}
		conn := causalConn(t, ctx, db)
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM t WHERE v IN ('infile', 'reader')").Scan(&n); err != nil || n != 502 {
			t.Errorf("rows loaded: %d, %v; want 502", n, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := db.ExecContext(ctx, "INSERT INTO t VALUES (1, 'dup')")
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1062 {
			t.Errorf("duplicate key: %v, want error 1062", err)
		}
		_, err = db.ExecContext(ctx, "SELEC 1")
		if !errors.As(err, &me) || me.Number != 1064 {
			t.Errorf("syntax error: %v, want error 1064", err)
		}
		bad := sqlOpen(t, harness.TCPDSN(p.rw, "app", "nope", ""))
		err = bad.PingContext(ctx)
		if !errors.As(err, &me) || me.Number != 1045 {
			t.Errorf("wrong password: %v, want error 1045", err)
		}
	})

	t.Run("reads on readers, writes on the writer", func(t *testing.T) {
		master, slaves := roles(t, p)
		beforeW := p.routed(t, "rw", master, "master")
		var beforeR float64
		for _, s := range slaves {
			beforeR += p.routed(t, "rw", s, "slave")
		}
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for i := range 20 {
			if _, err := conn.ExecContext(ctx, "UPDATE t SET v = 'w' WHERE id = ?", 10+i%10); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		var afterR float64
		for _, s := range slaves {
			afterR += p.routed(t, "rw", s, "slave")
			if got := p.routed(t, "rw", s, "master"); got != 0 {
				t.Errorf("reader %s was sent %v statements as master", s, got)
			}
		}
		// Each UPDATE is a prepare, an execute and a close on the writer
		// (the driver prepares statements with arguments); each SELECT
		// one read.
		if got := p.routed(t, "rw", master, "master") - beforeW; got < 20 {
			t.Errorf("writer got %v statements as master, want >= 20", got)
		}
		if got := afterR - beforeR; got != 20 {
			t.Errorf("readers got %v reads, want 20", got)
		}
		if got := p.routed(t, "rw", master, "slave"); got != 0 {
			t.Errorf("writer got %v reads", got)
		}
	})
}

// causalConn returns a connection of db with wsrep_sync_wait on, so that
// reads on readers see the writes made before them.
func causalConn(t *testing.T, ctx context.Context, db *sql.DB) *sql.Conn {
	t.Helper()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.ExecContext(ctx, "SET SESSION wsrep_sync_wait = 1"); err != nil {
		t.Fatal(err)
	}
	return conn
}

func mustExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// roles returns the writer and the readers as the proxy's monitor sees them.
func roles(t *testing.T, p *runningProxy) (master string, slaves []string) {
	t.Helper()
	for _, s := range p.srv.Topology("rw").Servers {
		switch {
		case s.State.Has(topology.Master):
			master = s.Name
		case s.State.Has(topology.Slave):
			slaves = append(slaves, s.Name)
		}
	}
	if master == "" || len(slaves) == 0 {
		t.Fatalf("no master or no slaves in the proxy's topology")
	}
	return master, slaves
}

func itoa(i int) string { return strconv.Itoa(i) }
