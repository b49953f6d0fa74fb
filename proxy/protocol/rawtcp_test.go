package protocol

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// rawPair returns a loopback TCP connection pair, both ends through RawTCP.
func rawPair(t testing.TB) (net.Conn, net.Conn) {
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
	return RawTCP(a), RawTCP(b)
}

// A payload far larger than the socket buffers makes Write wait for
// writability and Read return partial data; every byte arrives in order.
func TestRawTCPLargeTransfer(t *testing.T) {
	a, b := rawPair(t)
	want := make([]byte, 8<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := a.Write(want)
		if err == nil {
			err = a.Close() // the reader sees EOF after the data
		}
		werr <- err
	}()
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(want))
	}
}

func TestRawTCPErrors(t *testing.T) {
	a, b := rawPair(t)

	// A read deadline ends a waiting Read with a timeout.
	if err := b.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := b.Read(make([]byte, 10))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Read past its deadline: %v, want a timeout", err)
	}
	if err := b.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}

	// Closing the connection ends a waiting Read with net.ErrClosed.
	done := make(chan error, 1)
	go func() {
		_, err := b.Read(make([]byte, 10))
		done <- err
	}()
	if _, err := a.Write([]byte("x")); err != nil { // the goroutine's first Read returns this
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Read of sent data: %v", err)
	}
	go func() {
		_, err := b.Read(make([]byte, 10))
		done <- err
	}()
	// Close races the goroutine reaching Read; both orders end in ErrClosed.
	b.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read on a closed connection: %v, want net.ErrClosed", err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write on a closed connection: %v, want net.ErrClosed", err)
	}

	// The peer's close is io.EOF, as net.Conn reports it.
	if _, err := a.Read(make([]byte, 10)); err != io.EOF {
		t.Errorf("Read after the peer closed: %v, want io.EOF", err)
	}
}

func TestRawTCPLeavesOtherConns(t *testing.T) {
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if got := RawTCP(p1); got != p1 {
		t.Errorf("RawTCP wrapped a %T", p1)
	}
}

// The statement path reads and writes through RawTCP; neither may allocate.
func TestRawTCPDoesNotAllocate(t *testing.T) {
	a, b := rawPair(t)
	msg := []byte("a short reply packet")
	buf := make([]byte, 64)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := a.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(b, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a Write and Read allocate %.1f times", allocs)
	}
}
