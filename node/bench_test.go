package node

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

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
