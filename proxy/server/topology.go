package server

import (
	"sync"

	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/session"
)

// feed turns a monitor's snapshot subscription into session.Topology:
// Load reads the monitor's holder without locks, Changed hands out a
// channel that the next published snapshot closes.
type feed struct {
	holder *topology.Holder

	mu      sync.Mutex
	changed chan struct{}
}

var _ session.Topology = (*feed)(nil)

func newFeed(h *topology.Holder) *feed {
	return &feed{holder: h, changed: make(chan struct{})}
}

func (f *feed) Load() *topology.Snapshot { return f.holder.Load() }

func (f *feed) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// run wakes waiters for every snapshot from snaps until the channel closes.
func (f *feed) run(snaps <-chan *topology.Snapshot) {
	for range snaps {
		f.mu.Lock()
		close(f.changed)
		f.changed = make(chan struct{})
		f.mu.Unlock()
	}
}

// static is the topology of servers no monitor watches: every server is
// Running, the first one is the Master and the others are Slaves. It never
// changes, so a server that goes down is only noticed by failed
// connections.
type static struct {
	snap *topology.Snapshot
}

var _ session.Topology = static{}

func newStatic(servers []topology.Server) static {
	snap := &topology.Snapshot{Generation: 1, Servers: servers}
	for i := range snap.Servers {
		st := topology.Running | topology.Synced
		if i == 0 {
			st |= topology.Master
		} else {
			st |= topology.Slave
		}
		snap.Servers[i].State = st
		snap.Servers[i].Galera.LocalIndex = -1
	}
	return static{snap: snap}
}

func (s static) Load() *topology.Snapshot { return s.snap }
func (s static) Changed() <-chan struct{} { return nil }
