package node

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
)

// wsrep_max_ws_rows and wsrep_max_ws_size (GALERA.md §3.3): a transaction over a limit is rolled back
// with Galera's code and message, nothing of it reaches any node, and nothing is replicated or
// counted as a certification failure; within the limits (secondary-index entries are not rows) commits
// go through, and the limits are global-only variables.
func TestWriteSetLimits(t *testing.T) {
	nodes := startCluster(t, 2)
	db1 := openDB(t, nodes[0], "root", "", "", "")
	db2 := openDB(t, nodes[1], "root", "", "", "wsrep_sync_wait=1")
	mustExec(t, db1, "CREATE DATABASE d")
	mustExec(t, db1, "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(2000), KEY (v(10)))")

	var rows, size int64
	if err := db1.QueryRow("SELECT @@global.wsrep_max_ws_rows, @@global.wsrep_max_ws_size").Scan(&rows, &size); err != nil {
		t.Fatal(err)
	}
	if rows != 0 || size != 2147483647 {
		t.Fatalf("defaults: wsrep_max_ws_rows %d, wsrep_max_ws_size %d; want 0 and 2147483647", rows, size)
	}
	if _, err := db1.Exec("SET SESSION wsrep_max_ws_rows = 2"); mysqlCode(err) != 1229 {
		t.Fatalf("SET SESSION wsrep_max_ws_rows: %v, want 1229 (a global variable)", err)
	}

	mustExec(t, db1, "SET GLOBAL wsrep_max_ws_rows = 2")
	before := wsrepStatus(t, db1)
	// Two rows with a secondary index are four keys but two rows.
	mustExec(t, db1, "INSERT INTO d.t VALUES (1, 'a'), (2, 'b')")
	wantErr(t, 1180, "wsrep_max_ws_rows exceeded")(db1.Exec("INSERT INTO d.t VALUES (3, 'c'), (4, 'd'), (5, 'e')"))
	// In a transaction the limit applies to the whole write-set, at COMMIT; everything is rolled back.
	tx, err := db1.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"INSERT INTO d.t VALUES (6, 'f')", "UPDATE d.t SET v = 'z' WHERE id = 1", "DELETE FROM d.t WHERE id = 2"} {
		mustExec(t, tx, q)
	}
	wantErr(t, 1180, "wsrep_max_ws_rows exceeded")(nil, tx.Commit())
	after := wsrepStatus(t, db1)
	if before["wsrep_local_cert_failures"] != after["wsrep_local_cert_failures"] {
		t.Errorf("wsrep_local_cert_failures went from %s to %s: an over-limit write-set is never certified",
			before["wsrep_local_cert_failures"], after["wsrep_local_cert_failures"])
	}
	b, _ := strconv.Atoi(before["wsrep_replicated"])
	a, _ := strconv.Atoi(after["wsrep_replicated"])
	if a-b != 1 {
		t.Errorf("write-sets replicated meanwhile: %d, want 1 (only the two-row INSERT)", a-b)
	}

	mustExec(t, db1, "SET GLOBAL wsrep_max_ws_rows = 0")
	mustExec(t, db1, "SET GLOBAL wsrep_max_ws_size = 1024")
	if err := db1.QueryRow("SELECT @@global.wsrep_max_ws_size").Scan(&size); err != nil || size != 1024 {
		t.Fatalf("@@global.wsrep_max_ws_size = %d, %v", size, err)
	}
	wantErr(t, 1105, "Maximum writeset size exceeded")(db1.Exec("INSERT INTO d.t VALUES (7, REPEAT('x', 1500))"))
	mustExec(t, db1, "INSERT INTO d.t VALUES (8, 'h'), (9, 'i'), (10, 'j')") // small, and no row limit now
	mustExec(t, db1, "SET GLOBAL wsrep_max_ws_size = DEFAULT")
	mustExec(t, db1, "INSERT INTO d.t VALUES (7, REPEAT('x', 1500))")

	const want = "1=a;2=b;7=xxx;8=h;9=i;10=j;" // nothing of the refused transactions
	for i, db := range []*sql.DB{db1, db2} {
		if got, err := shortContents(db); err != nil || got != want {
			t.Errorf("node %d: table %q (%v), want %q", i+1, got, err, want)
		}
	}
}

// wantErr checks a statement's result against a MySQL error code and message.
func wantErr(t *testing.T, code uint16, msg string) func(any, error) {
	t.Helper()
	return func(_ any, err error) {
		t.Helper()
		var me *gomysql.MySQLError
		if !errors.As(err, &me) || me.Number != code || me.Message != msg {
			t.Fatalf("got %v, want error %d %q", err, code, msg)
		}
	}
}

func shortContents(db *sql.DB) (string, error) {
	rows, err := db.Query("SELECT id, LEFT(v, 3) FROM d.t ORDER BY id")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id int
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d=%s;", id, v)
	}
	return b.String(), rows.Err()
}
