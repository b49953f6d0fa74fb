package node

import (
	"testing"
)

// SET STATEMENT ... FOR gives session variables their values for one statement only, as MariaDB does;
// proxies send it (maxproxy's causal reads: SET STATEMENT wsrep_sync_wait=1 FOR SELECT ...).
func TestSetStatement(t *testing.T) {
	n := startNode(t, testConfig(t))
	db := openDB(t, n, "root", "", "", "")
	db.SetMaxOpenConns(1) // one session: the variables are per session
	mustExec(t, db, "CREATE DATABASE d")
	mustExec(t, db, "CREATE TABLE d.t (id INT PRIMARY KEY)")
	mustExec(t, db, "INSERT INTO d.t VALUES (1), (2), (3)")

	count := func(q string) int {
		t.Helper()
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var inside, after string
	if err := db.QueryRow("SET STATEMENT sql_select_limit = 1, wait_timeout = 77 FOR SELECT CONCAT(@@session.sql_select_limit, '/', @@session.wait_timeout)").Scan(&inside); err != nil || inside != "1/77" {
		t.Errorf("inside SET STATEMENT: %q, %v; want 1/77", inside, err)
	}
	if err := db.QueryRow("SELECT CONCAT(@@session.sql_select_limit, '/', @@session.wait_timeout)").Scan(&after); err != nil || after != "18446744073709551615/28800" {
		t.Errorf("after SET STATEMENT: %q, %v; want the previous values back", after, err)
	}
	// The statement's failure restores the variables too.
	if _, err := db.Exec("SET STATEMENT sql_select_limit = 2 FOR SELECT nope FROM d.t"); mysqlCode(err) != 1054 {
		t.Fatalf("a failing statement under SET STATEMENT: %v, want 1054", err)
	}
	var limit string
	if err := db.QueryRow("SELECT @@session.sql_select_limit").Scan(&limit); err != nil || limit != "18446744073709551615" {
		t.Errorf("@@session.sql_select_limit after a failed statement = %q, %v", limit, err)
	}
	for _, q := range []string{
		"SET STATEMENT @u = 1 FOR SELECT 1",                      // user variables cannot be set this way
		"SET STATEMENT GLOBAL sql_select_limit = 1 FOR SELECT 1", // nor global ones
	} {
		if _, err := db.Exec(q); mysqlCode(err) != 1064 {
			t.Errorf("%s: %v, want 1064", q, err)
		}
	}
	// A standalone node has no causal reads to wait for, but accepts the proxy's form.
	if got := count("SET STATEMENT wsrep_sync_wait=1 FOR SELECT id FROM d.t"); got != 3 {
		t.Errorf("SET STATEMENT wsrep_sync_wait=1: %d rows, want 3", got)
	}
}
