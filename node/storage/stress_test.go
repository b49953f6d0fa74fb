package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	bankSpace    SpaceID = 9
	bankAccounts         = 16
	bankInitial          = 1000
)

func account(i int) []byte { return binary.BigEndian.AppendUint16([]byte("acct"), uint16(i)) }

func money(v []byte) int64 { return int64(binary.BigEndian.Uint64(v)) }

func moneyBytes(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// TestBankInvariant moves money between accounts from several goroutines, locking the two accounts in random
// order (so deadlocks happen and are retried), while readers check that every snapshot sums to the same total,
// both by point reads and by scans. It then restarts and checks the total again.
func TestBankInvariant(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{FlushPolicy: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tx := db.Begin(TxOptions{})
	for i := range bankAccounts {
		if err := tx.Put(ctx, bankSpace, account(i), moneyBytes(bankInitial)); err != nil {
			t.Fatal(err)
		}
	}
	mustCommit(t, tx)
	const total = bankAccounts * bankInitial

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var transfers, deadlocks atomic.Int64
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				a, b := rng.IntN(bankAccounts), rng.IntN(bankAccounts)
				if a == b {
					continue
				}
				err := transfer(ctx, db, a, b, int64(rng.IntN(50)), rng.IntN(10) == 0)
				switch {
				case err == nil:
					transfers.Add(1)
				case errors.Is(err, ErrDeadlock):
					deadlocks.Add(1)
				default:
					fail(err)
					return
				}
			}
		}()
	}
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				tx := db.Begin(TxOptions{ReadOnly: true})
				var sum int64
				if r == 0 {
					it := tx.Scan(bankSpace, nil, nil, round%2 == 1)
					n := 0
					for it.Next() {
						sum += money(it.Value())
						n++
					}
					it.Close()
					if n != bankAccounts {
						fail(errors.New("scan saw a different number of accounts"))
					}
				} else {
					for i := range bankAccounts {
						v, ok, err := tx.Get(bankSpace, account(i))
						if err != nil || !ok {
							fail(errors.New("account missing in snapshot"))
							return
						}
						sum += money(v)
					}
				}
				tx.Rollback()
				if sum != total {
					fail(errors.New("snapshot total changed: a reader saw half a commit"))
					return
				}
			}
		}()
	}
	timer := time.NewTimer(1500 * time.Millisecond)
	select {
	case err := <-errs:
		t.Error(err)
	case <-timer.C:
	}
	close(stop)
	wg.Wait()
	if transfers.Load() == 0 {
		t.Fatal("no transfer committed")
	}
	t.Logf("%d transfers, %d deadlocks", transfers.Load(), deadlocks.Load())
	if n := db.locks.count(); n != 0 {
		t.Fatalf("%d lock entries left after every transaction ended", n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir, 2)
	tx = db.Begin(TxOptions{})
	it := tx.Scan(bankSpace, nil, nil, false)
	var sum int64
	for it.Next() {
		sum += money(it.Value())
	}
	it.Close()
	tx.Rollback()
	if sum != total {
		t.Fatalf("total after restart = %d, want %d", sum, total)
	}
}

func transfer(ctx context.Context, db *DB, from, to int, amount int64, abandon bool) error {
	tx := db.Begin(TxOptions{})
	tx.SetLockWaitTimeout(5 * time.Second)
	defer tx.Rollback()
	fv, _, err := tx.GetForUpdate(ctx, bankSpace, account(from), true)
	if err != nil {
		return err
	}
	tv, _, err := tx.GetForUpdate(ctx, bankSpace, account(to), true)
	if err != nil {
		return err
	}
	if err := tx.Put(ctx, bankSpace, account(from), moneyBytes(money(fv)-amount)); err != nil {
		return err
	}
	if err := tx.Put(ctx, bankSpace, account(to), moneyBytes(money(tv)+amount)); err != nil {
		return err
	}
	if abandon {
		return nil // deferred Rollback
	}
	return tx.Commit(ctx)
}

// TestSnapshotsSurviveCollection updates two keys together in every commit while the collector runs
// continuously; each reader keeps its snapshot for many reads and must always see the pair equal and unchanged.
func TestSnapshotsSurviveCollection(t *testing.T) {
	db := openDB(t, t.TempDir(), 2)
	ctx := context.Background()
	stop := make(chan struct{})
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tx := db.Begin(TxOptions{})
			v := moneyBytes(int64(i))
			if err := tx.Put(ctx, 2, k("a"), v); err != nil {
				errs <- err
				return
			}
			var err error
			if i%5 == 0 { // tombstones too
				err = tx.Delete(ctx, 2, k("b"))
			} else {
				err = tx.Put(ctx, 2, k("b"), v)
			}
			if err != nil {
				errs <- err
				return
			}
			if err := tx.Commit(ctx); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Add(1)
	go func() { // collector running flat out
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				db.gc.pass()
			}
		}
	}()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tx := db.Begin(TxOptions{ReadOnly: true})
				a0, okA0, _ := tx.Get(2, k("a"))
				for range 200 {
					a, okA, _ := tx.Get(2, k("a"))
					b, okB, _ := tx.Get(2, k("b"))
					if okA != okA0 || string(a) != string(a0) {
						errs <- errors.New("value changed inside one snapshot")
						return
					}
					if okA && okB && string(a) != string(b) {
						errs <- errors.New("snapshot saw half a commit")
						return
					}
					if okA && !okB && money(a)%5 != 0 {
						errs <- errors.New("snapshot lost a live key")
						return
					}
				}
				tx.Rollback()
			}
		}()
	}
	timer := time.NewTimer(time.Second)
	select {
	case err := <-errs:
		t.Error(err)
	case <-timer.C:
	}
	close(stop)
	wg.Wait()
}
