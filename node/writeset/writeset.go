// Package writeset is the replicated write-set: what a committing transaction (or a TOI DDL) puts into the
// total order, and its compact versioned binary codec.
//
// A write-set carries what every node needs to certify and apply it without asking anyone (GALERA.md §4.2,
// §12.2): the source node UUID, connection id and transaction id, last_seen (the seqno the certification
// interval starts from), flags, the certification keys with their Galera 4 types, the full row images
// (storage.Op list, so any node — the origin after a crash included — can apply it from the log), and for
// TOI the DDL text and its default schema.
//
// # Keys
//
// A key is a path of parts: {db, table} is a table-level key (TableKey), {db, table, index ‖ value} a
// row-level key (RowKey) for the primary key or a unique secondary key, so that every unique constraint
// is certified. Keys arrive NORMALISED: the SQL layer encodes values so that values its collation considers
// equal produce identical bytes (and normalises names as the server does); this package and certification
// compare bytes only. Certification expands every key into its prefixes (package certify).
//
// # Format (version 1)
//
//	magic "WS" | version 1 | flags u16 | source [16] | conn id uvarint | trx id uvarint | last_seen uvarint
//	| key count uvarint | keys | op count uvarint | ops | schema bytes | ddl bytes | crc32c u32
//
// key = type u8 | part count u8 | parts, op = kind u8 | space uvarint | key bytes | value bytes, and
// "bytes" = uvarint length + data. Integers in fixed-width fields are big-endian. The trailing CRC-32C
// covers everything before it. Decode checks every length against the remaining input and returns an error
// wrapping ErrCorrupt for anything malformed; decoded byte slices alias the input buffer, which must not be
// modified afterwards.
package writeset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/maxproxy/maxproxy/node/storage"
)

// Version is the codec version written by Encode.
const Version = 1

// Flags describe the write-set.
type Flags uint16

const (
	FlagCommit   Flags = 1 << 0 // ends the transaction (every non-streaming write-set)
	FlagRollback Flags = 1 << 1 // the transaction rolled back (only meaningful for streaming fragments)
	FlagTOI      Flags = 1 << 2 // total order isolation: DDL executed at its position on every node
	FlagPAUnsafe Flags = 1 << 3 // must not be applied in parallel with anything
	knownFlags         = FlagCommit | FlagRollback | FlagTOI | FlagPAUnsafe
)

// KeyType is Galera 4's key type (wsrep_key_type_t, same numbering), weakest first.
type KeyType uint8

const (
	KeyShared    KeyType = 0 // a higher-level resource, e.g. the table of a modified row
	KeyReference KeyType = 1 // referenced, not modified (a foreign key's parent row)
	KeyUpdate    KeyType = 2 // modified
	KeyExclusive KeyType = 3 // created or deleted; also TOI's table keys
)

func (t KeyType) String() string {
	switch t {
	case KeyShared:
		return "shared"
	case KeyReference:
		return "reference"
	case KeyUpdate:
		return "update"
	case KeyExclusive:
		return "exclusive"
	}
	return fmt.Sprintf("keytype(%d)", uint8(t))
}

// MaxKeyParts bounds the parts of one key.
const MaxKeyParts = 255

// Key is one certification key: a normalised path such as {db, table} or {db, table, pk}.
type Key struct {
	Type  KeyType
	Parts [][]byte
}

// UUID identifies a node.
type UUID [16]byte

// WriteSet is one replicated transaction or TOI operation.
type WriteSet struct {
	Source   UUID
	ConnID   uint64
	TrxID    uint64
	LastSeen uint64 // seqno the certification interval starts after (see certify's last_seen policy)
	Flags    Flags
	Keys     []Key
	Ops      []storage.Op // full row images in apply order
	Schema   string       // TOI: default database of the DDL
	DDL      string       // TOI: the statement text
}

// ErrCorrupt is wrapped by every decode error.
var ErrCorrupt = errors.New("writeset: corrupt or truncated write-set")

