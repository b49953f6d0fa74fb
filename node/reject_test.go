package node

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// wsrep_reject_queries as GALERA.md §3.4 describes it: ALL refuses client statements with 1047 but
// allows SET, SHOW and table-less SELECTs, while the node stays in the cluster and keeps applying;
// ALL_KILL also ends every open connection; a new connection can set it back to NONE.
func TestRejectQueries(t *testing.T) {
	nodes := startCluster(t, 2)
	db1 := openDB(t, nodes[0], "root", "", "", "")
	db2 := openDB(t, nodes[1], "root", "", "", "")
	mustExec(t, db2, "CREATE DATABASE d")
	mustExec(t, db2, "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))")
	mustExec(t, db2, "INSERT INTO d.t VALUES (1, 'a')")
	waitFor(t, func() bool { s, err := tableContents(db1); return err == nil && s == "1=a;" })

	if _, err := db1.Exec("SET SESSION wsrep_reject_queries = ALL"); mysqlCode(err) != 1229 {
		t.Fatalf("SET SESSION wsrep_reject_queries: %v, want 1229 (a global variable)", err)
	}
	mustExec(t, db1, "SET GLOBAL wsrep_reject_queries = ALL")
	if _, err := tableContents(db1); mysqlCode(err) != 1047 {
		t.Fatalf("SELECT from a table with ALL: %v, want 1047", err)
	}
	if _, err := db1.Exec("INSERT INTO d.t VALUES (2, 'b')"); mysqlCode(err) != 1047 {
		t.Fatalf("INSERT with ALL: %v, want 1047", err)
	}
	var mode string
	if err := db1.QueryRow("SELECT @@global.wsrep_reject_queries").Scan(&mode); err != nil || mode != "ALL" {
		t.Fatalf("@@global.wsrep_reject_queries = %q, %v", mode, err)
	}
	if st := wsrepStatus(t, db1); st["wsrep_ready"] != "ON" || st["wsrep_cluster_size"] != "2" {
		t.Fatalf("rejecting node's status: ready %q, cluster size %q; want ON and 2 (it stays in the cluster)",
			st["wsrep_ready"], st["wsrep_cluster_size"])
	}
	// Replication goes on: node 2's write is applied on node 1 while it rejects clients.
	mustExec(t, db2, "INSERT INTO d.t VALUES (2, 'b')")

	ctx := context.Background()
	idle, err := db1.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := idle.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	issuer, err := db1.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer issuer.Close()
	_, _ = issuer.ExecContext(ctx, "SET GLOBAL wsrep_reject_queries = ALL_KILL") // the issuer is killed too
	if _, err := idle.ExecContext(ctx, "SELECT 1"); err == nil {
		t.Fatal("a connection open before ALL_KILL still runs statements")
	}

	db3 := openDB(t, nodes[0], "root", "", "", "")
	if _, err := tableContents(db3); mysqlCode(err) != 1047 {
		t.Fatalf("SELECT on a new connection with ALL_KILL: %v, want 1047", err)
	}
	mustExec(t, db3, "SET GLOBAL wsrep_reject_queries = NONE")
	waitFor(t, func() bool { s, err := tableContents(db3); return err == nil && s == "1=a;2=b;" })
}

// A client whose statement was refused with 1047 in the middle of a transaction rolls it back, and the
// rollback must work while the node is not ready: otherwise the transaction stays open on the connection
// and the client's next START TRANSACTION commits its first half once the node is ready again (a bank
// transfer that debits without crediting).
func TestRollbackWhileNotReady(t *testing.T) {
	nodes := startCluster(t, 2)
	db := openDB(t, nodes[0], "root", "", "", "")
	mustExec(t, db, "CREATE DATABASE d")
	mustExec(t, db, "CREATE TABLE d.acct (id INT PRIMARY KEY, balance INT NOT NULL)")
	mustExec(t, db, "INSERT INTO d.acct VALUES (1, 100), (2, 100)")
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	admin, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	exec := func(c interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}, q string) error {
		_, err := c.ExecContext(ctx, q)
		return err
	}
	for _, q := range []string{"START TRANSACTION", "UPDATE d.acct SET balance = balance - 10 WHERE id = 1"} {
		if err := exec(conn, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := exec(admin, "SET GLOBAL wsrep_reject_queries = ALL"); err != nil {
		t.Fatal(err)
	}
	if err := exec(conn, "UPDATE d.acct SET balance = balance + 10 WHERE id = 2"); mysqlCode(err) != 1047 {
		t.Fatalf("second half on a node that rejects queries: %v, want 1047", err)
	}
	if err := exec(conn, "ROLLBACK"); err != nil {
		t.Fatalf("ROLLBACK on a node that rejects queries: %v, want it to roll back", err)
	}
	if err := exec(admin, "SET GLOBAL wsrep_reject_queries = NONE"); err != nil {
		t.Fatal(err)
	}
	if err := exec(conn, "START TRANSACTION"); err != nil {
		t.Fatal(err)
	}
	if err := exec(conn, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if got, err := acctContents(db); err != nil || got != "1=100;2=100;" {
		t.Fatalf("balances after the rolled-back transfer: %q, %v; want both unchanged", got, err)
	}
}

func acctContents(db *sql.DB) (string, error) {
	rows, err := db.Query("SELECT id, balance FROM d.acct ORDER BY id")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, bal int
		if err := rows.Scan(&id, &bal); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d=%d;", id, bal)
	}
	return b.String(), rows.Err()
}
