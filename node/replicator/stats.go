package replicator

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/maxproxy/maxproxy/node/writeset"
)

// queueStats are Galera's queue-length statistics (wsrep_local_recv_queue_max/_min/_avg and the
// send-queue ones): the length is sampled each time something is queued (the average is over those
// samples, as gu_fifo's is), and the extremes also see the length after each dequeue. FLUSH STATUS
// restarts them from the current length. Atomics only: the send queue is sampled by every commit.
type queueStats struct {
	samples, sum atomic.Uint64
	maxLen       atomic.Int64
	minLen       atomic.Int64
}

// sample records the length n right after something was queued.
func (q *queueStats) sample(n int) {
	q.samples.Add(1)
	if n > 0 { // every commit samples the send queue, nearly always empty
		q.sum.Add(uint64(n))
	}
	q.observe(n)
}

// observe records a length the queue passed through without counting it in the average.
func (q *queueStats) observe(n int) {
	v := int64(n)
	for cur := q.maxLen.Load(); v > cur && !q.maxLen.CompareAndSwap(cur, v); cur = q.maxLen.Load() {
	}
	for cur := q.minLen.Load(); v < cur && !q.minLen.CompareAndSwap(cur, v); cur = q.minLen.Load() {
	}
}

// reset restarts the statistics from the current length n (FLUSH STATUS).
func (q *queueStats) reset(n int) {
	q.samples.Store(0)
	q.sum.Store(0)
	q.maxLen.Store(int64(n))
	q.minLen.Store(int64(n))
}

// QueueStats is a snapshot of queueStats.
type QueueStats struct {
	Max, Min int
	Avg      float64
}

func (q *queueStats) snapshot() QueueStats {
	s := QueueStats{Max: int(q.maxLen.Load()), Min: int(q.minLen.Load())}
	if n := q.samples.Load(); n > 0 {
		s.Avg = float64(q.sum.Load()) / float64(n)
	}
	return s
}

// statsReportPeriod is Galera's evs.stats_report_period: the replication-latency statistics cover at
// most this long before they start again.
const statsReportPeriod = time.Minute

// latencyStats is wsrep_evs_repl_latency: how long this node's write-sets took from being proposed to
// being ordered (Galera measures its group communication's send-to-delivery time the same way). It is
// kept under Replicator.mu, which proposeOnce takes anyway once its entry is settled.
type latencyStats struct {
	since            time.Time
	n                uint64
	sum, sumSq       float64 // seconds, seconds²
	minimum, maximum float64
}

func (l *latencyStats) add(now time.Time, d time.Duration) {
	if now.Sub(l.since) > statsReportPeriod {
		*l = latencyStats{since: now}
	}
	s := d.Seconds()
	if l.n == 0 || s < l.minimum {
		l.minimum = s
	}
	l.maximum = max(l.maximum, s)
	l.n++
	l.sum += s
	l.sumSq += s * s
}

// String formats the statistics as Galera does: min/avg/max/stddev/samples, in seconds.
func (l latencyStats) String() string {
	if l.n == 0 {
		return "0/0/0/0/0"
	}
	avg := l.sum / float64(l.n)
	stddev := math.Sqrt(max(l.sumSq/float64(l.n)-avg*avg, 0))
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	return g(l.minimum) + "/" + g(avg) + "/" + g(l.maximum) + "/" + g(stddev) + "/" + strconv.FormatUint(l.n, 10)
}

// gcacheMarks approximate wsrep_local_cached_downto, the lowest seqno whose write-set the node still
// holds. Raft entries do not carry seqnos (the FSM assigns them), so the FSM notes, about every
// markEvery entries, the first seqno an entry at or after that index can consume; the lowest mark at
// or after the first retained index bounds the answer from above by at most markEvery entries' worth
// of seqnos. Kept under Replicator.mu.
type gcacheMarks struct {
	marks []gcacheMark
}

type gcacheMark struct{ index, seqno uint64 }

const markEvery = 64

// note is called by the FSM before it applies entry index, with the last seqno consumed so far.
func (g *gcacheMarks) note(index, consumed uint64) {
	if n := len(g.marks); n == 0 || index >= g.marks[n-1].index+markEvery {
		g.marks = append(g.marks, gcacheMark{index: index, seqno: consumed + 1})
	}
}

// trim forgets the marks below first, the first index the log still holds.
func (g *gcacheMarks) trim(first uint64) {
	g.marks = append(g.marks[:0], g.marks[g.search(first):]...)
}

// downto returns the lowest seqno the log from index first on is known to hold; next (the seqno the
// FSM will consume next) when no entry applied in this run is retained, as after a restart.
func (g *gcacheMarks) downto(first, next uint64) uint64 {
	if i := g.search(first); i < len(g.marks) {
		return g.marks[i].seqno
	}
	return next
}

// search returns the position of the first mark at or after index.
func (g *gcacheMarks) search(index uint64) int {
	i, _ := slices.BinarySearchFunc(g.marks, index, func(m gcacheMark, index uint64) int { return cmp.Compare(m.index, index) })
	return i
}

// countReplicated adds an ordered local write-set to wsrep_repl_keys, _keys_bytes and _data_bytes.
func (r *Replicator) countReplicated(ws *writeset.WriteSet) {
	var keyBytes, dataBytes uint64
	for i := range ws.Keys {
		for _, p := range ws.Keys[i].Parts {
			keyBytes += uint64(len(p))
		}
	}
	for i := range ws.Ops {
		dataBytes += uint64(len(ws.Ops[i].Key) + len(ws.Ops[i].Value))
	}
	r.replKeys.Add(uint64(len(ws.Keys)))
	r.replKeysBytes.Add(keyBytes)
	r.replDataBytes.Add(dataBytes)
}
