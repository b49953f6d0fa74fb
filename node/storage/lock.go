package storage

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

type lockMode uint8

const (
	lockShared lockMode = iota + 1
	lockExclusive
)

func conflicts(a, b lockMode) bool { return a == lockExclusive || b == lockExclusive }

const lockShards = 64

// lockManager holds row locks keyed by (space, key), striped over shards so that unrelated keys never share a
// mutex. Waiting is FIFO per key. Deadlock detection walks the wait-for graph when a request blocks; it is
// serialised by detectMu and takes one shard mutex at a time, and no code holding a shard mutex takes detectMu.
type lockManager struct {
	seed     maphash.Seed
	shards   [lockShards]lockShard
	detectMu sync.Mutex
}

type lockShard struct {
	mu sync.Mutex
	m  map[SpaceID]map[string]*lockEntry
}

type lockEntry struct {
	key     string // the map key, reused for heldLock without another allocation
	holders []lockHolder
	waiters []*lockWaiter
}

type lockHolder struct {
	txn  *Txn
	mode lockMode
}

type lockWaiter struct {
	txn     *Txn
	mode    lockMode
	upgrade bool
	shard   *lockShard
	entry   *lockEntry
	ready   chan struct{} // closed when granted
	aborted chan struct{} // closed by Txn.abort
	granted bool          // guarded by shard.mu
}

// heldLock is a lock a transaction holds, for release at the end.
type heldLock struct {
	space SpaceID
	key   string
}

func (lm *lockManager) init() {
	lm.seed = maphash.MakeSeed()
	for i := range lm.shards {
		lm.shards[i].m = map[SpaceID]map[string]*lockEntry{}
	}
}

func (lm *lockManager) shard(space SpaceID, key []byte) *lockShard {
	return lm.shardOf(space, maphash.Bytes(lm.seed, key))
}

func (lm *lockManager) shardOf(space SpaceID, keyHash uint64) *lockShard {
	return &lm.shards[(keyHash^uint64(space)*0x9e3779b97f4a7c15)%lockShards]
}

func (e *lockEntry) holderIndex(t *Txn) int {
	for i := range e.holders {
		if e.holders[i].txn == t {
			return i
		}
	}
	return -1
}

// compatible reports whether t may hold mode next to the other holders.
func (e *lockEntry) compatible(t *Txn, mode lockMode) bool {
	for _, h := range e.holders {
		if h.txn != t && conflicts(h.mode, mode) {
			return false
		}
	}
	return true
}

func (e *lockEntry) grant(t *Txn, mode lockMode) {
	if i := e.holderIndex(t); i >= 0 {
		e.holders[i].mode = max(e.holders[i].mode, mode)
		return
	}
	e.holders = append(e.holders, lockHolder{txn: t, mode: mode})
}

// grantWaiters wakes waiters from the head of the queue while they are compatible. Called with the shard locked.
func (e *lockEntry) grantWaiters() {
	for len(e.waiters) > 0 {
		w := e.waiters[0]
		if !e.compatible(w.txn, w.mode) {
			return
		}
		e.grant(w.txn, w.mode)
		e.waiters = slices.Delete(e.waiters, 0, 1)
		w.granted = true
		w.txn.waiting.Store(nil)
		close(w.ready)
	}
}

// acquire takes (space,key) in mode for t, waiting FIFO behind conflicting holders and earlier waiters.
func (lm *lockManager) acquire(ctx context.Context, t *Txn, space SpaceID, key []byte, mode lockMode) error {
	sh := lm.shard(space, key)
	sh.mu.Lock()
	keys := sh.m[space]
	if keys == nil {
		keys = map[string]*lockEntry{}
		sh.m[space] = keys
	}
	e := keys[string(key)]
	if e == nil {
		skey := string(key)
		e = &lockEntry{key: skey}
		keys[skey] = e
		e.holders = append(e.holders, lockHolder{txn: t, mode: mode})
		sh.mu.Unlock()
		return t.addHeld(lm, heldLock{space: space, key: skey}, false)
	}
	hi := e.holderIndex(t)
	if hi >= 0 && e.holders[hi].mode >= mode {
		sh.mu.Unlock()
		return nil
	}
	upgrade := hi >= 0
	// FIFO: a new request queues behind existing waiters even if the holders would allow it; an upgrade
	// (t already holds the key shared) does not, because waiters behind it may be waiting for t itself.
	if e.compatible(t, mode) && (upgrade || len(e.waiters) == 0) {
		e.grant(t, mode)
		sh.mu.Unlock()
		return t.addHeld(lm, heldLock{space: space, key: e.key}, upgrade)
	}
	w := &lockWaiter{txn: t, mode: mode, upgrade: upgrade, shard: sh, entry: e,
		ready: make(chan struct{}), aborted: make(chan struct{})}
	if upgrade {
		// Upgrades go ahead of plain waiters, behind earlier upgrades.
		i := 0
		for i < len(e.waiters) && e.waiters[i].upgrade {
			i++
		}
		e.waiters = slices.Insert(e.waiters, i, w)
	} else {
		e.waiters = append(e.waiters, w)
	}
	t.waiting.Store(w)
	sh.mu.Unlock()
	t.db.stats.lockWaits.Add(1)

	if t.state.Load() == stateAborted {
		// Aborted before t.waiting was visible to abort: nobody will close w.aborted.
		if lm.cancelWait(space, key, w) {
			return ErrDeadlock
		}
	} else if lm.detectDeadlock(t) {
		if lm.cancelWait(space, key, w) {
			t.db.stats.deadlocks.Add(1)
			return ErrDeadlock
		}
		// Granted while we looked: the cycle has already resolved.
	} else {
		timer := time.NewTimer(t.lockTimeout)
		select {
		case <-w.ready:
		case <-timer.C:
			if lm.cancelWait(space, key, w) {
				t.db.stats.timeouts.Add(1)
				return ErrLockWaitTimeout
			}
		case <-ctx.Done():
			if lm.cancelWait(space, key, w) {
				return fmt.Errorf("lock wait: %w", ctx.Err())
			}
		case <-w.aborted:
			if lm.cancelWait(space, key, w) {
				return ErrDeadlock
			}
		case <-t.db.closing:
			if lm.cancelWait(space, key, w) {
				return ErrClosed
			}
		}
		timer.Stop()
	}
	return t.addHeld(lm, heldLock{space: space, key: e.key}, upgrade)
}

