package session

import (
	"bytes"
	"testing"
)

// collect is a client that keeps what it is sent.
type collect struct {
	pkts    [][]byte
	flushes int
}

func (c *collect) ReadPacket() ([]byte, error) { return nil, errNoClient }
func (c *collect) WritePacket(p []byte) error {
	c.pkts = append(c.pkts, append([]byte(nil), p...))
	return nil
}
func (c *collect) Flush() error { c.flushes++; return nil }

// Packets of replies, as a server sends them (DEPRECATE_EOF off).
var (
	colCount       = []byte{0x01}
	colCountMeta   = []byte{0x01, 0x01} // MariaDB cache-metadata: metadata follows
	colCountSkip   = []byte{0x01, 0x00} // ...metadata skipped
	colDef         = []byte{0x03, 'd', 'e', 'f', 0x00, 0x00, 0x00, 0x01, 'c', 0x00}
	eof            = []byte{0xfe, 0x00, 0x00, 0x22, 0x00}
	eofCursor      = []byte{0xfe, 0x00, 0x00, 0x62, 0x00} // other status flags
	rowA           = []byte{0x01, 'a'}
	rowB           = []byte{0x01, 'b'}
	okOne          = []byte{0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00}
	okTwo          = []byte{0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00}
	errDeadlock    = append([]byte{0xff, 0xbd, 0x04, '#'}, "40001Deadlock found"...)
	errNotReadyPkt = append([]byte{0xff, 0x17, 0x04, '#'}, "08S01WSREP has not yet prepared node"...)
	errDup         = append([]byte{0xff, 0x26, 0x04, '#'}, "23000Duplicate entry"...)
)

func sumOf(mode checksumMode, pkts ...[]byte) [sumSize]byte {
	r := replySummer{mode: mode}
	c := &collect{}
	w := r.start(nil, c, true, 0)
	for _, p := range pkts {
		_ = w.WritePacket(p)
	}
	return r.sum()
}

// TestReplyChecksum: the checksum covers what a transaction depends on
// (rows, errors, OK replies in full mode) and ignores what legitimately
// differs between the original connection and the replay's.
func TestReplyChecksum(t *testing.T) {
	rows := func(count []byte, tail ...[]byte) [][]byte {
		return append([][]byte{count, colDef, eof}, tail...)
	}
	for _, tc := range []struct {
		name string
		mode checksumMode
		a, b [][]byte
		same bool
	}{
		{"same rows", sumFull, rows(colCount, rowA, eof), rows(colCount, rowA, eof), true},
		{"different rows", sumFull, rows(colCount, rowA, eof), rows(colCount, rowB, eof), false},
		{"more rows", sumFull, rows(colCount, rowA, eof), rows(colCount, rowA, rowA, eof), false},
		{"metadata cached vs sent", sumFull, [][]byte{colCountSkip, rowA, eof}, rows(colCountMeta, rowA, eof), true},
		{"terminator status flags", sumFull, rows(colCount, rowA, eof), rows(colCount, rowA, eofCursor), true},
		{"affected rows, full", sumFull, [][]byte{okOne}, [][]byte{okTwo}, false},
		{"affected rows, result_only", sumResultOnly, [][]byte{okOne}, [][]byte{okTwo}, true},
		{"error vs OK, result_only", sumResultOnly, [][]byte{okOne}, [][]byte{errDup}, false},
		{"rows vs error", sumFull, rows(colCount, rowA, eof), [][]byte{errDup}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := sumOf(tc.mode, tc.a...), sumOf(tc.mode, tc.b...)
			if (a == b) != tc.same {
				t.Errorf("checksums equal = %v, want %v", a == b, tc.same)
			}
		})
	}
}

