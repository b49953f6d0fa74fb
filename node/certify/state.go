package certify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/maxproxy/maxproxy/node/writeset"
)

// State format (version 1), for snapshots / state transfer:
//
//	magic "CI" | version 1 | window uvarint | pessimistic u8 | policy u8 | position uvarint | initial uvarint
//	| last PA-unsafe uvarint | certified, failed, toi, deps-dist sum, interval sum (uvarints)
//	| trx count uvarint | trxs | crc32c u32
//
// trx = seqno uvarint | source [16] | toi u8 | key count uvarint | keys (hash u64 big-endian, type u8).
// The index is not stored: it is rebuilt from the window, since each reference is the latest live
// write-set holding that key with that type.
const stateVersion = 1

// ErrBadState is wrapped by every Restore error.
var ErrBadState = errors.New("certify: corrupt certification state")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendState appends the certifier's complete state to dst.
func (c *Certifier) AppendState(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, 'C', 'I', stateVersion)
	dst = binary.AppendUvarint(dst, c.cfg.Window)
	dst = append(dst, boolByte(c.cfg.PessimisticPA), byte(c.cfg.Policy))
	for _, v := range []uint64{c.position, c.initial, c.lastPAUnsafe,
		c.stats.Certified, c.stats.Failed, c.stats.TOI, c.stats.DepsDistSum, c.stats.IntervalSum} {
		dst = binary.AppendUvarint(dst, v)
	}
	live := c.window[c.head:]
	dst = binary.AppendUvarint(dst, uint64(len(live)))
	for _, t := range live {
		dst = binary.AppendUvarint(dst, t.seqno)
		dst = append(dst, t.source[:]...)
		dst = append(dst, boolByte(t.toi))
		dst = binary.AppendUvarint(dst, uint64(len(t.keys)))
		for _, k := range t.keys {
			dst = binary.BigEndian.AppendUint64(dst, k.hash)
			dst = append(dst, byte(k.typ))
		}
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrBadState, what)
	}
}

func (r *stateReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad " + what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("truncated " + what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// Restore rebuilds a certifier from AppendState output. The result carries the donor's configuration;
// the caller must check it matches its own.
func Restore(b []byte) (*Certifier, error) {
	if len(b) < 3+4 {
		return nil, fmt.Errorf("%w: too short", ErrBadState)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadState)
	}
	if body[0] != 'C' || body[1] != 'I' || body[2] != stateVersion {
		return nil, fmt.Errorf("%w: bad magic or unsupported version", ErrBadState)
	}
	r := &stateReader{b: body[3:]}
	var cfg Config
	cfg.Window = r.uvarint("window")
	flags := r.take(2, "config")
	if r.err == nil {
		if flags[0] > 1 || flags[1] > byte(PolicyGalera) {
			r.fail("bad config flags")
		}
		cfg.PessimisticPA, cfg.Policy = flags[0] == 1, Policy(flags[1])
	}
	if r.err == nil && cfg.Window == 0 {
		r.fail("zero window")
	}
	c := &Certifier{cfg: cfg, index: map[uint64]*entry{}}
	c.position = r.uvarint("position")
	c.initial = r.uvarint("initial position")
	c.lastPAUnsafe = r.uvarint("last PA-unsafe seqno")
	c.stats.Certified = r.uvarint("stats")
	c.stats.Failed = r.uvarint("stats")
	c.stats.TOI = r.uvarint("stats")
	c.stats.DepsDistSum = r.uvarint("stats")
	c.stats.IntervalSum = r.uvarint("stats")
	if r.err == nil && (c.initial > c.position || c.lastPAUnsafe > c.position) {
		r.fail("positions out of order")
	}
	n := r.uvarint("trx count")
	if r.err == nil && n > uint64(len(r.b)/19) { // a trx takes at least 19 bytes
		r.fail("trx count exceeds the input")
	}
	var prev uint64
	for i := uint64(0); i < n && r.err == nil; i++ {
		t := &trx{seqno: r.uvarint("trx seqno")}
		copy(t.source[:], r.take(16, "source"))
		toi := r.take(1, "toi flag")
		nk := r.uvarint("key count")
		if r.err != nil {
			break
		}
		switch {
		case toi[0] > 1:
			r.fail("bad toi flag")
		case t.seqno <= prev || t.seqno > c.position || t.seqno <= c.initial:
			r.fail("trx seqnos out of order or outside the position")
		case c.position > cfg.Window && t.seqno <= c.position-cfg.Window:
			r.fail("trx older than the window")
		case nk > uint64(len(r.b)/9):
			r.fail("key count exceeds the input")
		}
		if r.err != nil {
			break
		}
		t.toi = toi[0] == 1
		prev = t.seqno
		t.keys = make([]hashedKey, nk)
		for j := range t.keys {
			kb := r.take(9, "key")
			if r.err != nil {
				break
			}
			t.keys[j] = hashedKey{hash: binary.BigEndian.Uint64(kb), typ: writeset.KeyType(kb[8])}
			if t.keys[j].typ > writeset.KeyExclusive {
				r.fail("bad key type")
				break
			}
			if j > 0 && t.keys[j].hash <= t.keys[j-1].hash {
				r.fail("keys not sorted and unique")
				break
			}
		}
		if r.err != nil {
			break
		}
		for _, k := range t.keys {
			e := c.index[k.hash]
			if e == nil {
				e = &entry{}
				c.index[k.hash] = e
			}
			e.refs[k.typ] = t
		}
		c.window = append(c.window, t)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}