// cancelWait removes w from its queue; false means it was granted first (and the caller now holds the lock).
func (lm *lockManager) cancelWait(space SpaceID, key []byte, w *lockWaiter) bool {
	sh := w.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if w.granted {
		return false
	}
	e := w.entry
	if i := slices.Index(e.waiters, w); i >= 0 {
		e.waiters = slices.Delete(e.waiters, i, i+1)
	}
	w.txn.waiting.Store(nil)
	e.grantWaiters() // waiters behind w may be compatible now
	if len(e.holders) == 0 && len(e.waiters) == 0 {
		sh.dropEntry(space, string(key))
	}
	return true
}

func (sh *lockShard) dropEntry(space SpaceID, key string) {
	keys := sh.m[space]
	delete(keys, key)
	if len(keys) == 0 {
		delete(sh.m, space)
	}
}

// release drops t's lock on one key and grants waiters.
func (lm *lockManager) release(t *Txn, l heldLock) {
	sh := lm.shardOf(l.space, maphash.String(lm.seed, l.key))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[l.space][l.key]
	if e == nil {
		return
	}
	if i := e.holderIndex(t); i >= 0 {
		e.holders = slices.Delete(e.holders, i, i+1)
	}
	e.grantWaiters()
	if len(e.holders) == 0 && len(e.waiters) == 0 {
		sh.dropEntry(l.space, l.key)
	}
}

// holders returns the transactions holding (space,key).
func (lm *lockManager) holders(space SpaceID, key []byte, out []*Txn) []*Txn {
	sh := lm.shard(space, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[space][string(key)]; e != nil {
		for _, h := range e.holders {
			out = append(out, h.txn)
		}
	}
	return out
}

// spaceHolders returns the transactions holding any lock in space.
func (lm *lockManager) spaceHolders(space SpaceID, out []*Txn) []*Txn {
	for i := range lm.shards {
		sh := &lm.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m[space] {
			for _, h := range e.holders {
				out = append(out, h.txn)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// blockers lists the transactions t's current wait is behind: conflicting holders and earlier conflicting
// waiters (FIFO makes them block t too).
func (lm *lockManager) blockers(t *Txn, out []*Txn) []*Txn {
	w := t.waiting.Load()
	if w == nil {
		return out
	}
	sh := w.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if w.granted {
		return out
	}
	e := w.entry
	for _, h := range e.holders {
		if h.txn != t && conflicts(h.mode, w.mode) {
			out = append(out, h.txn)
		}
	}
	for _, o := range e.waiters {
		if o == w {
			break
		}
		if o.txn != t && conflicts(o.mode, w.mode) {
			out = append(out, o.txn)
		}
	}
	return out
}

// maxDetectSteps bounds the graph walk; like InnoDB, a search that is too long counts as a deadlock.
const maxDetectSteps = 10000

// detectDeadlock reports whether t's new wait closes a cycle in the wait-for graph.
func (lm *lockManager) detectDeadlock(t *Txn) bool {
	lm.detectMu.Lock()
	defer lm.detectMu.Unlock()
	stack := lm.blockers(t, nil)
	visited := map[*Txn]bool{t: true}
	steps := 0
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == t {
			return true
		}
		if visited[n] {
			continue
		}
		visited[n] = true
		if steps++; steps > maxDetectSteps {
			return true
		}
		before := len(stack)
		stack = lm.blockers(n, stack)
		for _, b := range stack[before:] {
			if b == t {
				return true
			}
		}
	}
	return false
}
