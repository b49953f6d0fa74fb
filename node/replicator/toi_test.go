package replicator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/maxproxy/maxproxy/node/consensus/simnet"
	"github.com/maxproxy/maxproxy/node/storage"
)

var errDDLFailed = errors.New("test: DDL failed")

// recordingExecutor stands in for node/sql's TOIApplier: "CREATE <name>" allocates one space and writes a
// row naming it into it, "FAIL" fails without committing. It records what it ran, in order.
type recordingExecutor struct {
	db  *storage.DB
	mu  sync.Mutex
	ran []string // "<sql>@<space>"
}

func (x *recordingExecutor) ExecTOI(ctx context.Context, req TOIRequest, spaces func() (storage.SpaceID, error)) error {
	if req.SQL == "FAIL" {
		x.record(req.SQL + "@-")
		return errDDLFailed
	}
	name, ok := strings.CutPrefix(req.SQL, "CREATE ")
	if !ok {
		return fmt.Errorf("test executor: %q", req.SQL)
	}
	sp, err := spaces()
	if err != nil {
		return err
	}
	tx := x.db.Begin(storage.TxOptions{})
	if err := tx.Put(ctx, sp, []byte(name), []byte(req.Schema)); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	x.record(fmt.Sprintf("%s@%d", req.SQL, sp-TOISpaceBase))
	return nil
}

func (x *recordingExecutor) record(s string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.ran = append(x.ran, s)
}

func (x *recordingExecutor) log() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.ran)
}

// TestTOIRunsAtItsPositionOnEveryNode: DDL ordered concurrently from different nodes runs in the same
// order on every node with the same, distinct space ranges; a failing statement answers its origin with
// its own error and still consumes its seqno everywhere; the TOI count survives a clean restart.
func TestTOIRunsAtItsPositionOnEveryNode(t *testing.T) {
	c := &cluster{t: t, net: simnet.New(3), nodes: map[uint64]*member{}, electionTick: 30, base: t.TempDir(), peers: []uint64{1, 2, 3}}
	t.Cleanup(func() {
		for _, id := range c.peers {
			c.stop(id)
		}
		c.net.Close()
	})
	execs := map[uint64]*recordingExecutor{}
	var execMu sync.Mutex
	opts := func(id uint64) nodeOptions {
		return nodeOptions{toi: func(db *storage.DB) TOIExecutor {
			execMu.Lock()
			defer execMu.Unlock()
			execs[id] = &recordingExecutor{db: db}
			return execs[id]
		}}
	}
	for _, id := range c.peers {
		c.startWith(id, opts(id))
	}
	c.waitPrimary(c.peers...)
	ctx := t.Context()

	var wg sync.WaitGroup
	for _, id := range []uint64{1, 2} {
		wg.Go(func() {
			if err := c.nodes[id].r.ReplicateTOI(ctx, TOIRequest{Schema: "d", SQL: fmt.Sprintf("CREATE t%d", id)}); err != nil {
				t.Errorf("node %d: %v", id, err)
			}
		})
	}
	wg.Wait()
	// The origin has run it before ReplicateTOI returns.
	for _, id := range []uint64{1, 2} {
		if got := execs[id].log(); !slices.Contains(got, fmt.Sprintf("CREATE t%d@0", id)) && !slices.Contains(got, fmt.Sprintf("CREATE t%d@128", id)) {
			t.Errorf("node %d ran %v before its ReplicateTOI returned", id, got)
		}
	}
	err := c.nodes[3].r.ReplicateTOI(ctx, TOIRequest{SQL: "FAIL"})
	if !errors.Is(err, errDDLFailed) {
		t.Fatalf("failing DDL answered %v, want the statement's own error", err)
	}
	c.waitConverged()
	eventually(t, "every node to record the three statements", func() bool {
		for _, id := range c.peers {
			if len(execs[id].log()) < 3 {
				return false
			}
		}
		return true
	})
	want := execs[1].log()
	if len(want) != 3 || want[2] != "FAIL@-" || want[0][len(want[0])-2:] != "@0" || want[1][len(want[1])-4:] != "@128" {
		t.Fatalf("node 1 ran %v", want)
	}
	for _, id := range c.peers[1:] {
		if got := execs[id].log(); !slices.Equal(got, want) {
			t.Errorf("node %d ran %v, node 1 %v", id, got, want)
		}
	}

	// A clean restart keeps the count: the next TOI gets the 4th range on every node.
	c.stop(3)
	c.startWith(3, opts(3))
	c.waitPrimary(3)
	if err := c.nodes[3].r.ReplicateTOI(ctx, TOIRequest{Schema: "d", SQL: "CREATE t3"}); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	for _, id := range c.peers {
		// The executor records a statement after its commit, which waitConverged already sees.
		want := fmt.Sprintf("CREATE t3@%d", 3*TOISpaces)
		eventually(t, fmt.Sprintf("node %d to record %s", id, want), func() bool {
			got := execs[id].log()
			return len(got) > 0 && got[len(got)-1] == want
		})
		tx := c.nodes[id].db.Begin(storage.TxOptions{ReadOnly: true})
		v, ok, err := tx.Get(TOISpaceBase+3*TOISpaces, []byte("t3"))
		tx.Rollback()
		if err != nil || !ok || string(v) != "d" {
			t.Errorf("node %d: row of t3 %q %v %v", id, v, ok, err)
		}
	}
}

