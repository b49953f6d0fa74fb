package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if helperMain() {
		return
	}
	goleak.VerifyTestMain(m)
}

func openDB(t testing.TB, dir string, policy int) *DB {
	t.Helper()
	db, err := Open(dir, Options{FlushPolicy: policy})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func k(s string) []byte { return []byte(s) }

func mustPut(t testing.TB, tx *Txn, space SpaceID, key, val string) {
	t.Helper()
	if err := tx.Put(context.Background(), space, k(key), k(val)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustCommit(t testing.TB, tx *Txn) {
	t.Helper()
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func expectGet(t testing.TB, tx *Txn, space SpaceID, key string, want string, wantOK bool) {
	t.Helper()
	v, ok, err := tx.Get(space, k(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if ok != wantOK || string(v) != want {
		t.Fatalf("Get(%q) = %q,%v want %q,%v", key, v, ok, want, wantOK)
	}
}

// waitFor polls cond until it holds or a generous deadline passes; it is the one helper for eventual conditions.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func waiting(tx *Txn) func() bool { return func() bool { return tx.waiting.Load() != nil } }

func TestSnapshotIsolation(t *testing.T) {
	db := openDB(t, t.TempDir(), 1)
	setup := db.Begin(TxOptions{})
	mustPut(t, setup, 1, "a", "1")
	mustPut(t, setup, 1, "b", "1")
	mustCommit(t, setup)

	reader := db.Begin(TxOptions{ReadOnly: true})
	writer := db.Begin(TxOptions{})
	mustPut(t, writer, 1, "a", "2")
	if err := writer.Delete(context.Background(), 1, k("b")); err != nil {
		t.Fatal(err)
	}
	mustPut(t, writer, 1, "c", "new")
	// Own writes are visible to the writer only.
	expectGet(t, writer, 1, "a", "2", true)
	expectGet(t, writer, 1, "b", "", false)
	expectGet(t, reader, 1, "a", "1", true)
	mustCommit(t, writer)

	// The old snapshot still sees the state at its Begin, also after the collector ran.
	db.gc.pass()
	expectGet(t, reader, 1, "a", "1", true)
	expectGet(t, reader, 1, "b", "1", true)
	expectGet(t, reader, 1, "c", "", false)
	if got := scanAll(t, reader.Scan(1, nil, nil, false)); got != "a=1 b=1" {
		t.Fatalf("old snapshot scan = %q", got)
	}
	reader.Rollback()

	fresh := db.Begin(TxOptions{})
	expectGet(t, fresh, 1, "a", "2", true)
	expectGet(t, fresh, 1, "b", "", false)
	if got := scanAll(t, fresh.Scan(1, nil, nil, false)); got != "a=2 c=new" {
		t.Fatalf("new snapshot scan = %q", got)
	}
	if err := fresh.Put(context.Background(), 1, k("a"), k("x")); err != nil {
		t.Fatal(err)
	}
	fresh.Rollback()
	fresh.Rollback() // idempotent

	after := db.Begin(TxOptions{})
	expectGet(t, after, 1, "a", "2", true)
	if _, _, err := fresh.Get(1, k("a")); !errors.Is(err, ErrTxnDone) {
		t.Fatalf("Get after Rollback: %v, want ErrTxnDone", err)
	}
	if err := after.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := after.Commit(context.Background()); !errors.Is(err, ErrTxnDone) {
		t.Fatalf("second Commit: %v, want ErrTxnDone", err)
	}
	ro := db.Begin(TxOptions{ReadOnly: true})
	if err := ro.Put(context.Background(), 1, k("a"), nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Put in read-only txn: %v", err)
	}
	ro.Rollback()
}

func TestGCRemovesDeletedKeys(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	tx := db.Begin(TxOptions{})
	for i := range 100 {
		mustPut(t, tx, 3, fmt.Sprintf("k%03d", i), "v")
	}
	mustCommit(t, tx)
	for i := range 5 { // several versions per key
		tx = db.Begin(TxOptions{})
		mustPut(t, tx, 3, "k099", fmt.Sprint(i))
		mustCommit(t, tx)
	}
	tx = db.Begin(TxOptions{})
	for i := range 50 {
		if err := tx.Delete(context.Background(), 3, k(fmt.Sprintf("k%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	mustCommit(t, tx)
	db.gc.pass()
	sp := db.space(3)
	sp.mu.RLock()
	n := sp.tree.Len()
	sp.mu.RUnlock()
	if n != 50 {
		t.Fatalf("tree holds %d keys after GC, want 50", n)
	}
	head, _ := sp.tree.Get(makeKey(k("k099")))
	if head == nil || string(head.val) != "4" || head.next.Load() != nil {
		t.Fatalf("old versions kept with no active snapshot")
	}
}

func scanAll(t testing.TB, it Iterator) string {
	t.Helper()
	defer it.Close()
	var b bytes.Buffer
	for it.Next() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", it.Key(), it.Value())
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterator: %v", err)
	}
	return b.String()
}

func TestScanBoundsAndOwnWrites(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	tx := db.Begin(TxOptions{})
	for _, key := range []string{"a", "b", "c", "d", "e"} {
		mustPut(t, tx, 7, key, key)
	}
	mustPut(t, tx, 8, "a", "other space")
	mustCommit(t, tx)

	tx = db.Begin(TxOptions{})
	mustPut(t, tx, 7, "bb", "own")
	mustPut(t, tx, 7, "c", "C")
	if err := tx.Delete(context.Background(), 7, k("d")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		start, end string
		reverse    bool
		want       string
	}{
		{"", "", false, "a=a b=b bb=own c=C e=e"},
		{"", "", true, "e=e c=C bb=own b=b a=a"},
		{"b", "d", false, "b=b bb=own c=C"},
		{"b", "d", true, "c=C bb=own b=b"},
		{"bb", "", false, "bb=own c=C e=e"},
		{"", "bb", true, "b=b a=a"},
		{"c", "c", false, ""},
		{"x", "", false, ""},
		{"", "a", true, ""},
	}
	for _, tc := range tests {
		var start, end []byte
		if tc.start != "" {
			start = k(tc.start)
		}
		if tc.end != "" {
			end = k(tc.end)
		}
		if got := scanAll(t, tx.Scan(7, start, end, tc.reverse)); got != tc.want {
			t.Errorf("Scan(%q,%q,reverse=%v) = %q want %q", tc.start, tc.end, tc.reverse, got, tc.want)
		}
	}
	tx.Rollback()
}

func be(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }

func TestScanManyBatches(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	tx := db.Begin(TxOptions{})
	const n = 5000
	for i := range n {
		if err := tx.Put(context.Background(), 1, be(i), be(i)); err != nil {
			t.Fatal(err)
		}
	}
	mustCommit(t, tx)
	// Delete every third key so batches also skip tombstones.
	tx = db.Begin(TxOptions{})
	for i := 0; i < n; i += 3 {
		if err := tx.Delete(context.Background(), 1, be(i)); err != nil {
			t.Fatal(err)
		}
	}
	mustCommit(t, tx)
	r := db.Begin(TxOptions{ReadOnly: true})
	defer r.Rollback()
	for _, reverse := range []bool{false, true} {
		it := r.Scan(1, be(10), be(4010), reverse)
		var got []int
		for it.Next() {
			got = append(got, int(binary.BigEndian.Uint32(it.Key())))
		}
		it.Close()
		var want []int
		for i := 10; i < 4010; i++ {
			if i%3 != 0 {
				want = append(want, i)
			}
		}
		if reverse {
			for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
				want[i], want[j] = want[j], want[i]
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("reverse=%v: got %d keys, want %d", reverse, len(got), len(want))
		}
	}
}

func TestLockWaitTimeout(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	ctx := context.Background()
	t1 := db.Begin(TxOptions{})
	mustPut(t, t1, 1, "row", "t1")
	t2 := db.Begin(TxOptions{})
	t2.SetLockWaitTimeout(20 * time.Millisecond)
	if err := t2.Put(ctx, 1, k("row"), k("t2")); !errors.Is(err, ErrLockWaitTimeout) {
		t.Fatalf("Put on locked row: %v, want ErrLockWaitTimeout", err)
	}
	if _, _, err := t2.GetForUpdate(ctx, 1, k("row"), false); !errors.Is(err, ErrLockWaitTimeout) {
		t.Fatalf("shared lock on X-locked row: %v, want ErrLockWaitTimeout", err)
	}
	// A timeout only fails the statement: the transaction goes on.
	mustPut(t, t2, 1, "other", "t2")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	t2.SetLockWaitTimeout(time.Hour)
	if err := t2.Put(cctx, 1, k("row"), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with cancelled context: %v", err)
	}
	mustCommit(t, t1)
	mustPut(t, t2, 1, "row", "t2")
	mustCommit(t, t2)
	if db.Stats().LockWaitTimeouts != 2 {
		t.Fatalf("LockWaitTimeouts = %d, want 2", db.Stats().LockWaitTimeouts)
	}
}

func TestDeadlock(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	ctx := context.Background()
	t1 := db.Begin(TxOptions{})
	t2 := db.Begin(TxOptions{})
	mustPut(t, t1, 1, "a", "t1")
	mustPut(t, t2, 1, "b", "t2")
	done := make(chan error, 1)
	go func() { done <- t1.Put(ctx, 1, k("b"), k("t1")) }()
	waitFor(t, "t1 to wait for b", waiting(t1))
	if err := t2.Put(ctx, 1, k("a"), k("t2")); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("t2 closing the cycle: %v, want ErrDeadlock", err)
	}
	// The victim's locks are gone at once, so t1 proceeds; the victim keeps failing until rolled back.
	if err := <-done; err != nil {
		t.Fatalf("t1 after the victim was chosen: %v", err)
	}
	if _, _, err := t2.Get(1, k("a")); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("victim's next call: %v, want ErrDeadlock", err)
	}
	if err := t2.Commit(ctx); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("victim's Commit: %v, want ErrDeadlock", err)
	}
	mustCommit(t, t1)
	r := db.Begin(TxOptions{})
	expectGet(t, r, 1, "a", "t1", true)
	expectGet(t, r, 1, "b", "t1", true)
	r.Rollback()
	if st := db.Stats(); st.Deadlocks != 1 || st.LockWaits != 2 {
		t.Fatalf("Deadlocks = %d, LockWaits = %d; want 1 and 2", st.Deadlocks, st.LockWaits)
	}
}

func TestUpgradeDeadlock(t *testing.T) {
	// Two shared holders both asking for exclusive: the second is the victim, the first gets it.
	db := openDB(t, t.TempDir(), 2)
	ctx := context.Background()
	t1, t2 := db.Begin(TxOptions{}), db.Begin(TxOptions{})
	for _, tx := range []*Txn{t1, t2} {
		if _, _, err := tx.GetForUpdate(ctx, 1, k("r"), false); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- t1.Put(ctx, 1, k("r"), k("1")) }()
	waitFor(t, "t1 upgrade wait", waiting(t1))
	if err := t2.Put(ctx, 1, k("r"), k("2")); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("second upgrade: %v, want ErrDeadlock", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t2.Rollback()
	mustCommit(t, t1)
}

func TestForUpdateBlocksAndReadsLatest(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	ctx := context.Background()
	setup := db.Begin(TxOptions{})
	mustPut(t, setup, 1, "x", "0")
	mustCommit(t, setup)

	t1 := db.Begin(TxOptions{})
	t2 := db.Begin(TxOptions{}) // snapshot sees "0"
	s1 := db.Begin(TxOptions{})
	s2 := db.Begin(TxOptions{})
	// Shared locks are compatible with each other.
	for _, s := range []*Txn{s1, s2} {
		if v, _, err := s.GetForUpdate(ctx, 1, k("x"), false); err != nil || string(v) != "0" {
			t.Fatalf("LOCK IN SHARE MODE: %q %v", v, err)
		}
	}
	gotX := make(chan error, 1)
	go func() {
		_, _, err := t1.GetForUpdate(ctx, 1, k("x"), true)
		gotX <- err
	}()
	waitFor(t, "FOR UPDATE to wait behind shared locks", waiting(t1))
	s1.Rollback()
	select {
	case err := <-gotX:
		t.Fatalf("FOR UPDATE returned (%v) while a shared lock is still held", err)
	default:
	}
	s2.Rollback()
	if err := <-gotX; err != nil {
		t.Fatal(err)
	}
	type res struct {
		v   string
		err error
	}
	got := make(chan res, 1)
	go func() {
		v, _, err := t2.GetForUpdate(ctx, 1, k("x"), true)
		got <- res{string(v), err}
	}()
	waitFor(t, "second FOR UPDATE to wait", waiting(t2))
	mustPut(t, t1, 1, "x", "1")
	mustCommit(t, t1)
	r := <-got
	if r.err != nil || r.v != "1" {
		t.Fatalf("FOR UPDATE after the holder committed = %q, %v; want the latest committed value 1", r.v, r.err)
	}
	// The plain snapshot read still returns the snapshot's value.
	expectGet(t, t2, 1, "x", "0", true)
	t2.Rollback()
}

func TestScanForUpdate(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	ctx := context.Background()
	setup := db.Begin(TxOptions{})
	for _, key := range []string{"a", "b", "c"} {
		mustPut(t, setup, 1, key, "0")
	}
	mustCommit(t, setup)
	t1 := db.Begin(TxOptions{})
	mustPut(t, t1, 1, "b", "t1")
	t2 := db.Begin(TxOptions{})
	it := t2.ScanForUpdate(ctx, 1, nil, nil, false, true)
	if !it.Next() || string(it.Key()) != "a" {
		t.Fatalf("first row: %q %v", it.Key(), it.Err())
	}
	next := make(chan string, 1)
	go func() {
		if it.Next() {
			next <- string(it.Key()) + "=" + string(it.Value())
			return
		}
		next <- fmt.Sprint("error: ", it.Err())
	}()
	waitFor(t, "scan to wait for b", waiting(t2))
	if err := t1.Delete(ctx, 1, k("b")); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, t1)
	if got := <-next; got != "c=0" {
		t.Fatalf("row after a deleted locked row: %s, want c=0", got)
	}
	if it.Next() {
		t.Fatalf("unexpected row %q", it.Key())
	}
	it.Close()
	// t2 holds a: another writer times out.
	t3 := db.Begin(TxOptions{})
	t3.SetLockWaitTimeout(10 * time.Millisecond)
	if err := t3.Put(ctx, 1, k("a"), nil); !errors.Is(err, ErrLockWaitTimeout) {
		t.Fatalf("row locked by ScanForUpdate: %v", err)
	}
	t3.Rollback()
	t2.Rollback()
}

func TestDropSpace(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{FlushPolicy: 1})
	if err != nil {
		t.Fatal(err)
	}
	tx := db.Begin(TxOptions{})
	mustPut(t, tx, 5, "a", "1")
	mustPut(t, tx, 5, "b", "1")
	mustPut(t, tx, 6, "keep", "1")
	mustCommit(t, tx)
	old := db.Begin(TxOptions{ReadOnly: true})
	drop := db.Begin(TxOptions{})
	mustPut(t, drop, 5, "gone", "x")
	if err := drop.DropSpace(5); err != nil {
		t.Fatal(err)
	}
	expectGet(t, drop, 5, "a", "", false)
	mustPut(t, drop, 5, "after", "2") // TRUNCATE followed by an insert in one transaction
	if got := scanAll(t, drop.Scan(5, nil, nil, false)); got != "after=2" {
		t.Fatalf("scan after drop in the dropping txn = %q", got)
	}
	mustCommit(t, drop)
	if got := scanAll(t, old.Scan(5, nil, nil, false)); got != "a=1 b=1" {
		t.Fatalf("older snapshot after drop = %q", got)
	}
	old.Rollback()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir, 1)
	r := db.Begin(TxOptions{})
	if got := scanAll(t, r.Scan(5, nil, nil, false)); got != "after=2" {
		t.Fatalf("dropped space after restart = %q", got)
	}
	expectGet(t, r, 6, "keep", "1", true)
	r.Rollback()
}

func TestRestartKeepsEverything(t *testing.T) {
	for _, policy := range []int{1, 2} {
		t.Run(fmt.Sprint("policy", policy), func(t *testing.T) {
			dir := t.TempDir()
			db, err := Open(dir, Options{FlushPolicy: policy})
			if err != nil {
				t.Fatal(err)
			}
			sid, err := db.AllocSpaceID()
			if err != nil {
				t.Fatal(err)
			}
			tx := db.Begin(TxOptions{})
			mustPut(t, tx, sid, "k1", "v1")
			mustPut(t, tx, sid, "k2", "v2")
			mustPut(t, tx, 0, "catalog", "row")
			mustCommit(t, tx)
			tx = db.Begin(TxOptions{})
			if err := tx.Delete(context.Background(), sid, k("k2")); err != nil {
				t.Fatal(err)
			}
			mustCommit(t, tx)
			first, err := db.NextCounter(k("t1"), 10, 0)
			if err != nil || first != 1 {
				t.Fatalf("NextCounter = %d, %v", first, err)
			}
			seq := db.LastCommitted()
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := db.NextCounter(k("t1"), 1, 0); !errors.Is(err, ErrClosed) {
				t.Fatalf("NextCounter after Close: %v", err)
			}

			db = openDB(t, dir, policy)
			if db.LastCommitted() != seq {
				t.Fatalf("LastCommitted after restart = %d, want %d", db.LastCommitted(), seq)
			}
			r := db.Begin(TxOptions{})
			expectGet(t, r, sid, "k1", "v1", true)
			expectGet(t, r, sid, "k2", "", false)
			expectGet(t, r, 0, "catalog", "row", true)
			r.Rollback()
			sid2, err := db.AllocSpaceID()
			if err != nil || sid2 <= sid {
				t.Fatalf("AllocSpaceID after restart = %d (%v), want > %d", sid2, err, sid)
			}
			next, err := db.NextCounter(k("t1"), 1, 0)
			if err != nil || next < 11 {
				t.Fatalf("counter after restart = %d (%v), went backwards", next, err)
			}
			if v, _ := db.NextCounter(k("t1"), 0, 5000); v != 5000 {
				t.Fatalf("NextCounter(atLeast 5000) = %d", v)
			}
			if v, _ := db.NextCounter(k("t1"), 1, 0); v != 5000 {
				t.Fatalf("NextCounter after raising to 5000 = %d", v)
			}
		})
	}
}

func TestBadOptionsAndKeys(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{FlushPolicy: 3}); err == nil {
		t.Fatal("flush policy 3 accepted")
	}
	dir := t.TempDir()
	db := openDB(t, dir, 1)
	tx := db.Begin(TxOptions{})
	defer tx.Rollback()
	if err := tx.Put(context.Background(), 1, nil, k("v")); !errors.Is(err, ErrKeyInvalid) {
		t.Fatalf("empty key: %v", err)
	}
	if err := tx.Put(context.Background(), 1, make([]byte, MaxKeySize+1), nil); !errors.Is(err, ErrKeyInvalid) {
		t.Fatalf("huge key: %v", err)
	}
	// A second process (or DB) cannot open the same directory: bbolt's file lock times out with an error.
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("second Open of the same directory succeeded")
	}
}

func TestClosedDB(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tx := db.Begin(TxOptions{})
	mustPut(t, tx, 1, "a", "b")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close: %v", err)
	}
	tx2 := db.Begin(TxOptions{})
	if _, _, err := tx2.Get(1, k("a")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if _, err := db.AllocSpaceID(); !errors.Is(err, ErrClosed) {
		t.Fatalf("AllocSpaceID after Close: %v", err)
	}
}

func TestKeyOrder(t *testing.T) {
	// Tree keys compare by an 8-byte prefix first; the order must still be bytes.Compare's.
	keys := [][]byte{nil, {0}, {0, 0}, k("a"), k("a\x00"), k("abcdefgh"), k("abcdefgh\x00"), k("abcdefgi"),
		k("abcdefghz"), k("abcdefg"), k("0123456789abcdef"), k("0123456789abcdef\x00"), k("0123456789abcdeg"), k("0123456789abcdefgh"), {0xff}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for _, a := range keys {
		for _, b := range keys {
			if got, want := cmpKey(makeKey(a), makeKey(b)), bytes.Compare(a, b); got != want {
				t.Errorf("cmpKey(%q,%q) = %d, bytes.Compare = %d", a, b, got, want)
			}
		}
	}
}

func TestIteratorAfterRollback(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	tx := db.Begin(TxOptions{})
	for i := range 100 {
		if err := tx.Put(context.Background(), 1, be(i), be(i)); err != nil {
			t.Fatal(err)
		}
	}
	mustCommit(t, tx)
	r := db.Begin(TxOptions{})
	it := r.Scan(1, nil, nil, false)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	r.Rollback()
	for it.Next() {
	}
	if !errors.Is(it.Err(), ErrTxnDone) {
		t.Fatalf("iterator past the end of its transaction: %v, want ErrTxnDone", it.Err())
	}
}

func TestOpenCorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, dataFile), bytes.Repeat([]byte("not a bbolt file "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), dataFile) {
		t.Fatalf("Open of a corrupt file: %v, want an error naming %s", err, dataFile)
	}
}

func TestCloseEndsLockWaits(t *testing.T) {
	db, err := Open(t.TempDir(), Options{FlushPolicy: 2})
	if err != nil {
		t.Fatal(err)
	}
	holder := db.Begin(TxOptions{})
	mustPut(t, holder, 1, "k", "v")
	waiter := db.Begin(TxOptions{})
	got := make(chan error, 1)
	go func() { got <- waiter.Put(context.Background(), 1, k("k"), nil) }()
	waitFor(t, "waiter to block", waiting(waiter))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("lock wait during Close: %v, want ErrClosed", err)
	}
}

