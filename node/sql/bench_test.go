package sql

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

// benchTable creates sbtest1 with n rows and returns a connection using it.
func benchTable(b *testing.B, n int) *testConn {
	b.Helper()
	e := testEngine(b)
	c := newTestConn(e, 1)
	b.Cleanup(c.s.Close)
	for _, q := range []string{"CREATE DATABASE sbtest", "USE sbtest",
		"CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id))"} {
		if _, err := c.exec(q); err != nil {
			b.Fatal(err)
		}
	}
	for start := 1; start <= n; start += 1000 {
		var sb strings.Builder
		sb.WriteString("INSERT INTO sbtest1(k, c, pad) VALUES ")
		for i := start; i < start+1000 && i <= n; i++ {
			if i > start {
				sb.WriteString(",")
			}
			fmt.Fprintf(&sb, "(%d, '%011d-%011d-%011d', '%011d-%011d')", i%1000, i, i*7, i*13, i*3, i*5)
		}
		if _, err := c.exec(sb.String()); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := c.exec("CREATE INDEX k_1 ON sbtest1(k)"); err != nil {
		b.Fatal(err)
	}
	return c
}

func benchStmt(b *testing.B, c *testConn, q string, params func(i int) []Value) {
	b.Helper()
	stmts, _, err := c.p.Parse(q, "", "")
	if err != nil {
		b.Fatal(err)
	}
	stmt := stmts[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.s.Execute(context.Background(), stmt, q, params(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func intParams(vals ...func(i int) int64) func(i int) []Value {
	return func(i int) []Value {
		out := make([]Value, len(vals))
		for j, f := range vals {
			out[j] = types.NewInt(f(i))
		}
		return out
	}
}

func BenchmarkPointSelect(b *testing.B) {
	c := benchTable(b, 10000)
	benchStmt(b, c, "SELECT c FROM sbtest1 WHERE id=?", intParams(func(i int) int64 { return int64(i%10000 + 1) }))
}

func BenchmarkRangeSelect100(b *testing.B) {
	c := benchTable(b, 10000)
	benchStmt(b, c, "SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?", intParams(
		func(i int) int64 { return int64(i%9900 + 1) }, func(i int) int64 { return int64(i%9900 + 100) }))
}

func BenchmarkRangeOrderBy100(b *testing.B) {
	c := benchTable(b, 10000)
	benchStmt(b, c, "SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c", intParams(
		func(i int) int64 { return int64(i%9900 + 1) }, func(i int) int64 { return int64(i%9900 + 100) }))
}

func BenchmarkUpdateIndex(b *testing.B) {
	c := benchTable(b, 10000)
	benchStmt(b, c, "UPDATE sbtest1 SET k=k+1 WHERE id=?", intParams(func(i int) int64 { return int64(i%10000 + 1) }))
}

func BenchmarkInsert(b *testing.B) {
	c := benchTable(b, 0)
	benchStmt(b, c, "INSERT INTO sbtest1 (k, c, pad) VALUES (?, 'c', 'pad')", intParams(func(i int) int64 { return int64(i) }))
}
