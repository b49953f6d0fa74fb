// Package topology holds the values the monitor publishes and the router
// reads: one immutable Snapshot of every server and its state per probe
// round. It imports nothing from this module so that the router can decide
// routes from plain values without linking the monitor's probing code.
//
// A Snapshot is never modified after it is published; the monitor builds a
// new one each round and swaps it in atomically (see Holder), so readers on
// the query path take no lock.
package topology

import (
	"strings"
	"sync/atomic"
	"time"
)

// State is a set of MaxScale-style server status bits.
type State uint32

// The status bits, named as MaxScale names them in `maxctrl list servers`.
const (
	// Running: the monitor reached the server and logged in.
	Running State = 1 << iota
	// Synced: the node is a joined member of the majority cluster
	// (wsrep_local_state 4, or 2 with available_when_donor).
	Synced
	// Master: the node chosen to receive writes.
	Master
	// Slave: a synced node that serves reads.
	Slave
	// Donor: the node is serving a state transfer (wsrep_local_state 2).
	Donor
	// Maintenance: set by an operator; no new work is routed here.
	Maintenance
	// Draining: set by an operator; existing sessions finish, new ones go elsewhere.
	Draining
	// AuthError: the monitor could connect but its credentials were refused.
	AuthError
	// Sticky: the master kept its role against the normal choice (lowest
	// index or priority) because of disable_master_failback or the
	// sticky_writer marker.
	Sticky
	// Lagging: the node is falling behind (flow control sent or a growing
	// receive queue); reads avoid it while others can serve them.
	Lagging
)

var stateNames = []struct {
	bit  State
	name string
}{
	{Maintenance, "Maintenance"},
	{Draining, "Draining"},
	{Master, "Master"},
	{Slave, "Slave"},
	{Synced, "Synced"},
	{Donor, "Donor"},
	{Sticky, "Master Stickiness"},
	{Lagging, "Lagging"},
	{AuthError, "Auth Error"},
	{Running, "Running"},
}

// Has reports whether every bit of b is set in s.
func (s State) Has(b State) bool { return s&b == b }

// Up reports whether the monitor reached the server.
func (s State) Up() bool { return s&Running != 0 }

// String renders the state the way maxctrl does: "Master, Synced, Running",
// or "Down" when the server is unreachable.
func (s State) String() string {
	var parts []string
	for _, n := range stateNames {
		if s&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	if s&Running == 0 {
		parts = append(parts, "Down")
	}
	return strings.Join(parts, ", ")
}

// Galera is what the monitor read from a Galera node in its last probe.
// Zero values mean "not reported" (a plain MariaDB, or a node that is down).
type Galera struct {
	LocalState        int    // wsrep_local_state (4 = Synced, 2 = Donor/Desynced, ...)
	LocalStateComment string // wsrep_local_state_comment
	ClusterStatus     string // wsrep_cluster_status: Primary, non-Primary, Disconnected
	ClusterUUID       string // wsrep_cluster_state_uuid
	ClusterSize       int    // wsrep_cluster_size
	LocalIndex        int    // wsrep_local_index; -1 when unknown
	Ready             bool   // wsrep_ready
	Desync            bool   // wsrep_desync
	RejectQueries     string // wsrep_reject_queries: NONE, ALL, ALL_KILL
	DonorRejects      bool   // wsrep_sst_donor_rejects_queries
	RecvQueue         int64  // wsrep_local_recv_queue
	FlowControlSent   uint64 // wsrep_flow_control_sent (cumulative)
}

// Server is one backend as the monitor last saw it.
type Server struct {
	Name     string // the [[server]] name from the configuration
	Address  string // host:port the proxy dials
	Priority int    // configured priority (galeramon use_priority)
	State    State
	Galera   Galera
	// Err is the last probe error, empty when the probe succeeded.
	Err string
}

// Snapshot is the whole topology at one instant. Treat it as read-only.
type Snapshot struct {
	// Generation increases by one with every published snapshot.
	Generation uint64
	// Taken is when the probe round that produced it finished.
	Taken time.Time
	// Servers in configuration order.
	Servers []Server
}

// Server returns the named server, or nil.
func (s *Snapshot) Server(name string) *Server {
	if s == nil {
		return nil
	}
	for i := range s.Servers {
		if s.Servers[i].Name == name {
			return &s.Servers[i]
		}
	}
	return nil
}

// Master returns the server holding the Master bit, or nil when there is no
// writer (none synced, or all in maintenance).
func (s *Snapshot) Master() *Server {
	if s == nil {
		return nil
	}
	for i := range s.Servers {
		if s.Servers[i].State.Has(Master | Running) {
			return &s.Servers[i]
		}
	}
	return nil
}

// Holder publishes snapshots to lock-free readers. The zero value holds nil.
type Holder struct {
	p atomic.Pointer[Snapshot]
}

// Load returns the current snapshot (nil before the first Store).
func (h *Holder) Load() *Snapshot { return h.p.Load() }

// Store publishes s. The caller must not modify s afterwards.
func (h *Holder) Store(s *Snapshot) { h.p.Store(s) }
