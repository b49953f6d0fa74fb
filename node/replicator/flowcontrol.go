package replicator

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Flow control (GALERA.md §7, §12.7). A node whose receive queue (committed entries not yet applied,
// wsrep_local_recv_queue) grows above the upper limit asks the cluster to pause: it proposes an FC entry
// "node N: stop". Every node that applies it stops proposing new write-sets and DDL (Replicate and
// ReplicateTOI wait) until the node says "continue", which it does once its queue is at or below the
// lower limit. Limits follow Galera: upper = round(gcs.fc_limit × √cluster size) (× 1 with
// gcs.fc_single_primary), lower = round(upper × gcs.fc_factor).
//
// The requests are idempotent states (Galera's +1/−1 counter breaks when a message is lost), and each
// one is a lease: it pauses the cluster for FCLease after the entry's time, and the paused node renews it
// while it stays above the lower limit. A node that dies while it holds a pause therefore releases it
// after FCLease — standing in for Galera's view change, which resets flow control. Entries carry the
// proposer's wall clock; a node ignores requests older than the lease (a replay after a restart), so
// clocks must agree to well within FCLease.
//
// A desynced node (wsrep_desync=ON, SetDesync) never asks for a pause and releases one it holds; it
// reports Donor/Desynced (state 2).

// FlowControlConfig holds Galera's gcs.fc_* provider options. The zero value stands for Galera's
// defaults (DefaultFCLimit, DefaultFCFactor); any other value is taken as it is.
type FlowControlConfig struct {
	Limit         int     // gcs.fc_limit
	Factor        float64 // gcs.fc_factor, in [0, 1]
	SinglePrimary bool    // gcs.fc_single_primary: the limit does not grow with the cluster size
}

// Galera's defaults for gcs.fc_limit and gcs.fc_factor, and the lifetime of one pause request.
const (
	DefaultFCLimit  = 16
	DefaultFCFactor = 1.0
	FCLease         = 5 * time.Second // evs.suspect_timeout: how long a silent node can hold the cluster
	fcRenew         = FCLease / 5
)

// kindFC entries carry: node id uvarint | stop byte | proposer's unix time in ns (uvarint).
const kindFC byte = 'F'

// Limits returns the flow-control interval [lower, upper] for a cluster of size members.
func (c FlowControlConfig) Limits(size int) (lower, upper int) {
	if c == (FlowControlConfig{}) {
		c = FlowControlConfig{Limit: DefaultFCLimit, Factor: DefaultFCFactor}
	}
	limit, factor := c.Limit, c.Factor
	f := 1.0
	if !c.SinglePrimary && size > 1 {
		f = math.Sqrt(float64(size))
	}
	upper = int(math.Floor(float64(limit)*f + 0.5))
	lower = int(math.Floor(float64(upper)*factor + 0.5))
	return lower, upper
}

// Validate reports a setting Galera would refuse.
func (c FlowControlConfig) Validate() error {
	if c.Limit < 0 {
		return fmt.Errorf("gcs.fc_limit must be >= 0, got %d", c.Limit)
	}
	if c.Factor < 0 || c.Factor > 1 || math.IsNaN(c.Factor) {
		return fmt.Errorf("gcs.fc_factor must be in [0, 1], got %v", c.Factor)
	}
	return nil
}

func encodeFC(node uint64, stop bool, at time.Time) []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen64)
	b = append(b, kindFC)
	b = binary.AppendUvarint(b, node)
	if stop {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(at.UnixNano()))
}

func decodeFC(p []byte) (node uint64, stop bool, at time.Time, err error) {
	node, n := binary.Uvarint(p)
	if n <= 0 || n >= len(p) || p[n] > 1 {
		return 0, false, time.Time{}, errBadEntry
	}
	stop = p[n] == 1
	ns, m := binary.Uvarint(p[n+1:])
	if m <= 0 || n+1+m != len(p) || ns > math.MaxInt64 {
		return 0, false, time.Time{}, errBadEntry
	}
	return node, stop, time.Unix(0, int64(ns)), nil
}

