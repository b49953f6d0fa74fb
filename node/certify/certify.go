package certify

import (
	"fmt"
	"slices"

	"github.com/maxproxy/maxproxy/node/writeset"
)

// DefaultWindow is Galera's cert.max_length: the largest certification interval (seqno − last_seen) a
// write-set may have, and the depth of the index.
const DefaultWindow = 16384

// Policy says how the origin chooses a write-set's last_seen (GALERA.md §12.3). Certification itself is
// the same for both; the policy is recorded here so that the whole cluster documents and reports one mode.
type Policy uint8

const (
	// PolicySnapshot (the default): last_seen = the commit seqno of the snapshot the transaction read.
	// A write-set fails if another node (or a TOI) committed a write to any of its keys after that snapshot:
	// first committer wins across nodes, so an acknowledged write is never silently overwritten by a
	// transaction that did not see it. Same-node overlaps are serialised by the local lock manager with
	// current reads, exactly as InnoDB does on one server.
	PolicySnapshot Policy = iota
	// PolicyGalera: last_seen = the node's last committed seqno when the commit is replicated (what Galera
	// does). Fewer certification failures, but a transaction that read an old snapshot and writes after a
	// remote update was applied locally passes: a lost update (P4) across nodes, as Jepsen observed.
	PolicyGalera
)

func (p Policy) String() string {
	if p == PolicyGalera {
		return "galera"
	}
	return "snapshot"
}

// LastSeen returns the last_seen a write-set gets under the policy, from the transaction's snapshot seqno
// and the node's last committed seqno at replication time.
func (p Policy) LastSeen(snapshot, lastCommitted uint64) uint64 {
	if p == PolicyGalera {
		return lastCommitted
	}
	return snapshot
}

// Config configures a Certifier. Every node of a cluster must use the same values.
type Config struct {
	Window uint64 // 0: DefaultWindow
	// PessimisticPA is cert.optimistic_pa=no: a write-set also depends on its last_seen.
	PessimisticPA bool
	Policy        Policy
}

// Reason explains a failed certification.
type Reason uint8

const (
	ReasonNone          Reason = iota
	ReasonConflict             // a key conflicts with a write-set committed after last_seen
	ReasonTooOld               // seqno − last_seen exceeds the window
	ReasonBeforeInitial        // last_seen precedes what this certifier's index covers (state transfer point)
	ReasonBadLastSeen          // last_seen is not below seqno
)

func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonConflict:
		return "conflict"
	case ReasonTooOld:
		return "too-old"
	case ReasonBeforeInitial:
		return "before-initial"
	case ReasonBadLastSeen:
		return "bad-last-seen"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Verdict is the outcome of certifying one write-set. Identical on every node for the same log.
type Verdict struct {
	OK      bool
	Reason  Reason
	Depends uint64 // highest seqno this write-set must wait for before applying (parallel apply)
	// ConflictSeqno is the committed write-set it conflicted with (ReasonConflict).
	ConflictSeqno uint64
}

// Stats are the certification counters behind wsrep_cert_* status variables.
type Stats struct {
	Certified   uint64 // passed, TOI included
	Failed      uint64 // wsrep_local_cert_failures is the subset whose source is this node
	TOI         uint64
	DepsDistSum uint64 // Σ (seqno − depends) over passed write-sets: wsrep_cert_deps_distance = DepsDistSum/Certified
	IntervalSum uint64 // Σ (seqno − last_seen − 1) over write-sets that reached the key test
	IndexSize   int    // keys in the index: wsrep_cert_index_size
	Position    uint64 // last seqno consumed
}

// DepsDistance is wsrep_cert_deps_distance: the average distance between a passed write-set's seqno and
// the seqno it depends on (how many could be applied in parallel).
func (s Stats) DepsDistance() float64 {
	if s.Certified == 0 {
		return 0
	}
	return float64(s.DepsDistSum) / float64(s.Certified)
}

// Interval is wsrep_cert_interval: the average number of write-sets committed between a write-set's
// last_seen and its own seqno.
func (s Stats) Interval() float64 {
	if n := s.Certified + s.Failed; n > 0 {
		return float64(s.IntervalSum) / float64(n)
	}
	return 0
}

type trx struct {
	seqno  uint64
	source writeset.UUID
	toi    bool
	keys   []hashedKey
}

type entry struct {
	refs [4]*trx // latest certified write-set that referenced the key, per key type
}

// Certifier is Galera 4's certification test (GALERA.md §4.3) over a sliding window of the total order. It
// is a pure state machine: its state is a function of the write-sets given to it and the position it was
// created at, never of time, locks or local decisions. Not safe for concurrent use: the apply loop owns it.
type Certifier struct {
	cfg          Config
	position     uint64 // last seqno consumed
	initial      uint64 // nothing at or before it is in the index
	index        map[uint64]*entry
	window       []*trx // certified write-sets, oldest first; window[head:] is live
	head         int
	lastPAUnsafe uint64
	stats        Stats
	scratch      []hashedKey
	entries      []*entry // index entries of scratch's keys, nil where absent
}

// New returns a certifier whose next write-set has seqno position+1 and whose index is empty: write-sets
// with last_seen < position fail (ReasonBeforeInitial), as on a Galera joiner without a preloaded index.
// A founding node passes 0.
func New(cfg Config, position uint64) *Certifier {
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	return &Certifier{cfg: cfg, position: position, initial: position, index: map[uint64]*entry{}}
}

// Config returns the configuration.
func (c *Certifier) Config() Config { return c.cfg }

// Position returns the last seqno consumed.
func (c *Certifier) Position() uint64 { return c.position }

