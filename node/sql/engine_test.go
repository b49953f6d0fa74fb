package sql

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

func mustExec(t *testing.T, c *testConn, q string, params ...Value) *Result {
	t.Helper()
	res, err := c.exec(q, params...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res
}

func errCode(err error) uint16 {
	var me *Error
	if errors.As(err, &me) {
		return me.Code
	}
	return 0
}

func rowsRead(t *testing.T, c *testConn) int64 {
	t.Helper()
	for _, nv := range c.s.statusRows() {
		if nv.Name == "Innodb_rows_read" {
			n, _ := strconv.ParseInt(nv.Value, 10, 64)
			return n
		}
	}
	t.Fatal("Innodb_rows_read missing")
	return 0
}

// TestSysbenchQueriesUseIndexes checks that sysbench's point and range queries read only the rows they
// need (via PRIMARY or k_1), never the whole table.
func TestSysbenchQueriesUseIndexes(t *testing.T) {
	e := testEngine(t)
	c := newTestConn(e, 1)
	defer c.s.Close()
	mustExec(t, c, "CREATE DATABASE sbtest")
	mustExec(t, c, "USE sbtest")
	mustExec(t, c, "CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id))")
	var sb strings.Builder
	sb.WriteString("INSERT INTO sbtest1(k, c, pad) VALUES ")
	for i := 1; i <= 2000; i++ {
		if i > 1 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, "(%d, 'c%d', 'p%d')", i%100, i, i)
	}
	mustExec(t, c, sb.String())
	mustExec(t, c, "CREATE INDEX k_1 ON sbtest1(k)")
	cases := []struct {
		q      string
		params []Value
		rows   int
		read   int64
	}{
		{"SELECT c FROM sbtest1 WHERE id=?", []Value{types.NewInt(77)}, 1, 1},
		{"SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?", []Value{types.NewInt(10), types.NewInt(109)}, 100, 100},
		{"SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN ? AND ?", []Value{types.NewInt(10), types.NewInt(109)}, 1, 100},
		{"SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c", []Value{types.NewInt(10), types.NewInt(109)}, 100, 100},
		{"SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c", []Value{types.NewInt(10), types.NewInt(109)}, 100, 100},
		{"SELECT id, k, c, pad FROM sbtest1 WHERE k IN (?, ?, ?)", []Value{types.NewInt(5), types.NewInt(6), types.NewInt(1000)}, 40, 40},
		{"UPDATE sbtest1 SET k=k+1 WHERE id=?", []Value{types.NewInt(5)}, 0, 1},
		{"UPDATE sbtest1 SET c=? WHERE id=?", []Value{types.NewString("new"), types.NewInt(6)}, 0, 1},
		{"DELETE FROM sbtest1 WHERE id=?", []Value{types.NewInt(7)}, 0, 1},
		{"SELECT c FROM sbtest1 WHERE id = 1 ORDER BY id DESC LIMIT 1", nil, 1, 1},
		{"SELECT id FROM sbtest1 ORDER BY id DESC LIMIT 3", nil, 3, 3},
		{"SELECT id FROM sbtest1 WHERE k = 3 ORDER BY id LIMIT 2", nil, 2, 2},
		{"SELECT id, k FROM sbtest1 ORDER BY k DESC LIMIT 5", nil, 5, 5},
		// select_random_ranges: a disjunction of ranges on k, overlapping ranges read once.
		{"SELECT count(k) FROM sbtest1 WHERE k BETWEEN ? AND ? OR k BETWEEN ? AND ? OR k BETWEEN ? AND ?", []Value{types.NewInt(10), types.NewInt(12), types.NewInt(11), types.NewInt(13), types.NewInt(50), types.NewInt(50)}, 1, 100},
		{"SELECT id FROM sbtest1 WHERE id = 3 OR id = 5 OR id IN (5, 9) OR id < 2", nil, 4, 4},
	}
	for _, tc := range cases {
		before := rowsRead(t, c)
		res := mustExec(t, c, tc.q, tc.params...)
		if got := rowsRead(t, c) - before; got != tc.read {
			t.Errorf("%s: read %d rows, want %d", tc.q, got, tc.read)
		}
		if len(res.Rows) != tc.rows {
			t.Errorf("%s: %d result rows, want %d", tc.q, len(res.Rows), tc.rows)
		}
	}
	// A predicate on an unindexed column scans: the counter does see full scans.
	before := rowsRead(t, c)
	mustExec(t, c, "SELECT id FROM sbtest1 WHERE pad = 'p9'")
	if got := rowsRead(t, c) - before; got < 1999 {
		t.Errorf("unindexed predicate read %d rows, want a full scan", got)
	}
	res := mustExec(t, c, "SELECT id FROM sbtest1 ORDER BY id DESC LIMIT 3")
	if formatRow(res.Columns, res.Rows[0]) != "2000" || formatRow(res.Columns, res.Rows[2]) != "1998" {
		t.Errorf("ORDER BY id DESC LIMIT 3 = %v", res.Rows)
	}
}

