package storage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// modelTxn mirrors one open transaction: its snapshot of the committed state and its own writes.
type modelTxn struct {
	tx    *Txn
	snap  map[string]string
	own   map[string]*string // nil value = deleted
	drop  bool               // the space was dropped in this txn
	dirty bool
	sp    *modelSavepoint
}

type modelSavepoint struct {
	at   Savepoint
	own  map[string]*string
	drop bool
}

// TestRandomTxnsAgainstModel interleaves random operations of several transactions in one goroutine (lock
// conflicts fail at once with a zero lock wait timeout) and checks every read against a snapshot-isolation
// model, with the collector running between steps and a restart in the middle.
func TestRandomTxnsAgainstModel(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{FlushPolicy: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 12))
	committed := map[string]string{}
	const space = 4
	var open []*modelTxn
	key := func() string { return fmt.Sprintf("k%02d", rng.IntN(40)) }

	view := func(m *modelTxn, base map[string]string) map[string]string {
		out := map[string]string{}
		if !m.drop {
			maps.Copy(out, base)
		}
		for k, v := range m.own {
			if v == nil {
				delete(out, k)
			} else {
				out[k] = *v
			}
		}
		return out
	}
	render := func(m map[string]string, lo, hi string, reverse bool) string {
		var keys []string
		for k := range m {
			if (lo == "" || k >= lo) && (hi == "" || k < hi) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		if reverse {
			slices.Reverse(keys)
		}
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s ", k, m[k])
		}
		return b.String()
	}
	bound := func() []byte {
		if rng.IntN(3) == 0 {
			return nil
		}
		return []byte(key())
	}

	for step := 0; step < 6000; step++ {
		if len(open) < 4 && rng.IntN(4) == 0 {
			tx := db.Begin(TxOptions{})
			tx.SetLockWaitTimeout(0)
			open = append(open, &modelTxn{tx: tx, snap: maps.Clone(committed), own: map[string]*string{}})
		}
		if len(open) == 0 {
			continue
		}
		i := rng.IntN(len(open))
		m := open[i]
		k := key()
		switch op := rng.IntN(100); {
		case op < 30: // snapshot read
			v, ok, err := m.tx.Get(space, []byte(k))
			want, wantOK := view(m, m.snap)[k]
			if err != nil || ok != wantOK || string(v) != want {
				t.Fatalf("step %d: Get(%s) = %q,%v,%v want %q,%v", step, k, v, ok, err, want, wantOK)
			}
		case op < 40: // locking read sees the latest committed state
			v, ok, err := m.tx.GetForUpdate(ctx, space, []byte(k), rng.IntN(2) == 0)
			if errors.Is(err, ErrLockWaitTimeout) {
				continue
			}
			want, wantOK := view(m, committed)[k]
			if err != nil || ok != wantOK || string(v) != want {
				t.Fatalf("step %d: GetForUpdate(%s) = %q,%v,%v want %q,%v", step, k, v, ok, err, want, wantOK)
			}
		case op < 55:
			val := fmt.Sprint(step)
			err := m.tx.Put(ctx, space, []byte(k), []byte(val))
			if errors.Is(err, ErrLockWaitTimeout) {
				continue
			}
			if err != nil {
				t.Fatalf("step %d: Put: %v", step, err)
			}
			m.own[k] = &val
			m.dirty = true
		case op < 62:
			err := m.tx.Delete(ctx, space, []byte(k))
			if errors.Is(err, ErrLockWaitTimeout) {
				continue
			}
			if err != nil {
				t.Fatalf("step %d: Delete: %v", step, err)
			}
			m.own[k] = nil
			m.dirty = true
		case op < 72:
			lo, hi, rev := bound(), bound(), rng.IntN(2) == 0
			got := scanAll(t, m.tx.Scan(space, lo, hi, rev))
			want := strings.TrimSpace(render(view(m, m.snap), string(lo), string(hi), rev))
			if got != want {
				t.Fatalf("step %d: Scan(%s,%s,%v) = %q want %q", step, lo, hi, rev, got, want)
			}
		case op < 76: // locking scan: latest committed state; may stop at a row another txn holds
			lo, hi, rev := bound(), bound(), rng.IntN(2) == 0
			it := m.tx.ScanForUpdate(ctx, space, lo, hi, rev, rng.IntN(2) == 0)
			var b strings.Builder
			for it.Next() {
				fmt.Fprintf(&b, "%s=%s ", it.Key(), it.Value())
			}
			err := it.Err()
			it.Close()
			if err != nil && !errors.Is(err, ErrLockWaitTimeout) {
				t.Fatalf("step %d: ScanForUpdate: %v", step, err)
			}
			want := render(view(m, committed), string(lo), string(hi), rev)
			if got := b.String(); (err == nil && got != want) || !strings.HasPrefix(want, got) {
				t.Fatalf("step %d: ScanForUpdate(%s,%s,%v) = %q (err %v) want %q", step, lo, hi, rev, got, err, want)
			}
		case op < 77:
			if err := m.tx.DropSpace(space); err != nil {
				t.Fatal(err)
			}
			m.drop, m.own, m.dirty = true, map[string]*string{}, true
		case op < 84:
			m.sp = &modelSavepoint{at: m.tx.Savepoint(), own: maps.Clone(m.own), drop: m.drop}
		case op < 88:
			if m.sp == nil {
				continue
			}
			if err := m.tx.RollbackTo(m.sp.at); err != nil {
				t.Fatalf("step %d: RollbackTo: %v", step, err)
			}
			m.own, m.drop = maps.Clone(m.sp.own), m.sp.drop
		case op < 96:
			if err := m.tx.Commit(ctx); err != nil {
				t.Fatalf("step %d: Commit: %v", step, err)
			}
			if m.dirty {
				committed = view(m, committed)
			}
			open = slices.Delete(open, i, i+1)
		default:
			m.tx.Rollback()
			open = slices.Delete(open, i, i+1)
		}
		if step%50 == 0 {
			db.gc.pass()
		}
		if step == 3000 { // restart with no open transactions
			for _, m := range open {
				m.tx.Rollback()
			}
			open = nil
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if db, err = Open(dir, Options{FlushPolicy: 2}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tx := db.Begin(TxOptions{})
	defer tx.Rollback()
	if got, want := scanAll(t, tx.Scan(space, nil, nil, false)), strings.TrimSpace(render(committed, "", "", false)); got != want {
		t.Fatalf("final state %q want %q", got, want)
	}
}
