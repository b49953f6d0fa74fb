package sql

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

// execPreparedDML runs a prepared statement and reports its affected rows (or the error code).
func execPreparedDML(t *testing.T, c *testConn, p *Prepared, params ...Value) string {
	t.Helper()
	res, err := c.s.Execute(context.Background(), p.Stmt, p.SQL, params)
	if err != nil {
		return fmt.Sprintf("error %d", errCode(err))
	}
	return fmt.Sprintf("%d", res.AffectedRows)
}

// TestPreparedDMLPlanReuse executes prepared UPDATEs and DELETEs repeatedly with changing values and
// types: every effect must be what a fresh compilation gives, and sysbench's shapes must be reused.
func TestPreparedDMLPlanReuse(t *testing.T) {
	e := testEngine(t)
	c := newTestConn(e, 1)
	defer c.s.Close()
	mustExec(t, c, "CREATE DATABASE d")
	mustExec(t, c, "USE d")
	mustExec(t, c, "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, c VARCHAR(10), KEY k_1 (k))")
	for i := 1; i <= 10; i++ {
		mustExec(t, c, fmt.Sprintf("INSERT INTO t VALUES (%d, %d, 'c%02d')", i, i, i))
	}
	type run struct {
		params []Value
		want   string // affected rows
	}
	for _, tc := range []struct {
		query  string
		cached bool
		runs   []run
	}{
		{"UPDATE t SET k=k+1 WHERE id=?", true, []run{
			{[]Value{types.NewInt(1)}, "1"}, {[]Value{types.NewInt(1)}, "1"}, {[]Value{types.NewInt(99)}, "0"},
			{[]Value{types.NewString("2")}, "1"},
		}},
		{"UPDATE t SET c=? WHERE id=?", true, []run{
			{[]Value{types.NewString("x"), types.NewInt(3)}, "1"}, {[]Value{types.NewString("x"), types.NewInt(3)}, "0"},
			{[]Value{types.NewString("longer"), types.NewInt(3)}, "1"}, {[]Value{types.NewInt(42), types.NewInt(4)}, "1"},
		}},
		// A parameter inside arithmetic: its type decides the arithmetic, so a new type compiles anew.
		{"UPDATE t SET k=k+? WHERE id=?", true, []run{
			{[]Value{types.NewInt(5), types.NewInt(10)}, "1"}, {[]Value{types.NewString("2"), types.NewInt(10)}, "1"},
			{[]Value{types.NewInt(0), types.NewInt(10)}, "0"},
		}},
		{"DELETE FROM t WHERE id=?", true, []run{
			{[]Value{types.NewInt(5)}, "1"}, {[]Value{types.NewInt(5)}, "0"}, {[]Value{types.NewInt(6)}, "1"},
		}},
		// LIMIT ? is read on every execution, so the rest of the plan is still reused.
		{"DELETE FROM t WHERE k > ? ORDER BY id LIMIT ?", true, []run{
			{[]Value{types.NewInt(8), types.NewInt(1)}, "1"}, {[]Value{types.NewInt(0), types.NewInt(0)}, "0"},
		}},
		// -? folds the value into a new constant: never reused.
		{"UPDATE t SET k=k+1 WHERE id=-?", false, []run{
			{[]Value{types.NewInt(-7)}, "1"}, {[]Value{types.NewInt(-8)}, "1"},
		}},
		// DEFAULT is read while compiling.
		{"UPDATE t SET k=DEFAULT WHERE id=?", false, []run{
			{[]Value{types.NewInt(1)}, "1"}, {[]Value{types.NewInt(1)}, "0"},
		}},
	} {
		p := mustPrepare(t, c, tc.query)
		for i, r := range tc.runs {
			if got := execPreparedDML(t, c, p, r.params...); got != r.want {
				t.Errorf("%s run %d with %v: affected %s, want %s", tc.query, i, r.params, got, r.want)
			}
		}
		if got := cachedVariants(c, p) > 0; got != tc.cached {
			t.Errorf("%s: cached %v, want %v", tc.query, got, tc.cached)
		}
	}
	got := mustExec(t, c, "SELECT id, k, c FROM t ORDER BY id")
	want := "1\t0\tc01|2\t3\tc02|3\t3\tlonger|4\t4\t42|7\t8\tc07|8\t9\tc08|10\t17\tc10"
	var rows []string
	for _, r := range got.Rows {
		rows = append(rows, formatRow(got.Columns, r))
	}
	if s := strings.Join(rows, "|"); s != want {
		t.Errorf("table after the statements:\n got %s\nwant %s", s, want)
	}
}

// TestPreparedDMLPlanInvalidation changes the table under a cached UPDATE: the statement must see the new
// definition (a dropped column moves the one it sets), and a dropped table must fail as a fresh compilation does.
func TestPreparedDMLPlanInvalidation(t *testing.T) {
	e := testEngine(t)
	c := newTestConn(e, 1)
	defer c.s.Close()
	mustExec(t, c, "CREATE DATABASE d")
	mustExec(t, c, "USE d")
	mustExec(t, c, "CREATE TABLE t (id INT PRIMARY KEY, x INT, v VARCHAR(10))")
	mustExec(t, c, "INSERT INTO t VALUES (1, 0, 'a')")
	p := mustPrepare(t, c, "UPDATE t SET v=? WHERE id=?")
	steps := []struct {
		do   func()
		v    string
		want string
	}{
		{func() {}, "b", "1"},
		{func() {}, "c", "1"},
		{func() { mustExec(t, c, "ALTER TABLE t DROP COLUMN x") }, "7", "1"}, // v moves to offset 1
		{func() { mustExec(t, c, "DROP TABLE t") }, "8", fmt.Sprintf("error %d", ErNoSuchTable)},
		{func() {
			mustExec(t, c, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
			mustExec(t, c, "INSERT INTO t VALUES (1, 'z')")
		}, "9", "1"},
	}
	for i, st := range steps {
		st.do()
		if got := execPreparedDML(t, c, p, types.NewString(st.v), types.NewInt(1)); got != st.want {
			t.Fatalf("step %d: got %s, want %s", i, got, st.want)
		}
		if st.want == "1" {
			res := mustExec(t, c, "SELECT v FROM t WHERE id = 1")
			if got := formatRow(res.Columns, res.Rows[0]); got != st.v {
				t.Fatalf("step %d: v = %s, want %s", i, got, st.v)
			}
		}
	}
}
