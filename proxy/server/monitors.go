package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/monitor"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

// errNotRunning: a monitor cannot be started before Run or after shutdown
// began, because its goroutine would have no owner.
var errNotRunning = errors.New("the proxy is not running")

// monitorSlot owns one [[monitor]] across admin stops and starts. A
// monitor.Monitor runs once, so a start builds a new one that publishes
// into the same holder: sessions keep reading the same topology pointer,
// and while the monitor is stopped its last snapshot stays published.
type monitorSlot struct {
	cfg    *config.Monitor
	build  func(...monitor.Option) (*monitor.Monitor, error)
	holder *topology.Holder
	feed   *feed
	log    *slog.Logger

	mu sync.Mutex
	m  *monitor.Monitor // the latest one; closed while stopped
	// Set by attach when Run starts; nil before and after.
	ctx     context.Context
	bg      *sync.WaitGroup
	fail    func(error)
	running bool          // m's Run goroutine is live
	done    chan struct{} // closed when that goroutine has returned
}

func newMonitorSlot(cfg *config.Monitor, build func(...monitor.Option) (*monitor.Monitor, error), log *slog.Logger) (*monitorSlot, error) {
	holder := new(topology.Holder)
	m, err := build(monitor.WithHolder(holder))
	if err != nil {
		return nil, err
	}
	return &monitorSlot{cfg: cfg, build: build, holder: holder, feed: newFeed(holder), log: log, m: m}, nil
}

// attach starts the monitor under Run's context; goroutines go to bg. A
// monitor an operator left stopped before a restart stays stopped (its
// journal restored the states it had published) until started.
func (ms *monitorSlot) attach(ctx context.Context, bg *sync.WaitGroup, fail func(error)) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.ctx, ms.bg, ms.fail = ctx, bg, fail
	if ms.m.Stopped() {
		ms.log.Warn("monitor stays stopped, as an operator left it; start it with `maxproxy ctl start monitor`", "monitor", ms.cfg.Name)
		ms.closeLocked() // releases the journal for the monitor a start builds
		return
	}
	ms.startLocked()
}

// startLocked runs ms.m and a feed for its snapshots.
func (ms *monitorSlot) startLocked() {
	m, done := ms.m, make(chan struct{})
	snaps, unsubscribe := m.Subscribe()
	ms.running, ms.done = true, done
	ms.bg.Go(func() { ms.feed.run(snaps) })
	ms.bg.Go(func() {
		defer close(done)
		defer unsubscribe()
		// ErrClosed: stopped by an operator or by shutdown before Run began.
		if err := m.Run(ms.ctx); err != nil && !errors.Is(err, monitor.ErrClosed) {
			ms.fail(fmt.Errorf("monitor %q: %w", ms.cfg.Name, err))
		}
	})
}

// detach closes the monitor for shutdown; no start may follow.
func (ms *monitorSlot) detach() {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.ctx, ms.bg, ms.fail = nil, nil, nil
	ms.closeLocked()
}

func (ms *monitorSlot) closeLocked() {
	if err := ms.m.Close(); err != nil {
		ms.log.Warn("closing monitor", "monitor", ms.cfg.Name, "err", err)
	}
	if ms.running {
		<-ms.done
		ms.running = false
	}
}

// monitor returns the current monitor (closed while stopped).
func (ms *monitorSlot) monitor() (*monitor.Monitor, bool) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.m, ms.running
}

// stop ends probing and releases the monitor's connections and journal;
// the journal remembers the stop across a restart (monitor.Stop). Stopping
// a stopped monitor is not an error, as in MaxScale.
func (ms *monitorSlot) stop() error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.bg == nil {
		return fmt.Errorf("monitor %q: %w", ms.cfg.Name, errNotRunning)
	}
	if !ms.running {
		return nil
	}
	if err := ms.m.Stop(); err != nil {
		if !ms.m.Stopped() {
			return err // not recorded, so not stopped
		}
		ms.log.Warn("stopping monitor", "monitor", ms.cfg.Name, "err", err)
	}
	ms.closeLocked()
	ms.log.Info("monitor stopped by operator", "monitor", ms.cfg.Name)
	return nil
}

// start runs a fresh monitor after an operator's stop (restartLocked).
func (ms *monitorSlot) start() error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.bg == nil {
		return fmt.Errorf("monitor %q: %w", ms.cfg.Name, errNotRunning)
	}
	if ms.running {
		return nil
	}
	if err := ms.restartLocked(); err != nil {
		return err
	}
	ms.log.Info("monitor started by operator", "monitor", ms.cfg.Name)
	return nil
}

// restartLocked builds a fresh monitor on the same holder and runs it.
// Operator states (maintenance, drain) carry over: from the journal when
// there is a data directory, and by copying them from the stopped monitor
// otherwise; a server the new monitor does not watch drops its state.
func (ms *monitorSlot) restartLocked() error {
	m, err := ms.build(monitor.WithHolder(ms.holder))
	if err != nil {
		return fmt.Errorf("monitor %q: restart: %w", ms.cfg.Name, err)
	}
	for name, a := range ms.m.Admin() {
		if !slices.Contains(ms.cfg.Servers, name) {
			continue
		}
		var errs []error
		if a.Maintenance {
			errs = append(errs, m.SetMaintenance(name))
		}
		if a.Drain {
			errs = append(errs, m.SetDrain(name))
		}
		if err := errors.Join(errs...); err != nil {
			ms.log.Warn("monitor restart: operator state not restored", "monitor", ms.cfg.Name, "server", name, "err", err)
		}
	}
	ms.m = m
	ms.startLocked()
	return nil
}

// setConfig points the slot at a reloaded configuration; the monitor
// running now keeps its own until replace. The caller holds Server.mu, so
// readers of cfg under either lock see a consistent value.
func (ms *monitorSlot) setConfig(cfg *config.Monitor, build func(...monitor.Option) (*monitor.Monitor, error)) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.cfg, ms.build = cfg, build
}

// replace swaps the running monitor for one built from the slot's current
// configuration, on the same holder: sessions keep the last snapshot until
// the new monitor's first round, which diffs against it. The old monitor
// is closed first because a monitor's journal and metrics are exclusive.
// A stopped monitor stays stopped and starts with the new configuration.
// If the build fails the monitor is left stopped and the error says so.
func (ms *monitorSlot) replace() error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.bg == nil {
		return fmt.Errorf("monitor %q: %w", ms.cfg.Name, errNotRunning)
	}
	if !ms.running {
		return nil
	}
	ms.closeLocked()
	if err := ms.restartLocked(); err != nil {
		return fmt.Errorf("%w; the monitor is stopped: fix the configuration and reload, or start it", err)
	}
	ms.log.Info("monitor restarted with its new configuration", "monitor", ms.cfg.Name)
	return nil
}
