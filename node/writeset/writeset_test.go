package writeset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/maxproxy/maxproxy/node/storage"
)

func sample() *WriteSet {
	return &WriteSet{
		Source:   UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		ConnID:   42,
		TrxID:    1 << 40,
		LastSeen: 123456,
		Flags:    FlagCommit,
		Keys: []Key{
			{Type: KeyShared, Parts: [][]byte{[]byte("sbtest"), []byte("sbtest1")}},
			{Type: KeyUpdate, Parts: [][]byte{[]byte("sbtest"), []byte("sbtest1"), {0x80, 0, 0, 7}}},
			{Type: KeyExclusive, Parts: [][]byte{[]byte("sbtest"), []byte("sbtest1"), {0x01, 'k', 'e', 'y'}}},
			{Type: KeyReference, Parts: [][]byte{[]byte("sbtest"), []byte("parent"), {0x80, 0, 0, 1}}},
		},
		Ops: []storage.Op{
			{Space: 7, Key: []byte{0x80, 0, 0, 7}, Value: []byte("row image")},
			{Space: 7, Key: []byte{0x80, 0, 0, 8}, Delete: true},
			{Space: 1<<32 - 1, DropSpace: true},
		},
	}
}

// normalise maps empty byte slices to nil (the decoder returns nil for empty fields).
func normalise(ws *WriteSet) *WriteSet {
	c := *ws
	c.Keys = nil
	for _, k := range ws.Keys {
		nk := Key{Type: k.Type}
		for _, p := range k.Parts {
			if len(p) == 0 {
				p = nil
			}
			nk.Parts = append(nk.Parts, p)
		}
		c.Keys = append(c.Keys, nk)
	}
	c.Ops = nil
	for _, op := range ws.Ops {
		if len(op.Key) == 0 {
			op.Key = nil
		}
		if len(op.Value) == 0 {
			op.Value = nil
		}
		c.Ops = append(c.Ops, op)
	}
	return &c
}

func TestRoundTrip(t *testing.T) {
	toi := &WriteSet{Source: UUID{9}, ConnID: 3, TrxID: 4, LastSeen: 10, Flags: FlagTOI | FlagPAUnsafe | FlagCommit,
		Keys:   []Key{{Type: KeyExclusive, Parts: [][]byte{[]byte("db"), []byte("t")}}},
		Schema: "db", DDL: "ALTER TABLE t ADD COLUMN c INT"}
	for name, ws := range map[string]*WriteSet{
		"trx":   sample(),
		"toi":   toi,
		"empty": {},
		"empty parts and values": {Keys: []Key{{Type: KeyUpdate, Parts: [][]byte{{}, nil, []byte("x")}}},
			Ops: []storage.Op{{Space: 0, Key: []byte("k")}}},
	} {
		b, err := ws.Encode()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) > ws.Size() {
			t.Fatalf("%s: encoded %d bytes, Size promised at most %d", name, len(b), ws.Size())
		}
		var got WriteSet
		if err := Decode(b, &got); err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if !reflect.DeepEqual(normalise(ws), normalise(&got)) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", name, got, *ws)
		}
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	for name, ws := range map[string]*WriteSet{
		"unknown flag":  {Flags: 1 << 9},
		"key type":      {Keys: []Key{{Type: 4, Parts: [][]byte{[]byte("a")}}}},
		"no parts":      {Keys: []Key{{Type: KeyUpdate}}},
		"too many":      {Keys: []Key{{Type: KeyUpdate, Parts: make([][]byte, MaxKeyParts+1)}}},
		"delete + drop": {Ops: []storage.Op{{Delete: true, DropSpace: true}}},
	} {
		if _, err := ws.Encode(); err == nil {
			t.Errorf("%s: Encode accepted an invalid write-set", name)
		}
	}
}

// reseal recomputes the checksum after a test edits the body, so the structural checks are reached.
func reseal(b []byte) []byte {
	binary.BigEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	return b
}

