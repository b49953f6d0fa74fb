//go:build integration

package integration

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// Fault scenarios of a bin/maxnode cluster at the SQL level (GALERA.md §1.3, §3.1, §6, §12.5, §12.9).
// Partitions are real: every replication link runs through a harness relay that the test blocks, so
// both sides keep running and answering their clients.

const scenarioDB = "it_scenario"

// TestMaxnodePartitionMinority: writes on every node are read everywhere, at once with wsrep_sync_wait
// and eventually without it; then a 2|1 partition that isolates the raft leader: it reports non-Primary
// (state 0, Initialized, wsrep_ready OFF) and answers 1047 to reads and writes while SHOW STATUS still
// works, the majority elects a leader and keeps serving writes on both of its nodes, and after healing
// every node is Synced again with the same contents.
func TestMaxnodePartitionMinority(t *testing.T) {
	c := harness.StartMaxnodeCluster(t, 3, harness.MaxnodeOptions{NetCut: true})
	setupScenarioTable(t, c)
	dbs := scenarioDBs(t, c, 3, "")
	causal := scenarioDBs(t, c, 3, "wsrep_sync_wait=1")

	t.Run("writes on every node read everywhere", func(t *testing.T) {
		id := 0
		for from := range 3 {
			id++
			nodeExec(t, dbs[from], "INSERT INTO t VALUES (?, ?)", id, fmt.Sprintf("from node %d", from+1))
			for to := range 3 {
				// With wsrep_sync_wait the first read on any node sees the commit.
				var v string
				if err := causal[to].QueryRowContext(t.Context(), "SELECT v FROM t WHERE id = ?", id).Scan(&v); err != nil {
					t.Fatalf("node %d with wsrep_sync_wait=1, row %d: %v", to+1, id, err)
				}
			}
		}
		// Without it a read may lag, but every node gets every row.
		nodeExec(t, dbs[2], "INSERT INTO t VALUES (4, 'last')")
		for to := range 3 {
			waitValue(t, dbs[to], 4, "last")
		}
		// AUTO_INCREMENT inserts on every node at once interleave by the view and never collide.
		insertSeqEverywhere(t, dbs, 10)
	})

	// The raft leader is the one cut off: the majority has to notice and elect another.
	minority := dataLeader(t, c, 3)
	var majority []int
	for i := 1; i <= 3; i++ {
		if i != minority {
			majority = append(majority, i)
		}
	}
	t.Run("2|1 partition: the isolated leader refuses, the majority writes", func(t *testing.T) {
		if err := c.Partition(majority, []int{minority}); err != nil {
			t.Fatal(err)
		}
		m := c.Maxnode(minority)
		waitStatus(t, m, "wsrep_cluster_status", "non-Primary")
		for name, want := range map[string]string{"wsrep_ready": "OFF", "wsrep_local_state": "0",
			"wsrep_local_state_comment": "Initialized", "wsrep_connected": "ON"} {
			if got := mustStatus(t, m, name); got != want {
				t.Errorf("minority %s = %q, want %q", name, got, want)
			}
		}
		for _, q := range []string{"SELECT v FROM t WHERE id = 1", "INSERT INTO t VALUES (100, 'minority')"} {
			if _, err := dbs[minority-1].ExecContext(t.Context(), q); mysqlCode(err) != 1047 {
				t.Errorf("minority: %s: %v, want 1047", q, err)
			}
		}
		for _, i := range majority {
			waitStatus(t, c.Maxnode(i), "wsrep_cluster_status", "Primary")
		}
		majorityDBs := []*sql.DB{dbs[majority[0]-1], dbs[majority[1]-1]}
		// The first write may meet the election the lost leader leaves behind.
		writeEventually(t, majorityDBs[0], "INSERT INTO t VALUES (10, 'majority')")
		for id := 11; id < 20; id++ {
			nodeExec(t, majorityDBs[id%2], "INSERT INTO t VALUES (?, ?)", id, fmt.Sprintf("majority node%d", majority[id%2]))
		}
		insertSeqEverywhere(t, majorityDBs, 10)
		var n int
		if err := causal[majority[1]-1].QueryRowContext(t.Context(), "SELECT COUNT(*) FROM t WHERE id >= 10").Scan(&n); err != nil || n != 10 {
			t.Fatalf("majority rows on node%d: %d, %v; want 10", majority[1], n, err)
		}
		if got := mustStatus(t, m, "wsrep_cluster_status"); got != "non-Primary" {
			t.Fatalf("minority became %s while partitioned", got)
		}
	})

	t.Run("healed: every node Synced with the same contents", func(t *testing.T) {
		if err := c.Heal(); err != nil {
			t.Fatal(err)
		}
		waitSynced(t, c, 3)
		nodeExec(t, causal[minority-1], "INSERT INTO t VALUES (20, 'the old leader again')")
		sameChecksums(t, causal, 15+30+20)
	})

	t.Run("writes across a partition: every acknowledged one survives everywhere", func(t *testing.T) {
		w := startWriters(t, c, 3)
		w.waitProgress(t, []int{1, 2, 3}, 20)
		leader := dataLeader(t, c, 3)
		var others []int
		for i := 1; i <= 3; i++ {
			if i != leader {
				others = append(others, i)
			}
		}
		if err := c.Partition(others, []int{leader}); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, c.Maxnode(leader), "wsrep_cluster_status", "non-Primary")
		w.waitProgress(t, others, 20) // the majority goes on writing
		if err := c.Heal(); err != nil {
			t.Fatal(err)
		}
		waitSynced(t, c, 3)
		w.waitProgress(t, []int{1, 2, 3}, 20) // and so does the healed node
		acked := w.stop(t)
		for i, db := range causal {
			present := map[int]bool{}
			for _, r := range nodeQuery(t, db, "SELECT id FROM burst") {
				id, _ := strconv.Atoi(r[0])
				present[id] = true
			}
			for _, id := range acked {
				if !present[id] {
					t.Errorf("node%d lacks acknowledged row %d", i+1, id)
				}
			}
		}
		var first string
		for i, db := range causal {
			sum, _ := tableDigest(t, db)
			if i == 0 {
				first = sum
			} else if sum != first {
				t.Errorf("node%d's digest %s differs from node1's %s", i+1, sum, first)
			}
		}
	})
}

