package replicator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/maxproxy/maxproxy/node/consensus/simnet"
	"github.com/maxproxy/maxproxy/node/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const space storage.SpaceID = 7

type member struct {
	id  uint64
	dir string
	r   *Replicator
	db  *storage.DB
}

type cluster struct {
	t            testing.TB
	net          *simnet.Network
	peers        []uint64
	nodes        map[uint64]*member
	electionTick int
	gcache       uint64          // GcacheSize of nodes started from now on
	zeroWeight   map[uint64]bool // nodes started with pc.weight=0
	base         string
	applied      sync.Map // node id -> *atomic.Uint64: OnApply calls
}

// newCluster uses 300 ms election timeouts: short enough for quick tests, long enough not to flap on a
// loaded machine.
func newCluster(t testing.TB, n int) *cluster { return newClusterWith(t, n, 30) }

// newClusterWith starts n nodes (10 ms ticks, electionTick ticks per election timeout, 0: consensus's
// default); node 1 bootstraps.
func newClusterWith(t testing.TB, n, electionTick int) *cluster {
	t.Helper()
	c := newClusterStarting(t, n, n, electionTick)
	c.waitPrimary(c.peers...)
	return c
}

// newClusterStarting creates an n-member cluster and starts its first running members; c.dir gives the
// data directory of the others for a later c.start.
func newClusterStarting(t testing.TB, n, running, electionTick int) *cluster {
	t.Helper()
	c := &cluster{t: t, net: simnet.New(42), nodes: map[uint64]*member{}, electionTick: electionTick, base: t.TempDir()}
	for i := 1; i <= n; i++ {
		c.peers = append(c.peers, uint64(i))
	}
	for _, id := range c.peers[:running] {
		c.start(id, c.dir(id), id == 1)
	}
	t.Cleanup(func() {
		for _, id := range c.peers {
			c.stop(id)
		}
		c.net.Close()
	})
	return c
}

func (c *cluster) dir(id uint64) string { return filepath.Join(c.base, fmt.Sprint(id)) }

