package server

import (
	"log/slog"
	"runtime"
	"testing"

	"github.com/maxproxy/maxproxy/config"
)

func TestApplyThreads(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	log := slog.New(slog.DiscardHandler)

	applyThreads(config.ThreadsAuto, log)
	if got := runtime.GOMAXPROCS(0); got != prev {
		t.Errorf("threads = auto changed GOMAXPROCS from %d to %d", prev, got)
	}
	want := prev + 1 // differs from the current value whatever the machine
	applyThreads(config.Threads(want), log)
	if got := runtime.GOMAXPROCS(0); got != want {
		t.Errorf("threads = %d: GOMAXPROCS is %d", want, got)
	}
}