func TestLockWaitTimeoutKeepsTransaction(t *testing.T) {
	e := testEngine(t)
	a, b := newTestConn(e, 1), newTestConn(e, 2)
	defer a.s.Close()
	defer b.s.Close()
	mustExec(t, a, "CREATE DATABASE d")
	mustExec(t, a, "CREATE TABLE d.t (id INT PRIMARY KEY, v INT)")
	mustExec(t, a, "INSERT INTO d.t VALUES (1, 0), (2, 0)")
	mustExec(t, a, "BEGIN")
	mustExec(t, a, "UPDATE d.t SET v = 1 WHERE id = 1")
	mustExec(t, b, "SET innodb_lock_wait_timeout = 1")
	mustExec(t, b, "BEGIN")
	mustExec(t, b, "UPDATE d.t SET v = 2 WHERE id = 2")
	_, err := b.exec("UPDATE d.t SET v = 2 WHERE id = 1")
	if errCode(err) != ErLockWaitTimeout {
		t.Fatalf("blocked update: %v, want 1205", err)
	}
	// Only the statement was rolled back: b's earlier write survives and commits.
	mustExec(t, b, "COMMIT")
	mustExec(t, a, "COMMIT")
	res := mustExec(t, a, "SELECT id, v FROM d.t ORDER BY id")
	if got := formatRow(res.Columns, res.Rows[0]) + "|" + formatRow(res.Columns, res.Rows[1]); got != "1\t1|2\t2" {
		t.Fatalf("rows = %s", got)
	}
}

func TestDeadlockAnswers1213(t *testing.T) {
	e := testEngine(t)
	a, b := newTestConn(e, 1), newTestConn(e, 2)
	defer a.s.Close()
	defer b.s.Close()
	mustExec(t, a, "CREATE DATABASE d")
	mustExec(t, a, "CREATE TABLE d.t (id INT PRIMARY KEY, v INT)")
	mustExec(t, a, "INSERT INTO d.t VALUES (1, 0), (2, 0)")
	mustExec(t, a, "BEGIN")
	mustExec(t, b, "BEGIN")
	mustExec(t, a, "UPDATE d.t SET v = 1 WHERE id = 1")
	mustExec(t, b, "UPDATE d.t SET v = 2 WHERE id = 2")
	done := make(chan error, 1)
	go func() {
		_, err := a.exec("UPDATE d.t SET v = 1 WHERE id = 2")
		done <- err
	}()
	// b closes the cycle; whichever request completes it is the victim.
	_, errB := b.exec("UPDATE d.t SET v = 2 WHERE id = 1")
	if errCode(errB) == ErDeadlock {
		if err := <-done; err != nil {
			t.Fatalf("a after b's deadlock: %v", err)
		}
		if b.s.InTransaction() {
			t.Fatal("deadlock victim's transaction must be rolled back")
		}
		mustExec(t, a, "COMMIT")
		return
	}
	// Otherwise b waited and a was the victim... but a is blocked only if b waits; b returning nil means a
	// got 1213 and released its locks.
	if errB != nil {
		t.Fatalf("b: %v", errB)
	}
	if err := <-done; errCode(err) != ErDeadlock {
		t.Fatalf("a: %v, want 1213", err)
	}
	mustExec(t, b, "COMMIT")
}

