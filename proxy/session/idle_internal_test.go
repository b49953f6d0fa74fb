package session

import (
	"log/slog"
	"net"
	"testing"
	"time"
)

func TestSweepEvery(t *testing.T) {
	for _, tc := range []struct {
		wait, keepalive, want time.Duration
	}{
		{0, 300 * time.Second, time.Second}, // MaxScale's one-second tick
		{0, 2 * time.Second, 500 * time.Millisecond},
		{400 * time.Millisecond, 300 * time.Second, 100 * time.Millisecond},
		{8 * time.Second, 2 * time.Second, 500 * time.Millisecond},
		{time.Millisecond, 0, 10 * time.Millisecond}, // floor
	} {
		if got := sweepEvery(tc.wait, tc.keepalive); got != tc.want {
			t.Errorf("sweepEvery(%v, %v) = %v, want %v", tc.wait, tc.keepalive, got, tc.want)
		}
	}
	if newSweeper(0, 0, time.Second) != nil {
		t.Error("a sweeper (and its goroutine) with wait_timeout and connection_keepalive both off")
	}
}

// TestSweeperExpiresIdleOnly: wait_timeout expires a session only while it
// waits for a command; a busy one (a long statement, a LOAD DATA upload)
// is left alone, and an expired one refuses its next command.
func TestSweeperExpiresIdleOnly(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	s := &Session{nc: a, log: slog.New(slog.DiscardHandler)}
	s.handoff.L = &s.mu
	sw := newSweeper(time.Second, 0, time.Second)
	if !s.setPhase(phaseBusy) {
		t.Fatal("setPhase(busy) refused on a fresh session")
	}
	sw.visit(s, time.Now().Add(time.Hour))
	if s.expired {
		t.Fatal("a busy session was expired by wait_timeout")
	}
	if !s.setPhase(phaseIdle) {
		t.Fatal("setPhase(idle) refused")
	}
	sw.visit(s, time.Now().Add(500*time.Millisecond))
	if s.expired {
		t.Fatal("expired before wait_timeout")
	}
	sw.visit(s, time.Now().Add(2*time.Second))
	if !s.expired {
		t.Fatal("an idle session outlived wait_timeout")
	}
	if s.setPhase(phaseBusy) {
		t.Error("an expired session accepted a command that raced with the timeout")
	}
}

// BenchmarkPhases is the per-statement cost of the idle/busy bookkeeping
// on a TCP client connection: today's setPhase pair, and the pair of
// SetReadDeadline calls it replaced (wait_timeout used to be armed and
// cleared per statement).
func BenchmarkPhases(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			peer <- c
		}
		close(peer)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	if c, ok := <-peer; ok {
		defer c.Close()
	}
	b.Run("setPhase", func(b *testing.B) {
		s := &Session{nc: nc}
		s.handoff.L = &s.mu
		b.ReportAllocs()
		for b.Loop() {
			s.setPhase(phaseIdle)
			s.setPhase(phaseBusy)
		}
	})
	b.Run("deadlines-replaced", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = nc.SetReadDeadline(time.Now().Add(time.Minute))
			_ = nc.SetReadDeadline(time.Time{})
		}
	})
}
