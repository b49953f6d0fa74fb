package storage

import (
	"bytes"
	"context"
)

// Iterator walks a key range. Key and Value stay valid after Next and must not be modified.
type Iterator interface {
	Next() bool
	Key() []byte
	Value() []byte
	Err() error
	Close()
}

type kv struct {
	key, val []byte
	del      bool
}

const (
	firstBatch = 16 // short range scans (sysbench: 100 rows) should not copy much more than they read
	maxBatch   = 1024
)

// iter merges a batched walk of the committed tree with a copy of the transaction's own writes in the range.
// The tree is only locked while a batch is copied, so an open iterator never blocks commits.
type iter struct {
	t       *Txn
	space   SpaceID
	sp      *space
	start   []byte
	end     []byte
	reverse bool
	snap    uint64

	locking bool
	mode    lockMode
	ctx     context.Context

	startK, endK mkey // bounds in tree-key form: most comparisons stay on the inline prefixes

	base      []kv
	bi        int
	baseDone  bool
	resume    mkey // last tree key visited by the previous batch
	hasResume bool
	batch     int

	own []kv
	oi  int

	key, val []byte
	err      error
	closed   bool
}

// Scan iterates [start,end) at the transaction's snapshot plus its own writes; nil start/end are unbounded.
func (t *Txn) Scan(space SpaceID, start, end []byte, reverse bool) Iterator {
	return t.newIter(space, start, end, reverse)
}

// ScanForUpdate iterates [start,end) over the latest committed versions plus own writes, locking each key it
// returns (shared or exclusive) before returning it. Keys deleted while waiting for their lock are skipped.
func (t *Txn) ScanForUpdate(ctx context.Context, space SpaceID, start, end []byte, reverse bool, exclusive bool) Iterator {
	it := t.newIter(space, start, end, reverse)
	it.locking = true
	it.ctx = ctx
	it.mode = lockShared
	if exclusive {
		it.mode = lockExclusive
	}
	return it
}

func (t *Txn) newIter(space SpaceID, start, end []byte, reverse bool) *iter {
	// The bounds are used until the iterator is done; callers may reuse their buffers right away.
	start, end = bytes.Clone(start), bytes.Clone(end)
	it := &iter{t: t, space: space, start: start, end: end, reverse: reverse, snap: t.snap, batch: firstBatch,
		startK: makeKey(start), endK: makeKey(end)}
	if err := t.check(); err != nil {
		it.err = err
		return it
	}
	if !t.dropped[space] {
		it.sp = t.db.space(space)
	}
	it.baseDone = it.sp == nil
	if tr := t.writes[space]; tr != nil {
		if !reverse {
			tr.Ascend(start, start != nil, func(k []byte, p *pendingWrite) bool {
				if end != nil && bytes.Compare(k, end) >= 0 {
					return false
				}
				it.own = append(it.own, kv{key: k, val: p.val, del: p.del})
				return true
			})
		} else {
			tr.Descend(end, end != nil, func(k []byte, p *pendingWrite) bool {
				if start != nil && bytes.Compare(k, start) < 0 {
					return false
				}
				it.own = append(it.own, kv{key: k, val: p.val, del: p.del})
				return true
			})
		}
	}
	return it
}

// fill copies the next batch of visible committed entries. The transaction must still be open: its snapshot
// keeps the versions the batch reads from being collected.
func (it *iter) fill() {
	if err := it.t.check(); err != nil {
		it.err = err
		it.baseDone = true
		return
	}
	if cap(it.base) < it.batch {
		it.base = make([]kv, 0, it.batch)
	}
	it.base = it.base[:0]
	it.bi = 0
	snap := it.snap
	if it.locking {
		snap = it.t.db.visible.Load()
	}
	limited := false
	scanned := 0
	skipResume := it.hasResume && !it.reverse // Ascend starts at the resume key itself
	visit := func(mk mkey, head *version) bool {
		if it.reverse {
			if it.start != nil && cmpKey(mk, it.startK) < 0 {
				return false
			}
		} else {
			if skipResume {
				skipResume = false
				if cmpKey(mk, it.resume) == 0 {
					return true
				}
			}
			if it.end != nil && cmpKey(mk, it.endK) >= 0 {
				return false
			}
		}
		if v := head.at(snap); v != nil && !v.del {
			it.base = append(it.base, kv{key: mk.b, val: v.val})
		}
		scanned++
		if len(it.base) >= it.batch || scanned >= 4*it.batch {
			it.resume, it.hasResume = mk, true
			limited = true
			return false
		}
		return true
	}
	it.sp.mu.RLock()
	if it.reverse {
		before, has := it.endK, it.end != nil
		if it.hasResume {
			before, has = it.resume, true
		}
		it.sp.tree.Descend(before, has, visit)
	} else {
		from, has := it.startK, it.start != nil
		if it.hasResume {
			from, has = it.resume, true
		}
		it.sp.tree.Ascend(from, has, visit)
	}
	it.sp.mu.RUnlock()
	it.baseDone = !limited
	it.batch = min(it.batch*2, maxBatch)
}

func (it *iter) Next() bool {
	for {
		if it.err != nil || it.closed {
			return false
		}
		for it.bi >= len(it.base) && !it.baseDone {
			it.fill()
		}
		if it.err != nil {
			return false
		}
		var b, o *kv
		if it.bi < len(it.base) {
			b = &it.base[it.bi]
		}
		if it.oi < len(it.own) {
			o = &it.own[it.oi]
		}
		if b == nil && o == nil {
			return false
		}
		useOwn := o != nil
		if o != nil && b != nil {
			c := bytes.Compare(o.key, b.key)
			if it.reverse {
				c = -c
			}
			switch {
			case c == 0:
				it.bi++ // own write shadows the committed version
			case c > 0:
				useOwn = false
			}
		}
		if useOwn {
			it.oi++
			if o.del {
				continue
			}
			it.key, it.val = o.key, o.val
			return true
		}
		it.bi++
		if !it.locking {
			it.key, it.val = b.key, b.val
			return true
		}
		if err := it.t.check(); err != nil {
			it.err = err
			return false
		}
		if err := it.t.lock(it.ctx, it.space, b.key, it.mode); err != nil {
			it.err = err
			return false
		}
		// The row may have changed while we waited for its lock: return what is committed now.
		v := it.t.db.read(it.space, b.key, it.t.db.visible.Load())
		if v == nil || v.del {
			continue
		}
		it.key, it.val = b.key, v.val
		return true
	}
}

func (it *iter) Key() []byte   { return it.key }
func (it *iter) Value() []byte { return it.val }
func (it *iter) Err() error    { return it.err }

func (it *iter) Close() {
	it.closed = true
	it.base, it.own = nil, nil
}
