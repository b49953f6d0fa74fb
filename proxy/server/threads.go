package server

import (
	"log/slog"
	"runtime"

	"github.com/maxproxy/maxproxy/config"
)

// applyThreads sets how many OS threads run Go code at once, [proxy]
// threads. It is process-wide, which is why only New (the process's one
// runtime) applies it and a reload reports it as restart-only. Auto leaves
// GOMAXPROCS alone: setting it, even to its current value, would stop the
// runtime from following CPU limit changes.
//
// Why it is a setting: every statement parks the session goroutine twice
// (waiting for the client, then for the server). With idle Ps the
// scheduler wakes a spinning thread for each goroutine the network poller
// readies, and that thread mostly finds nothing and sleeps again, so on a
// small machine shared with the clients and servers extra threads cost
// context switches and CPU per statement. Fewer threads also claim a
// smaller share of a contended CPU, so the default stays the runtime's.
func applyThreads(t config.Threads, log *slog.Logger) {
	if t != config.ThreadsAuto {
		runtime.GOMAXPROCS(int(t))
	}
	log.Info("worker threads", "threads", runtime.GOMAXPROCS(0), "setting", t.String())
}
