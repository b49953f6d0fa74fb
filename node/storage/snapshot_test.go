package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
)

func TestSnapshotTransfer(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	ctx := context.Background()
	tx := db.Begin(TxOptions{})
	for i := range bankAccounts {
		if err := tx.Put(ctx, bankSpace, account(i), moneyBytes(bankInitial)); err != nil {
			t.Fatal(err)
		}
	}
	mustPut(t, tx, 0, "catalog", "def")
	mustCommit(t, tx)
	sid, err := db.AllocSpaceID()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.NextCounter(k("auto"), 5000, 0); err != nil {
		t.Fatal(err)
	}
	dropped := db.Begin(TxOptions{})
	mustPut(t, dropped, 77, "x", "y")
	mustCommit(t, dropped)
	dropped = db.Begin(TxOptions{})
	if err := dropped.DropSpace(77); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, dropped)

	// Transfers keep committing while the snapshot is taken; the copy must still be one consistent state.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := transfer(ctx, db, i%bankAccounts, (i+1)%bankAccounts, 7, false); err != nil && !errors.Is(err, ErrDeadlock) {
				t.Error(err)
				return
			}
		}
	}()
	var stream bytes.Buffer
	seqno, err := db.WriteSnapshot(ctx, &stream)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	got, err := RestoreSnapshot(ctx, dir, bytes.NewReader(stream.Bytes()))
	if err != nil || got != seqno {
		t.Fatalf("RestoreSnapshot = %d, %v; want seqno %d", got, err, seqno)
	}
	if _, err := RestoreSnapshot(ctx, dir, bytes.NewReader(stream.Bytes())); err == nil {
		t.Fatal("RestoreSnapshot over an existing store succeeded")
	}
	joiner := openDB(t, dir, 1)
	if joiner.LastCommitted() != seqno {
		t.Fatalf("joiner position %d, want %d", joiner.LastCommitted(), seqno)
	}
	r := joiner.Begin(TxOptions{})
	defer r.Rollback()
	var sum int64
	it := r.Scan(bankSpace, nil, nil, false)
	for it.Next() {
		sum += money(it.Value())
	}
	it.Close()
	if sum != bankAccounts*bankInitial {
		t.Fatalf("restored accounts sum to %d", sum)
	}
	expectGet(t, r, 0, "catalog", "def", true)
	if s := scanAll(t, r.Scan(77, nil, nil, false)); s != "" {
		t.Fatalf("dropped space restored: %q", s)
	}
	if next, _ := joiner.NextCounter(k("auto"), 1, 0); next <= 5000 {
		t.Fatalf("restored counter hands out %d, already used up to 5000", next)
	}
	if next, _ := joiner.AllocSpaceID(); next <= sid {
		t.Fatalf("restored store allocates space %d, already used %d", next, sid)
	}
}

