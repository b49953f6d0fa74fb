package classify

import (
	"sync"
	"sync/atomic"
)

// The cache maps the FNV-1a hash of a canonical text to its Class. It is
// split into shards, each with its own lock, so that sessions on different
// cores rarely meet; each shard evicts with CLOCK (a reference bit per
// entry and a sweeping hand), which approximates LRU without moving
// entries on a hit. A hit compares the stored canonical text with the
// looked-up one, so a hash collision costs a miss, never a wrong class.

const (
	shardBits = 6
	numShards = 1 << shardBits
)

type entry struct {
	hash  uint64
	text  string
	class Class
	ref   atomic.Bool
}

type shard struct {
	mu      sync.RWMutex
	index   map[uint64]int32
	entries []*entry
	hand    int
	max     int

	hits, misses, evictions atomic.Uint64
	_                       [64]byte // keep shards on separate cache lines
}

type cache struct {
	shards [numShards]shard
}

func newCache(size int) *cache {
	per := (size + numShards - 1) / numShards
	c := &cache{}
	for i := range c.shards {
		c.shards[i].index = make(map[uint64]int32)
		c.shards[i].max = per
	}
	return c
}

func (c *cache) shard(h uint64) *shard { return &c.shards[h>>(64-shardBits)] }

// get returns the class cached for canonical text t with hash h.
func (c *cache) get(h uint64, t []byte) (Class, bool) {
	s := c.shard(h)
	s.mu.RLock()
	if i, ok := s.index[h]; ok {
		e := s.entries[i]
		if e.text == string(t) {
			if !e.ref.Load() {
				e.ref.Store(true)
			}
			cl := e.class
			s.mu.RUnlock()
			s.hits.Add(1)
			return cl, true
		}
	}
	s.mu.RUnlock()
	s.misses.Add(1)
	return Class{}, false
}

// put caches class cl for canonical text t with hash h, evicting an entry
// whose reference bit is clear when the shard is full.
func (c *cache) put(h uint64, t string, cl Class) {
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[h]; ok { // same text raced in, or a collision: latest wins
		e := s.entries[i]
		e.text, e.class = t, cl
		e.ref.Store(true)
		return
	}
	if len(s.entries) < s.max {
		s.index[h] = int32(len(s.entries))
		s.entries = append(s.entries, &entry{hash: h, text: t, class: cl})
		return
	}
	for {
		e := s.entries[s.hand]
		idx := s.hand
		s.hand = (s.hand + 1) % len(s.entries)
		if e.ref.Load() {
			e.ref.Store(false)
			continue
		}
		delete(s.index, e.hash)
		e.hash, e.text, e.class = h, t, cl
		s.index[h] = int32(idx)
		s.evictions.Add(1)
		return
	}
}

// Stats are the cache counters, for metrics.
type Stats struct {
	Hits, Misses, Evictions uint64
	Entries                 int
	// Fallbacks counts misses the parser rejected and the token fallback classified.
	Fallbacks uint64
}

func (c *cache) stats() Stats {
	var st Stats
	for i := range c.shards {
		s := &c.shards[i]
		st.Hits += s.hits.Load()
		st.Misses += s.misses.Load()
		st.Evictions += s.evictions.Load()
		s.mu.RLock()
		st.Entries += len(s.entries)
		s.mu.RUnlock()
	}
	return st
}
