package node

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/node/config"
)

// BenchmarkPointSelect measures a full round trip through an in-process node (go-sql-driver client,
// protocol, engine, storage), the shape of sysbench's oltp_point_select, in both protocols.
func BenchmarkPointSelect(b *testing.B) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Listen = "127.0.0.1:0"
	n, err := Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close(context.Background())
	db, err := openBenchDB(n)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE DATABASE bench",
		"CREATE TABLE bench.t (id INT PRIMARY KEY, k INT, c CHAR(120), pad CHAR(60))",
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 1000 {
		if _, err := db.Exec("INSERT INTO bench.t VALUES (?, ?, ?, ?)", i, i, fmt.Sprintf("%0120d", i), fmt.Sprintf("%060d", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("prepared", func(b *testing.B) {
		st, err := db.Prepare("SELECT c FROM bench.t WHERE id = ?")
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		var c string
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := st.QueryRow(i % 1000).Scan(&c); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("text", func(b *testing.B) {
		var c string
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := db.QueryRow(fmt.Sprintf("SELECT c FROM bench.t WHERE id = %d", i%1000)).Scan(&c); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkOLTPReadWrite runs the transaction of sysbench's oltp_read_write (10 point selects, four
// 100-row range selects, two updates, a delete and an insert, prepared) through an in-process node with
// innodb_flush_log_at_trx_commit=2, one client. The machine is shared, so next to wall time it reports the
// process's CPU time per transaction (client included), the number to compare before and after a change.
func BenchmarkOLTPReadWrite(b *testing.B) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.FlushLogAtTrxCommit = 2
	n, err := Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close(context.Background())
	db, err := openBenchDB(n)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const rows = 10000
	for _, q := range []string{
		"CREATE DATABASE sbtest",
		"CREATE TABLE sbtest.sbtest1 (id INT NOT NULL AUTO_INCREMENT, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_1 (k))",
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	for start := 1; start <= rows; start += 500 {
		var sb strings.Builder
		sb.WriteString("INSERT INTO sbtest.sbtest1 (id, k, c, pad) VALUES ")
		for i := start; i < start+500; i++ {
			if i > start {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "(%d, %d, '%0119d', '%059d')", i, i%997, i, i)
		}
		if _, err := db.Exec(sb.String()); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	prepare := func(q string) *sql.Stmt {
		st, err := conn.PrepareContext(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	point := prepare("SELECT c FROM sbtest.sbtest1 WHERE id=?")
	ranges := []*sql.Stmt{
		prepare("SELECT c FROM sbtest.sbtest1 WHERE id BETWEEN ? AND ?"),
		prepare("SELECT SUM(k) FROM sbtest.sbtest1 WHERE id BETWEEN ? AND ?"),
		prepare("SELECT c FROM sbtest.sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c"),
		prepare("SELECT DISTINCT c FROM sbtest.sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c"),
	}
	updIndex := prepare("UPDATE sbtest.sbtest1 SET k=k+1 WHERE id=?")
	updNonIndex := prepare("UPDATE sbtest.sbtest1 SET c=? WHERE id=?")
	del := prepare("DELETE FROM sbtest.sbtest1 WHERE id=?")
	ins := prepare("INSERT INTO sbtest.sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)")
	rng := rand.New(rand.NewPCG(1, 2))
	id := func() int { return 1 + rng.IntN(rows) }
	drain := func(st *sql.Stmt, args ...any) {
		r, err := st.QueryContext(ctx, args...)
		if err != nil {
			b.Fatal(err)
		}
		for r.Next() {
		}
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
	exec := func(st *sql.Stmt, args ...any) {
		if _, err := st.ExecContext(ctx, args...); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := processCPU()
	b.ResetTimer()
	for b.Loop() {
		if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
			b.Fatal(err)
		}
		for range 10 {
			drain(point, id())
		}
		for _, st := range ranges {
			lo := 1 + rng.IntN(rows-100)
			drain(st, lo, lo+99)
		}
		exec(updIndex, id())
		exec(updNonIndex, fmt.Sprintf("%0119d", rng.IntN(1e9)), id())
		victim := id()
		exec(del, victim)
		exec(ins, victim, victim%997, fmt.Sprintf("%0119d", victim), fmt.Sprintf("%059d", victim))
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/txn")
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