func TestSnapshotCorruption(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	tx := db.Begin(TxOptions{})
	mustPut(t, tx, 1, "a", "1")
	mustPut(t, tx, 2, "b", "2")
	mustCommit(t, tx)
	var stream bytes.Buffer
	if _, err := db.WriteSnapshot(context.Background(), &stream); err != nil {
		t.Fatal(err)
	}
	good := stream.Bytes()
	for _, n := range []int{0, 5, len(good) / 2, len(good) - 1} {
		dir := t.TempDir()
		if _, err := RestoreSnapshot(context.Background(), dir, bytes.NewReader(good[:n])); !errors.Is(err, ErrSnapshotCorrupt) {
			t.Errorf("stream truncated to %d bytes: %v, want ErrSnapshotCorrupt", n, err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("failed restore left %d files behind", len(left))
		}
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x40
		if _, err := RestoreSnapshot(context.Background(), t.TempDir(), bytes.NewReader(bad)); err == nil {
			t.Fatalf("stream with byte %d flipped restored without error", i)
		}
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	db, err := Open(f.TempDir(), Options{FlushPolicy: 2})
	if err != nil {
		f.Fatal(err)
	}
	tx := db.Begin(TxOptions{})
	mustPut(f, tx, 1, "a", "1")
	mustCommit(f, tx)
	if _, err := db.NextCounter(k("c"), 1, 0); err != nil {
		f.Fatal(err)
	}
	var stream bytes.Buffer
	if _, err := db.WriteSnapshot(context.Background(), &stream); err != nil {
		f.Fatal(err)
	}
	if err := db.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(stream.Bytes())
	f.Add([]byte(snapshotMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := decodeSnapshot(context.Background(), bytes.NewReader(data), func(recs []snapRecord) error {
			for _, r := range recs {
				if r.kind == 'R' && (len(r.key) == 0 || len(r.key) > MaxKeySize) {
					t.Fatalf("decoder accepted a key of %d bytes", len(r.key))
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrSnapshotCorrupt) {
			t.Fatalf("decode error not ErrSnapshotCorrupt: %v", err)
		}
	})
}

// A pinned snapshot reads one seqno however many commits follow; its position-only stream restores an
// empty store at that seqno (an arbitrator's state transfer); InstallSnapshot replaces an existing store.
func TestPinnedSnapshotAndInstall(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	ctx := context.Background()
	tx := db.Begin(TxOptions{})
	mustPut(t, tx, 5, "a", "1")
	mustCommit(t, tx)
	pin := db.PinSnapshot()
	defer pin.Close()
	tx = db.Begin(TxOptions{})
	mustPut(t, tx, 5, "b", "2")
	mustCommit(t, tx)
	if pin.Seqno() != db.LastCommitted()-1 {
		t.Fatalf("pinned seqno %d, store at %d", pin.Seqno(), db.LastCommitted())
	}

	var full, position bytes.Buffer
	if _, err := pin.WriteTo(ctx, &full); err != nil {
		t.Fatal(err)
	}
	if _, err := pin.WritePositionTo(ctx, &position); err != nil {
		t.Fatal(err)
	}

	// The target already holds a store with other data and a log: both are replaced.
	dir := t.TempDir()
	old := openDB(t, dir, 2)
	tx = old.Begin(TxOptions{})
	mustPut(t, tx, 5, "old", "x")
	mustCommit(t, tx)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := InstallSnapshot(ctx, dir, bytes.NewReader(full.Bytes()))
	if err != nil || got != pin.Seqno() {
		t.Fatalf("InstallSnapshot = %d, %v; want %d", got, err, pin.Seqno())
	}
	joiner := openDB(t, dir, 2)
	r := joiner.Begin(TxOptions{ReadOnly: true})
	if s := scanAll(t, r.Scan(5, nil, nil, false)); s != "a=1" {
		t.Fatalf("installed store holds %q, want only the pinned row", s)
	}
	r.Rollback()
	if err := joiner.Close(); err != nil {
		t.Fatal(err)
	}

	// A damaged stream leaves the store that was there.
	if _, err := InstallSnapshot(ctx, dir, bytes.NewReader(full.Bytes()[:full.Len()-3])); err == nil {
		t.Fatal("a truncated stream was installed")
	}
	again := openDB(t, dir, 2)
	if again.LastCommitted() != pin.Seqno() {
		t.Fatalf("after a failed install the store is at %d, want %d", again.LastCommitted(), pin.Seqno())
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}

	empty := t.TempDir()
	if got, err := InstallSnapshot(ctx, empty, bytes.NewReader(position.Bytes())); err != nil || got != pin.Seqno() {
		t.Fatalf("position-only install = %d, %v", got, err)
	}
	e := openDB(t, empty, 2)
	r = e.Begin(TxOptions{ReadOnly: true})
	defer r.Rollback()
	if s := scanAll(t, r.Scan(5, nil, nil, false)); s != "" || e.LastCommitted() != pin.Seqno() {
		t.Fatalf("position-only store: rows %q at seqno %d", s, e.LastCommitted())
	}
}