const (
	opDelete    = 1 << 0
	opDropSpace = 1 << 1
	opKnown     = opDelete | opDropSpace
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Size returns an upper bound of the encoded size, for preallocation.
func (ws *WriteSet) Size() int {
	n := 2 + 1 + 2 + 16 + 3*binary.MaxVarintLen64 + 2*binary.MaxVarintLen64 + 4
	for _, k := range ws.Keys {
		n += 2
		for _, p := range k.Parts {
			n += binary.MaxVarintLen64 + len(p)
		}
	}
	for _, op := range ws.Ops {
		n += 1 + 3*binary.MaxVarintLen64 + len(op.Key) + len(op.Value)
	}
	return n + 2*binary.MaxVarintLen64 + len(ws.Schema) + len(ws.DDL)
}

// Validate reports write-sets that Encode refuses.
func (ws *WriteSet) Validate() error {
	if ws.Flags&^knownFlags != 0 {
		return fmt.Errorf("writeset: unknown flags %#x", uint16(ws.Flags&^knownFlags))
	}
	for i, k := range ws.Keys {
		if k.Type > KeyExclusive {
			return fmt.Errorf("writeset: key %d has unknown type %d", i, k.Type)
		}
		if len(k.Parts) == 0 || len(k.Parts) > MaxKeyParts {
			return fmt.Errorf("writeset: key %d has %d parts (1..%d allowed)", i, len(k.Parts), MaxKeyParts)
		}
	}
	for i, op := range ws.Ops {
		if op.Delete && op.DropSpace {
			return fmt.Errorf("writeset: op %d is both a delete and a space drop", i)
		}
	}
	return nil
}

// AppendEncode appends the encoding of ws to dst.
func (ws *WriteSet) AppendEncode(dst []byte) ([]byte, error) {
	if err := ws.Validate(); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, 'W', 'S', Version)
	dst = binary.BigEndian.AppendUint16(dst, uint16(ws.Flags))
	dst = append(dst, ws.Source[:]...)
	dst = binary.AppendUvarint(dst, ws.ConnID)
	dst = binary.AppendUvarint(dst, ws.TrxID)
	dst = binary.AppendUvarint(dst, ws.LastSeen)
	dst = binary.AppendUvarint(dst, uint64(len(ws.Keys)))
	for _, k := range ws.Keys {
		dst = append(dst, byte(k.Type), byte(len(k.Parts)))
		for _, p := range k.Parts {
			dst = appendBytes(dst, p)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(ws.Ops)))
	for _, op := range ws.Ops {
		var kind byte
		if op.Delete {
			kind |= opDelete
		}
		if op.DropSpace {
			kind |= opDropSpace
		}
		dst = append(dst, kind)
		dst = binary.AppendUvarint(dst, uint64(op.Space))
		dst = appendBytes(dst, op.Key)
		dst = appendBytes(dst, op.Value)
	}
	dst = appendBytes(dst, []byte(ws.Schema))
	dst = appendBytes(dst, []byte(ws.DDL))
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli)), nil
}

// Encode returns the encoding of ws.
func (ws *WriteSet) Encode() ([]byte, error) { return ws.AppendEncode(make([]byte, 0, ws.Size())) }

func appendBytes(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", ErrCorrupt, what, d.off)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad " + what)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) byte1(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("missing " + what)
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail(what + " longer than the input")
		return nil
	}
	v := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	if n == 0 {
		return nil
	}
	return v
}

// count reads an element count and checks it against the bytes left (each element needs at least min).
func (d *decoder) count(what string, min int) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64((len(d.b)-d.off)/min) {
		d.fail(what + " exceeds the input")
		return 0
	}
	return int(n)
}

// Decode parses an encoded write-set into ws (overwriting it). Byte slices in ws alias b.
func Decode(b []byte, ws *WriteSet) error {
	const minLen = 3 + 2 + 16 + 3 + 2 + 2 + 4
	if len(b) < minLen {
		return fmt.Errorf("%w: %d bytes is shorter than any write-set", ErrCorrupt, len(b))
	}
	if b[0] != 'W' || b[1] != 'S' {
		return fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	if b[2] != Version {
		return fmt.Errorf("%w: unsupported version %d (this node reads %d)", ErrCorrupt, b[2], Version)
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(b[len(b)-4:]); got != want {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	d := decoder{b: body, off: 3}
	*ws = WriteSet{}
	ws.Flags = Flags(binary.BigEndian.Uint16(body[d.off:]))
	d.off += 2
	if ws.Flags&^knownFlags != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, uint16(ws.Flags&^knownFlags))
	}
	copy(ws.Source[:], body[d.off:])
	d.off += 16
	ws.ConnID = d.uvarint("conn id")
	ws.TrxID = d.uvarint("trx id")
	ws.LastSeen = d.uvarint("last_seen")
	if n := d.count("key count", 3); n > 0 {
		ws.Keys = make([]Key, n)
		// All parts share one backing array (one allocation instead of one per key); each key's slice
		// is cut from it once it has stopped growing.
		parts := make([][]byte, 0, 3*n)
		ends := make([]int, n)
		for i := range ws.Keys {
			k := &ws.Keys[i]
			k.Type = KeyType(d.byte1("key type"))
			np := int(d.byte1("key part count"))
			if d.err != nil {
				break
			}
			if k.Type > KeyExclusive {
				d.fail("unknown key type")
				break
			}
			if np == 0 {
				d.fail("key without parts")
				break
			}
			for range np {
				parts = append(parts, d.bytes("key part"))
			}
			ends[i] = len(parts)
		}
		if d.err == nil {
			start := 0
			for i := range ws.Keys {
				ws.Keys[i].Parts = parts[start:ends[i]:ends[i]]
				start = ends[i]
			}
		}
	}
	if n := d.count("op count", 4); n > 0 && d.err == nil {
		ws.Ops = make([]storage.Op, n)
		for i := range ws.Ops {
			op := &ws.Ops[i]
			kind := d.byte1("op kind")
			if d.err == nil && (kind&^opKnown != 0 || kind == opKnown) {
				d.fail("unknown op kind")
			}
			op.Delete, op.DropSpace = kind&opDelete != 0, kind&opDropSpace != 0
			sp := d.uvarint("space id")
			if sp > 1<<32-1 {
				d.fail("space id out of range")
			}
			op.Space = storage.SpaceID(sp)
			op.Key = d.bytes("op key")
			op.Value = d.bytes("op value")
			if d.err != nil {
				break
			}
		}
	}
	ws.Schema = string(d.bytes("schema"))
	ws.DDL = string(d.bytes("ddl"))
	if d.err == nil && d.off != len(body) {
		d.fail("trailing bytes")
	}
	return d.err
}
