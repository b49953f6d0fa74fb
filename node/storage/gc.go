package storage

import (
	"sync"
	"time"
)

// collector drops versions that no active snapshot can see. Commits report keys that gained a second version
// or a tombstone; once the key's newest version is at or below the horizon, older versions are cut off and a
// tombstone-only key is removed from its tree.
type collector struct {
	db      *DB
	passMu  sync.Mutex // one pass at a time: a pass owns the queue it took and the spare slice
	mu      sync.Mutex
	queue   []gcItem
	wake    chan struct{}
	quit    chan struct{}
	spare   []gcItem
	pending int // queue length that triggers an early pass
}

type gcItem struct {
	sp   *space
	key  mkey
	head *version // the version the commit installed
}

const (
	gcInterval = time.Second
	gcEarly    = 64 << 10
)

func (c *collector) init(db *DB) {
	c.db = db
	c.wake = make(chan struct{}, 1)
	c.quit = make(chan struct{})
}

func (c *collector) add(sp *space, key mkey, head *version) {
	c.mu.Lock()
	c.queue = append(c.queue, gcItem{sp: sp, key: key, head: head})
	n := len(c.queue)
	c.mu.Unlock()
	if n == gcEarly {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

func (c *collector) stop() { close(c.quit) }

func (c *collector) run() {
	defer c.db.bgWG.Done()
	t := time.NewTicker(gcInterval)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		case <-c.wake:
		}
		c.pass()
	}
}

// pass recomputes the horizon and processes the queue once; items still above the horizon stay queued.
func (c *collector) pass() {
	c.passMu.Lock()
	defer c.passMu.Unlock()
	horizon := c.db.computeHorizon()
	c.mu.Lock()
	items := c.queue
	c.queue = c.spare[:0]
	c.mu.Unlock()
	var keep []gcItem
	for _, it := range items {
		h := it.head
		if h.seq > horizon {
			// Still visible to someone. Keep it only while it is the key's newest version: a newer one is
			// queued too and its truncation covers this chain, so an old snapshot that holds the horizon back
			// does not make the queue grow with every commit.
			it.sp.mu.RLock()
			cur, _ := it.sp.tree.Get(it.key)
			it.sp.mu.RUnlock()
			if cur == h {
				keep = append(keep, it)
			}
			continue
		}
		h.truncate(horizon)
		if !h.del {
			continue
		}
		it.sp.mu.Lock()
		// Only remove the key if nobody wrote it since: a newer version makes it live again (and is queued
		// itself).
		if cur, ok := it.sp.tree.Get(it.key); ok && cur == h {
			it.sp.tree.Delete(it.key)
		}
		it.sp.mu.Unlock()
	}
	clear(items)
	c.mu.Lock()
	c.spare = items[:0]
	c.queue = append(c.queue, keep...)
	c.mu.Unlock()
}

// computeHorizon returns the oldest snapshot still in use (or the last published seqno when none is) and
// stores it for the commit path. It only ever grows: a snapshot taken later is at least the published seqno.
func (db *DB) computeHorizon() uint64 {
	// visible is loaded before the shards are scanned: a transaction registered after its shard was scanned
	// read visible later, so its snapshot is at least h.
	h := db.visible.Load()
	for i := range db.txns {
		sh := &db.txns[i]
		sh.mu.Lock()
		for _, t := range sh.m {
			h = min(h, t.snap)
		}
		sh.mu.Unlock()
	}
	if h > db.horizon.Load() {
		db.horizon.Store(h)
	}
	return db.horizon.Load()
}
