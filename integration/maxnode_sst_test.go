//go:build integration

package integration

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// State snapshot transfer on a bin/maxnode cluster (GALERA.md §5): every node keeps only about
// gcache.size bytes of recent replication log, so a node that missed more than that, or lost its data
// directory after the cluster discarded the log, comes back by a full state transfer from a donor, while a
// node that crashed after compacting its own log restarts from its local checkpoint. The tables live in
// the scenario schema (setupScenarioTable), so sameChecksums compares every table on every node.

// sstSettings give every node a gcache that a few hundred rows of bulkPayload overflow several times,
// and debug logging for its checkpoints (waitCheckpointed).
var sstSettings = []string{`gcache.size = "64K"`, `log_level = "debug"`}

// sstRows rows of about 1 KB each: about 400 KB of replication log, six times the gcache.
const sstRows = 400

// shortRows rows (ids from shortRowsFrom) are about half the gcache: a node that misses only them
// catches up from the others' log.
const shortRows, shortRowsFrom = 30, 10_000

// startSSTCluster starts three nodes with a small gcache (and extra node.toml lines) and the scenario
// tables plus bulk, for rows of about 1 KB.
func startSSTCluster(t *testing.T, extra ...string) *harness.MaxnodeCluster {
	t.Helper()
	return startSSTClusterWith(t, harness.MaxnodeOptions{Settings: slices.Concat(sstSettings, extra)})
}

func startSSTClusterWith(t *testing.T, opts harness.MaxnodeOptions) *harness.MaxnodeCluster {
	t.Helper()
	c := harness.StartMaxnodeCluster(t, 3, opts)
	setupScenarioTable(t, c)
	mustNodeExec(t, c.Maxnode(1), "CREATE TABLE "+scenarioDB+".bulk (id INT PRIMARY KEY, v VARCHAR(1100) NOT NULL)")
	// startWriters' table, created here so that it is visible on every node before any writer starts.
	mustNodeExec(t, c.Maxnode(1), "CREATE TABLE "+scenarioDB+".burst (id INT PRIMARY KEY, v VARCHAR(64) NOT NULL)")
	for _, table := range []string{"bulk", "burst"} {
		waitSameRows(t, c, "SELECT COUNT(*) FROM "+scenarioDB+"."+table, "0;")
	}
	return c
}

// bulkPayload is row id's value: about 1 KB, different for every id.
func bulkPayload(id int) string {
	return fmt.Sprintf("%06d:", id) + strings.Repeat(string(rune('a'+id%26)), 1000)
}