// TestReplySummerHold: a one-packet ERR reply the session can recover from
// is withheld from the client (not written, not flushed) until released;
// others pass through.
func TestReplySummerHold(t *testing.T) {
	for _, tc := range []struct {
		name string
		hold holdMask
		pkt  []byte
		held bool
	}{
		{"1047 held", holdNotReady, errNotReadyPkt, true},
		{"1047 not asked for", holdDeadlock, errNotReadyPkt, false},
		{"deadlock held", holdNotReady | holdDeadlock, errDeadlock, true},
		{"deadlock not asked for", holdNotReady | holdKilled, errDeadlock, false},
		{"killed held", holdKilled, append([]byte{0xff, 0x87, 0x07, '#'}, "70100Connection was killed"...), true},
		{"other errors pass", holdNotReady | holdKilled | holdDeadlock, errDup, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r replySummer
			c := &collect{}
			w := r.start(nil, c, false, tc.hold)
			_ = w.WritePacket(tc.pkt)
			_ = w.Flush()
			if got := r.held != nil; got != tc.held {
				t.Fatalf("held = %v, want %v", got, tc.held)
			}
			if tc.held {
				if len(c.pkts) != 0 || c.flushes != 0 {
					t.Fatalf("withheld packet reached the client: %d packets, %d flushes", len(c.pkts), c.flushes)
				}
				if err := r.release(); err != nil {
					t.Fatal(err)
				}
			}
			if len(c.pkts) != 1 || !bytes.Equal(c.pkts[0], tc.pkt) || c.flushes != 1 {
				t.Errorf("client got %x (%d flushes), want the error once", c.pkts, c.flushes)
			}
		})
	}
	t.Run("only a first packet", func(t *testing.T) {
		var r replySummer
		c := &collect{}
		w := r.start(nil, c, false, holdDeadlock)
		_ = w.WritePacket(colCount)
		_ = w.WritePacket(errDeadlock)
		if r.held != nil || len(c.pkts) != 2 {
			t.Errorf("an ERR after other packets was withheld")
		}
	})
}

// TestTrxLog: statements are kept in order with their checksums until the
// size bound, beyond which the transaction cannot be replayed.
func TestTrxLog(t *testing.T) {
	var l trxLog
	for i, cmd := range []string{"\x03BEGIN", "\x03UPDATE t SET v=1"} {
		if !l.add([]byte(cmd), nil, [sumSize]byte{byte(i)}, 30) {
			t.Fatalf("add %q refused", cmd)
		}
	}
	if l.len() != 2 || string(l.stmt(1)) != "\x03UPDATE t SET v=1" || l.sums[1][0] != 1 {
		t.Fatalf("log = %d statements, second %q", l.len(), l.stmt(1))
	}
	if l.add([]byte("\x03INSERT INTO t VALUES (1)"), nil, [sumSize]byte{}, 30) || !l.off || l.len() != 0 {
		t.Fatalf("log beyond its bound: off=%v len=%d", l.off, l.len())
	}
	if l.add([]byte("\x03DO 1"), nil, [sumSize]byte{}, 30) {
		t.Error("a log turned off took a statement")
	}
	l.reset()
	if l.off || !l.add([]byte("\x03DO 1"), nil, [sumSize]byte{}, 30) {
		t.Error("reset did not start a new transaction's log")
	}
}

// nopClient drops what it is sent.
type nopClient struct{}

func (nopClient) ReadPacket() ([]byte, error) { return nil, errNoClient }
func (nopClient) WritePacket([]byte) error    { return nil }
func (nopClient) Flush() error                { return nil }

// BenchmarkReplySummer100Rows measures what the summer adds to relaying a
// 100-row reply of 120-byte rows: passing through (transaction replay off,
// or outside a transaction) and checksumming.
func BenchmarkReplySummer100Rows(b *testing.B) {
	row := append([]byte{120}, bytes.Repeat([]byte{'x'}, 120)...)
	reply := [][]byte{colCount, colDef, eof}
	for range 100 {
		reply = append(reply, row)
	}
	reply = append(reply, eof)
	for _, hashing := range []bool{false, true} {
		b.Run(map[bool]string{false: "pass", true: "checksum"}[hashing], func(b *testing.B) {
			var r replySummer
			b.ReportAllocs()
			for b.Loop() {
				w := r.start(nil, nopClient{}, hashing, holdNotReady)
				for _, p := range reply {
					_ = w.WritePacket(p)
				}
				_ = w.Flush()
				if hashing {
					_ = r.sum()
				}
			}
		})
	}
}