// writers insert unique rows into burst, one connection per node, until stopped, and record which
// inserts were acknowledged. While their node is outside the primary component they get 1047, a commit
// refused meanwhile 1213, and one whose outcome is unknown a closed connection: none of those is
// acknowledged, and only 1047 / 1213 promise that nothing was written.
type writers struct {
	stopCh chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	acked  []int
	counts map[int]int // node -> acknowledged inserts
	errs   []error
}

func startWriters(t *testing.T, c *harness.MaxnodeCluster, n int) *writers {
	t.Helper()
	mustNodeExec(t, c.Maxnode(1), "CREATE TABLE IF NOT EXISTS "+scenarioDB+".burst (id INT PRIMARY KEY, v VARCHAR(64) NOT NULL)")
	w := &writers{stopCh: make(chan struct{}), counts: map[int]int{}}
	dbs := scenarioDBs(t, c, n, "")
	for i, db := range dbs {
		node := i + 1
		w.wg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-w.stopCh:
					return
				default:
				}
				id := node*1_000_000 + k
				_, err := db.Exec("INSERT INTO burst VALUES (?, ?)", id, fmt.Sprintf("node%d", node))
				w.mu.Lock()
				switch code := mysqlCode(err); {
				case err == nil:
					w.acked = append(w.acked, id)
					w.counts[node]++
				case code == 1047 || code == 1213, code == 0:
					// Not acknowledged; code 0 is a closed connection (unknown outcome).
				default:
					w.errs = append(w.errs, fmt.Errorf("node%d: %w", node, err))
				}
				w.mu.Unlock()
				if err != nil {
					// Back off instead of spinning against a node that refuses.
					select {
					case <-w.stopCh:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
	}
	return w
}

// waitProgress waits until each of nodes has acknowledged more inserts.
func (w *writers) waitProgress(t *testing.T, nodes []int, more int) {
	t.Helper()
	w.mu.Lock()
	target := map[int]int{}
	for _, n := range nodes {
		target[n] = w.counts[n] + more
	}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := harness.Poll(ctx, fmt.Sprintf("%d more writes on nodes %v", more, nodes), 20*time.Millisecond, func(context.Context) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		for n, want := range target {
			if w.counts[n] < want {
				return fmt.Errorf("node%d at %d of %d", n, w.counts[n], want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// stop ends the writers and returns the acknowledged ids; unexpected errors fail t.
func (w *writers) stop(t *testing.T) []int {
	t.Helper()
	close(w.stopCh)
	w.wg.Wait()
	for _, err := range w.errs {
		t.Errorf("writer: %v", err)
	}
	return w.acked
}

// TestMaxnodeEvenSplitWithArbitrator: four data nodes and an arbitrator (maxnode --arbitrator) split
// 2|2 with the arbitrator on one side and the raft leader on the other. The arbitrator's side has 3 of 5
// votes, elects a leader among its data nodes and stays Primary and writable; the other side goes
// non-Primary (wsrep_cluster_size 2: the members it sees) and answers 1047. After healing all five members are back in
// the view and the data nodes agree.
func TestMaxnodeEvenSplitWithArbitrator(t *testing.T) {
	c := harness.StartMaxnodeCluster(t, 4, harness.MaxnodeOptions{NetCut: true, Arbitrators: 1})
	setupScenarioTable(t, c)
	dbs := scenarioDBs(t, c, 4, "")
	causal := scenarioDBs(t, c, 4, "wsrep_sync_wait=1")
	for i := range 4 {
		if got := mustStatus(t, c.Maxnode(i+1), "wsrep_cluster_size"); got != "5" {
			t.Fatalf("node%d: wsrep_cluster_size = %s, want 5 (the arbitrator counts)", i+1, got)
		}
		nodeExec(t, dbs[i], "INSERT INTO t VALUES (?, 'before')", i+1)
	}
	// Like garbd, the arbitrator serves no clients: nothing listens on its MySQL port.
	if conn, err := net.DialTimeout("tcp", c.Arbitrator(1).Addr(), time.Second); err == nil {
		conn.Close()
		t.Fatalf("the arbitrator accepts client connections on %s", c.Arbitrator(1).Addr())
	}

	// The raft leader is on the side without the arbitrator, so that side loses its leader too.
	leader := dataLeader(t, c, 4)
	lost := []int{leader, leader%4 + 1}
	var kept []int
	for i := 1; i <= 4; i++ {
		if i != lost[0] && i != lost[1] {
			kept = append(kept, i)
		}
	}
	const arbitrator = 5
	if err := c.Partition(append(slices.Clone(kept), arbitrator), lost); err != nil {
		t.Fatal(err)
	}
	for _, i := range lost {
		waitStatus(t, c.Maxnode(i), "wsrep_cluster_status", "non-Primary")
		if _, err := dbs[i-1].ExecContext(t.Context(), "INSERT INTO t VALUES (?, 'lost side')", 100+i); mysqlCode(err) != 1047 {
			t.Errorf("node%d without the arbitrator: INSERT: %v, want 1047", i, err)
		}
	}
	for _, i := range kept {
		waitStatus(t, c.Maxnode(i), "wsrep_cluster_status", "Primary")
	}
	writeEventually(t, dbs[kept[0]-1], "INSERT INTO t VALUES (10, 'arbitrator side')")
	nodeExec(t, dbs[kept[1]-1], "INSERT INTO t VALUES (11, 'arbitrator side')")
	for _, i := range lost {
		if got := mustStatus(t, c.Maxnode(i), "wsrep_cluster_status"); got != "non-Primary" {
			t.Fatalf("node%d became %s while cut off from the arbitrator", i, got)
		}
		// Like Galera's non-primary component, the lost side counts its own two members.
		waitStatus(t, c.Maxnode(i), "wsrep_cluster_size", "2")
	}

	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, c, 5)
	nodeExec(t, causal[lost[0]-1], "INSERT INTO t VALUES (12, 'after heal')")
	insertSeqEverywhere(t, dbs, 5)
	sameChecksums(t, causal, 7+20)
}

var leaderLogLine = regexp.MustCompile(`\b([0-9a-f]+) became leader at term (\d+)`)

// dataLeader is the raft leader among data nodes 1..n, from their logs ("<id> became leader at term
// <t>", raft id i for node i; the highest term wins).
func dataLeader(t *testing.T, c *harness.MaxnodeCluster, n int) int {
	t.Helper()
	leader, term := 0, -1
	for i := 1; i <= n; i++ {
		data, err := os.ReadFile(c.Maxnode(i).Process().LogPath())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range leaderLogLine.FindAllSubmatch(data, -1) {
			id, err1 := strconv.ParseUint(string(m[1]), 16, 64)
			tm, err2 := strconv.Atoi(string(m[2]))
			if err1 == nil && err2 == nil && tm > term && id >= 1 && id <= uint64(n) {
				leader, term = int(id), tm
			}
		}
	}
	if leader == 0 {
		t.Fatal("no data node became raft leader")
	}
	return leader
}

func setupScenarioTable(t *testing.T, c *harness.MaxnodeCluster) {
	t.Helper()
	mustNodeExec(t, c.Maxnode(1), "CREATE DATABASE "+scenarioDB)
	mustNodeExec(t, c.Maxnode(1), "CREATE TABLE "+scenarioDB+".t (id INT PRIMARY KEY, v VARCHAR(64) NOT NULL)")
	mustNodeExec(t, c.Maxnode(1), "CREATE TABLE "+scenarioDB+".seq (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64) NOT NULL)")
}

// insertSeqEverywhere inserts perNode AUTO_INCREMENT rows through each pool, all pools at once, and
// fails on any error: wsrep_auto_increment_control makes the nodes' values interleave.
func insertSeqEverywhere(t *testing.T, dbs []*sql.DB, perNode int) {
	t.Helper()
	errs := make(chan error, len(dbs)*perNode)
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			for k := range perNode {
				if _, err := db.ExecContext(t.Context(), "INSERT INTO seq (v) VALUES (?)", fmt.Sprintf("node%d #%d", i+1, k)); err != nil {
					errs <- fmt.Errorf("node%d: %w", i+1, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent AUTO_INCREMENT insert: %v", err)
	}
}

// scenarioDBs opens the application account on nodes 1..n with extra DSN parameters (session
// variables); every pool waits until the table is visible there.
func scenarioDBs(t *testing.T, c *harness.MaxnodeCluster, n int, params string) []*sql.DB {
	t.Helper()
	a := harness.AppAccount
	dbs := make([]*sql.DB, n)
	for i := range n {
		dsn := c.Node(i+1).DSN(a.User, a.Password, scenarioDB)
		if params != "" {
			dsn += "&" + params
		}
		dbs[i] = nodeDB(t, dsn)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		err := harness.Poll(ctx, fmt.Sprintf("table t on node%d", i+1), 20*time.Millisecond, func(ctx context.Context) error {
			_, err := dbs[i].ExecContext(ctx, "SELECT COUNT(*) FROM t")
			return err
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return dbs
}

// writeEventually runs a write until it succeeds: right after a partition the majority may still be
// electing a leader (1047 while no node is Primary, 1213 for a commit refused meanwhile).
func writeEventually(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := harness.Poll(ctx, query, 50*time.Millisecond, func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, query)
		if n := mysqlCode(err); err != nil && n != 1047 && n != 1213 {
			return harness.Permanent(err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sameChecksums reads every table on every node (the pools use wsrep_sync_wait, so each read sees every
// commit made before it) and checks the total row count and an ordered digest are equal everywhere.
func sameChecksums(t *testing.T, dbs []*sql.DB, wantRows int) {
	t.Helper()
	var first string
	for i, db := range dbs {
		sum, n := tableDigest(t, db)
		if n != wantRows {
			t.Errorf("node%d has %d rows, want %d", i+1, n, wantRows)
		}
		if i == 0 {
			first = sum
		} else if sum != first {
			t.Errorf("node%d's table digest %s differs from node1's %s", i+1, sum, first)
		}
	}
}

// tableDigest hashes every table of the schema (all have columns id, v) in table and id order.
func tableDigest(t *testing.T, db *sql.DB) (string, int) {
	t.Helper()
	h := fnv.New64a()
	n := 0
	for _, table := range nodeQuery(t, db, "SHOW TABLES") {
		fmt.Fprintf(h, "table %s;", table[0])
		for _, r := range nodeQuery(t, db, "SELECT id, v FROM "+table[0]+" ORDER BY id") {
			fmt.Fprintf(h, "%s=%q;", r[0], r[1])
			n++
		}
	}
	return fmt.Sprintf("%x", h.Sum64()), n
}
