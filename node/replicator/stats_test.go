package replicator

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestQueueStats(t *testing.T) {
	var q queueStats
	for _, n := range []int{1, 2, 3} { // three pushes
		q.sample(n)
	}
	q.observe(0) // drained
	if got, want := q.snapshot(), (QueueStats{Max: 3, Min: 0, Avg: 2}); got != want {
		t.Errorf("after 1,2,3 queued and a drain: %+v, want %+v", got, want)
	}
	q.reset(4)
	if got, want := q.snapshot(), (QueueStats{Max: 4, Min: 4}); got != want {
		t.Errorf("after FLUSH STATUS at length 4: %+v, want %+v", got, want)
	}
}

func TestLatencyStats(t *testing.T) {
	var l latencyStats
	if got := l.String(); got != "0/0/0/0/0" {
		t.Errorf("no samples: %q", got)
	}
	now := time.Now()
	l.add(now, 100*time.Millisecond)
	l.add(now, 300*time.Millisecond)
	if got, want := l.String(), "0.1/0.2/0.3/0.1/2"; got != want {
		t.Errorf("two samples: %q, want %q", got, want)
	}
	// A sample after evs.stats_report_period starts a new period.
	l.add(now.Add(statsReportPeriod+time.Second), 50*time.Millisecond)
	if got, want := l.String(), "0.05/0.05/0.05/0/1"; got != want {
		t.Errorf("next period: %q, want %q", got, want)
	}
}

func TestGcacheMarks(t *testing.T) {
	var g gcacheMarks
	// Entries 10.. consume one seqno each, from seqno 1 on.
	for i := uint64(10); i < 10+3*markEvery; i++ {
		g.note(i, i-10)
	}
	for _, tc := range []struct{ first, want uint64 }{
		{1, 1},                              // the whole log since the first entry
		{10, 1},                             // exactly the first entry
		{11, markEvery + 1},                 // rounded up to the next mark
		{10 + 2*markEvery, 2*markEvery + 1}, // exactly a mark
		{10 + 3*markEvery, 500},             // past every mark: nothing noted is retained
	} {
		if got := g.downto(tc.first, 500); got != tc.want {
			t.Errorf("downto(first %d) = %d, want %d", tc.first, got, tc.want)
		}
	}
	g.trim(11)
	if len(g.marks) != 2 || g.downto(11, 500) != markEvery+1 {
		t.Errorf("after trim(11): marks %v", g.marks)
	}
}

// The write-set counters, the receive-queue statistics and the replication latency move with real
// traffic, and show up as Galera's SHOW STATUS rows.
func TestStatusCountsReplication(t *testing.T) {
	c := newCluster(t, 3)
	n1, n2 := c.nodes[1], c.nodes[2]
	before := n1.r.Status()
	ctx := context.Background()
	const commits = 5
	var keyBytes, dataBytes uint64
	for i := range commits {
		k, v := fmt.Sprintf("key-%d", i), "value"
		if err := put(ctx, n1.db, k, v); err != nil {
			t.Fatal(err)
		}
		keyBytes += uint64(4 + len(k)) // the key's parts: the space id, then the row's key
		dataBytes += uint64(len(k) + len(v))
	}
	c.waitConverged()
	if err := n1.r.SyncWait(ctx); err != nil {
		t.Fatal(err)
	}
	after := n1.r.Status()
	if d := after.LocalCommits - before.LocalCommits; d != commits {
		t.Errorf("wsrep_local_commits moved by %d, want %d", d, commits)
	}
	if d := after.ReplKeys - before.ReplKeys; d != commits {
		t.Errorf("wsrep_repl_keys moved by %d, want %d (one row each)", d, commits)
	}
	if d := after.ReplKeysBytes - before.ReplKeysBytes; d != keyBytes {
		t.Errorf("wsrep_repl_keys_bytes moved by %d, want %d", d, keyBytes)
	}
	if d := after.ReplDataBytes - before.ReplDataBytes; d != dataBytes {
		t.Errorf("wsrep_repl_data_bytes moved by %d, want %d", d, dataBytes)
	}
	if d := after.CausalReads - before.CausalReads; d != 1 {
		t.Errorf("wsrep_causal_reads moved by %d, want 1", d)
	}
	parts := strings.Split(after.ReplLatency, "/")
	if n, err := strconv.Atoi(parts[len(parts)-1]); len(parts) != 5 || err != nil || n < commits {
		t.Errorf("wsrep_evs_repl_latency %q: want min/avg/max/stddev/samples with >= %d samples", after.ReplLatency, commits)
	}

	// Node 2 received the write-sets through its receive queue: each one was queued.
	st := n2.r.Status()
	if st.RecvQueueStats.Max < 1 || st.RecvQueueStats.Avg < 1 || st.RecvQueueStats.Min != 0 {
		t.Errorf("node 2 receive queue statistics after %d write-sets: %+v", commits, st.RecvQueueStats)
	}
	n2.r.ResetStats()
	if st := n2.r.Status().RecvQueueStats; st != (QueueStats{}) {
		t.Errorf("after FLUSH STATUS on an idle node: %+v", st)
	}

	rows := map[string]string{}
	for _, r := range after.Rows() {
		rows[r.Name] = r.Value
	}
	for name, want := range map[string]string{
		"wsrep_local_commits":        fmt.Sprint(after.LocalCommits),
		"wsrep_provider_version":     ProviderVersion,
		"wsrep_local_cached_downto":  "1", // nothing discarded yet: everything since the cluster began
		"wsrep_local_send_queue_avg": "0.000000",
		"wsrep_apply_window":         "1",
		"wsrep_evs_state":            "OPERATIONAL",
		"wsrep_gcomm_uuid":           formatUUID(n1.r.Source()),
	} {
		if got, ok := rows[name]; !ok || got != want {
			t.Errorf("SHOW STATUS %s = %q (listed %v), want %q", name, got, ok, want)
		}
	}
	if _, ok := rows["wsrep_local_recv_queue_avg"]; !ok {
		t.Error("SHOW STATUS lacks wsrep_local_recv_queue_avg")
	}
}

// wsrep_local_cached_downto rises when the log is compacted, and stays where it is while new write-sets
// are appended.
func TestCachedDowntoFollowsCompaction(t *testing.T) {
	// A gcache too large to be compacted by itself during the test; the test compacts, keeping nothing
	// before its checkpoint.
	c := newClusterGcache(t, 1, 1<<30)
	n := c.nodes[1]
	ctx := context.Background()
	for i := range 3 * markEvery {
		if err := put(ctx, n.db, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.r.Status().CachedDownto; got != 1 {
		t.Fatalf("before compaction: cached_downto %d, want 1", got)
	}
	if err := n.r.checkpointAndCompact(ctx, 1); err != nil {
		t.Fatal(err)
	}
	last := n.r.LastSeqno()
	downto := n.r.Status().CachedDownto
	if downto <= 1 || downto > last+1 {
		t.Fatalf("after compaction at seqno %d: cached_downto %d", last, downto)
	}
	for i := range markEvery {
		if err := put(ctx, n.db, fmt.Sprintf("after%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.r.Status().CachedDownto; got != downto {
		t.Errorf("after more commits: cached_downto %d, want it to stay %d", got, downto)
	}
}