// flowControl is one node's flow-control state. The FSM feeds it the FC entries; its own goroutine
// (run) watches the receive queue and proposes this node's requests.
type flowControl struct {
	cfg  FlowControlConfig
	self uint64
	now  func() time.Time

	mu      sync.Mutex
	pauses  map[uint64]time.Time // node → when its current pause request expires
	changed chan struct{}        // closed and replaced whenever pauses change
	desync  bool
	donors  int // state transfers being donated (sst.go)
	// statistics (GALERA.md §2.1)
	sent, recv   uint64
	pausedSince  time.Time // zero while not paused
	pausedTotal  time.Duration
	statsSince   time.Time
	requestedAck bool // this node's stop is in effect (applied)
	waiting      int  // commits waiting for a pause to end (wsrep_local_send_queue)
	sendQ        queueStats

	signal chan struct{} // the queue length changed, or desync did
	// anyPause mirrors len(pauses) > 0 (possibly with an expired lease) so that commits check it without
	// taking mu while nobody pauses.
	anyPause atomic.Bool
}

func newFlowControl(cfg FlowControlConfig, self uint64) *flowControl {
	fc := &flowControl{cfg: cfg, self: self, now: time.Now, pauses: map[uint64]time.Time{},
		changed: make(chan struct{}), signal: make(chan struct{}, 1)}
	fc.statsSince = fc.now()
	return fc
}

// poke tells run to look at the queue again. It never blocks (apply path).
func (fc *flowControl) poke() {
	select {
	case fc.signal <- struct{}{}:
	default:
	}
}

// apply records an FC entry (FSM, in log order).
func (fc *flowControl) apply(node uint64, stop bool, at time.Time) {
	now := fc.now()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.expireLocked(now)
	if at.After(now) {
		at = now // the proposer's clock runs ahead: count from now
	}
	_, had := fc.pauses[node]
	switch {
	case stop && at.Add(FCLease).After(now):
		fc.pauses[node] = at.Add(FCLease)
		if !had {
			fc.recv++
			if node == fc.self {
				fc.sent++
				fc.requestedAck = true
			}
		}
	case !stop && had:
		delete(fc.pauses, node)
		if node == fc.self {
			fc.requestedAck = false
		}
	default:
		return
	}
	fc.updateLocked(now)
}

// expireLocked drops pause requests whose lease ran out.
func (fc *flowControl) expireLocked(now time.Time) {
	for n, until := range fc.pauses {
		if !until.After(now) {
			delete(fc.pauses, n)
			if n == fc.self {
				fc.requestedAck = false
			}
		}
	}
	fc.updateLocked(now)
}

// updateLocked keeps the paused-time accounting and wakes waiters when the state changes.
func (fc *flowControl) updateLocked(now time.Time) {
	paused := len(fc.pauses) > 0
	fc.anyPause.Store(paused)
	switch {
	case paused && fc.pausedSince.IsZero():
		fc.pausedSince = now
	case !paused && !fc.pausedSince.IsZero():
		fc.pausedTotal += now.Sub(fc.pausedSince)
		fc.pausedSince = time.Time{}
		close(fc.changed)
		fc.changed = make(chan struct{})
	}
}

// wait blocks while the cluster is paused. A deadline reached while paused is a plain rollback: nothing
// was proposed.
func (fc *flowControl) wait(ctx context.Context) error {
	if !fc.anyPause.Load() {
		fc.sendQ.sample(0)
		return nil
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		now := fc.now()
		fc.mu.Lock()
		fc.expireLocked(now)
		var next time.Time
		for _, until := range fc.pauses {
			if next.IsZero() || until.Before(next) {
				next = until
			}
		}
		ch := fc.changed
		fc.mu.Unlock()
		if next.IsZero() {
			if timer == nil {
				fc.sendQ.sample(0) // never queued (block samples a commit that waited)
			}
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(next.Sub(now))
		} else {
			timer.Reset(next.Sub(now))
		}
		if err := fc.block(ctx, ch, timer.C); err != nil {
			return err
		}
	}
}

// block waits for a change of the pause state, counted in wsrep_local_send_queue.
func (fc *flowControl) block(ctx context.Context, changed <-chan struct{}, expiry <-chan time.Time) error {
	fc.mu.Lock()
	fc.waiting++
	fc.sendQ.sample(fc.waiting)
	fc.mu.Unlock()
	defer func() {
		fc.mu.Lock()
		fc.waiting--
		fc.sendQ.observe(fc.waiting)
		fc.mu.Unlock()
	}()
	select {
	case <-changed:
	case <-expiry:
	case <-ctx.Done():
		return fmt.Errorf("replicator: replication paused by flow control until the deadline: %w", ErrNotOrdered)
	}
	return nil
}

// FlowControlStatus is the wsrep_flow_control_* status of this node.
type FlowControlStatus struct {
	Sent, Recv uint64
	PausedNs   uint64
	Paused     float64 // fraction of wall time paused since the statistics were last reset
	Active     bool    // the cluster is paused now
	Requested  bool    // this node's pause request is in effect
	Desync     bool
	SendQueue  int // commits waiting for the pause to end (wsrep_local_send_queue)
	Lower      int
	Upper      int
}

