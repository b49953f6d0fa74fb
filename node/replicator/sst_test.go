package replicator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/maxproxy/maxproxy/node/consensus"
	"github.com/maxproxy/maxproxy/node/storage"
)

// After a crash with the log before the last checkpoint discarded, the node replays from the checkpoint
// and keeps every commit (the storage made the checkpoint's seqno durable before the log was cut).
func TestCrashRestartFromCheckpoint(t *testing.T) {
	c := newClusterGcache(t, 1, 1) // keep nothing before the checkpoint
	ctx := context.Background()
	want := map[string]string{}
	for i := range 20 {
		k := fmt.Sprintf("before-%d", i)
		if err := put(ctx, c.nodes[1].db, k, "v"); err != nil {
			t.Fatal(err)
		}
		want[k] = "v"
	}
	if err := c.nodes[1].r.checkpointAndCompact(ctx, c.gcache); err != nil {
		t.Fatal(err)
	}
	st := c.nodes[1].r.Node().Status()
	if st.FirstIndex <= 1 {
		t.Fatalf("log not compacted: first retained index %d", st.FirstIndex)
	}
	for i := range 5 {
		k := fmt.Sprintf("after-%d", i)
		if err := put(ctx, c.nodes[1].db, k, "w"); err != nil {
			t.Fatal(err)
		}
		want[k] = "w"
	}
	seqno := c.nodes[1].r.LastSeqno()
	c.crash(1)
	c.start(1, c.dir(1), false)
	c.waitPrimary(1)
	if got := c.nodes[1].r.LastSeqno(); got != seqno {
		t.Fatalf("seqno after replay from the checkpoint %d, want %d", got, seqno)
	}
	if err := put(ctx, c.nodes[1].db, "after-restart", "x"); err != nil {
		t.Fatal(err)
	}
	want["after-restart"] = "x"
	c.assertEqualContents(want)
}

// newClusterGcache is newCluster with gcache.size set to gcache bytes on every node.
func newClusterGcache(t *testing.T, n int, gcache uint64) *cluster {
	c := newClusterStarting(t, n, 0, 30)
	c.gcache = gcache
	for _, id := range c.peers {
		c.start(id, c.dir(id), id == 1)
	}
	c.waitPrimary(c.peers...)
	return c
}

// gatedWriter holds the first write until released, so a test can look at the donor mid-transfer.
type gatedWriter struct {
	w       io.Writer
	started chan struct{}
	release chan struct{}
	first   bool
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	if !g.first {
		g.first = true
		close(g.started)
		<-g.release
	}
	return g.w.Write(p)
}

