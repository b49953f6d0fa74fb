package replicator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/maxproxy/maxproxy/node/storage"
	"github.com/maxproxy/maxproxy/node/writeset"
)

// leave makes id leave the cluster gracefully and stops it.
func (c *cluster) leave(id uint64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.nodes[id].r.Leave(ctx); err != nil {
		c.t.Fatalf("node %d leave: %v", id, err)
	}
	c.stop(id)
}

func grastateOf(t *testing.T, c *cluster, id uint64) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir(id), "cluster", GrastateFileName))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Galera's graceful leave: two of three nodes stop cleanly one after the other and the last one stays
// Primary (raft quorum is computed over the shrunken voter set), every leave is a new view, only the
// last member is safe to bootstrap from, and a node that left comes back by itself with what it missed
// (IST from the retained log).
func TestGracefulLeaveShrinksTheView(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	if err := put(ctx, c.nodes[1].db, "a", "1"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	conf := c.nodes[1].r.Status().ClusterConfID

	c.leave(3)
	eventually(t, "a 2-member view", func() bool { return c.nodes[1].r.Status().ClusterSize == 2 })
	c.leave(2)
	eventually(t, "a 1-member view", func() bool { return c.nodes[1].r.Status().ClusterSize == 1 })
	st := c.nodes[1].r.Status()
	if !st.Primary || st.LocalState != StateSynced || st.ClusterConfID != conf+2 || st.LocalIndex != 0 {
		t.Fatalf("survivor status %+v, want Primary Synced conf_id %d", st, conf+2)
	}
	if err := put(ctx, c.nodes[1].db, "b", "2"); err != nil {
		t.Fatalf("write on the last member: %v", err)
	}
	for _, id := range []uint64{2, 3} {
		if g := grastateOf(t, c, id); !strings.Contains(g, "safe_to_bootstrap: 0") {
			t.Errorf("node %d left, grastate:\n%s", id, g)
		}
	}
	if err := c.nodes[1].r.Leave(ctx); err != ErrLastMember {
		t.Errorf("leave of the only voter: %v, want ErrLastMember", err)
	}

	// Node 2 restarts from its data directory: it asks to join, receives what it missed, becomes a voter.
	c.start(2, c.dir(2), false)
	c.waitPrimary(2)
	if err := put(ctx, c.nodes[2].db, "c", "3"); err != nil {
		t.Fatalf("write on the rejoined node: %v", err)
	}
	c.waitConverged()
	c.assertEqualContents(map[string]string{"a": "1", "b": "2", "c": "3"})
	eventually(t, "a 2-member view on both", func() bool {
		a, b := c.nodes[1].r.Status(), c.nodes[2].r.Status()
		return a.ClusterSize == 2 && b.ClusterSize == 2 && a.ClusterConfID == conf+3 && b.ClusterConfID == conf+3
	})

	c.stop(2) // a stop without leaving (a crash as far as the view goes): node 1 alone is a minority
	eventually(t, "node 1 non-Primary", func() bool { return !c.nodes[1].r.Primary() })
	c.leaveLast(1)
	if g := grastateOf(t, c, 1); !strings.Contains(g, "safe_to_bootstrap: 0") {
		t.Errorf("node 1 stopped as one of two voters, grastate:\n%s", g)
	}
}

// leaveLast stops a node that may not leave (outside the primary component, or the last voter).
func (c *cluster) leaveLast(id uint64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.nodes[id].r.Leave(ctx); err != nil && err != ErrLastMember {
		c.t.Fatalf("node %d leave: %v", id, err)
	}
	c.stop(id)
}

// The last member's clean stop leaves safe_to_bootstrap: 1, and it can found the cluster again.
func TestLastMemberIsSafeToBootstrap(t *testing.T) {
	c := newCluster(t, 2)
	c.leave(2)
	eventually(t, "a 1-member view", func() bool { return c.nodes[1].r.Status().ClusterSize == 1 })
	c.leaveLast(1)
	if g := grastateOf(t, c, 1); !strings.Contains(g, "safe_to_bootstrap: 1") {
		t.Fatalf("last member's grastate:\n%s", g)
	}
	c.start(1, c.dir(1), true)
	c.waitPrimary(1)
}

// A node that is not in the configuration joins by itself: it is added as a learner (Galera's Joiner:
// non-Primary, "Joining: receiving State Transfer") while it receives the log, then promoted to voter
// once it has caught up; every member's view then lists it, with the MySQL address it announced.
func TestJoinerBecomesLearnerThenVoter(t *testing.T) {
	c := newClusterStarting(t, 4, 3, 30)
	c.waitPrimary(1, 2, 3)
	ctx := context.Background()
	for i := range 20 {
		if err := put(ctx, c.nodes[uint64(1+i%3)].db, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range c.peers[:3] {
		c.nodes[id].r.SetIncomingAddress(fmt.Sprintf("127.0.0.1:%d", 3300+id))
	}
	eventually(t, "every member's address announced", func() bool {
		return c.nodes[1].r.Status().IncomingAddresses == "127.0.0.1:3301,127.0.0.1:3302,127.0.0.1:3303"
	})
	conf := c.nodes[1].r.Status().ClusterConfID

	// Hold the joiner at the learner stage: drop its proposals (the promotion request) for a while.
	hold := make(chan struct{})
	c.net.Filter(func(m *pb.Message) bool {
		select {
		case <-hold:
			return false
		default:
			return m.GetFrom() == 4 && m.GetType() == pb.MsgProp && len(m.GetEntries()) > 0 &&
				strings.Contains(string(m.GetEntries()[0].GetData()), string([]byte{kindPromote}))
		}
	})
	c.start(4, c.dir(4), false)
	eventually(t, "node 4 Joiner", func() bool {
		st := c.nodes[4].r.Status()
		return st.LocalState == StateJoiner && st.LocalStateComment == "Joining: receiving State Transfer" && !st.Primary
	})
	eventually(t, "the joiner in every view", func() bool { return c.nodes[1].r.Status().ClusterSize == 4 })
	close(hold)
	c.waitPrimary(4)
	c.nodes[4].r.SetIncomingAddress("127.0.0.1:3304")
	c.waitConverged()
	want := contents(t, c.nodes[1].db)
	if len(want) != 20 {
		t.Fatalf("node 1 has %d rows", len(want))
	}
	c.assertEqualContents(want)
	var last string // the view that differed, for the failure message
	eventually(t, "4-member views with every address", func() bool {
		for _, id := range c.peers {
			st := c.nodes[id].r.Status()
			if st.ClusterSize != 4 || st.ClusterConfID != conf+1 || st.LocalIndex != int(id-1) || st.LocalState != StateSynced ||
				st.IncomingAddresses != "127.0.0.1:3301,127.0.0.1:3302,127.0.0.1:3303,127.0.0.1:3304" {
				last = fmt.Sprintf("node %d: size %d conf_id %d (want %d) index %d state %s addresses %s",
					id, st.ClusterSize, st.ClusterConfID, conf+1, st.LocalIndex, st.LocalStateComment, st.IncomingAddresses)
				return false
			}
		}
		return true
	}, &last)
	// Four voters: two must be up. Stopping the joiner without leaving keeps the others Primary.
	c.stop(4)
	if err := put(ctx, c.nodes[1].db, "after", "v"); err != nil {
		t.Fatal(err)
	}
}

func TestMemberEntryRoundTrip(t *testing.T) {
	m := memberInfo{Name: "node1", Repl: "127.0.0.1:4567", Incoming: "127.0.0.1:3306"}
	proc := writeset.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	req := memberEntry{id: 7, info: m, join: true, last: 42, fresh: true, process: proc}
	b := encodeMember(req)
	if got, err := decodeMember(b[1:]); err != nil || got != req {
		t.Fatalf("decode: %+v, %v; want %+v", got, err, req)
	}
	// A join request from before requests named their process.
	old := b[:len(b)-len(proc)]
	if got, err := decodeMember(old[1:]); err != nil || !got.join || got.last != 42 || got.process != (writeset.UUID{}) {
		t.Fatalf("request without a process: %+v (%v)", got, err)
	}
	a := encodeMember(memberEntry{id: 7, info: m})
	if got, err := decodeMember(a[1:]); err != nil || got.join || got.info != m {
		t.Fatalf("announcement decodes as %+v (%v)", got, err)
	}
	for _, bad := range [][]byte{nil, {2}, {0}, {0, 0}, b[1 : len(b)-1], append(b[1:len(b):len(b)], 0), append(a[1:len(a):len(a)], 0)} {
		if _, err := decodeMember(bad); err == nil {
			t.Errorf("decodeMember(%x) accepted", bad)
		}
	}
	p := encodePromote(9)
	if id, err := decodePromote(p[1:]); err != nil || id != 9 {
		t.Fatalf("promote: %d %v", id, err)
	}
	if _, err := decodePromote([]byte{0}); err == nil {
		t.Error("promote of node 0 accepted")
	}
}

// Every member stopping cleanly at the same time (a whole-cluster shutdown): the leaves race, but the
// configuration never loses its last voter, exactly one node ends as the last member and only it is
// safe to bootstrap from; it founds the cluster again and the others rejoin.
func TestConcurrentLeavesKeepOneMember(t *testing.T) {
	c := newCluster(t, 3)
	if err := put(context.Background(), c.nodes[2].db, "k", "v"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for _, id := range c.peers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			errs[id] = c.nodes[id].r.Leave(ctx)
		})
	}
	wg.Wait()
	var last []uint64
	for _, id := range c.peers {
		switch {
		case errors.Is(errs[id], ErrLastMember):
			last = append(last, id)
		case errs[id] != nil:
			t.Errorf("node %d leave: %v", id, errs[id])
		}
	}
	if len(last) != 1 {
		t.Fatalf("nodes that stayed the last member: %v, want exactly one", last)
	}
	for _, id := range c.peers {
		c.stop(id)
	}
	for _, id := range c.peers {
		want := "safe_to_bootstrap: 0"
		if id == last[0] {
			want = "safe_to_bootstrap: 1"
		}
		if g := grastateOf(t, c, id); !strings.Contains(g, want) {
			t.Errorf("node %d grastate (last member %d):\n%s", id, last[0], g)
		}
	}
	for _, id := range c.peers {
		c.start(id, c.dir(id), id == last[0])
	}
	c.waitPrimary(c.peers...)
	c.waitConverged()
	c.assertEqualContents(map[string]string{"k": "v"})
}

// Galera's pc.bootstrap=YES: the two other members crashed, the survivor is non-Primary; bootstrapping
// it makes a one-member primary component with every write it had, writable again. The former members
// come back one at a time with their old data (their logs are a prefix of the survivor's): outside the
// primary component for a while, they ask to be added and rejoin it. A third former member, returning
// with an empty data directory, joins like a new node.
func TestForceBootstrapOfASurvivor(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	for i := range 9 {
		if err := put(ctx, c.nodes[uint64(1+i%3)].db, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.waitConverged()
	want := contents(t, c.nodes[1].db)
	c.crash(2)
	c.crash(3)
	eventually(t, "node 1 non-Primary", func() bool { return !c.nodes[1].r.Primary() })
	if err := put(ctx, c.nodes[1].db, "refused", "v"); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("write outside the primary component: %v", err)
	}
	if err := c.nodes[1].r.SetProviderOptions(ctx, "gcache.size=1G"); err == nil {
		t.Error("a static provider option was accepted at runtime")
	}
	conf := c.nodes[1].r.Status().ClusterConfID
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.nodes[1].r.SetProviderOptions(bctx, "pc.bootstrap=YES"); err != nil {
		t.Fatal(err)
	}
	st := c.nodes[1].r.Status()
	if !st.Primary || st.ClusterSize != 1 || st.LocalState != StateSynced || st.ClusterConfID <= conf {
		t.Fatalf("after pc.bootstrap: %+v", st)
	}
	if err := put(ctx, c.nodes[1].db, "after", "v"); err != nil {
		t.Fatal(err)
	}
	want["after"] = "v"
	c.assertEqualContents(want)
	for _, id := range []uint64{2, 3} {
		c.start(id, c.dir(id), false)
		c.waitPrimary(id)
	}
	c.waitConverged()
	c.assertEqualContents(want)
	eventually(t, "a 3-member view on node 3", func() bool { return c.nodes[3].r.Status().ClusterSize == 3 })
	c.crash(3)
	c.start(3, c.dir(3)+"-new", false)
	c.waitPrimary(3)
	c.waitConverged()
	c.assertEqualContents(want)
}

// A 2|1 partition: the minority is non-Primary and refuses writes, the majority keeps committing; after
// healing every node is Synced in the same view and every node holds the same data. (The partition is
// shorter than evs.inactive_timeout, so the isolated voter is not evicted and the view does not change.)
func TestPartitionHealsToOneSyncedView(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	if err := put(ctx, c.nodes[1].db, "before", "1"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	conf := c.nodes[1].r.Status().ClusterConfID
	// The partition is a filter, so that it sees (and counts) node 3's join requests before dropping them.
	var joinRequests atomic.Int64
	var healed atomic.Bool
	c.net.Filter(func(m *pb.Message) bool {
		if healed.Load() || (m.GetFrom() != 3 && m.GetTo() != 3) {
			return false
		}
		// envelope (17 bytes) | kind | flags ...
		if m.GetFrom() == 3 && m.GetType() == pb.MsgProp && len(m.GetEntries()) == 1 {
			if d := m.GetEntries()[0].GetData(); len(d) > 18 && d[17] == kindMember && d[18]&flagJoin != 0 {
				joinRequests.Add(1)
			}
		}
		return true
	})
	eventually(t, "node 3 non-Primary", func() bool { return !c.nodes[3].r.Primary() })
	if err := put(ctx, c.nodes[3].db, "minority", "x"); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("commit on the minority: %v", err)
	}
	c.waitPrimary(1, 2)
	for i := range 10 {
		if err := put(ctx, c.nodes[1+uint64(i%2)].db, fmt.Sprintf("during-%d", i), "y"); err != nil {
			t.Fatalf("majority commit %d: %v", i, err)
		}
	}
	// Outside the primary component for a while, the minority asks to be added again; once healed the
	// leader finds it is still a member with the log it acknowledged, and leaves it as it is.
	eventually(t, "a join request from the minority", func() bool { return joinRequests.Load() > 0 })
	healed.Store(true)
	c.waitPrimary(3)
	c.waitConverged()
	c.assertEqualContents(contents(t, c.nodes[1].db))
	eventually(t, "every node Synced in one view", func() bool {
		for _, id := range c.peers {
			st := c.nodes[id].r.Status()
			if st.LocalState != StateSynced || st.ClusterSize != 3 || st.ClusterConfID != conf {
				return false
			}
		}
		return true
	})
}

// startEvicting starts node id like c.start, with evs.inactive_timeout set to inactive.
func (c *cluster) startEvicting(id uint64, bootstrap bool, inactive time.Duration) {
	c.t.Helper()
	dir := c.dir(id)
	r, err := New(Config{
		ID: id, Peers: c.peers, DataDir: filepath.Join(dir, "cluster"), Bootstrap: bootstrap,
		Transport: c.net.Endpoint(id), TickInterval: 10 * time.Millisecond, ElectionTick: c.electionTick,
		InactiveTimeout: inactive,
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

// Galera's eviction of an inactive member: a crashed member is dropped from the view after
// evs.inactive_timeout, so the survivors' quorum is computed without it — a second crash then leaves one
// of two, non-Primary, as in Galera. The evicted member, restarted, asks to be added again and rejoins.
func TestInactiveMemberIsEvictedAndRejoins(t *testing.T) {
	const inactive = time.Second
	c := newClusterStarting(t, 3, 0, 30)
	for _, id := range c.peers {
		c.startEvicting(id, id == 1, inactive)
	}
	c.waitPrimary(c.peers...)
	eventually(t, "a 3-member view", func() bool { return c.nodes[1].r.Status().ClusterSize == 3 })
	ctx := context.Background()
	if err := put(ctx, c.nodes[1].db, "a", "1"); err != nil {
		t.Fatal(err)
	}
	conf := c.nodes[1].r.Status().ClusterConfID
	c.crash(3)
	eventually(t, "node 3 evicted", func() bool {
		st := c.nodes[1].r.Status()
		return st.ClusterSize == 2 && st.ClusterConfID == conf+1 && c.nodes[2].r.Status().ClusterSize == 2
	})
	if err := put(ctx, c.nodes[2].db, "b", "2"); err != nil {
		t.Fatal(err)
	}
	c.startEvicting(3, false, inactive)
	c.waitPrimary(3)
	c.waitConverged()
	c.assertEqualContents(map[string]string{"a": "1", "b": "2"})
	eventually(t, "node 3 back in every view", func() bool {
		for _, id := range c.peers {
			if st := c.nodes[id].r.Status(); st.ClusterSize != 3 || st.ClusterConfID != conf+2 {
				return false
			}
		}
		return true
	})
}

// A 2|3 split of five: the majority stays Primary with its view of five; each side of the minority is
// non-Primary and counts the members it can still hear, as Galera's non-primary component does
// (wsrep_cluster_size 2, conf_id -1).
func TestMinorityCountsItsComponent(t *testing.T) {
	c := newCluster(t, 5)
	c.net.Partition([]uint64{1, 2}, []uint64{3, 4, 5})
	for _, id := range []uint64{1, 2} {
		eventually(t, fmt.Sprintf("node %d non-Primary with a component of 2", id), func() bool {
			st := c.nodes[id].r.Status()
			return !st.Primary && st.ClusterSize == 2 && st.ClusterConfID == -1
		})
	}
	c.waitPrimary(3, 4, 5)
	if st := c.nodes[3].r.Status(); st.ClusterSize != 5 {
		t.Errorf("majority's view: size %d, want 5 (nobody was evicted yet)", st.ClusterSize)
	}
	c.net.Isolate(1)
	eventually(t, "node 1 alone, counting only itself", func() bool { return c.nodes[1].r.Status().ClusterSize == 1 })
	c.net.Heal()
	c.waitPrimary(c.peers...)
}

// A joiner asks through every member at once and until it has applied its own addition, so copies of
// its request are ordered after it was added, saying it is fresh with less log than it has since
// acknowledged. Those copies name the process that joined and change nothing; the same request from
// another process (a restart with an emptied data directory) gets the member removed, to be added
// again.
func TestLateJoinRequestCopiesAreIgnored(t *testing.T) {
	c := newClusterStarting(t, 4, 3, 30)
	c.waitPrimary(1, 2, 3)
	c.start(4, c.dir(4), false)
	c.waitPrimary(4)
	for i := range 5 {
		if err := put(context.Background(), c.nodes[uint64(1+i%4)].db, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.waitConverged()
	conf := c.nodes[1].r.Status().ClusterConfID
	me := c.nodes[4].r.self()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	late := encodeMember(memberEntry{id: 4, info: me, join: true, fresh: true, process: c.nodes[4].r.Source()})
	for _, id := range []uint64{1, 2, 3} {
		if _, err := c.nodes[id].r.Node().Propose(ctx, late); err != nil {
			t.Fatal(err)
		}
	}
	// A barrier: the leader has served the copies by the time an entry proposed after them applies
	// everywhere, give or take its own goroutine, which the settle time covers.
	if err := put(ctx, c.nodes[1].db, "after-copies", "v"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	time.Sleep(3 * c.nodes[1].r.electionTimeout())
	if st := c.nodes[1].r.Status(); st.ClusterConfID != conf || st.ClusterSize != 4 {
		t.Fatalf("after late copies of node 4's join request: conf_id %d (was %d), size %d", st.ClusterConfID, conf, st.ClusterSize)
	}

	restarted := encodeMember(memberEntry{id: 4, info: me, join: true, fresh: true, process: writeset.UUID{0xee}})
	if _, err := c.nodes[1].r.Node().Propose(ctx, restarted); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node 4 removed after a request from an emptied data directory", func() bool {
		return c.nodes[1].r.Status().ClusterConfID > conf
	})
}
