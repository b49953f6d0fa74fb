package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cpuClock reports process CPU time per op next to wall time: the benchmark machine is shared, so wall
// ns/op alone mostly measures the neighbours.
type cpuClock struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) cpuClock {
	b.ResetTimer()
	return cpuClock{start: processCPU()}
}

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
}

const benchRows = 100000

func benchKey(i int) []byte { return binary.BigEndian.AppendUint64([]byte{0x80}, uint64(i)) }

// openLoaded opens a store holding loadBench's rows, loaded and checkpointed before it returns (a reopen
// after Close), so that the benchmark's timed part does not include copying them into bbolt.
func openLoaded(b *testing.B, policy int) *DB {
	b.Helper()
	dir := b.TempDir()
	db, err := Open(dir, Options{FlushPolicy: policy})
	if err != nil {
		b.Fatal(err)
	}
	loadBench(b, db)
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	if db, err = Open(dir, Options{FlushPolicy: policy}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

// loadBench fills space 1 with benchRows rows of 120 bytes (about a sysbench row).
func loadBench(b *testing.B, db *DB) {
	b.Helper()
	ctx := context.Background()
	val := make([]byte, 120)
	for start := 0; start < benchRows; start += 10000 {
		tx := db.Begin(TxOptions{})
		for i := start; i < start+10000; i++ {
			if err := tx.Put(ctx, 1, benchKey(i), val); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommit measures commits/s of one-row transactions with 1, 4 and 16 concurrent committers.
func BenchmarkCommit(b *testing.B) {
	for _, policy := range []int{1, 2} {
		for _, conc := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("policy%d/committers%d", policy, conc), func(b *testing.B) {
				db, err := Open(b.TempDir(), Options{FlushPolicy: policy})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				ctx := context.Background()
				val := make([]byte, 120)
				var next atomic.Int64
				var wg sync.WaitGroup
				clock := startCPU(b)
				for range conc {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							tx := db.Begin(TxOptions{})
							if err := tx.Put(ctx, 1, benchKey(int(i)), val); err != nil {
								b.Error(err)
								return
							}
							if err := tx.Commit(ctx); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				clock.report(b)
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
				b.ReportMetric(float64(b.N)/float64(max(db.Stats().Flushes, 1)), "commits/flush")
			})
		}
	}
}

// BenchmarkPointGet is an autocommit point select: Begin, Get, Rollback.
func BenchmarkPointGet(b *testing.B) {
	db := openLoaded(b, 2)
	b.ReportAllocs()
	clock := startCPU(b)
	defer clock.report(b)
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
		key := benchKey(0)
		for pb.Next() {
			binary.BigEndian.PutUint64(key[1:], uint64(rng.IntN(benchRows)))
			tx := db.Begin(TxOptions{ReadOnly: true})
			if _, ok, err := tx.Get(1, key); err != nil || !ok {
				b.Fatal("missing row", err)
			}
			tx.Rollback()
		}
	})
}

// BenchmarkScan100 is sysbench's simple range: 100 consecutive rows in a fresh read-only transaction.
func BenchmarkScan100(b *testing.B) {
	db := openLoaded(b, 2)
	b.ReportAllocs()
	clock := startCPU(b)
	defer clock.report(b)
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
		for pb.Next() {
			s := rng.IntN(benchRows - 100)
			tx := db.Begin(TxOptions{ReadOnly: true})
			it := tx.Scan(1, benchKey(s), benchKey(s+100), false)
			n := 0
			for it.Next() {
				n++
			}
			it.Close()
			tx.Rollback()
			if n != 100 {
				b.Fatalf("scanned %d rows", n)
			}
		}
	})
}

// BenchmarkUpdateRow is sysbench's index update: lock a row, write it, commit (policy 2).
func BenchmarkUpdateRow(b *testing.B) {
	db := openLoaded(b, 2)
	ctx := context.Background()
	val := make([]byte, 120)
	b.ReportAllocs()
	clock := startCPU(b)
	defer clock.report(b)
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 3))
		for pb.Next() {
			key := benchKey(rng.IntN(benchRows))
			tx := db.Begin(TxOptions{})
			if _, _, err := tx.GetForUpdate(ctx, 1, key, true); err != nil {
				b.Fatal(err)
			}
			if err := tx.Put(ctx, 1, key, val); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetInTxn is a point read inside an open transaction (no Begin/Rollback), single goroutine.
func BenchmarkGetInTxn(b *testing.B) {
	db := openLoaded(b, 2)
	tx := db.Begin(TxOptions{ReadOnly: true})
	defer tx.Rollback()
	rng := rand.New(rand.NewPCG(5, 6))
	key := benchKey(0)
	b.ReportAllocs()
	clock := startCPU(b)
	defer clock.report(b)
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint64(key[1:], uint64(rng.IntN(benchRows)))
		if _, ok, err := tx.Get(1, key); err != nil || !ok {
			b.Fatal("missing row", err)
		}
	}
}

// BenchmarkOLTPReadWrite approximates one sysbench oltp_read_write transaction on the storage API: 10 point
// reads, one 100-row range scan, two locked updates, a delete and an insert, then commit. 16 clients.
func BenchmarkOLTPReadWrite(b *testing.B) {
	for _, policy := range []int{1, 2} {
		b.Run(fmt.Sprintf("policy%d", policy), func(b *testing.B) {
			db := openLoaded(b, policy)
			ctx := context.Background()
			val := make([]byte, 120)
			b.SetParallelism(8) // 16 clients on 2 CPUs
			clock := startCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 4))
				for pb.Next() {
					if err := oltpTxn(ctx, db, rng, val); err != nil && !errors.Is(err, ErrDeadlock) {
						b.Error(err)
						return
					}
				}
			})
			clock.report(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txns/s")
		})
	}
}

func oltpTxn(ctx context.Context, db *DB, rng *rand.Rand, val []byte) error {
	tx := db.Begin(TxOptions{})
	defer tx.Rollback()
	for range 10 {
		if _, _, err := tx.Get(1, benchKey(rng.IntN(benchRows))); err != nil {
			return err
		}
	}
	s := rng.IntN(benchRows - 100)
	it := tx.Scan(1, benchKey(s), benchKey(s+100), false)
	for it.Next() {
	}
	it.Close()
	for range 2 {
		key := benchKey(rng.IntN(benchRows))
		if _, _, err := tx.GetForUpdate(ctx, 1, key, true); err != nil {
			return err
		}
		if err := tx.Put(ctx, 1, key, val); err != nil {
			return err
		}
	}
	key := benchKey(rng.IntN(benchRows))
	if err := tx.Delete(ctx, 1, key); err != nil {
		return err
	}
	if err := tx.Put(ctx, 1, key, val); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// BenchmarkOpen measures loading benchRows rows of 120 bytes from bbolt into memory.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	db, err := Open(dir, Options{FlushPolicy: 2})
	if err != nil {
		b.Fatal(err)
	}
	loadBench(b, db)
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	clock := startCPU(b)
	for i := 0; i < b.N; i++ {
		db, err := Open(dir, Options{FlushPolicy: 2})
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
	clock.report(b)
}
