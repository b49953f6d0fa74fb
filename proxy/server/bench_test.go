package server

import (
	"context"
	"database/sql"
	"testing"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// BenchmarkQuery compares a point query sent to MariaDB directly and
// through the proxy, over one connection, in this process: the difference
// of ns/op is the proxy's added latency and, since the client runs here
// too, the difference of allocs/op is what the proxy allocates per
// statement.
func BenchmarkQuery(b *testing.B) {
	for _, bc := range []struct {
		name string
		q    string
		args []any
	}{
		{"text", "SELECT 1", nil},
		{"prepared", "SELECT ?", []any{1}},
	} {
		b.Run(bc.name+"/direct", func(b *testing.B) {
			db := mariadb.Get(b)
			runQueries(b, harness.TCPDSN(db.Addr(), "app", "app", ""), bc.q, bc.args)
		})
		b.Run(bc.name+"/proxy", func(b *testing.B) {
			p := startProxy(b, nil)
			runQueries(b, harness.TCPDSN(p.addr, "app", "app", ""), bc.q, bc.args)
		})
	}
}

func runQueries(b *testing.B, dsn, q string, args []any) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// Without arguments the driver sends COM_QUERY; with them, the
	// prepared statement's COM_STMT_EXECUTE.
	query := func() *sql.Row { return c.QueryRowContext(ctx, q) }
	if args != nil {
		stmt, err := c.PrepareContext(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		query = func() *sql.Row { return stmt.QueryRowContext(ctx, args...) }
	}
	var v int
	if err := query().Scan(&v); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := query().Scan(&v); err != nil {
			b.Fatal(err)
		}
	}
}