// A write-set that read a space before a TOI on it fails certification on every node.
func TestTOIKeysFailEarlierSnapshots(t *testing.T) {
	c := &cluster{t: t, net: simnet.New(5), nodes: map[uint64]*member{}, electionTick: 30, base: t.TempDir(), peers: []uint64{1, 2, 3}}
	t.Cleanup(func() {
		for _, id := range c.peers {
			c.stop(id)
		}
		c.net.Close()
	})
	for _, id := range c.peers {
		c.startWith(id, nodeOptions{toi: func(db *storage.DB) TOIExecutor { return &recordingExecutor{db: db} }})
	}
	c.waitPrimary(c.peers...)
	ctx := t.Context()
	if err := put(ctx, c.nodes[1].db, "k", "v0"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	tx := c.nodes[2].db.Begin(storage.TxOptions{})
	defer tx.Rollback()
	if err := tx.Put(ctx, space, []byte("k"), []byte("stale")); err != nil {
		t.Fatal(err)
	}
	// Node 3's transaction reads the snapshot before the TOI but takes no lock until after it has run:
	// nothing to abort, so certification must refuse it.
	late := c.nodes[3].db.Begin(storage.TxOptions{})
	defer late.Rollback()
	if _, _, err := late.Get(space, []byte("k")); err != nil {
		t.Fatal(err)
	}
	// The TOI on node 1 names the space; node 2's transaction (snapshot before it) holds a lock there and
	// is BF-aborted when node 2 runs the TOI.
	if err := c.nodes[1].r.ReplicateTOI(ctx, TOIRequest{SQL: "CREATE x", Spaces: []storage.SpaceID{space}}); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	if err := tx.Commit(ctx); !errors.Is(err, storage.ErrDeadlock) && !errors.Is(err, storage.ErrCertification) {
		t.Fatalf("commit of a transaction that wrote the space before the TOI: %v, want 1213", err)
	}
	if got := c.nodes[2].db.Stats().BFAborts; got == 0 {
		t.Error("node 2 did not BF-abort the transaction")
	}
	if err := late.Put(ctx, space, []byte("k2"), []byte("late")); err != nil {
		t.Fatal(err)
	}
	if err := late.Commit(ctx); !errors.Is(err, storage.ErrCertification) {
		t.Fatalf("commit of a write-set whose snapshot predates the TOI: %v, want a certification failure", err)
	}
}
