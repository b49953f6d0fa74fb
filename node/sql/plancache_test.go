package sql

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

// execPrepared runs a prepared statement and renders its rows (or the error code) as text.
func execPrepared(t *testing.T, c *testConn, p *Prepared, params ...Value) string {
	t.Helper()
	res, err := c.s.Execute(context.Background(), p.Stmt, p.SQL, params)
	if err != nil {
		return fmt.Sprintf("error %d", errCode(err))
	}
	var rows []string
	for _, r := range res.Rows {
		rows = append(rows, formatRow(res.Columns, r))
	}
	return strings.Join(rows, "|")
}

func mustPrepare(t *testing.T, c *testConn, q string) *Prepared {
	t.Helper()
	p, err := c.s.Prepare(q)
	if err != nil {
		t.Fatalf("prepare %s: %v", q, err)
	}
	return p
}

func cachedVariants(c *testConn, p *Prepared) int {
	if sp := c.s.plans.stmts[p.Stmt]; sp != nil {
		return len(sp.variants)
	}
	return 0
}

// TestPreparedPlanReuse executes prepared SELECTs repeatedly with changing values and types: every result
// must be what a fresh compilation gives, and sysbench's statement shapes must actually be reused.
func TestPreparedPlanReuse(t *testing.T) {
	e := testEngine(t)
	c := newTestConn(e, 1)
	defer c.s.Close()
	mustExec(t, c, "CREATE DATABASE d")
	mustExec(t, c, "USE d")
	mustExec(t, c, "CREATE TABLE t (id INT PRIMARY KEY, k INT, c VARCHAR(10), KEY k_1 (k))")
	for i := 1; i <= 20; i++ {
		mustExec(t, c, fmt.Sprintf("INSERT INTO t VALUES (%d, %d, 'c%02d')", i, i%5, i))
	}
	for _, tc := range []struct {
		query  string
		cached bool
		runs   []struct {
			params []Value
			want   string
		}
	}{
		{"SELECT c FROM t WHERE id = ?", true, []struct {
			params []Value
			want   string
		}{
			{[]Value{types.NewInt(3)}, "c03"},
			{[]Value{types.NewInt(17)}, "c17"},
			{[]Value{types.NewInt(99)}, ""},
			{[]Value{types.NewString("4")}, "c04"},
			{[]Value{types.Null}, ""},
			{[]Value{types.NewInt(5)}, "c05"},
		}},
		{"SELECT SUM(k) FROM t WHERE id BETWEEN ? AND ?", true, []struct {
			params []Value
			want   string
		}{
			{[]Value{types.NewInt(1), types.NewInt(5)}, "10"},
			{[]Value{types.NewInt(6), types.NewInt(7)}, "3"},
			{[]Value{types.NewInt(19), types.NewInt(3)}, "NULL"},
		}},
		{"SELECT DISTINCT c FROM t WHERE id BETWEEN ? AND ? ORDER BY c DESC", true, []struct {
			params []Value
			want   string
		}{
			{[]Value{types.NewInt(2), types.NewInt(4)}, "c04|c03|c02"},
			{[]Value{types.NewInt(18), types.NewInt(30)}, "c20|c19|c18"},
		}},
		{"SELECT id FROM t WHERE k = ? AND id > ? ORDER BY id", true, []struct {
			params []Value
			want   string
		}{
			{[]Value{types.NewInt(2), types.NewInt(10)}, "12|17"},
			{[]Value{types.NewInt(0), types.NewInt(0)}, "5|10|15|20"},
		}},
		{"SELECT ?, id FROM t WHERE id = 1", true, []struct {
			params []Value
			want   string
		}{
			{[]Value{types.NewString("ab")}, "ab\t1"},
			{[]Value{types.NewString("abcdef")}, "abcdef\t1"},
			{[]Value{types.NewInt(7)}, "7\t1"},
		}},
		// Arithmetic on a parameter is computed per execution in the class its operand types give.
		{"SELECT c FROM t WHERE id = ? + 1", true, []struct {
			params []Value
			want   string
		}{
			{[]Value{types.NewInt(2)}, "c03"},
			{[]Value{types.NewInt(9)}, "c10"},
			{[]Value{types.NewString("3.5")}, ""},
			{[]Value{types.NewString("4")}, "c05"},
		}},
		// LIMIT ? is applied while compiling: never reused, always right.
		{"SELECT id FROM t ORDER BY id LIMIT ?", false, []struct {
			params []Value
			want   string
		}{
			{[]Value{types.NewInt(2)}, "1|2"},
			{[]Value{types.NewInt(3)}, "1|2|3"},
		}},
		// -? folds the value into a new constant: never reused.
		{"SELECT id FROM t WHERE id = -?", false, []struct {
			params []Value
			want   string
		}{
			{[]Value{types.NewInt(-2)}, "2"},
			{[]Value{types.NewInt(-8)}, "8"},
		}},
	} {
		p := mustPrepare(t, c, tc.query)
		for i, r := range tc.runs {
			if got := execPrepared(t, c, p, r.params...); got != r.want {
				t.Errorf("%s run %d with %v: got %q, want %q", tc.query, i, r.params, got, r.want)
			}
		}
		if got := cachedVariants(c, p) > 0; got != tc.cached {
			t.Errorf("%s: cached %v, want %v", tc.query, got, tc.cached)
		}
	}
}