func TestDecodeErrors(t *testing.T) {
	good, err := sample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"empty":    {nil, "shorter than any"},
		"magic":    {edit(func(b []byte) []byte { b[0] = 'X'; return reseal(b) }), "bad magic"},
		"version":  {edit(func(b []byte) []byte { b[2] = 9; return reseal(b) }), "unsupported version 9"},
		"checksum": {edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "checksum"},
		"bit flip": {edit(func(b []byte) []byte { b[30] ^= 0x10; return b }), "checksum"},
		"flags":    {edit(func(b []byte) []byte { b[3] = 0x80; return reseal(b) }), "unknown flags"},
		// Offset 31: magic 2 + version 1 + flags 2 + source 16 + conn id 1 + trx id 6 + last_seen 3.
		"key count": {edit(func(b []byte) []byte { b[31] = 0x7f; return reseal(b) }), "key count exceeds"},
		"trailing": {edit(func(b []byte) []byte {
			return reseal(append(b[:len(b)-4], 0, 0, 0, 0, 0))
		}), "trailing"},
	} {
		var ws WriteSet
		err := Decode(tc.in, &ws)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrCorrupt mentioning %q", name, err, tc.want)
		}
	}
	// Every truncation (resealed, so the parser, not the checksum, must catch it) fails cleanly.
	for n := 0; n < len(good)-4; n++ {
		b := reseal(append(bytes.Clone(good[:n]), 0, 0, 0, 0))
		var ws WriteSet
		if err := Decode(b, &ws); err == nil {
			t.Fatalf("truncated to %d bytes: decoded without error", n)
		}
	}
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

func randomWriteSet(r *rand.Rand) *WriteSet {
	ws := &WriteSet{ConnID: r.Uint64(), TrxID: r.Uint64() >> r.IntN(64), LastSeen: r.Uint64N(1 << 20),
		Flags: Flags(r.IntN(16)), Schema: strings.Repeat("s", r.IntN(3)), DDL: strings.Repeat("d", r.IntN(3))}
	fill(r, ws.Source[:])
	for range r.IntN(5) {
		k := Key{Type: KeyType(r.IntN(4))}
		for range 1 + r.IntN(4) {
			p := make([]byte, r.IntN(6))
			fill(r, p)
			k.Parts = append(k.Parts, p)
		}
		ws.Keys = append(ws.Keys, k)
	}
	for range r.IntN(5) {
		op := storage.Op{Space: storage.SpaceID(r.Uint32()), Key: make([]byte, r.IntN(8)), Value: make([]byte, r.IntN(300))}
		switch r.IntN(3) {
		case 1:
			op.Delete, op.Value = true, nil
		case 2:
			op.DropSpace, op.Key, op.Value = true, nil, nil
		}
		ws.Ops = append(ws.Ops, op)
	}
	return ws
}

func TestRandomRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		ws := randomWriteSet(r)
		b, err := ws.Encode()
		if err != nil {
			t.Fatal(err)
		}
		var got WriteSet
		if err := Decode(b, &got); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !reflect.DeepEqual(normalise(ws), normalise(&got)) {
			t.Fatalf("case %d: round trip mismatch", i)
		}
	}
}

// FuzzDecode: decoding arbitrary bytes never panics, and whatever decodes re-encodes to something that
// decodes to the same write-set.
func FuzzDecode(f *testing.F) {
	good, _ := sample().Encode()
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("WS\x01"))
	r := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		b, _ := randomWriteSet(r).Encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ws WriteSet
		if err := Decode(b, &ws); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		again, err := ws.Encode()
		if err != nil {
			t.Fatalf("decoded write-set does not re-encode: %v", err)
		}
		var ws2 WriteSet
		if err := Decode(again, &ws2); err != nil {
			t.Fatalf("re-encoded write-set does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalise(&ws), normalise(&ws2)) {
			t.Fatal("round trip changed the write-set")
		}
	})
}

// FuzzRoundTrip builds write-sets from fuzzed seeds and checks encode/decode identity.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		ws := randomWriteSet(rand.New(rand.NewPCG(a, b)))
		enc, err := ws.Encode()
		if err != nil {
			t.Fatal(err)
		}
		var got WriteSet
		if err := Decode(enc, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalise(ws), normalise(&got)) {
			t.Fatal("round trip mismatch")
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	ws := sample()
	buf := make([]byte, 0, ws.Size())
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = ws.AppendEncode(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecode(b *testing.B) {
	enc, _ := sample().Encode()
	var ws WriteSet
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if err := Decode(enc, &ws); err != nil {
			b.Fatal(err)
		}
	}
}

func TestKeyHelpers(t *testing.T) {
	tk := TableKey(KeyShared, "db", "t")
	if tk.Type != KeyShared || len(tk.Parts) != 2 || string(tk.Parts[1]) != "t" {
		t.Fatalf("table key %+v", tk)
	}
	pk := RowKey(KeyUpdate, "db", "t", 7, []byte{0x80, 1})
	uk := RowKey(KeyUpdate, "db", "t", 8, []byte{0x80, 1})
	if len(pk.Parts) != 3 || bytes.Equal(pk.Parts[2], uk.Parts[2]) {
		t.Fatalf("same value under different indexes must differ: %x %x", pk.Parts[2], uk.Parts[2])
	}
	if !bytes.Equal(pk.Parts[2], []byte{0, 0, 0, 7, 0x80, 1}) {
		t.Fatalf("row key value %x", pk.Parts[2])
	}
}
