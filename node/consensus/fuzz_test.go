package consensus

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// FuzzApplyState: the persisted apply state decodes without panicking and round-trips.
func FuzzApplyState(f *testing.F) {
	good, _ := encodeApplyState(&applyState{applied: 9, confIndex: 3, conf: &pb.ConfState{Voters: []uint64{1, 2}},
		lastSeq: map[uint64]uint64{1: 5}})
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		st := applyState{lastSeq: map[uint64]uint64{}}
		if err := decodeApplyState(b, &st); err != nil {
			return
		}
		again, err := encodeApplyState(&st)
		if err != nil {
			t.Fatal(err)
		}
		st2 := applyState{lastSeq: map[uint64]uint64{}}
		if err := decodeApplyState(again, &st2); err != nil {
			t.Fatalf("re-encoded apply state does not decode: %v", err)
		}
		if st2.applied != st.applied || st2.confIndex != st.confIndex || len(st2.lastSeq) != len(st.lastSeq) {
			t.Fatal("apply state changed in a round trip")
		}
	})
}

// FuzzEnvelope: any entry payload parses without panicking, and what parses re-encodes to itself.
func FuzzEnvelope(f *testing.F) {
	f.Add(appendEnvelope(nil, kindProposal, 1, 2, []byte("x")))
	f.Add([]byte{3})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, p, s, payload, err := parseEnvelope(b)
		if err != nil {
			return
		}
		if !bytes.Equal(appendEnvelope(nil, k, p, s, payload), b) {
			t.Fatal("envelope does not round-trip")
		}
	})
}

// fuzzConn feeds fixed bytes to the transport's reader.
type fuzzConn struct {
	net.Conn
	r *bytes.Reader
}

func (c fuzzConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// FuzzTCPRead: whatever a peer sends, the reader returns an error or delivers well-formed messages from
// the announced sender; it never panics or allocates beyond the frame limit.
func FuzzTCPRead(f *testing.F) {
	frame := func(m *pb.Message) []byte {
		b, _ := proto.Marshal(m)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	good := append([]byte("MXR1\x00\x00\x00\x00\x00\x00\x00\x02"), frame(&pb.Message{From: new(uint64(2)), To: new(uint64(1)), Type: pb.MsgHeartbeat.Enum()})...)
	f.Add(good)
	f.Add([]byte("MXR1"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := &TCPTransport{cfg: TCPConfig{MaxFrame: 1 << 16}}
		var from uint64
		if len(b) >= 12 {
			from = binary.BigEndian.Uint64(b[4:12])
		}
		tr.Attach(&checkingReceiver{t: t, from: from})
		_ = tr.read(fuzzConn{r: bytes.NewReader(b)})
	})
}

type checkingReceiver struct {
	t    *testing.T
	from uint64
}

func (r *checkingReceiver) Step(m *pb.Message) {
	if m.GetFrom() != r.from {
		r.t.Fatalf("delivered a message from %d on node %d's connection", m.GetFrom(), r.from)
	}
}
func (r *checkingReceiver) ReportUnreachable(uint64) {}

// FuzzLogSegment: whatever a segment file holds, opening the log neither panics nor hangs; it either
// loads or fails with an error. Whatever loads must reopen to the same log.
func FuzzLogSegment(f *testing.F) {
	var ls logStore
	ls.appendEntries([]*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b")})
	_ = ls.appendProto(recHardState, &pb.HardState{Term: new(uint64(1)), Commit: new(uint64(2))})
	ls.appendRecord(recMarker, compactedMarker(1, 1))
	ls.appendRecord(recTruncate, binary.BigEndian.AppendUint64(nil, 1))
	f.Add(slices.Clone(ls.buf))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, LogDirName), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, LogDirName, segmentName(1)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		ls, _, err := openLogStoreSized(dir, 4096)
		if err != nil {
			return
		}
		first, _ := ls.FirstIndex()
		last, _ := ls.LastIndex()
		_ = ls.close()
		ls, _, err = openLogStoreSized(dir, 4096)
		if err != nil {
			t.Fatalf("a log that loaded once does not load again: %v", err)
		}
		defer ls.close()
		if f2, _ := ls.FirstIndex(); f2 != first {
			t.Fatalf("first index %d, then %d", first, f2)
		}
		if l2, _ := ls.LastIndex(); l2 != last {
			t.Fatalf("last index %d, then %d", last, l2)
		}
	})
}