// A node that missed more than every member's gcache holds learns that it needs a state transfer; after
// one from a donor (Donor/Desynced while it streams) it rejoins with the cluster's data and follows the
// log again.
func TestStateTransferToLaggingNode(t *testing.T) {
	c := newClusterGcache(t, 3, 4<<10)
	ctx := context.Background()
	want := map[string]string{}
	if err := put(ctx, c.nodes[1].db, "first", "1"); err != nil {
		t.Fatal(err)
	}
	want["first"] = "1"
	c.waitConverged()
	c.stop(3)
	for i := range 200 {
		k := fmt.Sprintf("k%03d", i)
		v := strings.Repeat("x", 100)
		if err := put(ctx, c.nodes[1+uint64(i%2)].db, k, v); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	c.waitConverged()
	for _, id := range []uint64{1, 2} {
		if err := c.nodes[id].r.checkpointAndCompact(ctx, c.gcache); err != nil {
			t.Fatal(err)
		}
	}
	c.start(3, c.dir(3), false)
	r3 := c.nodes[3].r
	eventually(t, "node 3 to learn it needs a state transfer", func() bool {
		select {
		case <-r3.StateTransferNeeded():
			return true
		default:
			return false
		}
	})
	minIndex := r3.StateTransferIndex()
	if minIndex == 0 {
		t.Fatal("no checkpoint index with the state transfer request")
	}
	c.crash(3) // as the node does: no graceful leave, it stays a member

	// A member that is not Synced refuses to donate, with its reason.
	pr, pw := io.Pipe()
	go func(pw *io.PipeWriter) { _ = pw.CloseWithError(refuseAs(t, pw)) }(pw)
	if _, err := ReceiveStateTransfer(ctx, pr, t.TempDir(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "not Synced") {
		t.Fatalf("transfer from a non-Synced donor: %v", err)
	}

	// A member the joiner did not name (wsrep_sst_donor) refuses too.
	pr, pw = io.Pipe()
	go func(pw *io.PipeWriter) {
		req := consensus.StateTransferRequest{Joiner: 3, MinIndex: minIndex, Donors: []string{"someone-else"}}
		_ = pw.CloseWithError(c.nodes[2].r.ServeStateTransfer(ctx, pw, req))
	}(pw)
	if _, err := ReceiveStateTransfer(ctx, pr, t.TempDir(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "not among the joiner's donors") {
		t.Fatalf("transfer from a donor the joiner did not name: %v", err)
	}

	pr, pw = io.Pipe()
	gw := &gatedWriter{w: pw, started: make(chan struct{}), release: make(chan struct{})}
	served := make(chan error, 1)
	go func() {
		err := c.nodes[2].r.ServeStateTransfer(ctx, gw, consensus.StateTransferRequest{Joiner: 3, MinIndex: minIndex})
		served <- err
		_ = pw.CloseWithError(err)
	}()
	<-gw.started
	if st := c.nodes[2].r.Status(); st.LocalState != StateDonor || st.LocalStateComment != "Donor/Desynced" {
		t.Errorf("donor during the transfer: %d %q, want Donor/Desynced", st.LocalState, st.LocalStateComment)
	}
	// Commits go on while the donor streams.
	if err := put(ctx, c.nodes[1].db, "during", "d"); err != nil {
		t.Fatal(err)
	}
	want["during"] = "d"
	close(gw.release)
	seqno, err := ReceiveStateTransfer(ctx, pr, filepath.Join(c.dir(3), "cluster"), filepath.Join(c.dir(3), "data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if st := c.nodes[2].r.Status(); st.LocalState != StateSynced {
		t.Errorf("donor after the transfer: %q, want Synced", st.LocalStateComment)
	}
	if seqno == 0 || StateTransferIncomplete(filepath.Join(c.dir(3), "cluster")) {
		t.Fatalf("state transfer installed seqno %d, marker left: %v", seqno, StateTransferIncomplete(filepath.Join(c.dir(3), "cluster")))
	}
	// An arbitrator's transfer (NoData) carries the positions only: an empty store at the same seqno.
	pr, pw = io.Pipe()
	go func(pw *io.PipeWriter) {
		req := consensus.StateTransferRequest{Joiner: 4, MinIndex: minIndex, NoData: true}
		_ = pw.CloseWithError(c.nodes[1].r.ServeStateTransfer(ctx, pw, req))
	}(pw)
	arbDir := t.TempDir()
	arbSeqno, err := ReceiveStateTransfer(ctx, pr, arbDir, filepath.Join(arbDir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	adb, err := storage.Open(filepath.Join(arbDir, "data"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := contents(t, adb); len(got) != 0 || adb.LastCommitted() != arbSeqno || arbSeqno < seqno {
		t.Errorf("arbitrator's transferred store: %d rows at seqno %d (transfer at %d, full one at %d)", len(got), adb.LastCommitted(), arbSeqno, seqno)
	}
	if err := adb.Close(); err != nil {
		t.Fatal(err)
	}

	c.start(3, c.dir(3), false)
	c.waitPrimary(3)
	if err := put(ctx, c.nodes[3].db, "on-3", "z"); err != nil {
		t.Fatal(err)
	}
	want["on-3"] = "z"
	c.waitConverged()
	c.assertEqualContents(want)
}

type nopTransport struct{}

func (nopTransport) Send([]*pb.Message) {}

// refuseAs serves a state transfer from a node that is not Synced (a fresh, never started replicator).
func refuseAs(t *testing.T, w io.Writer) error {
	r, err := New(Config{ID: 9, Peers: []uint64{9}, DataDir: t.TempDir(), Transport: nopTransport{}})
	if err != nil {
		return err
	}
	return r.ServeStateTransfer(context.Background(), w, consensus.StateTransferRequest{Joiner: 3, MinIndex: 1})
}

// A transfer interrupted while it was being installed leaves a marker; the node refuses to start from
// that half-installed state and asks for a transfer again.
func TestInterruptedStateTransferIsRepeated(t *testing.T) {
	dir := t.TempDir()
	pr, pw := io.Pipe()
	go func() {
		// A donor that sends a valid header and then dies in the middle of the storage stream.
		b := append([]byte(sstMagic), sstOK)
		_, _ = pw.Write(append(b, 3, 1, 2, 3))
		_ = pw.CloseWithError(errors.New("donor died"))
	}()
	if _, err := ReceiveStateTransfer(context.Background(), pr, dir, filepath.Join(dir, "data")); err == nil {
		t.Fatal("a damaged transfer was installed")
	}
	if err := os.WriteFile(filepath.Join(dir, sstMarker), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{ID: 1, Peers: []uint64{1}, DataDir: dir, Transport: nopTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	db, err := storage.Open(filepath.Join(dir, "data"), storage.Options{Replicator: r})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := r.Start(db); !errors.Is(err, ErrStateTransfer) {
		t.Fatalf("start over a half-installed transfer: %v, want ErrStateTransfer", err)
	}
}

// A member outside the primary component refuses an ordinary request but donates when the joiner
// accepts any state: what it applied is committed, and the joiner may be the member quorum is waiting
// for.
func TestNonPrimaryDonatesAnyState(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	if err := put(ctx, c.nodes[1].db, "k", "v"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	c.net.Isolate(1)
	eventually(t, "node 1 non-Primary", func() bool { return !c.nodes[1].r.Primary() })
	donate := func(anyState bool) (uint64, error) {
		pr, pw := io.Pipe()
		go func() {
			req := consensus.StateTransferRequest{Joiner: 9, AnyState: anyState}
			_ = pw.CloseWithError(c.nodes[1].r.ServeStateTransfer(ctx, pw, req))
		}()
		dir := t.TempDir()
		return ReceiveStateTransfer(ctx, pr, dir, filepath.Join(dir, "data"))
	}
	if _, err := donate(false); err == nil || !strings.Contains(err.Error(), "not Synced") {
		t.Fatalf("non-primary donor, Synced required: %v", err)
	}
	seqno, err := donate(true)
	if err != nil || seqno != c.nodes[1].r.LastSeqno() {
		t.Fatalf("non-primary donor, any state: seqno %d, %v; want %d", seqno, err, c.nodes[1].r.LastSeqno())
	}
	c.net.Heal()
	c.waitPrimary(c.peers...)
}
