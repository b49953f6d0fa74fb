package storage

import (
	"context"
	"fmt"
	"os"
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

// batch is a group of consecutive commits written as one log record.
type batch struct {
	ops   []Op
	first uint64 // seqno of the batch's first commit
	seqno uint64 // seqno of its last
	done  chan struct{}
	err   error
}

// flusher owns the goroutine that appends batches to the write-ahead log in seqno order (group commit),
// fsyncs per the policy, and hands the logged commits to the checkpoint goroutine, which copies them into
// bbolt and then deletes the log segments that held them.
type flusher struct {
	db      *DB
	mu      sync.Mutex
	pending *batch
	wake    chan struct{}
	quit    chan struct{}

	// Owned by the flusher goroutine.
	wal       walWriter
	ckpt      [][]Op // ops of the commits logged since the last hand-off, in seqno order
	ckptSeqno uint64 // last seqno in ckpt
	lastCkpt  time.Time
	jobs      chan checkpointJob
}

// checkpointJob is one checkpoint: commits up to seqno (a record boundary) and the segments that become
// unnecessary once they are in bbolt.
type checkpointJob struct {
	batches  [][]Op
	seqno    uint64
	write    bool // false: nothing new to copy, only segments to delete
	segments []string
}

func (f *flusher) init(db *DB, walDir string) {
	f.db = db
	f.wake = make(chan struct{}, 1)
	f.quit = make(chan struct{})
	f.pending = &batch{done: make(chan struct{})}
	f.wal.dir = walDir
	f.jobs = make(chan checkpointJob, 1)
	f.lastCkpt = time.Now()
}

// enqueue adds one commit's ops to the pending batch. Called in seqno order (under applyMu).
func (f *flusher) enqueue(ops []Op, seqno uint64) *batch {
	f.mu.Lock()
	b := f.pending
	b.ops = append(b.ops, ops...)
	if b.first == 0 {
		b.first = seqno
	}
	b.seqno = seqno
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return b
}

func (f *flusher) stop() { close(f.quit) }

// replicatedFlushDelay is how long a replicated store's flusher gathers commits before writing them.
const replicatedFlushDelay = 5 * time.Millisecond

func (f *flusher) run() {
	defer f.db.bgWG.Done()
	// Once a second: policy 2's fsync of the log, and the checkpoint interval.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	unsynced := false
	for {
		select {
		case <-f.wake:
			if f.db.repl != nil {
				// Nothing waits for this write in a replicated store (Txn.Commit, DB.Apply): gather the
				// commits of a few milliseconds into one write rather than waking and writing for each.
				t := time.NewTimer(replicatedFlushDelay)
				select {
				case <-t.C:
				case <-f.quit:
					t.Stop()
				}
			} else {
				// Let committers that are runnable (typically the ones the last batch just released) reach
				// the queue first: a bigger batch costs about the same write (and fsync) as a small one.
				runtime.Gosched()
			}
			if f.writePending() && f.db.policy == 2 {
				unsynced = true
			}
			f.maybeCheckpoint(false)
		case <-tick.C:
			if unsynced {
				f.sync()
				unsynced = false
			}
			f.maybeCheckpoint(false)
		case <-f.quit:
			// Close waited for every commit, so this drains the last batch; the final checkpoint leaves bbolt
			// complete and the log empty.
			f.writePending()
			f.maybeCheckpoint(true)
			if err := f.wal.close(); err != nil {
				f.fail(fmt.Errorf("storage: close log segment: %w", err))
			}
			close(f.jobs)
			return
		}
	}
}

// writePending appends the pending batch, if any, to the log and wakes its committers.
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
	} else if err := f.wal.append(b.first, b.seqno, b.ops, f.db.policy == 1); err != nil {
		// The commits are already visible in memory but not on disk: refuse everything from now on rather than
		// acknowledge commits that a restart would lose.
		b.err = f.fail(fmt.Errorf("storage: write commits %d..%d to the log: %w", b.first, b.seqno, err))
	} else {
		f.db.durable.Store(b.seqno)
		f.db.stats.flushes.Add(1)
		f.ckpt = append(f.ckpt, b.ops)
		f.ckptSeqno = b.seqno
	}
	close(b.done)
	return true
}

// maybeCheckpoint hands the logged commits to the checkpoint goroutine when enough log has accumulated or
// enough time has passed, and always when final. A checkpoint still queued makes it wait for the next call
// (the commits keep accumulating), so at most two are in flight and commits never wait for one.
func (f *flusher) maybeCheckpoint(final bool) {
	if f.db.fatal.Load() != nil {
		return
	}
	dirty := len(f.ckpt) > 0
	if !final && (!dirty || len(f.jobs) > 0 ||
		(f.wal.bytes < f.db.ckptBytes && time.Since(f.lastCkpt) < checkpointInterval)) {
		return
	}
	if err := f.wal.rotate(f.ckptSeqno, final); err != nil {
		f.fail(fmt.Errorf("storage: start a log segment: %w", err))
		return
	}
	job := checkpointJob{batches: f.ckpt, seqno: f.ckptSeqno, write: dirty, segments: f.wal.closed}
	f.ckpt, f.wal.closed = nil, nil
	f.lastCkpt = time.Now()
	f.jobs <- job
}

// runCheckpoints copies handed-off commits into bbolt (each checkpoint one fsynced bbolt transaction) and
// then deletes the log segments they came from. After a failure nothing more is deleted: the log is what a
// restart replays.
func (f *flusher) runCheckpoints() {
	defer f.db.bgWG.Done()
	for job := range f.jobs {
		if f.db.fatal.Load() != nil {
			continue
		}
		if job.write {
			if err := writeBatch(f.db.bolt, job.batches, job.seqno); err != nil {
				f.fail(fmt.Errorf("storage: checkpoint commits up to seqno %d: %w", job.seqno, err))
				continue
			}
		}
		for _, path := range job.segments {
			if err := os.Remove(path); err != nil {
				// Harmless for correctness: replay skips records bbolt already holds.
				f.db.log.Warn("storage: could not delete a checkpointed log segment", "segment", path, "err", err)
			}
		}
		f.db.stats.checkpoints.Add(1)
	}
}

func (f *flusher) sync() {
	if f.wal.f == nil {
		return
	}
	if err := f.wal.f.Sync(); err != nil {
		f.fail(fmt.Errorf("storage: background fsync of the log: %w", err))
	}
}

// fail makes err the store's fatal error: it refuses every later commit.
func (f *flusher) fail(err error) error {
	f.db.log.Error("storage write failed; refusing further commits", "err", err)
	f.db.fatal.CompareAndSwap(nil, &err)
	return err
}