// Stats returns the counters.
func (c *Certifier) Stats() Stats {
	s := c.stats
	s.IndexSize = len(c.index)
	s.Position = c.position
	return s
}

func (c *Certifier) next(seqno uint64) error {
	if seqno != c.position+1 {
		return fmt.Errorf("certify: seqno %d out of order (position %d)", seqno, c.position)
	}
	c.position = seqno
	c.purge(seqno)
	return nil
}

// Advance consumes a seqno that carries no write-set (a view change).
func (c *Certifier) Advance(seqno uint64) error { return c.next(seqno) }

// purge drops index references to write-sets at or below seqno − window. They can no longer conflict:
// any write-set at seqno or later with last_seen below seqno − window fails as too old, and every other
// one has last_seen at or above them. Purging depends only on the position, so it is identical on every node.
func (c *Certifier) purge(seqno uint64) {
	if seqno <= c.cfg.Window {
		return
	}
	horizon := seqno - c.cfg.Window
	for c.head < len(c.window) && c.window[c.head].seqno <= horizon {
		t := c.window[c.head]
		for _, k := range t.keys {
			e := c.index[k.hash]
			if e.refs[k.typ] == t {
				e.refs[k.typ] = nil
				if e.refs == [4]*trx{} {
					delete(c.index, k.hash)
				}
			}
		}
		c.window[c.head] = nil
		c.head++
	}
	// Compact the queue once half of it is dead, so memory follows the live window.
	if c.head > 1024 && c.head*2 > len(c.window) {
		n := copy(c.window, c.window[c.head:])
		clear(c.window[n:])
		c.window = c.window[:n]
		c.head = 0
	}
}

// Certify runs the certification test for the write-set at seqno (which must be Position()+1) and, when
// it passes, records its keys in the index. A failed write-set still consumes its seqno.
func (c *Certifier) Certify(seqno uint64, ws *writeset.WriteSet) (Verdict, error) {
	for i, k := range ws.Keys {
		// Decoded write-sets are already checked; this guards write-sets built in memory.
		if k.Type > writeset.KeyExclusive || len(k.Parts) == 0 {
			return Verdict{}, fmt.Errorf("certify: write-set at %d: key %d is invalid (type %d, %d parts)", seqno, i, k.Type, len(k.Parts))
		}
	}
	if err := c.next(seqno); err != nil {
		return Verdict{}, err
	}
	L := ws.LastSeen
	switch {
	case L >= seqno:
		return c.fail(Verdict{Reason: ReasonBadLastSeen}), nil
	case L < c.initial:
		return c.fail(Verdict{Reason: ReasonBeforeInitial}), nil
	case seqno-L > c.cfg.Window:
		return c.fail(Verdict{Reason: ReasonTooOld}), nil
	}
	c.stats.IntervalSum += seqno - L - 1
	c.scratch = expandKeys(c.scratch[:0], ws.Keys)
	keys := c.scratch
	toi := ws.Flags&writeset.FlagTOI != 0

	var depends uint64
	switch {
	case toi:
		// TOI ignores the index and waits for everything before it.
		depends = seqno - 1
	case c.head == len(c.window):
		depends = seqno - 1
	default:
		depends = c.window[c.head].seqno - 1
		if c.cfg.PessimisticPA {
			depends = max(depends, L)
		}
	}
	// Look every key up once; the entries are reused when T is inserted.
	c.entries = c.entries[:0]
	for _, k := range keys {
		c.entries = append(c.entries, c.index[k.hash])
	}
	if !toi {
		for i, k := range keys {
			e := c.entries[i]
			if e == nil {
				continue
			}
			for _, stored := range checks[k.typ] {
				r := e.refs[stored.typ]
				if r == nil {
					continue
				}
				if stored.conflict && r.seqno > L && (r.toi || r.source != ws.Source) {
					return c.fail(Verdict{Reason: ReasonConflict, ConflictSeqno: r.seqno}), nil
				}
				depends = max(depends, r.seqno)
			}
		}
	}
	depends = max(depends, c.lastPAUnsafe)

	t := &trx{seqno: seqno, source: ws.Source, toi: toi, keys: slices.Clone(keys)}
	for i, k := range t.keys {
		e := c.entries[i]
		if e == nil {
			e = &entry{}
			c.index[k.hash] = e
		}
		e.refs[k.typ] = t
	}
	c.window = append(c.window, t)
	if toi || ws.Flags&writeset.FlagPAUnsafe != 0 {
		c.lastPAUnsafe = seqno
	}
	c.stats.Certified++
	if toi {
		c.stats.TOI++
	}
	c.stats.DepsDistSum += seqno - depends
	return Verdict{OK: true, Depends: depends}, nil
}

func (c *Certifier) fail(v Verdict) Verdict {
	c.stats.Failed++
	return v
}

type cell struct {
	typ      writeset.KeyType
	conflict bool // C (potential conflict) rather than D (dependency only)
}

// The §4.3 table, read per key type of the incoming write-set: the stored reference types to look at, in
// Galera's order, and whether each is a potential conflict (C) or a dependency only (D).
var checks = [4][]cell{
	writeset.KeyShared:    {{writeset.KeyExclusive, true}, {writeset.KeyUpdate, false}},
	writeset.KeyReference: {{writeset.KeyExclusive, true}, {writeset.KeyUpdate, false}},
	writeset.KeyUpdate: {{writeset.KeyExclusive, true}, {writeset.KeyUpdate, true},
		{writeset.KeyReference, false}, {writeset.KeyShared, false}},
	writeset.KeyExclusive: {{writeset.KeyExclusive, true}, {writeset.KeyUpdate, true},
		{writeset.KeyReference, true}, {writeset.KeyShared, false}},
}
