package node

import (
	"context"
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
