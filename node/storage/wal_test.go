package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyStore copies a store's files while it is open, which is what a kill -9 leaves on disk: the log
// holds every acknowledged commit, bbolt whatever the last checkpoint wrote.
func copyStore(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	// A crash image of a live store: the log first, then the data file. A checkpoint that runs meanwhile
	// only moves commits from the log into the data file, copied later, and deletes segments — a
	// segment gone before it is read was already in the data file. Copying the data file first could
	// pair an older data file with a log whose first segments a checkpoint has removed: a gap no crash
	// can leave.
	copyTree := func(root string, skip func(string) bool, vanished bool) {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				if vanished && errors.Is(err, os.ErrNotExist) {
					return nil
				}
				return err
			}
			rel, _ := filepath.Rel(from, path)
			if skip(rel) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(to, rel), 0o750)
			}
			b, err := os.ReadFile(path)
			if vanished && errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(to, rel), b, 0o600)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	copyTree(filepath.Join(from, walDirName), func(string) bool { return false }, true)
	copyTree(from, func(rel string) bool { return rel == walDirName }, false)
	return to
}

func walSegments(t *testing.T, dir string) []walSegment {
	t.Helper()
	segs, err := listWAL(filepath.Join(dir, walDirName))
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// TestCheckpointsKeepEveryCommit commits puts, overwrites, deletes and a dropped space through many small
// checkpoints: a clean Close leaves no log, and both a clean reopen and a crash copy taken mid-way see
// exactly the committed state.
func TestCheckpointsKeepEveryCommit(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{FlushPolicy: 2, checkpointBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range 300 {
		tx := db.Begin(TxOptions{})
		key := fmt.Sprint("k", i%50)
		if i%7 == 3 {
			if err := tx.Delete(context.Background(), 1, k(key)); err != nil {
				t.Fatal(err)
			}
			delete(want, key)
		} else {
			mustPut(t, tx, 1, key, fmt.Sprint("v", i))
			want[key] = fmt.Sprint("v", i)
		}
		if i <= 250 {
			mustPut(t, tx, 2, key, "gone")
		}
		if i == 250 {
			if err := tx.DropSpace(2); err != nil {
				t.Fatal(err)
			}
		}
		mustCommit(t, tx)
	}
	// The first hand-off comes after about ten commits; the rest follow while commits go on or at the next tick.
	waitFor(t, "checkpoints", func() bool { return db.Stats().Checkpoints >= 2 })
	crashed := copyStore(t, dir)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if segs := walSegments(t, dir); len(segs) != 0 {
		t.Fatalf("log segments after a clean Close: %v", segs)
	}
	for _, d := range []string{dir, crashed} {
		db := openDB(t, d, 2)
		if db.LastCommitted() != 300 {
			t.Fatalf("%s: LastCommitted %d after 300 commits", d, db.LastCommitted())
		}
		tx := db.Begin(TxOptions{ReadOnly: true})
		for i := range 50 {
			key := fmt.Sprint("k", i)
			expectGet(t, tx, 1, key, want[key], want[key] != "")
			expectGet(t, tx, 2, key, "", false)
		}
		tx.Rollback()
	}
}

// writeCrashStore commits n rows and returns a crash copy of the store taken before any checkpoint, so
// every commit is in the log only.
func writeCrashStore(t *testing.T, policy, n int) string {
	t.Helper()
	dir := t.TempDir()
	db := openDB(t, dir, policy)
	for i := range n {
		tx := db.Begin(TxOptions{})
		mustPut(t, tx, 1, fmt.Sprint("row", i), fmt.Sprint("value", i))
		mustCommit(t, tx)
	}
	if db.Stats().Checkpoints != 0 {
		t.Fatal("a checkpoint ran: the copy would not test replay")
	}
	return copyStore(t, dir)
}

// segmentEnd returns the offset after the last record of a segment (where its preallocated tail starts).
func segmentEnd(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for {
		_, _, _, n, err := decodeWALRecord(b[off:])
		if err != nil {
			return int64(off)
		}
		off += n
	}
}

func TestReplayIgnoresATornLastRecord(t *testing.T) {
	dir := writeCrashStore(t, 1, 20)
	segs := walSegments(t, dir)
	last := segs[len(segs)-1].path
	// Half of one more record, as a write cut off by the crash leaves it (never acknowledged).
	rec := appendWALRecord(nil, 21, 21, []Op{{Space: 1, Key: k("torn"), Value: k("x")}})
	f, err := os.OpenFile(last, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(rec[:len(rec)/2], segmentEnd(t, last)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, dir, 1)
	if db.LastCommitted() != 20 {
		t.Fatalf("LastCommitted %d, want 20", db.LastCommitted())
	}
	tx := db.Begin(TxOptions{ReadOnly: true})
	defer tx.Rollback()
	expectGet(t, tx, 1, "row19", "value19", true)
	expectGet(t, tx, 1, "torn", "", false)
}

// TestReplayRefusesDamageBeforeTheEnd damages a record followed by a later segment: acknowledged commits
// would be lost, so Open must fail rather than start without them.
func TestReplayRefusesDamageBeforeTheEnd(t *testing.T) {
	dir := writeCrashStore(t, 1, 10)
	segs := walSegments(t, dir)
	first := segs[0].path
	b, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b[segmentEnd(t, first)-3] ^= 0xff // inside the last record
	if err := os.WriteFile(first, b, 0o600); err != nil {
		t.Fatal(err)
	}
	next := walSegmentPath(filepath.Join(dir, walDirName), 11)
	if err := os.WriteFile(next, appendWALRecord(nil, 11, 11, []Op{{Space: 1, Key: k("later"), Value: k("v")}}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{FlushPolicy: 1})
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Open with a damaged record before the end of the log: %v, want an error", err)
	}
}

func TestReplayRefusesAGap(t *testing.T) {
	dir := writeCrashStore(t, 2, 5)
	next := walSegmentPath(filepath.Join(dir, walDirName), 7)
	if err := os.WriteFile(next, appendWALRecord(nil, 7, 7, []Op{{Space: 1, Key: k("after-gap"), Value: k("v")}}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{FlushPolicy: 2})
	if err == nil || !strings.Contains(err.Error(), "follows 5") {
		t.Fatalf("Open with seqno 6 missing from the log: %v, want an error", err)
	}
}

func TestRestoreSnapshotRefusesALeftoverLog(t *testing.T) {
	src := openDB(t, t.TempDir(), 2)
	var snap bytes.Buffer
	if _, err := src.WriteSnapshot(context.Background(), &snap); err != nil {
		t.Fatal(err)
	}
	dir := writeCrashStore(t, 2, 3)
	if err := os.Remove(filepath.Join(dir, dataFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreSnapshot(context.Background(), dir, &snap); err == nil || !strings.Contains(err.Error(), "log") {
		t.Fatalf("RestoreSnapshot over a leftover log: %v, want an error", err)
	}
}

// FuzzWALRecord decodes arbitrary bytes as a log record: it must fail cleanly or decode to ops that
// encode back to exactly the bytes it consumed.
func FuzzWALRecord(f *testing.F) {
	f.Add(appendWALRecord(nil, 1, 1, []Op{{Space: 1, Key: k("a"), Value: k("b")}}))
	f.Add(appendWALRecord(nil, 5, 9, []Op{{Space: 3, Key: k("x"), Delete: true}, {Space: 4, DropSpace: true}}))
	f.Add(appendWALRecord(nil, 2, 2, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		first, last, ops, n, err := decodeWALRecord(b)
		if err != nil {
			return
		}
		if again := appendWALRecord(nil, first, last, ops); !bytes.Equal(again, b[:n]) {
			t.Fatalf("record %x decodes to %d..%d %v which encodes to %x", b[:n], first, last, ops, again)
		}
	})
}
