package integration

import (
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestProxyCausalReads: with causal_reads = "local" a session reads its
// own writes on the readers of a real Galera cluster, through text and
// prepared statements, without setting anything itself.
func TestProxyCausalReads(t *testing.T) {
	_, p := startProxy(t, `causal_reads = "local"`)
	ctx := ctxFor(t, 2*time.Minute)
	db := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	mustExec(t, db, "CREATE DATABASE IF NOT EXISTS proxycausal")
	mustExec(t, db, "CREATE OR REPLACE TABLE proxycausal.t (id INT PRIMARY KEY, n INT)")
	defer mustExec(t, db, "DROP DATABASE proxycausal")
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "INSERT INTO proxycausal.t VALUES (1, 0)"); err != nil {
		t.Fatal(err)
	}
	_, slaves := roles(t, p)
	var before float64
	for _, s := range slaves {
		before += p.routed(t, "rw", s, "slave")
	}
	for i := 1; i <= 50; i++ {
		if _, err := c.ExecContext(ctx, "UPDATE proxycausal.t SET n = ? WHERE id = 1", i); err != nil {
			t.Fatal(err)
		}
		var text, prepared int
		if err := c.QueryRowContext(ctx, "SELECT n FROM proxycausal.t WHERE id = 1").Scan(&text); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "SELECT n FROM proxycausal.t WHERE id = ?", 1).Scan(&prepared); err != nil {
			t.Fatal(err)
		}
		if text != i || prepared != i {
			t.Fatalf("after writing %d the session read %d (text) and %d (prepared)", i, text, prepared)
		}
	}
	var after float64
	for _, s := range slaves {
		after += p.routed(t, "rw", s, "slave")
	}
	if after-before < 50 {
		t.Errorf("readers served %v of the 100 reads; the text reads should run there", after-before)
	}
}