func TestSnapshotReads(t *testing.T) {
	e := testEngine(t)
	a, b := newTestConn(e, 1), newTestConn(e, 2)
	defer a.s.Close()
	defer b.s.Close()
	mustExec(t, a, "CREATE DATABASE d")
	mustExec(t, a, "CREATE TABLE d.t (id INT PRIMARY KEY, v INT)")
	mustExec(t, a, "INSERT INTO d.t VALUES (1, 10)")
	mustExec(t, a, "START TRANSACTION")
	if res := mustExec(t, a, "SELECT v FROM d.t WHERE id = 1"); res.Rows[0][0].Int() != 10 {
		t.Fatal("initial read")
	}
	mustExec(t, b, "UPDATE d.t SET v = 20 WHERE id = 1")
	if res := mustExec(t, a, "SELECT v FROM d.t WHERE id = 1"); res.Rows[0][0].Int() != 10 {
		t.Fatalf("snapshot read saw a later commit: %v", res.Rows)
	}
	if res := mustExec(t, a, "SELECT v FROM d.t WHERE id = 1 FOR UPDATE"); res.Rows[0][0].Int() != 20 {
		t.Fatalf("locking read must see the latest commit: %v", res.Rows)
	}
	mustExec(t, a, "COMMIT")
	if res := mustExec(t, a, "SELECT v FROM d.t WHERE id = 1"); res.Rows[0][0].Int() != 20 {
		t.Fatal("after commit")
	}
	if st := a.s.StatusFlags(); st&StatusInTrans != 0 || st&StatusAutocommit == 0 {
		t.Fatalf("status flags %#x", st)
	}
}

