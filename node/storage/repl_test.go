package storage

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// fakeReplicator orders write-sets with a shared seqno counter, as the cluster's total order would, and
// refuses write-sets of txns listed in fail.
type fakeReplicator struct {
	mu   sync.Mutex
	next uint64
	fail map[uint64]bool
	// failOrdered gives refused write-sets a seqno, as when certification fails after ordering.
	failOrdered bool
	seen        []*WriteSet
}

func (r *fakeReplicator) reserve() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	return r.next
}

func (r *fakeReplicator) Replicate(_ context.Context, ws *WriteSet) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, ws)
	if r.fail[ws.TxnID] {
		if r.failOrdered {
			r.next++
			ws.Seqno = r.next
		}
		return ErrCertification
	}
	r.next++
	ws.Seqno = r.next
	return nil
}

func TestReplicatorOrderAndRemoteApply(t *testing.T) {
	repl := &fakeReplicator{fail: map[uint64]bool{}}
	db, err := Open(t.TempDir(), Options{FlushPolicy: 2, Replicator: repl})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	// A remote write-set ordered after a seqno that is not applied yet waits for it.
	s1, s2 := repl.reserve(), repl.reserve()
	applied := make(chan error, 1)
	go func() {
		applied <- db.Apply(ctx, &WriteSet{Ops: []Op{{Space: 1, Key: k("r"), Value: k("second")}}}, s2)
	}()
	select {
	case err := <-applied:
		t.Fatalf("seqno %d applied before %d: %v", s2, s1, err)
	default:
	}
	// An empty write-set consumes a seqno (one that failed certification).
	if err := db.Apply(ctx, &WriteSet{}, s1); err != nil {
		t.Fatal(err)
	}
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	if db.LastCommitted() != s2 {
		t.Fatalf("LastCommitted = %d, want %d", db.LastCommitted(), s2)
	}
	if err := db.Apply(ctx, &WriteSet{}, s1); err == nil {
		t.Fatal("applying an old seqno again succeeded")
	}
	if err := db.Apply(ctx, &WriteSet{Ops: []Op{{Space: 1}}}, s2+1); !errors.Is(err, ErrKeyInvalid) {
		t.Fatalf("remote write-set with an empty key: %v, want ErrKeyInvalid", err)
	}

	// A local commit gets its seqno from the replicator and carries snapshot and full row images.
	tx := db.Begin(TxOptions{})
	mustPut(t, tx, 1, "local", "v")
	mustPut(t, tx, 1, "local", "v2") // last write wins, one op per key
	if err := tx.Delete(ctx, 1, k("r")); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, tx)
	ws := repl.seen[len(repl.seen)-1]
	if ws.Seqno != s2+1 || ws.Snapshot != s2 || len(ws.Ops) != 2 || string(ws.Ops[0].Value) != "v2" || !ws.Ops[1].Delete {
		t.Fatalf("write-set = %+v", ws)
	}

	// Certification failure: error, nothing applied, locks released.
	tx = db.Begin(TxOptions{})
	repl.fail[tx.ID()] = true
	mustPut(t, tx, 1, "refused", "x")
	if err := tx.Commit(ctx); !errors.Is(err, ErrCertification) {
		t.Fatalf("Commit refused by certification: %v", err)
	}
	tx = db.Begin(TxOptions{})
	expectGet(t, tx, 1, "refused", "", false)
	mustPut(t, tx, 1, "refused", "now") // lock was released
	mustCommit(t, tx)

	// Refused after ordering: the seqno is consumed, so later write-sets are not stuck behind it.
	repl.failOrdered = true
	tx = db.Begin(TxOptions{})
	repl.fail[tx.ID()] = true
	mustPut(t, tx, 1, "refused", "again")
	if err := tx.Commit(ctx); !errors.Is(err, ErrCertification) {
		t.Fatalf("Commit refused after ordering: %v", err)
	}
	if got, want := db.LastCommitted(), repl.next; got != want {
		t.Fatalf("LastCommitted = %d after a refused ordered write-set, want %d", got, want)
	}
	tx = db.Begin(TxOptions{})
	mustPut(t, tx, 1, "after", "ok")
	mustCommit(t, tx)
	expectGet(t, db.Begin(TxOptions{}), 1, "refused", "now", true)
}

