package replicator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/node/consensus/simnet"
	"github.com/maxproxy/maxproxy/node/storage"
)

func TestFlowControlLimits(t *testing.T) {
	for _, tc := range []struct {
		cfg          FlowControlConfig
		size         int
		lower, upper int
	}{
		{FlowControlConfig{}, 1, 16, 16},
		{FlowControlConfig{}, 3, 28, 28}, // GALERA.md §7: defaults, 3 nodes
		{FlowControlConfig{Limit: 16, Factor: 0.5}, 3, 14, 28},
		{FlowControlConfig{Limit: 16, Factor: 0.5, SinglePrimary: true}, 3, 8, 16},
		{FlowControlConfig{Limit: 2, Factor: 0.5}, 3, 2, 3},
		{FlowControlConfig{Limit: 16}, 3, 0, 28}, // factor 0: continue only once the queue is empty
		{FlowControlConfig{Factor: 1}, 3, 0, 0},  // limit 0: any backlog pauses
	} {
		lower, upper := tc.cfg.Limits(tc.size)
		if lower != tc.lower || upper != tc.upper {
			t.Errorf("%+v size %d: [%d, %d], want [%d, %d]", tc.cfg, tc.size, lower, upper, tc.lower, tc.upper)
		}
	}
	for _, bad := range []FlowControlConfig{{Limit: -1}, {Factor: 1.5}, {Factor: -0.1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestFCEntryRoundTrip(t *testing.T) {
	at := time.Unix(1700000000, 123)
	node, stop, got, err := decodeFC(encodeFC(7, true, at)[1:])
	if err != nil || node != 7 || !stop || !got.Equal(at) {
		t.Fatalf("decode: %d %v %v %v", node, stop, got, err)
	}
	for _, bad := range [][]byte{nil, {1}, {1, 2}, {1, 1}, {1, 0, 0x80}} {
		if _, _, _, err := decodeFC(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

// A pause request is a lease: a node that stops renewing it (crashed, frozen) releases the cluster.
func TestFlowControlLeaseExpires(t *testing.T) {
	now := time.Unix(1000, 0)
	fc := newFlowControl(FlowControlConfig{}, 1)
	fc.now = func() time.Time { return now }
	fc.apply(2, true, now)
	if st := fc.status(3); !st.Active || st.Recv != 1 || st.Sent != 0 {
		t.Fatalf("after a remote stop: %+v", st)
	}
	fc.apply(2, true, now) // a renewal is not a new pause
	now = now.Add(FCLease)
	if st := fc.status(3); st.Active || st.Recv != 1 || st.PausedNs != uint64(FCLease) {
		t.Fatalf("after the lease: %+v", st)
	}
	// A request older than the lease (replayed after a restart) pauses nothing.
	fc.apply(3, true, now.Add(-FCLease))
	if st := fc.status(3); st.Active {
		t.Fatalf("stale request paused the cluster: %+v", st)
	}
}

// nodeOptions are the settings startWith adds to c.start's.
type nodeOptions struct {
	fc        FlowControlConfig
	applyHook func()
	toi       func(db *storage.DB) TOIExecutor
}

// startWith starts node id of c like c.start (node 1 bootstraps on its first start), with opts.
func (c *cluster) startWith(id uint64, opts nodeOptions) {
	c.t.Helper()
	dir := c.dir(id)
	r, err := New(Config{
		ID: id, Peers: c.peers, DataDir: filepath.Join(dir, "cluster"), Bootstrap: id == 1 && !c.started(id),
		Transport: c.net.Endpoint(id), TickInterval: 10 * time.Millisecond, ElectionTick: c.electionTick,
		FlowControl: opts.fc,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	r.applyHook = opts.applyHook
	db, err := storage.Open(filepath.Join(dir, "data"), storage.Options{Replicator: r, FlushPolicy: 2})
	if err != nil {
		c.t.Fatal(err)
	}
	if opts.toi != nil {
		r.SetTOIExecutor(opts.toi(db))
	}
	if err := r.Start(db); err != nil {
		_ = db.Close()
		c.t.Fatal(err)
	}
	c.net.Endpoint(id).Handle(r.Node().Step)
	c.nodes[id] = &member{id: id, dir: dir, r: r, db: db}
}

// started reports whether node id has run before (its data directory exists).
func (c *cluster) started(id uint64) bool {
	_, err := os.Stat(filepath.Join(c.dir(id), "cluster", StateFileName))
	return err == nil
}

// slowApplier is an apply hook that holds every item while the node is "slow".
type slowApplier struct {
	mu      sync.Mutex
	release chan struct{} // nil: fast
}

func (s *slowApplier) slow() {
	s.mu.Lock()
	s.release = make(chan struct{})
	s.mu.Unlock()
}

func (s *slowApplier) fast() {
	s.mu.Lock()
	if s.release != nil {
		close(s.release)
		s.release = nil
	}
	s.mu.Unlock()
}

func (s *slowApplier) hook() {
	s.mu.Lock()
	ch := s.release
	s.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// newFCCluster starts 3 nodes with gcs.fc_limit 2, fc_factor 0.5 ([2, 3] for 3 nodes); node 3 applies
// through slow.
func newFCCluster(t *testing.T, slow *slowApplier) *cluster {
	c := &cluster{t: t, net: simnet.New(7), nodes: map[uint64]*member{}, electionTick: 30, base: t.TempDir(), peers: []uint64{1, 2, 3}}
	t.Cleanup(func() {
		slow.fast()
		for _, id := range c.peers {
			c.stop(id)
		}
		c.net.Close()
	})
	cfg := FlowControlConfig{Limit: 2, Factor: 0.5}
	for _, id := range c.peers {
		var hook func()
		if id == 3 {
			hook = slow.hook
		}
		c.startWith(id, nodeOptions{fc: cfg, applyHook: hook})
	}
	c.waitPrimary(c.peers...)
	return c
}

// commitAll commits n write-sets from node id concurrently and returns when all have returned.
func commitAll(t *testing.T, db *storage.DB, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := put(context.Background(), db, fmt.Sprintf("%s%d", prefix, i), "v"); err != nil {
				t.Errorf("commit %s%d: %v", prefix, i, err)
			}
		})
	}
	wg.Wait()
}

// A node that cannot keep up pauses replication on every node until it has drained to the lower limit;
// the wsrep_flow_control_* counters say so.
func TestFlowControlPausesClusterForSlowApplier(t *testing.T) {
	slow := &slowApplier{}
	c := newFCCluster(t, slow)
	n1, n3 := c.nodes[1], c.nodes[3]

	slow.slow()
	// Node 3 queues these: once its queue is above the upper limit of 3 it pauses the cluster, and the
	// commits not yet proposed wait.
	burst := make(chan struct{})
	go func() {
		defer close(burst)
		commitAll(t, n1.db, "a", 12)
	}()
	eventually(t, "node 3 pauses the cluster", func() bool {
		return n3.r.Status().FlowControl.Sent == 1 && n1.r.Status().FlowControl.Active
	})
	if st := n3.r.Status(); !st.FlowControl.Requested || st.LocalRecvQueue <= 3 {
		t.Errorf("node 3 while paused: %+v", st)
	}

	// A commit on node 1 now waits (wsrep_local_send_queue) for the pause to end, which needs node 3 to
	// drain.
	var released atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := put(context.Background(), n1.db, "during", "v")
		if err == nil && !released.Load() {
			err = fmt.Errorf("committed while the cluster was paused")
		}
		done <- err
	}()
	eventually(t, "the commit to wait for the pause", func() bool { return n1.r.Status().FlowControl.SendQueue >= 1 })
	released.Store(true)
	slow.fast()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-burst
	c.waitConverged()
	// Node 3 paused the cluster at least once (another node may have too, if its applier fell behind on
	// this machine); every node saw every pause.
	var sent uint64
	for _, m := range c.nodes {
		sent += m.r.Status().FlowControl.Sent
	}
	if n3.r.Status().FlowControl.Sent == 0 || n1.r.Status().FlowControl.Sent != 0 {
		t.Errorf("pauses sent: node 3 %d, node 1 %d", n3.r.Status().FlowControl.Sent, n1.r.Status().FlowControl.Sent)
	}
	for id, m := range c.nodes {
		if st := m.r.Status().FlowControl; st.Active || st.Recv != sent || st.PausedNs == 0 || st.Paused <= 0 {
			t.Errorf("node %d after the pause (%d sent in all): %+v", id, sent, st)
		}
	}
	rows := map[string]string{}
	for _, r := range n1.r.Status().Rows() {
		rows[r.Name] = r.Value
	}
	if rows["wsrep_flow_control_recv"] != fmt.Sprint(sent) || rows["wsrep_flow_control_sent"] != "0" ||
		rows["wsrep_flow_control_active"] != "false" || rows["wsrep_local_send_queue"] != "0" {
		t.Errorf("node 1 SHOW STATUS rows: %v", rows)
	}
	n1.r.ResetStats()
	if st := n1.r.Status().FlowControl; st.Recv != 0 || st.PausedNs != 0 {
		t.Errorf("after FLUSH STATUS: %+v", st)
	}
}

// wsrep_desync=ON takes a node out of flow control: it falls behind without pausing anyone, and reports
// Donor/Desynced.
func TestFlowControlDesyncedNodeDoesNotPause(t *testing.T) {
	slow := &slowApplier{}
	c := newFCCluster(t, slow)
	n1, n3 := c.nodes[1], c.nodes[3]
	n3.r.SetDesync(true)
	if st := n3.r.Status(); st.LocalState != StateDonor || st.LocalStateComment != "Donor/Desynced" {
		t.Fatalf("desynced node state %d %q", st.LocalState, st.LocalStateComment)
	}
	slow.slow()
	commitAll(t, n1.db, "a", 8)
	commitAll(t, n1.db, "b", 8) // would block behind a pause if node 3 sent one
	// The commits needed nodes 1 and 2 only: node 3 may still be receiving them.
	eventually(t, "node 3 to fall behind", func() bool { return n3.r.Status().LocalRecvQueue > 3 })
	if st := n3.r.Status(); st.FlowControl.Sent != 0 {
		t.Errorf("desynced node paused the cluster: %+v", st)
	}
	// Node 2 may pause the cluster if its own applier falls behind on this machine. A sender counts its
	// pause when it applies it, which may be after node 1 did, so the two counts agree only eventually.
	eventually(t, "node 1 to have seen only node 2's pauses", func() bool {
		return n1.r.Status().FlowControl.Recv == c.nodes[2].r.Status().FlowControl.Sent
	})
	// Back in sync, the node takes part again: still behind, it pauses the cluster until it drains.
	n3.r.SetDesync(false)
	eventually(t, "node 3 pauses once synced again", func() bool { return n3.r.Status().FlowControl.Sent == 1 })
	if st := n3.r.Status(); st.LocalState != StateSynced {
		t.Errorf("node 3 state %d after desync OFF", st.LocalState)
	}
	slow.fast()
	c.waitConverged()
	eventually(t, "the pause to end", func() bool { return !n1.r.Status().FlowControl.Active })
}