func (fc *flowControl) status(size int) FlowControlStatus {
	now := fc.now()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.expireLocked(now)
	total := fc.pausedTotal
	if !fc.pausedSince.IsZero() {
		total += now.Sub(fc.pausedSince)
	}
	st := FlowControlStatus{Sent: fc.sent, Recv: fc.recv, PausedNs: uint64(total), Active: len(fc.pauses) > 0,
		Requested: fc.requestedAck, Desync: fc.desync, SendQueue: fc.waiting}
	if el := now.Sub(fc.statsSince); el > 0 {
		st.Paused = float64(total) / float64(el)
	}
	st.Lower, st.Upper = fc.cfg.Limits(size)
	return st
}

// resetStats is FLUSH STATUS for the flow-control counters (Galera zeroes them too).
func (fc *flowControl) resetStats() {
	now := fc.now()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.sent, fc.recv, fc.pausedTotal, fc.statsSince = 0, 0, 0, now
	fc.sendQ.reset(fc.waiting)
	if !fc.pausedSince.IsZero() {
		fc.pausedSince = now
	}
}

// decide says what this node should propose for a queue of length q in a cluster of size members:
// stop (or renew its stop), continue, or nothing.
func (fc *flowControl) decide(q, size int) (propose, stop bool) {
	lower, upper := fc.cfg.Limits(size)
	now := fc.now()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.expireLocked(now)
	until, mine := fc.pauses[fc.self]
	switch {
	case fc.desync || fc.donors > 0:
		return mine, false
	case !mine && q > upper && len(fc.pauses) == 0:
		return true, true
	case mine && q <= lower:
		return true, false
	case mine && until.Sub(now) < FCLease-fcRenew:
		return true, true // still behind: renew the lease
	}
	return false, false
}

// runFlowControl watches the receive queue until ctx ends and proposes this node's pause requests.
func (r *Replicator) runFlowControl(ctx context.Context) {
	defer r.wg.Done()
	tick := time.NewTicker(fcRenew / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.fc.signal:
		case <-tick.C:
		}
		if !r.Primary() {
			continue
		}
		size := len(r.node.Status().Voters)
		propose, stop := r.fc.decide(r.queue.len(), size)
		if !propose {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, r.electionTimeout())
		_, err := r.node.Propose(pctx, encodeFC(r.cfg.ID, stop, r.fc.now()))
		cancel()
		if err != nil && ctx.Err() == nil {
			r.log.Debug("proposing a flow-control request", "stop", stop, "err", err)
		}
	}
}

// applyFC is the FSM step for an FC entry. It consumes no seqno. Called with mu held.
func (r *Replicator) applyFC(index uint64, p []byte) {
	node, stop, at, err := decodeFC(p)
	if err != nil {
		r.log.Error("skipping malformed flow-control entry", "index", index)
		return
	}
	r.fc.apply(node, stop, at)
}

// SetDesync is wsrep_desync: a desynced node stops taking part in flow control (it never pauses the
// cluster, and releases a pause it holds) and reports Donor/Desynced.
func (r *Replicator) SetDesync(on bool) {
	r.fc.mu.Lock()
	r.fc.desync = on
	r.fc.mu.Unlock()
	r.fc.poke()
}

// setDonor marks a state transfer this node donates (on) or its end: a donor leaves flow control and
// reports Donor/Desynced, as with wsrep_desync.
func (fc *flowControl) setDonor(on bool) {
	fc.mu.Lock()
	if on {
		fc.donors++
	} else {
		fc.donors--
	}
	fc.mu.Unlock()
	fc.poke()
}

func (fc *flowControl) donating() bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.donors > 0
}

// Desynced reports wsrep_desync.
func (r *Replicator) Desynced() bool {
	r.fc.mu.Lock()
	defer r.fc.mu.Unlock()
	return r.fc.desync
}

// ResetStats is FLUSH STATUS: it zeroes wsrep_flow_control_sent/_recv/_paused/_paused_ns and restarts
// the send and receive queue statistics, as Galera does.
func (r *Replicator) ResetStats() {
	r.fc.resetStats()
	r.queue.resetStats()
}

// StateDonor is wsrep_local_state 2, Donor/Desynced: here, a node with wsrep_desync=ON.
const StateDonor = 2

func desyncCount(on bool) uint64 {
	if on {
		return 1
	}
	return 0
}