// TestOpenDetectsDamageAfterCrash damages a data page of a store that was not closed cleanly: Open must refuse
// it with an error instead of serving (or crashing on) broken pages.
func TestOpenDetectsDamageAfterCrash(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{FlushPolicy: 2})
	if err != nil {
		t.Fatal(err)
	}
	tx := db.Begin(TxOptions{})
	for i := range 2000 {
		if err := tx.Put(context.Background(), 3, be(i), bytes.Repeat([]byte{'v'}, 100)); err != nil {
			t.Fatal(err)
		}
	}
	mustCommit(t, tx)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, dataFile)
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var root, pageSize int64
	err = bdb.Update(func(tx *bolt.Tx) error {
		root = int64(tx.Bucket(spaceBucket(3)).Root())
		pageSize = int64(tx.DB().Info().PageSize)
		return tx.Bucket(bucketMeta).Put(keyOpen, []byte{1}) // as if the process had been killed
	})
	if cerr := bdb.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xAB}, int(pageSize)), root*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{FlushPolicy: 2})
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Open of a damaged store after a crash: %v, want an error saying it is damaged", err)
	}
}

func TestGCQueueBoundedByOldSnapshot(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	old := db.Begin(TxOptions{ReadOnly: true})
	defer old.Rollback()
	for i := range 300 {
		tx := db.Begin(TxOptions{})
		mustPut(t, tx, 1, fmt.Sprint("hot", i%3), fmt.Sprint(i))
		mustCommit(t, tx)
	}
	db.gc.pass()
	db.gc.mu.Lock()
	n := len(db.gc.queue)
	db.gc.mu.Unlock()
	if n > 3 {
		t.Fatalf("collector keeps %d items for 3 hot keys while an old snapshot is open", n)
	}
	expectGet(t, old, 1, "hot0", "", false)
}

