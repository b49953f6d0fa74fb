package node

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"
)

// wsrep_auto_increment_control (GALERA.md §1.3, §12.12): auto_increment_increment is the view's size and
// auto_increment_offset the node's index + 1, on every view. Concurrent AUTO_INCREMENT inserts on all
// three nodes never collide (no duplicate key, no certification failure), each node's values keep to
// its own residue, and after a member leaves the two others follow the smaller view.
func TestAutoIncrementFollowsTheView(t *testing.T) {
	nodes := startCluster(t, 3)
	dbs := make([]*sql.DB, len(nodes))
	for i, n := range nodes {
		dbs[i] = openDB(t, n, "root", "", "", "")
	}
	mustExec(t, dbs[0], "CREATE DATABASE d")
	mustExec(t, dbs[0], "CREATE TABLE d.ai (id BIGINT AUTO_INCREMENT PRIMARY KEY, node INT)")
	waitFor(t, func() bool {
		for _, db := range dbs {
			if _, err := db.Exec("SELECT COUNT(*) FROM d.ai"); err != nil {
				return false
			}
		}
		return true
	})
	waitAutoInc(t, dbs, 3)

	offsets := insertEverywhere(t, dbs, 3, 20)
	checkResidues(t, dbs[0], offsets, 3)

	// Node 3 leaves gracefully: the view shrinks to two members, and so does the interleaving.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := nodes[2].Close(ctx); err != nil {
		t.Fatalf("close node 3: %v", err)
	}
	waitAutoInc(t, dbs[:2], 2)
	mustExec(t, dbs[0], "DELETE FROM d.ai")
	offsets = insertEverywhere(t, dbs[:2], 2, 20)
	checkResidues(t, dbs[0], offsets, 2)
}

// waitAutoInc waits until every node's global auto_increment_increment is size and the offsets are
// 1..size, one per node.
func waitAutoInc(t *testing.T, dbs []*sql.DB, size int) {
	t.Helper()
	waitFor(t, func() bool {
		seen := map[int]bool{}
		for _, db := range dbs {
			var inc, off int
			if err := db.QueryRow("SELECT @@global.auto_increment_increment, @@global.auto_increment_offset").Scan(&inc, &off); err != nil {
				t.Fatal(err)
			}
			if inc != size || off < 1 || off > size || seen[off] {
				return false
			}
			seen[off] = true
		}
		return true
	})
}

// insertEverywhere runs perNode single-row AUTO_INCREMENT inserts on every node at once (4 connections a
// node) and returns each node's auto_increment_offset by the node number stored in the rows.
func insertEverywhere(t *testing.T, dbs []*sql.DB, size, perNode int) map[int]int {
	t.Helper()
	offsets := map[int]int{}
	for i, db := range dbs {
		var off int
		if err := db.QueryRow("SELECT @@auto_increment_offset").Scan(&off); err != nil {
			t.Fatal(err)
		}
		offsets[i+1] = off
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(dbs)*perNode)
	for i, db := range dbs {
		for w := range 4 {
			wg.Go(func() {
				for k := w; k < perNode; k += 4 {
					if _, err := db.Exec("INSERT INTO d.ai (node) VALUES (?)", i+1); err != nil {
						errs <- fmt.Errorf("node %d: %w", i+1, err)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent AUTO_INCREMENT insert: %v (values must interleave, never collide)", err)
	}
	var n int
	waitFor(t, func() bool {
		for _, db := range dbs {
			if err := db.QueryRow("SELECT COUNT(*) FROM d.ai").Scan(&n); err != nil || n != len(dbs)*perNode {
				return false
			}
		}
		return true
	})
	return offsets
}

// checkResidues checks that every row's id is congruent to its node's offset modulo size.
func checkResidues(t *testing.T, db *sql.DB, offsets map[int]int, size int) {
	t.Helper()
	rows, err := db.Query("SELECT id, node FROM d.ai")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var node int
		if err := rows.Scan(&id, &node); err != nil {
			t.Fatal(err)
		}
		if int(id%int64(size)) != offsets[node]%size {
			t.Errorf("id %d inserted on node %d (offset %d of %d)", id, node, offsets[node], size)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
