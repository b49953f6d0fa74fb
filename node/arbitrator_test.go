package node

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/node/storage"
)

// An arbitrator (maxnode --arbitrator, Galera's garbd) counts in the view and the quorum but serves no
// clients and never leads: with two data nodes and an arbitrator, the data node left after the other
// stops without leaving (a crash, as far as the view goes) stays Primary and writable.
func TestArbitratorKeepsTheSurvivorPrimary(t *testing.T) {
	cfgs := clusterConfigs(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := make([]*Node, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Go(func() {
			nodes[i], errs[i] = start(cfgs[i], slog.New(slog.DiscardHandler),
				startOptions{bootstrap: i == 0, ctx: ctx, arbitrator: i == 2})
		})
	}
	wg.Wait()
	for i, n := range nodes {
		if n != nil {
			t.Cleanup(func() { closeNode(t, n) })
		}
		if errs[i] != nil {
			t.Fatalf("start member %d: %v", i+1, errs[i])
		}
	}
	arb := nodes[2]
	if arb.srv != nil {
		t.Fatal("the arbitrator serves clients")
	}
	db1 := openDB(t, nodes[0], "root", "", "", "")
	waitFor(t, func() bool { return wsrepStatus(t, db1)["wsrep_cluster_size"] == "3" })
	mustExec(t, db1, "CREATE DATABASE d")
	mustExec(t, db1, "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))")
	mustExec(t, db1, "INSERT INTO d.t VALUES (1, 'a')")

	stopWithoutLeave(t, nodes[1])
	// Node 1 and the arbitrator are 2 of 3 voters: a leader among them (node 1; the arbitrator only
	// leads to hand over) keeps the primary component.
	waitFor(t, func() bool {
		st := nodes[0].repl.Node().Status()
		return st.Lead == 1 && nodes[0].repl.Primary()
	})
	mustExec(t, db1, "INSERT INTO d.t VALUES (2, 'b')")
	if got, err := tableContents(db1); err != nil || got != "1=a;2=b;" {
		t.Fatalf("survivor's table %q, %v", got, err)
	}
	if lead := arb.repl.Node().Status().Lead; lead == 3 {
		t.Fatal("the arbitrator kept the leadership")
	}
	// Like garbd it stores no data: it follows the total order (same seqno) with an empty catalog.
	waitFor(t, func() bool { return arb.db.LastCommitted() == nodes[0].db.LastCommitted() })
	if n := catalogKeys(t, arb.db); n != 0 {
		t.Fatalf("the arbitrator's storage holds %d catalog entries; it must store no data", n)
	}
	if n := catalogKeys(t, nodes[0].db); n == 0 {
		t.Fatal("the data node's catalog is empty: the check above proves nothing")
	}
	// A graceful leave would first try to hand leadership to a voter that takes it, and there is none.
	stopWithoutLeave(t, nodes[0])
	stopWithoutLeave(t, arb)
}

// catalogKeys counts the entries of db's catalog space (every table, index and account is one).
func catalogKeys(t *testing.T, db *storage.DB) int {
	t.Helper()
	tx := db.Begin(storage.TxOptions{ReadOnly: true})
	defer tx.Rollback()
	it := tx.Scan(0, nil, nil, false)
	defer it.Close()
	n := 0
	for it.Next() {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