func TestPrepareAndExecute(t *testing.T) {
	e := testEngine(t)
	c := newTestConn(e, 1)
	defer c.s.Close()
	mustExec(t, c, "CREATE DATABASE d")
	mustExec(t, c, "USE d")
	mustExec(t, c, "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(10))")
	ins, err := c.s.Prepare("INSERT INTO t VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	if ins.NumParams != 2 || ins.Columns != nil {
		t.Fatalf("insert: %d params, columns %v", ins.NumParams, ins.Columns)
	}
	for i := 1; i <= 3; i++ {
		if _, err := c.s.Execute(context.Background(), ins.Stmt, ins.SQL, []Value{types.NewInt(int64(i)), types.NewString("n" + strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	sel, err := c.s.Prepare("SELECT name, id + 1 FROM t WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumParams != 1 || len(sel.Columns) != 2 || sel.Columns[0].Name != "name" || sel.Columns[1].Name != "id + 1" {
		t.Fatalf("select: %+v", sel)
	}
	res, err := c.s.Execute(context.Background(), sel.Stmt, sel.SQL, []Value{types.NewString("2")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0].Str() != "n2" || res.Rows[0][1].Int() != 3 {
		t.Fatalf("rows %v", res.Rows)
	}
	if _, err := c.s.Prepare("SELECT nosuch FROM t"); errCode(err) != ErBadField {
		t.Fatalf("prepare unknown column: %v", err)
	}
	if _, err := c.s.Prepare("SELEC 1"); errCode(err) != ErParse {
		t.Fatalf("prepare syntax error: %v", err)
	}
}

func TestSyntaxErrorText(t *testing.T) {
	e := testEngine(t)
	c := newTestConn(e, 1)
	defer c.s.Close()
	_, err := c.exec("SELECT * FROM t WHERE")
	var me *Error
	if !errors.As(err, &me) || me.Code != ErParse || me.State != "42000" {
		t.Fatalf("err = %v", err)
	}
	want := "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '' at line 1"
	if me.Msg != want {
		t.Fatalf("msg = %q", me.Msg)
	}
	_, err = c.exec("SELECT 1 FROMM t")
	if !errors.As(err, &me) || !strings.Contains(me.Msg, "near 't' at line 1") {
		t.Fatalf("err = %v", err)
	}
}

func TestAccountsAndPrivileges(t *testing.T) {
	e := testEngine(t)
	root := newTestConn(e, 1)
	defer root.s.Close()
	mustExec(t, root, "CREATE DATABASE app")
	mustExec(t, root, "CREATE TABLE app.t (id INT PRIMARY KEY)")
	mustExec(t, root, "CREATE USER 'bob'@'%' IDENTIFIED BY 'secret'")
	mustExec(t, root, "CREATE USER bob@localhost IDENTIFIED BY 'local'")
	mustExec(t, root, "GRANT SELECT, INSERT ON app.* TO 'bob'@'%'")
	if _, err := root.exec("CREATE USER 'bob'@'%'"); errCode(err) != ErCannotUser {
		t.Fatalf("duplicate user: %v", err)
	}
	res := mustExec(t, root, "SELECT user, host, password FROM mysql.user WHERE user = 'bob' ORDER BY host")
	if len(res.Rows) != 2 || res.Rows[0][2].Str() != NativePasswordHash("secret") || !strings.HasPrefix(res.Rows[0][2].Str(), "*") || len(res.Rows[0][2].Str()) != 41 {
		t.Fatalf("mysql.user rows: %v", res.Rows)
	}
	if NativePasswordHash("secret") != "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7" {
		t.Fatalf("hash = %s", NativePasswordHash("secret"))
	}
	// MariaDB matching: the exact host wins over '%'; 127.0.0.1 and localhost are distinct hosts.
	if acc, ok := e.Accounts().Lookup("bob", "localhost"); !ok || acc.Host != "localhost" || acc.AuthString != NativePasswordHash("local") {
		t.Fatalf("lookup localhost: %+v %v", acc, ok)
	}
	if acc, ok := e.Accounts().Lookup("bob", "10.1.2.3"); !ok || acc.Host != "%" {
		t.Fatalf("lookup remote: %+v %v", acc, ok)
	}
	if _, ok := e.Accounts().Lookup("root", "10.1.2.3"); ok {
		t.Fatal("root must not match a remote host")
	}
	bob := &testConn{s: e.NewSession(2, "bob", "10.1.2.3"), p: root.p}
	defer bob.s.Close()
	mustExec(t, bob, "INSERT INTO app.t VALUES (1)")
	mustExec(t, bob, "SELECT * FROM app.t")
	for q, code := range map[string]uint16{
		"DELETE FROM app.t":                  ErTableAccessDenied,
		"UPDATE app.t SET id = 2":            ErTableAccessDenied,
		"CREATE TABLE app.x (id INT)":        ErTableAccessDenied,
		"DROP TABLE app.t":                   ErTableAccessDenied,
		"CREATE USER eve":                    ErSpecificAccessDenied,
		"SELECT * FROM mysql.user":           ErTableAccessDenied,
		"SET GLOBAL max_connections = 10":    ErSpecificAccessDenied,
		"CREATE DATABASE other":              ErDBAccessDenied,
		"GRANT SELECT ON app.* TO 'bob'@'%'": ErDBAccessDenied,
	} {
		if _, err := bob.exec(q); errCode(err) != code {
			t.Errorf("%s as bob: %v, want %d", q, err, code)
		}
	}
	if err := bob.s.UseDB("mysql"); errCode(err) != ErDBAccessDenied {
		t.Errorf("USE mysql as bob: %v", err)
	}
	res = mustExec(t, bob, "SHOW DATABASES")
	var dbs []string
	for _, r := range res.Rows {
		dbs = append(dbs, r[0].Str())
	}
	if strings.Join(dbs, ",") != "app,information_schema" {
		t.Errorf("bob sees databases %v", dbs)
	}
	mustExec(t, root, "REVOKE INSERT ON app.* FROM 'bob'@'%'")
	if _, err := bob.exec("INSERT INTO app.t VALUES (2)"); errCode(err) != ErTableAccessDenied {
		t.Errorf("insert after revoke: %v", err)
	}
	res = mustExec(t, root, "SHOW GRANTS FOR 'bob'@'%'")
	if len(res.Rows) != 2 || res.Rows[1][0].Str() != "GRANT SELECT ON `app`.* TO `bob`@`%`" {
		t.Errorf("grants: %v", res.Rows)
	}
	mustExec(t, root, "ALTER USER 'bob'@'%' IDENTIFIED BY 'new'")
	if acc, _ := e.Accounts().Lookup("bob", "10.1.2.3"); acc.AuthString != NativePasswordHash("new") {
		t.Error("ALTER USER did not change the hash")
	}
	mustExec(t, root, "DROP USER 'bob'@'%'")
	if _, ok := e.Accounts().Lookup("bob", "10.1.2.3"); ok {
		t.Error("dropped account still matches")
	}
	if _, err := root.exec("DROP USER 'bob'@'%'"); errCode(err) != ErCannotUser {
		t.Errorf("drop missing user: %v", err)
	}
}

func TestCatalogSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() (*Engine, func()) {
		db, err := openStorage(dir)
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewEngine(db, EngineOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return e, func() {
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	e, closeDB := open()
	c := newTestConn(e, 1)
	mustExec(t, c, "CREATE DATABASE d")
	mustExec(t, c, "CREATE TABLE d.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(5), KEY kv (v))")
	mustExec(t, c, "INSERT INTO d.t (v) VALUES ('a'), ('b')")
	mustExec(t, c, "CREATE USER u IDENTIFIED BY 'p'")
	c.s.Close()
	closeDB()
	e, closeDB = open()
	defer closeDB()
	c = newTestConn(e, 1)
	defer c.s.Close()
	res := mustExec(t, c, "SELECT id, v FROM d.t WHERE v = 'B'")
	if len(res.Rows) != 1 || res.Rows[0][0].Int() != 2 {
		t.Fatalf("after restart: %v", res.Rows)
	}
	// Storage reserves AUTO_INCREMENT values in durable blocks: after a restart the counter never goes
	// back, but it may skip ahead (as a crashed InnoDB before 10.2 did).
	if r := mustExec(t, c, "INSERT INTO d.t (v) VALUES ('c')"); r.LastInsertID < 3 {
		t.Fatalf("auto increment went back after restart: %d", r.LastInsertID)
	}
	if _, ok := e.Accounts().Lookup("u", "1.2.3.4"); !ok {
		t.Fatal("account lost on restart")
	}
}

// TestDDLWaitsForOpenWriters checks the metadata lock: an index is never built while a transaction that
// wrote the table is still open, so the index cannot miss that transaction's rows.
func TestDDLWaitsForOpenWriters(t *testing.T) {
	e := testEngine(t)
	a, b := newTestConn(e, 1), newTestConn(e, 2)
	defer a.s.Close()
	defer b.s.Close()
	mustExec(t, a, "CREATE DATABASE d")
	mustExec(t, a, "CREATE TABLE d.t (id INT PRIMARY KEY, k INT)")
	mustExec(t, a, "BEGIN")
	mustExec(t, a, "INSERT INTO d.t VALUES (1, 7)")
	mustExec(t, b, "SET lock_wait_timeout = 1")
	if _, err := b.exec("CREATE INDEX kk ON d.t (k)"); errCode(err) != ErLockWaitTimeout {
		t.Fatalf("CREATE INDEX during an open writer: %v, want 1205", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.exec("CREATE INDEX kk ON d.t (k)")
		done <- err
	}()
	mustExec(t, a, "COMMIT")
	if err := <-done; err != nil {
		t.Fatalf("CREATE INDEX after commit: %v", err)
	}
	before := rowsRead(t, b)
	res := mustExec(t, b, "SELECT id FROM d.t WHERE k = 7")
	if len(res.Rows) != 1 || rowsRead(t, b)-before != 1 {
		t.Fatalf("index lookup after the writer committed: %v", res.Rows)
	}
}

func TestExtraStatusAndVariables(t *testing.T) {
	db, err := openStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := NewEngine(db, EngineOptions{
		ExtraStatus:    func() []NameValue { return []NameValue{{"wsrep_local_state", "4"}, {"wsrep_ready", "ON"}} },
		ExtraVariables: func() []NameValue { return []NameValue{{"wsrep_on", "ON"}, {"wsrep_cluster_name", "c1"}} },
	})
	if err != nil {
		t.Fatal(err)
	}
	c := newTestConn(e, 1)
	defer c.s.Close()
	res := mustExec(t, c, "SHOW GLOBAL STATUS LIKE 'wsrep%'")
	if len(res.Rows) != 2 || formatRow(res.Columns, res.Rows[0]) != "wsrep_local_state\t4" {
		t.Fatalf("status rows %v", res.Rows)
	}
	res = mustExec(t, c, "SHOW VARIABLES LIKE 'wsrep_on'")
	if len(res.Rows) != 1 || formatRow(res.Columns, res.Rows[0]) != "wsrep_on\tON" {
		t.Fatalf("variables %v", res.Rows)
	}
	res = mustExec(t, c, "SELECT @@wsrep_cluster_name, @@global.wsrep_on")
	if formatRow(res.Columns, res.Rows[0]) != "c1\tON" {
		t.Fatalf("@@ rows %v", res.Rows)
	}
	mustExec(t, c, "SET SESSION wsrep_sync_wait = 1")
	if v, err := c.s.Variable("wsrep_sync_wait"); err != nil || v.Int() != 1 {
		t.Fatalf("wsrep_sync_wait = %v, %v", v, err)
	}
	if _, err := c.exec("SET GLOBAL wsrep_cluster_name = 'x'"); errCode(err) != ErIncorrectGlobalLocal {
		t.Fatalf("setting a replication variable: %v", err)
	}
}

// TestKillQueryInterruptsLockWait checks that KILL QUERY ends a statement blocked on a row lock with 1317
// and leaves the session usable.
func TestKillQueryInterruptsLockWait(t *testing.T) {
	e := testEngine(t)
	a, b, k := newTestConn(e, 1), newTestConn(e, 2), newTestConn(e, 3)
	defer a.s.Close()
	defer b.s.Close()
	defer k.s.Close()
	mustExec(t, a, "CREATE DATABASE d")
	mustExec(t, a, "CREATE TABLE d.t (id INT PRIMARY KEY, v INT)")
	mustExec(t, a, "INSERT INTO d.t VALUES (1, 0)")
	mustExec(t, a, "BEGIN")
	mustExec(t, a, "UPDATE d.t SET v = 1 WHERE id = 1")
	done := make(chan error, 1)
	go func() {
		_, err := b.exec("UPDATE d.t SET v = 2 WHERE id = 1")
		done <- err
	}()
	// Wait (bounded) until b shows up as running its statement, then kill it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := mustExec(t, k, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = 2 AND COMMAND = 'Query'")
		if res.Rows[0][0].Uint() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b never started its statement")
		}
		runtime.Gosched()
	}
	mustExec(t, k, "KILL QUERY 2")
	if err := <-done; errCode(err) != ErQueryInterrupted {
		t.Fatalf("killed statement: %v, want 1317", err)
	}
	mustExec(t, a, "COMMIT")
	mustExec(t, b, "UPDATE d.t SET v = 3 WHERE id = 1")
	if _, err := k.exec("KILL 999"); errCode(err) != 1094 {
		t.Fatalf("KILL of an unknown id: %v", err)
	}
}

func TestParamsInDerivedTablesAndJoins(t *testing.T) {
	e := testEngine(t)
	c := newTestConn(e, 1)
	defer c.s.Close()
	mustExec(t, c, "CREATE DATABASE d")
	mustExec(t, c, "USE d")
	mustExec(t, c, "CREATE TABLE t (id INT PRIMARY KEY, v INT)")
	mustExec(t, c, "INSERT INTO t VALUES (1, 10), (2, 20), (3, 30)")
	res := mustExec(t, c, "SELECT x.id FROM (SELECT id FROM t WHERE v > ?) AS x JOIN t ON t.id = x.id AND t.v < ? ORDER BY x.id", types.NewInt(10), types.NewInt(30))
	if len(res.Rows) != 1 || res.Rows[0][0].Int() != 2 {
		t.Fatalf("rows %v", res.Rows)
	}
}