func (c *cluster) start(id uint64, dir string, bootstrap bool) {
	c.t.Helper()
	r, err := New(Config{
		ID: id, Peers: c.peers, DataDir: filepath.Join(dir, "cluster"), Bootstrap: bootstrap,
		Transport: c.net.Endpoint(id), TickInterval: 10 * time.Millisecond, ElectionTick: c.electionTick,
		GcacheSize: c.gcache, ZeroWeight: c.zeroWeight[id],
		OnApply: func(*storage.WriteSet) {
			cnt, _ := c.applied.LoadOrStore(id, new(atomic.Uint64))
			cnt.(*atomic.Uint64).Add(1)
		},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	db, err := storage.Open(filepath.Join(dir, "data"), storage.Options{Replicator: r, FlushPolicy: 2})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := r.Start(db); err != nil {
		_ = db.Close()
		c.t.Fatal(err)
	}
	c.net.Endpoint(id).Handle(r.Node().Step)
	c.nodes[id] = &member{id: id, dir: dir, r: r, db: db}
}

func (c *cluster) stop(id uint64) {
	c.t.Helper()
	m := c.nodes[id]
	if m == nil {
		return
	}
	delete(c.nodes, id)
	c.net.Endpoint(id).Handle(nil)
	if err := m.r.Close(); err != nil {
		c.t.Errorf("close replicator %d: %v", id, err)
	}
	if err := m.db.Close(); err != nil {
		c.t.Errorf("close storage %d: %v", id, err)
	}
}

// eventually polls cond until it holds or 10 s pass.
// A detail, when given, is what the condition last saw, for the failure message.
func eventually(t testing.TB, what string, cond func() bool, detail ...*string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			if len(detail) > 0 {
				t.Fatalf("timed out waiting for %s; last seen: %s", what, *detail[0])
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func (c *cluster) waitPrimary(ids ...uint64) {
	c.t.Helper()
	for _, id := range ids {
		eventually(c.t, fmt.Sprintf("node %d Primary", id), c.nodes[id].r.Primary)
	}
}

// waitConverged waits until every running node has committed the same seqno as the most advanced one.
func (c *cluster) waitConverged() uint64 {
	c.t.Helper()
	var top uint64
	for _, m := range c.nodes {
		top = max(top, m.r.LastSeqno())
	}
	for _, m := range c.nodes {
		eventually(c.t, fmt.Sprintf("node %d at seqno %d", m.id, top), func() bool { return m.db.LastCommitted() >= top })
	}
	return top
}

func put(ctx context.Context, db *storage.DB, key, val string) error {
	tx := db.Begin(storage.TxOptions{})
	if err := tx.Put(ctx, space, []byte(key), []byte(val)); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit(ctx)
}

func contents(t testing.TB, db *storage.DB) map[string]string {
	t.Helper()
	tx := db.Begin(storage.TxOptions{ReadOnly: true})
	defer tx.Rollback()
	it := tx.Scan(space, nil, nil, false)
	defer it.Close()
	out := map[string]string{}
	for it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (c *cluster) assertEqualContents(want map[string]string) {
	c.t.Helper()
	for _, m := range c.nodes {
		got := contents(c.t, m.db)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			c.t.Errorf("node %d has %v, want %v", m.id, got, want)
		}
	}
}

func TestWritesOnEveryNodeReadEverywhere(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	want := map[string]string{}
	for _, id := range c.peers {
		for i := range 5 {
			k, v := fmt.Sprintf("n%d-%d", id, i), fmt.Sprintf("v%d", i)
			if err := put(ctx, c.nodes[id].db, k, v); err != nil {
				t.Fatalf("commit on node %d: %v", id, err)
			}
			want[k] = v
		}
	}
	top := c.waitConverged()
	c.assertEqualContents(want)
	// 15 write-sets plus the bootstrap view, gap-free on every node.
	if top != 16 {
		t.Errorf("last seqno %d, want 16", top)
	}
	for _, id := range c.peers {
		st := c.nodes[id].r.Status()
		if st.LastCommitted != 16 || st.Replicated != 5 || st.Received != 10 || !st.Primary ||
			st.LocalState != StateSynced || st.ClusterSize != 3 || st.LocalIndex != int(id-1) ||
			st.ClusterConfID < 1 || st.ClusterConfID != c.nodes[1].r.Status().ClusterConfID {
			t.Errorf("node %d status %+v", id, st)
		}
	}
	for _, id := range c.peers {
		cnt, _ := c.applied.Load(id)
		if cnt == nil || cnt.(*atomic.Uint64).Load() != 10 {
			t.Errorf("node %d: OnApply calls %v, want 10 (the other nodes' write-sets)", id, cnt)
		}
	}
	uuid := c.nodes[1].r.Status().ClusterStateUUID
	for _, id := range c.peers {
		if got := c.nodes[id].r.Status().ClusterStateUUID; got != uuid || got == formatUUID([16]byte{}) {
			t.Errorf("node %d cluster uuid %s, node 1 %s", id, got, uuid)
		}
	}
}

func TestConflictingUpdatesOneWins(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	if err := put(ctx, c.nodes[1].db, "k", "init"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	certFailures := func() uint64 {
		var n uint64
		for _, m := range c.nodes {
			n += m.r.Status().LocalCertFailures
		}
		return n
	}
	// Both transactions have written before either commits, so both hold their local lock and reach
	// Commit; which one the total order puts first is up to raft. A transaction whose node applied the
	// other's write-set before it started committing is BF-aborted instead (also 1213), so retry a few
	// rounds until certification itself decided one.
	var sawCert bool
	for round := 0; round < 10 && !sawCert; round++ {
		txs := []*storage.Txn{c.nodes[1].db.Begin(storage.TxOptions{}), c.nodes[2].db.Begin(storage.TxOptions{})}
		for i, tx := range txs {
			if err := tx.Put(ctx, space, []byte("k"), []byte(fmt.Sprintf("r%d-node%d", round, i+1))); err != nil {
				t.Fatal(err)
			}
		}
		before := certFailures()
		errs := make([]error, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, tx := range txs {
			wg.Go(func() {
				<-start
				errs[i] = tx.Commit(ctx)
			})
		}
		close(start)
		wg.Wait()
		var ok, certFailed, bf int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrCertification):
				certFailed++
			case errors.Is(err, storage.ErrDeadlock):
				bf++
			default:
				t.Fatalf("round %d: unexpected commit error %v", round, err)
			}
		}
		if ok != 1 || certFailed+bf != 1 {
			t.Fatalf("round %d: results %v, want exactly one commit and one 1213", round, errs)
		}
		c.waitConverged()
		if got := certFailures() - before; got != uint64(certFailed) {
			t.Fatalf("round %d: wsrep_local_cert_failures moved by %d, want %d", round, got, certFailed)
		}
		sawCert = certFailed == 1
	}
	if !sawCert {
		t.Fatal("no round ended in a certification failure")
	}
	c.waitConverged()
	want := contents(t, c.nodes[1].db)
	c.assertEqualContents(want)
}

func TestMinorityCannotCommitAndCatchesUp(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	if err := put(ctx, c.nodes[1].db, "before", "1"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()

	c.net.Isolate(3)
	eventually(t, "node 3 non-Primary", func() bool { return !c.nodes[3].r.Primary() })
	st := c.nodes[3].r.Status()
	if st.LocalState != StateInitialized || st.LocalStateComment != "Initialized" || st.ClusterConfID != -1 {
		t.Errorf("isolated node status %+v", st)
	}
	rows := map[string]string{}
	for _, row := range st.Rows() {
		rows[row.Name] = row.Value
	}
	if rows["wsrep_cluster_status"] != "non-Primary" || rows["wsrep_ready"] != "OFF" || rows["wsrep_connected"] != "ON" {
		t.Errorf("isolated node rows %v", rows)
	}
	err := put(ctx, c.nodes[3].db, "minority", "x")
	if !errors.Is(err, ErrNotPrimary) || !errors.Is(err, storage.ErrCertification) {
		t.Fatalf("commit on the minority: %v, want ErrNotPrimary (1213)", err)
	}
	// The majority keeps committing.
	c.waitPrimary(1, 2)
	for i := range 20 {
		if err := put(ctx, c.nodes[1+uint64(i%2)].db, fmt.Sprintf("during-%d", i), "y"); err != nil {
			t.Fatalf("majority commit %d: %v", i, err)
		}
	}
	c.net.Heal()
	c.waitPrimary(3)
	if err := put(ctx, c.nodes[3].db, "after", "z"); err != nil {
		t.Fatalf("commit on the healed node: %v", err)
	}
	c.waitConverged()
	want := contents(t, c.nodes[1].db)
	if len(want) != 22 || want["minority"] != "" {
		t.Fatalf("unexpected contents %v", want)
	}
	c.assertEqualContents(want)
}

func TestCleanRestartKeepsPositionAndGrastate(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	for i := range 5 {
		if err := put(ctx, c.nodes[2].db, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.waitConverged()
	dir := c.nodes[3].dir
	c.stop(3)
	g, err := readGrastate(filepath.Join(dir, "cluster"))
	if err != nil || g == nil {
		t.Fatalf("grastate: %v %v", g, err)
	}
	if g.Seqno != 6 || g.SafeToBootstrap || formatUUID(g.UUID) != c.nodes[1].r.Status().ClusterStateUUID {
		t.Errorf("grastate after clean stop %+v", g)
	}
	// Bootstrapping from a node that was not the last to leave is refused with Galera's message.
	r, err := New(Config{ID: 3, Peers: c.peers, DataDir: filepath.Join(dir, "cluster"), Bootstrap: true, Transport: c.net.Endpoint(3)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := storage.Open(filepath.Join(dir, "data"), storage.Options{Replicator: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(db); !errors.Is(err, ErrUnsafeBootstrap) {
		t.Errorf("bootstrap with safe_to_bootstrap: 0 gave %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The others move on while node 3 is down; it rejoins from its saved position.
	if err := put(ctx, c.nodes[1].db, "while-down", "v"); err != nil {
		t.Fatal(err)
	}
	c.start(3, dir, false)
	c.waitPrimary(3)
	c.waitConverged()
	c.assertEqualContents(contents(t, c.nodes[1].db))
	if g, _ := readGrastate(filepath.Join(dir, "cluster")); g == nil || g.Seqno != -1 {
		t.Errorf("grastate while running %+v, want seqno -1", g)
	}
}

func TestUnknownOutcomeIsNotARollback(t *testing.T) {
	// Long election timeouts: the isolated follower still believes in its leader while it commits.
	c := newClusterWith(t, 3, 100)
	ctx := context.Background()
	var f uint64
	for _, id := range c.peers {
		if st := c.nodes[id].r.Node().Status(); st.Lead != id {
			f = id
		}
	}
	c.net.Isolate(f)
	if !c.nodes[f].r.Primary() {
		t.Fatal("the isolated follower lost its leader within microseconds of a 1 s election timeout")
	}
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err := put(tctx, c.nodes[f].db, "unknown", "x")
	cancel()
	if !errors.Is(err, ErrUnknownOutcome) || errors.Is(err, storage.ErrCertification) {
		t.Fatalf("commit whose proposal cannot reach the leader: %v, want ErrUnknownOutcome and no rollback claim", err)
	}
	c.net.Heal()
	c.waitPrimary(f)
	if err := put(ctx, c.nodes[f].db, "after", "y"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	c.assertEqualContents(contents(t, c.nodes[f].db))
}

func TestSyncWaitSeesEarlierCommits(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	// The reader is a follower whose inbound links are slow, so without a causal wait it lags behind
	// commits made elsewhere.
	lead := c.nodes[1].r.Node().Status().Lead
	var reader, writer uint64
	for _, id := range c.peers {
		if id != lead && reader == 0 {
			reader = id
		} else if id != lead || writer == 0 {
			writer = id
		}
	}
	for _, id := range c.peers {
		if id != reader {
			c.net.Delay(id, reader, 30*time.Millisecond, 30*time.Millisecond)
		}
	}
	for i := range 5 {
		k := fmt.Sprintf("causal-%d", i)
		if err := put(ctx, c.nodes[writer].db, k, "v"); err != nil {
			t.Fatal(err)
		}
		if err := c.nodes[reader].r.SyncWait(ctx); err != nil {
			t.Fatal(err)
		}
		if got := contents(t, c.nodes[reader].db)[k]; got != "v" {
			t.Fatalf("after SyncWait node %d has %q for %s, want v", reader, got, k)
		}
	}
}

func TestReplicatedSpacesAreReservedLocally(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	tx := c.nodes[1].db.Begin(storage.TxOptions{})
	if err := tx.Put(ctx, 60, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	for _, id := range []uint64{2, 3} {
		got, err := c.nodes[id].db.AllocSpaceID()
		if err != nil || got <= 60 {
			t.Errorf("node %d allocated space %d (%v) after space 60 was replicated to it", id, got, err)
		}
	}
}

func TestLateFounderCatchesUpFromTheLog(t *testing.T) {
	c := newClusterStarting(t, 3, 2, 30)
	c.waitPrimary(1, 2)
	ctx := context.Background()
	for i := range 10 {
		if err := put(ctx, c.nodes[uint64(1+i%2)].db, fmt.Sprintf("early-%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.start(3, c.dir(3), false) // empty data directory
	c.waitPrimary(3)
	if err := put(ctx, c.nodes[3].db, "late", "v"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	want := contents(t, c.nodes[1].db)
	if len(want) != 11 {
		t.Fatalf("node 1 has %v", want)
	}
	c.assertEqualContents(want)
}

// crash stops a member like a killed process as far as replication goes: consensus and the apply goroutine
// stop, but replicator.state keeps running=true (no clean-state write). The storage is closed normally.
func (c *cluster) crash(id uint64) {
	c.t.Helper()
	m := c.nodes[id]
	delete(c.nodes, id)
	c.net.Endpoint(id).Handle(nil)
	m.r.cancel()
	_ = m.r.node.Close()
	m.r.queue.close()
	m.r.wg.Wait()
	if err := m.db.Close(); err != nil {
		c.t.Fatal(err)
	}
}

// copyDir copies a closed storage directory (flat).
func copyDir(t testing.TB, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// A node that crashed restarts from the raft log: its storage's durable position lags its consensus apply
// position (simulated by restoring an older copy of the storage), yet it rebuilds certification, applies
// exactly the missing write-sets and converges, with no row lost or applied twice.
func TestCrashRestartReplaysFromDurableSeqno(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	for i := range 5 {
		if err := put(ctx, c.nodes[1+uint64(i%3)].db, fmt.Sprintf("a%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.waitConverged()
	dir := c.nodes[3].dir
	// An older durable image of node 3's storage, as after a crash that lost the unflushed tail.
	c.stop(3)
	old := filepath.Join(c.base, "old-data")
	copyDir(t, filepath.Join(dir, "data"), old)
	c.start(3, dir, false)
	c.waitPrimary(3)
	for i := range 6 {
		// Conflicting updates of one key from every node exercise certification on replay.
		if err := put(ctx, c.nodes[1+uint64(i%3)].db, "hot", fmt.Sprint(i)); err != nil && !errors.Is(err, storage.ErrCertification) {
			t.Fatal(err)
		}
		if err := put(ctx, c.nodes[1+uint64(i%3)].db, fmt.Sprintf("b%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.waitConverged()
	c.crash(3)
	if err := os.RemoveAll(filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	copyDir(t, old, filepath.Join(dir, "data"))
	for i := range 3 {
		if err := put(ctx, c.nodes[1].db, fmt.Sprintf("c%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.start(3, dir, false)
	c.waitPrimary(3)
	if err := put(ctx, c.nodes[3].db, "after", "v"); err != nil {
		t.Fatal(err)
	}
	top := c.waitConverged()
	want := contents(t, c.nodes[1].db)
	if len(want) != 5+1+6+3+1 {
		t.Fatalf("node 1 has %d rows, want 16: %v", len(want), want)
	}
	c.assertEqualContents(want)
	for _, m := range c.nodes {
		if got := m.r.LastSeqno(); got != top {
			t.Errorf("node %d at seqno %d, want %d", m.id, got, top)
		}
	}
	// A clean stop after the replay saves a clean state again.
	c.stop(3)
	if st, err := readState(filepath.Join(dir, "cluster")); err != nil || st == nil || st.Running {
		t.Fatalf("state after clean stop: %+v %v", st, err)
	}
}
