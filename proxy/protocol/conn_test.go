package protocol

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// pipePair returns two connected Conns over loopback TCP (buffering matters
// here, so net.Pipe's synchronous writes would hide problems).
func pipePair(t testing.TB) (*Conn, *Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	ca, cb := NewConn(RawTCP(a)), NewConn(RawTCP(b)) // as the proxy's sockets are
	ca.EnableReadAhead()
	cb.EnableReadAhead()
	ca.SetMaxPacketSize(DefaultMaxPacketSize)
	cb.SetMaxPacketSize(DefaultMaxPacketSize)
	return ca, cb
}

func TestFramingSizesAndSequence(t *testing.T) {
	w, r := pipePair(t)
	sizes := []int{0, 1, 1000, maxFrame - 1, maxFrame, maxFrame + 1, 2 * maxFrame}
	done := make(chan error, 1)
	go func() {
		for i, n := range sizes {
			p := bytes.Repeat([]byte{byte(i + 1)}, n)
			if err := w.WritePacket(p); err != nil {
				done <- err
				return
			}
		}
		done <- w.Flush()
	}()
	for i, n := range sizes {
		p, err := r.ReadPacket()
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if len(p) != n || (n > 0 && (p[0] != byte(i+1) || p[n-1] != byte(i+1))) {
			t.Fatalf("size %d: got %d bytes", n, len(p))
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Frames: 1+1+1+1 + 2 (exact maxFrame ends with an empty frame) + 2 + 3.
	if w.Sequence() != 11 || r.Sequence() != 11 {
		t.Fatalf("sequence writer %d reader %d, want 11", w.Sequence(), r.Sequence())
	}
}

func TestReadErrors(t *testing.T) {
	w, r := pipePair(t)
	// Wrong sequence id.
	if _, err := w.NetConn().Write([]byte{1, 0, 0, 5, 'x'}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadPacket(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad sequence: %v", err)
	}

	w, r = pipePair(t)
	r.SetMaxPacketSize(10)
	if err := w.WritePacket(make([]byte, 11)); err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadPacket(); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("too large: %v", err)
	}

	w, r = pipePair(t)
	w.Close()
	if _, err := r.ReadPacket(); !errors.Is(err, io.EOF) {
		t.Fatalf("peer closed: %v", err)
	}
}

func TestReadWriteDoNotAllocate(t *testing.T) {
	w, r := pipePair(t)
	payload := bytes.Repeat([]byte("row"), 100)
	allocs := testing.AllocsPerRun(200, func() {
		w.ResetSequence()
		r.ResetSequence()
		if err := w.WritePacket(payload); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadPacket(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet round trip", allocs)
	}
}

func TestWriteBuffersUntilFlush(t *testing.T) {
	w, _ := pipePair(t)
	for i := 0; i < 10; i++ {
		if err := w.WritePacket([]byte("small")); err != nil {
			t.Fatal(err)
		}
	}
	if w.Buffered() != 10*(4+5) {
		t.Fatalf("buffered %d", w.Buffered())
	}
	if err := w.Flush(); err != nil || w.Buffered() != 0 {
		t.Fatal(err)
	}
}

func TestMarkAndRewind(t *testing.T) {
	w, r := pipePair(t)
	w.ResetSequence()
	m := w.Mark()
	for i := 0; i < 3; i++ {
		if err := w.WritePacket([]byte("partial")); err != nil {
			t.Fatal(err)
		}
	}
	if !w.Rewind(m) || w.Buffered() != 0 || w.Sequence() != 0 {
		t.Fatalf("rewind of a buffered reply failed: buffered %d seq %d", w.Buffered(), w.Sequence())
	}
	if err := w.WritePacket([]byte("retry")); err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	p, err := r.ReadPacket()
	if err != nil || string(p) != "retry" {
		t.Fatalf("client saw %q, %v", p, err)
	}
	// Once bytes went out (a flush, or a full buffer), there is no way back.
	m = w.Mark()
	if err := w.WritePacket(make([]byte, writeBufferSize+1)); err != nil {
		t.Fatal(err)
	}
	if w.Rewind(m) {
		t.Fatal("rewound a reply that had reached the network")
	}
}