// TestPreparedPlanInvalidation changes what a cached plan was compiled against: the table (DDL), the
// default database, and the account's privileges.
func TestPreparedPlanInvalidation(t *testing.T) {
	e := testEngine(t)
	root := newTestConn(e, 1)
	defer root.s.Close()
	mustExec(t, root, "CREATE DATABASE d")
	mustExec(t, root, "CREATE DATABASE d2")
	mustExec(t, root, "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(10))")
	mustExec(t, root, "CREATE TABLE d2.t (id INT PRIMARY KEY, v VARCHAR(10))")
	mustExec(t, root, "INSERT INTO d.t VALUES (1, 'd')")
	mustExec(t, root, "INSERT INTO d2.t VALUES (1, 'd2')")
	mustExec(t, root, "CREATE USER u IDENTIFIED BY 'pw'")
	mustExec(t, root, "GRANT SELECT ON d.* TO u")
	mustExec(t, root, "GRANT SELECT ON d2.* TO u")

	c := &testConn{s: e.NewSession(2, "u", "localhost"), p: root.p}
	defer c.s.Close()
	mustExec(t, c, "USE d")
	p := mustPrepare(t, c, "SELECT * FROM t WHERE id = ?")
	one := []Value{types.NewInt(1)}
	steps := []struct {
		do   func()
		want string
	}{
		{func() {}, "1\td"},
		{func() {}, "1\td"},
		{func() { mustExec(t, root, "ALTER TABLE d.t ADD COLUMN w INT DEFAULT 5") }, "1\td\t5"},
		{func() { mustExec(t, c, "USE d2") }, "1\td2"},
		{func() { mustExec(t, root, "REVOKE SELECT ON d2.* FROM u") }, fmt.Sprintf("error %d", ErTableAccessDenied)},
		{func() { mustExec(t, c, "USE d") }, "1\td\t5"},
		{func() { mustExec(t, root, "DROP TABLE d.t") }, fmt.Sprintf("error %d", ErNoSuchTable)},
	}
	for i, st := range steps {
		st.do()
		if got := execPrepared(t, c, p, one...); got != st.want {
			t.Fatalf("step %d: got %q, want %q", i, got, st.want)
		}
	}
}

// TestPreparedPlanColumnsFollowParameters reuses a plan that projects a parameter: the column metadata must
// describe each execution's value, as a fresh compilation would.
func TestPreparedPlanColumnsFollowParameters(t *testing.T) {
	e := testEngine(t)
	c := newTestConn(e, 1)
	defer c.s.Close()
	p := mustPrepare(t, c, "SELECT ? AS v")
	for _, s := range []string{"ab", "ab", "abcdefgh", "ab"} {
		res, err := c.s.Execute(context.Background(), p.Stmt, p.SQL, []Value{types.NewString(s)})
		if err != nil {
			t.Fatal(err)
		}
		fresh := mustExec(t, c, "SELECT '"+s+"' AS v")
		if res.Columns[0] != fresh.Columns[0] {
			t.Fatalf("%q: prepared column %+v, fresh %+v", s, res.Columns[0], fresh.Columns[0])
		}
	}
}