// writeBulk inserts ids first..first+n-1 into bulk, one writer per pool at once (the ids interleave over
// the pools); every insert must succeed.
func writeBulk(t *testing.T, dbs []*sql.DB, first, n int) {
	t.Helper()
	errs := make(chan error, len(dbs))
	var wg sync.WaitGroup
	for w, db := range dbs {
		wg.Go(func() {
			for id := first + w; id < first+n; id += len(dbs) {
				if _, err := db.ExecContext(t.Context(), "INSERT INTO bulk VALUES (?, ?)", id, bulkPayload(id)); err != nil {
					errs <- fmt.Errorf("pool %d: insert %d: %w", w+1, id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// runLog is what m's current process has logged: its log file after the harness's last start marker.
func runLog(t *testing.T, m *harness.Maxnode) string {
	t.Helper()
	log, err := readRunLog(m)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func readRunLog(m *harness.Maxnode) (string, error) {
	b, err := os.ReadFile(m.Process().LogPath())
	if err != nil {
		return "", err
	}
	if i := bytes.LastIndex(b, []byte("=== harness: ")); i >= 0 {
		b = b[i:]
	}
	return string(b), nil
}

// gcacheCheckpoint is the debug line a node logs when it has checkpointed its state at a seqno and
// discarded the log that no longer fits in its gcache.
var gcacheCheckpoint = regexp.MustCompile(`msg="gcache checkpoint" .*\bseqno=(\d+)`)

// waitCheckpointed waits until each of nodes has checkpointed at seqno from or later. From is chosen
// far enough (well over gcache.size of write-sets) past a position that the log there is then gone.
// Compaction runs on a timer, so without this wait a node could come back while the log it needs is
// still retained and catch up without a state transfer.
func waitCheckpointed(t *testing.T, c *harness.MaxnodeCluster, nodes []int, from int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, i := range nodes {
		m := c.Maxnode(i)
		what := fmt.Sprintf("node%d's gcache checkpoint at seqno %d or later", i, from)
		err := harness.Poll(ctx, what, 100*time.Millisecond, func(context.Context) error {
			log, err := readRunLog(m)
			if err != nil {
				return err
			}
			last := int64(-1)
			for _, sm := range gcacheCheckpoint.FindAllStringSubmatch(log, -1) {
				if n, err := strconv.ParseInt(sm[1], 10, 64); err == nil {
					last = max(last, n)
				}
			}
			if last < from {
				return fmt.Errorf("last gcache checkpoint at seqno %d", last)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// stateTransferLines are the lines of a node's log that mention a state transfer.
func stateTransferLines(log string) []string {
	var out []string
	for line := range strings.Lines(log) {
		if strings.Contains(strings.ToLower(line), "state transfer") {
			out = append(out, strings.TrimRight(line, "\n"))
		}
	}
	return out
}

// startAgain restarts a stopped or killed node and waits until the whole cluster is Synced.
func startAgain(t *testing.T, c *harness.MaxnodeCluster, i int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	if err := c.Maxnode(i).Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, c, 3)
}

// checkJoinedBySST checks that node i received a state transfer and now holds what the others hold,
// wantRows rows in all, and that a write on it replicates: it inserts row id into t there and reads it
// back on node 1.
func checkJoinedBySST(t *testing.T, c *harness.MaxnodeCluster, i, wantRows, id int) {
	t.Helper()
	log := runLog(t, c.Maxnode(i))
	lines := stateTransferLines(log)
	if len(lines) == 0 {
		t.Errorf("node%d missed more than the donors' gcache but its log never mentions a state transfer:\n%s",
			i, lastLines(log, 30))
	}
	t.Logf("node%d:\n%s", i, strings.Join(lines, "\n"))
	causal := scenarioDBs(t, c, 3, "wsrep_sync_wait=1")
	sameChecksums(t, causal, wantRows)
	nodeExec(t, causal[i-1], "INSERT INTO t VALUES (?, ?)", id, fmt.Sprintf("written on node%d after its SST", i))
	var v string
	if err := causal[0].QueryRowContext(t.Context(), "SELECT v FROM t WHERE id = ?", id).Scan(&v); err != nil {
		t.Fatalf("node1 reading the row written on node%d after its SST: %v", i, err)
	}
	sameChecksums(t, causal, wantRows+1)
}

// TestMaxnodeSSTAfterGcacheOverflow: node 3 leaves (a clean stop, or SIGKILL while it is still a voter).
// After missing half a gcache of writes it catches up from the donors' log, without a state transfer.
// Then it leaves again and the other two write six times the gcache, change earlier rows, create a table
// and an account. When node 3 comes back the log it needs is gone everywhere, so it receives a state
// transfer: it is Synced with every table equal to the others', the new account logs in to it, and its
// own writes replicate.
func TestMaxnodeSSTAfterGcacheOverflow(t *testing.T) {
	for _, tc := range []struct {
		name string
		down func(*harness.Maxnode) error
	}{
		{"clean stop", (*harness.Maxnode).Stop},
		{"SIGKILL", (*harness.Maxnode).Kill},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startSSTCluster(t)
			dbs := scenarioDBs(t, c, 2, "")
			n3 := c.Maxnode(3)

			// A short absence stays within the gcache: node 3 misses about half a gcache of write-sets,
			// the others checkpoint and compact meanwhile but keep what it needs, and it catches up from
			// their log (IST).
			left := statusInt(t, n3, "wsrep_last_committed")
			if err := tc.down(n3); err != nil {
				t.Fatal(err)
			}
			nodeExec(t, dbs[0], "INSERT INTO t VALUES (1, 'within gcache')")
			writeBulk(t, dbs, shortRowsFrom, shortRows)
			waitCheckpointed(t, c, []int{1, 2}, left+1)
			startAgain(t, c, 3)
			if lines := stateTransferLines(runLog(t, n3)); len(lines) > 0 {
				t.Errorf("node3 missed half a gcache but its log mentions a state transfer:\n%s", strings.Join(lines, "\n"))
			}
			waitSameRows(t, c, "SELECT COUNT(*) FROM "+scenarioDB+".bulk", fmt.Sprintf("%d;", shortRows))

			// A long one does not.
			left = statusInt(t, n3, "wsrep_last_committed")
			if err := tc.down(n3); err != nil {
				t.Fatal(err)
			}

			writeBulk(t, dbs, 0, sstRows)
			// The missed range also rewrites and deletes rows, adds a table and an account. These pools
			// wait (wsrep_sync_wait=7) until their node has applied the other node's writes.
			causal := scenarioDBs(t, c, 2, "wsrep_sync_wait=7")
			nodeExec(t, causal[1], "UPDATE bulk SET v = 'rewritten' WHERE id < 40")
			nodeExec(t, causal[0], "DELETE FROM bulk WHERE id >= ? AND id < ?", sstRows-20, sstRows)
			// The row goes in on the other node: its causal read waits for the table to be visible there.
			nodeExec(t, causal[1], "CREATE TABLE late (id INT PRIMARY KEY, v VARCHAR(64) NOT NULL)")
			nodeExec(t, causal[0], "INSERT INTO late VALUES (1, 'created while node3 was away')")
			mustNodeExec(t, c.Maxnode(2), "CREATE USER 'sst_late'@'%' IDENTIFIED BY 'late-pw'")
			mustNodeExec(t, c.Maxnode(2), "GRANT SELECT, INSERT ON "+scenarioDB+".* TO 'sst_late'@'%'")
			waitCheckpointed(t, c, []int{1, 2}, left+sstRows/2)

			startAgain(t, c, 3)
			late := nodeDB(t, c.Node(3).DSN("sst_late", "late-pw", scenarioDB)+"&wsrep_sync_wait=1")
			got := nodeQuery(t, late, "SELECT v FROM late WHERE id = 1")
			if len(got) != 1 || got[0][0] != "created while node3 was away" {
				t.Errorf("node3 as the account created while it was away: late row 1 = %v", got)
			}
			// t 1, bulk 30 + 400 - 20 deleted, late 1.
			checkJoinedBySST(t, c, 3, 1+shortRows+sstRows-20+1, 2)
		})
	}
}

// TestMaxnodeSSTAfterPartition: node 3 is cut off from the others while they write six times the
// gcache, so when the partition heals the log it needs is gone everywhere. The running node learns it
// from the leader, stops serving without leaving, receives a state transfer and comes back Synced, with
// every table equal to the others' — the same process, no operator action.
func TestMaxnodeSSTAfterPartition(t *testing.T) {
	c := startSSTClusterWith(t, harness.MaxnodeOptions{Settings: sstSettings, NetCut: true})
	dbs := scenarioDBs(t, c, 2, "")
	n3 := c.Maxnode(3)
	pid := n3.PID()
	left := statusInt(t, n3, "wsrep_last_committed")
	if err := c.Partition([]int{1, 2}, []int{3}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, n3, "wsrep_cluster_status", "non-Primary")
	away := time.Now()
	writeBulk(t, dbs, 0, sstRows)
	waitCheckpointed(t, c, []int{1, 2}, left+sstRows/2)
	// A node away for less than an election timeout serves again as soon as it hears from the leader
	// (it may only have missed a leader change); this one was away for much longer.
	if d := 3*time.Second - time.Since(away); d > 0 {
		time.Sleep(d)
	}
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, c, 3)
	if got := n3.PID(); got != pid {
		t.Errorf("node3 runs as pid %d after its state transfer, was %d: it should not have been restarted", got, pid)
	}
	log := runLog(t, n3)
	if !strings.Contains(log, "stopping to receive a state transfer") {
		t.Errorf("node3 did not stop to receive a state transfer:\n%s", strings.Join(stateTransferLines(log), "\n"))
	}
	checkJoinedBySST(t, c, 3, sstRows, 1)
}

// TestMaxnodeSSTNewEmptyNode: the cluster writes six times its gcache with all three nodes up, so every
// node discards the start of the log; then node 3 is stopped and its data directory emptied, as for a
// brand-new node under the same name. It can only be rebuilt by a state transfer, which must carry the
// accounts created through SQL as well as the tables, and the commits the other nodes make meanwhile
// must reach it too.
func TestMaxnodeSSTNewEmptyNode(t *testing.T) {
	c := startSSTCluster(t)
	dbs := scenarioDBs(t, c, 3, "")
	nodeExec(t, dbs[2], "INSERT INTO t VALUES (1, 'node3 before it lost its data')")
	before := statusInt(t, c.Maxnode(1), "wsrep_last_committed")
	writeBulk(t, dbs, 0, sstRows)
	waitCheckpointed(t, c, []int{1, 2}, before+sstRows/2)
	n3 := c.Maxnode(3)
	if err := n3.Stop(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(n3.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(n3.DataDir(), e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	nodeExec(t, dbs[0], "INSERT INTO t VALUES (2, 'while node3 was empty')")

	// Nodes 1 and 2 keep committing while node 3 receives the snapshot and catches up after it.
	w := startWriters(t, c, 2)
	w.waitProgress(t, []int{1, 2}, 20)
	startAgain(t, c, 3)
	w.waitProgress(t, []int{1, 2}, 20)
	acked := w.stop(t)

	// The harness's accounts were created through node 1 after the cluster started: only the snapshot
	// brings them to the emptied node.
	app := nodeDB(t, c.Node(3).DSN(harness.AppAccount.User, harness.AppAccount.Password, scenarioDB)+"&wsrep_sync_wait=1")
	if got := nodeQuery(t, app, "SELECT COUNT(*) FROM bulk"); got[0][0] != fmt.Sprint(sstRows) {
		t.Errorf("emptied node3 after rejoining: %s bulk rows, want %d", got[0][0], sstRows)
	}
	burst := checkAcked(t, scenarioDBs(t, c, 3, "wsrep_sync_wait=1"), acked)
	checkJoinedBySST(t, c, 3, 2+sstRows+burst, 3)
}

// TestMaxnodeSSTDonorChoice: with sst_donor (wsrep_sst_donor) naming node 2, node 3 takes its state
// transfer from node 2, although without it the joiner would ask node 1 first (the member after it in
// cluster_address). Only node 2's log tells of donating.
func TestMaxnodeSSTDonorChoice(t *testing.T) {
	c := startSSTCluster(t, `sst_donor = "node2"`)
	dbs := scenarioDBs(t, c, 2, "")
	n3 := c.Maxnode(3)
	left := statusInt(t, n3, "wsrep_last_committed")
	if err := n3.Stop(); err != nil {
		t.Fatal(err)
	}
	writeBulk(t, dbs, 0, sstRows)
	waitCheckpointed(t, c, []int{1, 2}, left+sstRows/2)
	startAgain(t, c, 3)
	for i, want := range map[int]bool{1: false, 2: true} {
		var donated []string
		for _, line := range stateTransferLines(runLog(t, c.Maxnode(i))) {
			if strings.Contains(line, "donat") {
				donated = append(donated, line)
			}
		}
		if (len(donated) > 0) != want {
			t.Errorf("node%d donated a state transfer: %v, want %v (sst_donor = node2):\n%s",
				i, len(donated) > 0, want, strings.Join(donated, "\n"))
		}
	}
	checkJoinedBySST(t, c, 3, sstRows, 1)
}

// checkAcked checks that every node (the pools wait for causality) holds every acknowledged burst row
// and returns how many burst rows node 1 has: at least those, plus any whose outcome was unknown.
func checkAcked(t *testing.T, causal []*sql.DB, acked []int) int {
	t.Helper()
	for i, db := range causal {
		present := map[string]bool{}
		for _, r := range nodeQuery(t, db, "SELECT id FROM burst") {
			present[r[0]] = true
		}
		for _, id := range acked {
			if !present[fmt.Sprint(id)] {
				t.Errorf("node%d lacks acknowledged row %d", i+1, id)
			}
		}
	}
	var burst int
	if err := causal[0].QueryRowContext(t.Context(), "SELECT COUNT(*) FROM burst").Scan(&burst); err != nil {
		t.Fatal(err)
	}
	if burst < len(acked) {
		t.Fatalf("node1 has %d burst rows, fewer than the %d acknowledged", burst, len(acked))
	}
	return burst
}

// TestMaxnodeCrashRestartAfterCompaction: every node writes and applies six times its gcache, so each
// has checkpointed its state and discarded the start of its own log. Node 1 is killed (SIGKILL) while
// writers on all three nodes are committing, and the writers stop right after: node 1 missed almost
// nothing, so it restarts from its local checkpoint and its own log, without a state transfer, and ends
// up with every acknowledged row and the same tables as the others.
func TestMaxnodeCrashRestartAfterCompaction(t *testing.T) {
	c := startSSTCluster(t)
	dbs := scenarioDBs(t, c, 3, "")
	before := statusInt(t, c.Maxnode(1), "wsrep_last_committed")
	writeBulk(t, dbs, 0, sstRows)
	waitCheckpointed(t, c, []int{1, 2, 3}, before+sstRows/2)
	w := startWriters(t, c, 3)
	w.waitProgress(t, []int{1, 2, 3}, 20)
	if err := c.Maxnode(1).Kill(); err != nil {
		t.Fatal(err)
	}
	acked := w.stop(t)

	startAgain(t, c, 1)
	if lines := stateTransferLines(runLog(t, c.Maxnode(1))); len(lines) > 0 {
		t.Errorf("node1 missed only the writes after its crash but its log mentions a state transfer:\n%s",
			strings.Join(lines, "\n"))
	}
	causal := scenarioDBs(t, c, 3, "wsrep_sync_wait=1")
	burst := checkAcked(t, causal, acked)
	// Rows whose commit outcome was unknown when node 1 died may exist too; every node must agree on them.
	sameChecksums(t, causal, sstRows+burst)
}