func TestCommitReturnsAfterItsBatchIsWritten(t *testing.T) {
	for _, policy := range []int{1, 2} {
		db := openDB(t, t.TempDir(), policy)
		for i := range 20 {
			tx := db.Begin(TxOptions{})
			mustPut(t, tx, 1, fmt.Sprint(i), "v")
			mustCommit(t, tx)
			// Nobody else commits: the acknowledged commit is the last one, and it must be in the file already.
			if d, c := db.DurableSeqno(), db.LastCommitted(); d != c {
				t.Fatalf("policy %d: Commit returned with durable position %d behind its seqno %d", policy, d, c)
			}
		}
	}
}

// Stats.OpenWriters (wsrep_open_transactions) counts the open transactions that have written
// something, from their first write until they end either way.
func TestOpenWriters(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	open := func() int64 { return db.Stats().OpenWriters }
	reader := db.Begin(TxOptions{})
	expectGet(t, reader, 1, "a", "", false)
	committed, rolledBack, dropper := db.Begin(TxOptions{}), db.Begin(TxOptions{}), db.Begin(TxOptions{})
	if got := open(); got != 0 {
		t.Fatalf("before any write: %d open writers", got)
	}
	mustPut(t, committed, 1, "a", "1")
	mustPut(t, committed, 1, "b", "2") // a second write counts the transaction once
	mustPut(t, rolledBack, 2, "c", "3")
	if err := dropper.DropSpace(3); err != nil {
		t.Fatal(err)
	}
	if got := open(); got != 3 {
		t.Fatalf("three transactions wrote: %d open writers", got)
	}
	mustCommit(t, committed)
	rolledBack.Rollback()
	rolledBack.Rollback() // idempotent: not counted down twice
	dropper.Rollback()
	reader.Rollback()
	if got := open(); got != 0 {
		t.Errorf("after commit and rollbacks: %d open writers", got)
	}
}