func TestBFAbort(t *testing.T) {
	repl := &fakeReplicator{}
	db, err := Open(t.TempDir(), Options{FlushPolicy: 2, Replicator: repl})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	victim := db.Begin(TxOptions{})
	mustPut(t, victim, 1, "hot", "local")
	waiter := db.Begin(TxOptions{})
	got := make(chan error, 1)
	go func() {
		_, _, err := waiter.GetForUpdate(ctx, 1, k("hot"), true)
		got <- err
	}()
	waitFor(t, "waiter to queue behind the victim", waiting(waiter))

	remote := &WriteSet{TxnID: 99, Ops: []Op{{Space: 1, Key: k("hot"), Value: k("remote")}}}
	if err := db.Apply(ctx, remote, repl.reserve()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := victim.Get(1, k("hot")); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("BF-aborted txn's next call: %v, want ErrDeadlock", err)
	}
	if err := victim.Commit(ctx); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("BF-aborted txn's Commit: %v, want ErrDeadlock", err)
	}
	// The victim's lock went to the waiter, which reads the remote value.
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	expectGet(t, db.Begin(TxOptions{}), 1, "hot", "remote", true)

	// AbortTxn interrupts a lock wait.
	blocked := db.Begin(TxOptions{})
	go func() { got <- blocked.Put(ctx, 1, k("hot"), nil) }()
	waitFor(t, "blocked to wait", waiting(blocked))
	if !db.AbortTxn(blocked.ID()) {
		t.Fatal("AbortTxn of an active txn returned false")
	}
	if err := <-got; !errors.Is(err, ErrDeadlock) {
		t.Fatalf("aborted lock wait: %v, want ErrDeadlock", err)
	}
	blocked.Rollback()
	waiter.Rollback()
	if db.AbortTxn(waiter.ID()) {
		t.Fatal("AbortTxn of a finished txn returned true")
	}
	// A remote DropSpace (DDL) aborts every local transaction with a lock in that space.
	inTable := db.Begin(TxOptions{})
	if _, _, err := inTable.GetForUpdate(ctx, 5, k("row"), false); err != nil {
		t.Fatal(err)
	}
	if err := db.Apply(ctx, &WriteSet{Ops: []Op{{Space: 5, DropSpace: true}}}, repl.reserve()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := inTable.Get(5, k("row")); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("txn with a lock in a remotely dropped space: %v, want ErrDeadlock", err)
	}
	inTable.Rollback()
	if db.Stats().BFAborts != 3 {
		t.Fatalf("BFAborts = %d, want 3", db.Stats().BFAborts)
	}
}

func TestRollbackToLeavesWriteSet(t *testing.T) {
	repl := &fakeReplicator{}
	db, err := Open(t.TempDir(), Options{FlushPolicy: 2, Replicator: repl})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	tx := db.Begin(TxOptions{})
	mustPut(t, tx, 1, "a", "1")
	sp := tx.Savepoint()
	mustPut(t, tx, 1, "b", "x")
	mustPut(t, tx, 1, "a", "2")
	if err := tx.DropSpace(1); err != nil {
		t.Fatal(err)
	}
	mustPut(t, tx, 1, "c", "y")
	if err := tx.RollbackTo(sp); err != nil {
		t.Fatal(err)
	}
	expectGet(t, tx, 1, "a", "1", true)
	expectGet(t, tx, 1, "b", "", false)
	// The rolled-back statement's locks stay: another txn cannot take b.
	other := db.Begin(TxOptions{})
	other.SetLockWaitTimeout(0)
	if err := other.Put(ctx, 1, k("b"), nil); !errors.Is(err, ErrLockWaitTimeout) {
		t.Fatalf("lock of a rolled-back write: %v, want ErrLockWaitTimeout", err)
	}
	other.Rollback()
	mustCommit(t, tx)
	ws := repl.seen[len(repl.seen)-1]
	if len(ws.Ops) != 1 || string(ws.Ops[0].Key) != "a" || string(ws.Ops[0].Value) != "1" {
		t.Fatalf("write-set after RollbackTo = %+v, want only a=1", ws.Ops)
	}
	if err := tx.RollbackTo(sp); !errors.Is(err, ErrTxnDone) {
		t.Fatalf("RollbackTo after Commit: %v", err)
	}
}

func TestApplyWaitingForAGap(t *testing.T) {
	db, err := Open(t.TempDir(), Options{FlushPolicy: 2, Replicator: &fakeReplicator{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got := make(chan error, 1)
	go func() { got <- db.Apply(ctx, &WriteSet{}, 3) }()
	waitFor(t, "seqno 3 to wait for its turn", func() bool {
		db.applyMu.Lock()
		defer db.applyMu.Unlock()
		return db.turns[3] != nil
	})
	if err := db.Apply(ctx, &WriteSet{}, 3); err == nil {
		t.Fatal("a second write-set for a waiting seqno was accepted")
	}
	// Seqno 2 never arrives; Close must not hang and the waiter learns why.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply waiting across Close: %v, want ErrClosed", err)
	}
}
