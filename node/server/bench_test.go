package server

import (
	"context"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser"
)

// benchConn is a logged-in connection whose replies are discarded, for measuring the command path
// without the network.
func benchConn(b *testing.B) *conn {
	b.Helper()
	eng := newFakeEngine()
	srv, err := New(Config{Engine: eng, Version: "10.11.99-MariaDB-maxnode"})
	if err != nil {
		b.Fatal(err)
	}
	c := newConn(srv, 1, discardConn{})
	c.caps = serverCaps
	c.parser = parser.New()
	c.stmts = make(map[uint32]*stmt)
	c.sess, _ = eng.NewSession(1, "root", "127.0.0.1")
	return c
}

// BenchmarkTextResultSet: COM_QUERY returning the two-row, seven-column canned table.
func BenchmarkTextResultSet(b *testing.B) {
	c := benchConn(b)
	cmd := append([]byte{mysql.COM_QUERY}, "SELECT * FROM t"...)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.dispatch(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBinaryExecute: COM_STMT_EXECUTE of a prepared point select with one bound integer, the
// shape of sysbench's oltp_point_select.
func BenchmarkBinaryExecute(b *testing.B) {
	c := benchConn(b)
	ctx := context.Background()
	if _, err := c.dispatch(ctx, append([]byte{mysql.COM_STMT_PREPARE}, "SELECT * FROM t WHERE id = ?"...)); err != nil {
		b.Fatal(err)
	}
	exec := appendUint32([]byte{mysql.COM_STMT_EXECUTE}, c.lastStmtID)
	exec = append(exec, 0, 1, 0, 0, 0, 0, 1, mysql.MYSQL_TYPE_LONG, 0)
	exec = appendUint32(exec, 42)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.dispatch(ctx, exec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeRows isolates row encoding (no engine, no parser).
func BenchmarkEncodeRows(b *testing.B) {
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		for _, row := range cannedRows {
			buf = appendTextRow(buf[:0], cannedColumns, row)
			var err error
			if buf, err = appendBinaryRow(buf[:0], cannedColumns, row); err != nil {
				b.Fatal(err)
			}
		}
	}
}
