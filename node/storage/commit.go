package storage

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// commitWriteSet applies ws to memory at seqno (0 = next local seqno) once every lower seqno is applied,
// publishes it, and queues it for bbolt. bfAbort makes it abort local holders of locks on its keys (remote
// write-sets). The returned batch is done when the write is durable per the flush policy.
func (db *DB) commitWriteSet(ws *WriteSet, seqno uint64, bfAbort bool) (*batch, error) {
	db.applyMu.Lock()
	defer db.applyMu.Unlock()
	if seqno == 0 {
		seqno = db.lastApplied + 1
	}
	for db.lastApplied+1 != seqno {
		if seqno <= db.lastApplied {
			return nil, fmt.Errorf("storage: seqno %d already applied (last applied %d)", seqno, db.lastApplied)
		}
		if db.turns[seqno] != nil {
			return nil, fmt.Errorf("storage: seqno %d is already waiting to be applied", seqno)
		}
		// One channel per waiting seqno: applying s wakes only the waiter of s+1.
		turn := make(chan struct{})
		db.turns[seqno] = turn
		db.applyMu.Unlock()
		select {
		case <-turn:
			db.applyMu.Lock()
		case <-db.closing:
			db.applyMu.Lock()
			delete(db.turns, seqno)
			return nil, ErrClosed
		}
	}
	ws.Seqno = seqno
	db.applyOps(ws.Ops, seqno)
	db.lastApplied = seqno
	db.visible.Store(seqno)
	if bfAbort {
		// After publishing: a transaction that locks one of these keys from now on reads the new version,
		// and every one that locked it earlier (and may have read the old one) is aborted here.
		db.abortLockHolders(ws)
	}
	b := db.flush.enqueue(ws.Ops, seqno)
	if next := db.turns[seqno+1]; next != nil {
		delete(db.turns, seqno+1)
		close(next)
	}
	return b, nil
}

// applyOps installs the versions of one commit. Called with applyMu held, before the seqno is published.
func (db *DB) applyOps(ops []Op, seq uint64) {
	horizon := db.horizon.Load()
	for i := range ops {
		op := &ops[i]
		if op.DropSpace {
			db.dropSpace(op.Space, seq)
			continue
		}
		sp := db.spaceOrCreate(op.Space)
		mk := makeKey(op.Key)
		v := &version{seq: seq, val: op.Value, del: op.Delete}
		sp.mu.Lock()
		slot := sp.tree.GetPtr(mk)
		if slot == nil {
			if !op.Delete {
				sp.tree.Set(mk, v)
			}
			sp.mu.Unlock()
			continue
		}
		v.next.Store(*slot)
		*slot = v
		sp.mu.Unlock()
		v.truncate(horizon)
		if op.Delete || v.next.Load() != nil {
			db.gc.add(sp, mk, v)
		}
	}
}

// dropSpace puts a tombstone on every live key of the space; the collector removes them once no snapshot
// can see the old rows.
func (db *DB) dropSpace(id SpaceID, seq uint64) {
	sp := db.space(id)
	if sp == nil {
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var keys []mkey
	sp.tree.Ascend(mkey{}, false, func(k mkey, h *version) bool {
		if !h.del {
			keys = append(keys, k)
		}
		return true
	})
	for _, k := range keys {
		slot := sp.tree.GetPtr(k)
		v := &version{seq: seq, del: true}
		v.next.Store(*slot)
		*slot = v
		db.gc.add(sp, k, v)
	}
}

// Apply applies a write-set that did not originate in a local Txn (a remote write-set of the total order) at
// seqno, after every lower seqno has been applied. Local transactions holding locks on its keys that have not
// started committing are BF-aborted. An empty ws only advances the position (a seqno that failed
// certification). Apply returns once ws is applied in memory and queued for bbolt (see DurableSeqno).
func (db *DB) Apply(ctx context.Context, ws *WriteSet, seqno uint64) error {
	if seqno == 0 {
		return fmt.Errorf("storage: apply write-set of txn %d: seqno 0", ws.TxnID)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: apply seqno %d: %w", seqno, err)
	}
	// A write bbolt would refuse must not reach memory: it would make the store refuse every later commit.
	for i := range ws.Ops {
		if op := &ws.Ops[i]; !op.DropSpace {
			if err := checkSizes(op.Key, op.Value); err != nil {
				return fmt.Errorf("storage: apply seqno %d: %w", seqno, err)
			}
		}
	}
	if err := db.enter(); err != nil {
		return err
	}
	defer db.inflight.Done()
	if _, err := db.commitWriteSet(ws, seqno, true); err != nil {
		return fmt.Errorf("storage: apply: %w", err)
	}
	db.stats.applied.Add(1)
	return nil
}

// batch is a group of consecutive commits written in one bbolt transaction.
type batch struct {
	ops   []Op
	seqno uint64
	done  chan struct{}
	err   error
}

// flusher owns the goroutine that writes batches to bbolt in seqno order (group commit) and, with policy 2,
// fsyncs once a second.
type flusher struct {
	db      *DB
	mu      sync.Mutex
	pending *batch
	wake    chan struct{}
	quit    chan struct{}
}

func (f *flusher) init(db *DB) {
	f.db = db
	f.wake = make(chan struct{}, 1)
	f.quit = make(chan struct{})
	f.pending = &batch{done: make(chan struct{})}
}

// enqueue adds one commit's ops to the pending batch. Called in seqno order (under applyMu).
func (f *flusher) enqueue(ops []Op, seqno uint64) *batch {
	f.mu.Lock()
	b := f.pending
	b.ops = append(b.ops, ops...)
	b.seqno = seqno
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return b
}

func (f *flusher) stop() { close(f.quit) }

func (f *flusher) run() {
	defer f.db.bgWG.Done()
	var tick <-chan time.Time
	if f.db.policy == 2 {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	dirty := false
	for {
		select {
		case <-f.wake:
			// Let committers that are runnable (typically the ones the last batch just released) reach the
			// queue first: a bigger batch costs about the same bbolt transaction and fsync as a small one.
			runtime.Gosched()
			dirty = f.writePending() || dirty
		case <-tick:
			if dirty {
				f.sync()
				dirty = false
			}
		case <-f.quit:
			// Close waited for every commit, so this drains the last batch.
			f.writePending()
			return
		}
	}
}

// writePending writes the pending batch, if any, and wakes its committers.
func (f *flusher) writePending() bool {
	f.mu.Lock()
	b := f.pending
	if b.seqno == 0 {
		f.mu.Unlock()
		return false
	}
	f.pending = &batch{done: make(chan struct{}), ops: make([]Op, 0, len(b.ops))}
	f.mu.Unlock()
	if p := f.db.fatal.Load(); p != nil {
		b.err = *p
	} else if err := writeBatch(f.db.bolt, b.ops, b.seqno); err != nil {
		// The commits are already visible in memory but not on disk: refuse everything from now on rather than
		// acknowledge commits that a restart would lose.
		err = fmt.Errorf("storage: write commits up to seqno %d: %w", b.seqno, err)
		f.db.log.Error("storage write failed; refusing further commits", "err", err)
		f.db.fatal.CompareAndSwap(nil, &err)
		b.err = err
	} else {
		f.db.durable.Store(b.seqno)
		f.db.stats.flushes.Add(1)
	}
	close(b.done)
	return true
}

func (f *flusher) sync() {
	if err := f.db.bolt.Sync(); err != nil {
		err = fmt.Errorf("storage: background fsync: %w", err)
		f.db.log.Error("storage fsync failed; refusing further commits", "err", err)
		f.db.fatal.CompareAndSwap(nil, &err)
	}
}
