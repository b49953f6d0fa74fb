package classify

import (
	"sync"
	"sync/atomic"
)

// The cache maps the FNV-1a hash of a canonical text to its Class. It is a
// set-associative table: the hash picks one of 64 shards and, within it, a
// bucket of four ways. Entries are immutable once published, so a lookup
// takes no lock: it loads the bucket's four pointers and compares hash and
// canonical text (a hash collision costs a miss, never a wrong class).
// Inserts take the shard's mutex and evict by CLOCK within the bucket: a
// hit sets the entry's reference bit, and the bucket's hand skips (and
// clears) referenced entries before it replaces one.

const (
	shardBits = 6
	numShards = 1 << shardBits
	ways      = 4
)

type entry struct {
	hash  uint64
	text  string
	class Class
	ref   atomic.Bool
}

type bucket struct {
	slots [ways]atomic.Pointer[entry]
	hand  uint8 // next way to consider for eviction; guarded by shard.mu
}

type shard struct {
	mu      sync.Mutex
	buckets []bucket

	entries                 atomic.Int64
	hits, misses, evictions atomic.Uint64
	_                       [64]byte // keep shards' counters on separate cache lines
}

type cache struct {
	shards [numShards]shard
}

// newCache returns a cache of at least size entries (rounded up to whole
// buckets in every shard).
func newCache(size int) *cache {
	per := (size + numShards*ways - 1) / (numShards * ways)
	c := &cache{}
	for i := range c.shards {
		c.shards[i].buckets = make([]bucket, per)
	}
	return c
}

// capacity is the number of entries the cache can hold.
func (c *cache) capacity() int { return numShards * len(c.shards[0].buckets) * ways }

func (c *cache) bucket(h uint64) (*shard, *bucket) {
	s := &c.shards[h>>(64-shardBits)]
	// Multiply-shift maps the low 32 bits onto [0, len) without a division.
	i := (uint64(uint32(h)) * uint64(len(s.buckets))) >> 32
	return s, &s.buckets[i]
}

// get returns the class cached for canonical text t with hash h.
func (c *cache) get(h uint64, t []byte) (Class, bool) {
	s, b := c.bucket(h)
	for i := range b.slots {
		e := b.slots[i].Load()
		if e != nil && e.hash == h && e.text == string(t) {
			if !e.ref.Load() { // avoid dirtying the cache line on every hit
				e.ref.Store(true)
			}
			s.hits.Add(1)
			return e.class, true
		}
	}
	s.misses.Add(1)
	return Class{}, false
}

// put caches class cl for canonical text t with hash h.
func (c *cache) put(h uint64, t string, cl Class) {
	s, b := c.bucket(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	free := -1
	for i := range b.slots {
		e := b.slots[i].Load()
		if e == nil {
			if free < 0 {
				free = i
			}
			continue
		}
		if e.hash == h && e.text == t { // another session cached it first
			return
		}
	}
	ne := &entry{hash: h, text: t, class: cl}
	if free >= 0 {
		b.slots[free].Store(ne)
		s.entries.Add(1)
		return
	}
	// Every way is taken: second chance. One turn clears every reference
	// bit; the second turn's first step evicts even if concurrent hits set
	// the bit again meanwhile, so the loop is bounded.
	for step := 0; ; step++ {
		i := int(b.hand) % ways
		b.hand = uint8((i + 1) % ways)
		if e := b.slots[i].Load(); step < ways && e.ref.Load() {
			e.ref.Store(false)
			continue
		}
		b.slots[i].Store(ne)
		s.evictions.Add(1)
		return
	}
}

// Stats are the cache counters, for metrics.
type Stats struct {
	Hits, Misses, Evictions uint64
	// Entries is the number of cached classes, Capacity the most it holds.
	Entries, Capacity int
	// Fallbacks counts misses the parser rejected and the token fallback classified.
	Fallbacks uint64
}

func (c *cache) stats() Stats {
	st := Stats{Capacity: c.capacity()}
	for i := range c.shards {
		s := &c.shards[i]
		st.Hits += s.hits.Load()
		st.Misses += s.misses.Load()
		st.Evictions += s.evictions.Load()
		st.Entries += int(s.entries.Load())
	}
	return st
}
