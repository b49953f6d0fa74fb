package galera

import (
	"sort"
	"time"

	"github.com/maxproxy/maxproxy/monitor/topology"
)

// Options are galeramon's classification settings plus our lag detection.
type Options struct {
	AvailableWhenDonor       bool
	DisableMasterFailback    bool
	DisableMasterRoleSetting bool
	UsePriority              bool
	RootNodeAsMaster         bool

	// StickyWriter: the writer named by the cluster-wide marker (see
	// WriterMarker) stays the writer while it is eligible, so that every
	// proxy instance reading the marker agrees.
	StickyWriter bool

	// LagFCSentThreshold: flow-control messages sent since the previous
	// round that mark a node Lagging; 0 disables this signal.
	LagFCSentThreshold uint64
	// LagRecvQueueThreshold: receive-queue length that marks a node
	// Lagging; 0 disables this signal.
	LagRecvQueueThreshold int64
	// LagHysteresis: consecutive clean rounds a Lagging node needs before
	// the mark is removed (0 behaves as 1).
	LagHysteresis int
}

// ServerConfig identifies a configured server.
type ServerConfig struct {
	Name     string
	Address  string // host:port
	Priority int    // galeramon priority; used with UsePriority
}

// Probe is the outcome of probing one server in one round.
type Probe struct {
	Server ServerConfig
	// Up: the monitor connected and logged in.
	Up bool
	// AuthError: the server refused the monitor's credentials or its
	// privileges were not enough to read the status.
	AuthError bool
	// HasStatus: the status queries answered; Status is meaningful.
	HasStatus bool
	Status    Status
	// Err describes the failure, empty on success.
	Err string
	// Marker is the writer marker as this node returned it (StickyWriter),
	// and MarkerErr why it could not be read.
	Marker    WriterMarker
	MarkerErr string
}

// WriterMarker is the cluster-wide writer marker (the row of
// maxproxy.writer) as one node returned it. Every write bumps Version, so
// among the copies the joined nodes return, the highest is the newest.
type WriterMarker struct {
	// Read: the node answered the marker query. A missing table or row
	// reads as Version 0 with no Node.
	Read    bool
	Node    string // wsrep_node_name of the agreed writer
	Version int64
}

// MarkerUpdate asks the monitor to move the marker to Node, the
// wsrep_node_name of server Server (the writer this round chose), if the
// marker still has version Version.
type MarkerUpdate struct {
	Server  string
	Node    string
	Version int64
}

// Admin is the operator's state for one server.
type Admin struct {
	Maintenance bool
	Drain       bool
}

// LagTrack is the per-server lag detector state carried between rounds.
type LagTrack struct {
	FCSent      uint64 // wsrep_flow_control_sent at the last probe
	Seen        bool   // FCSent holds a baseline
	Lagging     bool   // the detector's own verdict (before the all-lagging rule)
	CleanRounds int    // clean rounds in a row while Lagging
}

// Memory is what classification carries from one round to the next beside
// the snapshot. The monitor persists Master so that disable_master_failback
// survives a restart.
type Memory struct {
	// Master is the current writer's name, "" when there is none.
	Master string
	Lag    map[string]LagTrack
}

// Input is everything one classification round depends on.
type Input struct {
	Prev    *topology.Snapshot // nil on the first round
	Memory  Memory
	Probes  []Probe // one per configured server, in configuration order
	Admin   map[string]Admin
	Options Options
	Now     time.Time
}

// Result is one round's outcome.
type Result struct {
	Snapshot *topology.Snapshot
	Memory   Memory
	Events   []Event
	// ClusterUUID and ClusterSize describe the group chosen as the cluster.
	ClusterUUID string
	ClusterSize int
	// Marker is the newest writer marker the joined nodes returned, and
	// MarkerUpdate the change this round's choice requires (StickyWriter).
	Marker       WriterMarker
	MarkerUpdate *MarkerUpdate
}

// Classify computes the servers' states for one round. It does not modify
// its input.
func Classify(in Input) Result {
	n := len(in.Probes)
	joined := make([]bool, n)
	uuid, size := chooseCluster(in.Probes)
	for i, p := range in.Probes {
		joined[i] = p.Up && p.HasStatus && p.Status.ClusterUUID == uuid &&
			nodeJoined(p.Status, in.Options)
	}

	snap := &topology.Snapshot{Taken: in.Now, Servers: make([]topology.Server, n)}
	if in.Prev != nil {
		snap.Generation = in.Prev.Generation + 1
	} else {
		snap.Generation = 1
	}
	for i, p := range in.Probes {
		snap.Servers[i] = baseServer(p, joined[i], in.Admin[p.Server.Name])
	}

	marker, agreed := agreedWriter(in, joined)
	master, sticky := chooseMaster(in, joined, agreed)
	var mem Memory
	var update *MarkerUpdate
	if master >= 0 {
		mem.Master = in.Probes[master].Server.Name
		update = markerUpdate(in, joined, marker, master)
	}
	if !in.Options.DisableMasterRoleSetting {
		for i := range snap.Servers {
			if !joined[i] {
				continue
			}
			if i == master {
				snap.Servers[i].State |= topology.Master
				if sticky {
					snap.Servers[i].State |= topology.Sticky
				}
			} else {
				snap.Servers[i].State |= topology.Slave
			}
		}
	}

	mem.Lag = markLagging(in, joined, snap)
	return Result{
		Snapshot:     snap,
		Memory:       mem,
		Events:       Diff(in.Prev, snap),
		ClusterUUID:  uuid,
		ClusterSize:  size,
		Marker:       marker,
		MarkerUpdate: update,
	}
}

// agreedWriter returns the newest marker among the joined nodes and the
// index of the server it names (-1 when none, or when the name is not
// exactly one joined server's wsrep_node_name).
func agreedWriter(in Input, joined []bool) (WriterMarker, int) {
	var best WriterMarker
	if !in.Options.StickyWriter {
		return best, -1
	}
	for i, p := range in.Probes {
		if joined[i] && p.Marker.Read && (!best.Read || p.Marker.Version > best.Version) {
			best = p.Marker
		}
	}
	if best.Node == "" || !uniqueNode(in.Probes, joined, best.Node) {
		return best, -1
	}
	for i, p := range in.Probes {
		if joined[i] && p.Status.NodeName == best.Node {
			return best, i
		}
	}
	return best, -1
}

// uniqueNode reports whether exactly one joined server has node as its
// wsrep_node_name: a marker naming a shared or empty name identifies
// nothing, and writing one would only start a tug of war.
func uniqueNode(probes []Probe, joined []bool, node string) bool {
	if node == "" {
		return false
	}
	n := 0
	for i, p := range probes {
		if joined[i] && p.Status.NodeName == node {
			n++
		}
	}
	return n == 1
}

// baseServer is a server's state before roles and lag: what the probe
// saw, whether the node is joined, and the operator's bits.
func baseServer(p Probe, joined bool, a Admin) topology.Server {
	s := topology.Server{
		Name:     p.Server.Name,
		Address:  p.Server.Address,
		Priority: p.Server.Priority,
		Err:      p.Err,
	}
	s.Galera.LocalIndex = -1
	if p.Up {
		s.State |= topology.Running
	}
	if p.AuthError {
		s.State |= topology.AuthError
	}
	if p.Up && p.HasStatus {
		s.Galera = p.Status.Galera
		if p.Status.LocalState == 2 {
			s.State |= topology.Donor
		}
	}
	if joined {
		s.State |= topology.Synced
	}
	if a.Maintenance {
		s.State |= topology.Maintenance
	}
	if a.Drain {
		s.State |= topology.Draining
	}
	return s
}

// markerUpdate returns the marker change the chosen writer needs, if any:
// only when the marker was readable (its version is known) and the
// writer's wsrep_node_name identifies it unambiguously.
func markerUpdate(in Input, joined []bool, marker WriterMarker, master int) *MarkerUpdate {
	if !in.Options.StickyWriter || in.Options.DisableMasterRoleSetting || !marker.Read {
		return nil
	}
	node := in.Probes[master].Status.NodeName
	if node == marker.Node || !uniqueNode(in.Probes, joined, node) {
		return nil
	}
	return &MarkerUpdate{Server: in.Probes[master].Server.Name, Node: node, Version: marker.Version}
}

// nodeJoined applies galeramon's per-node rules (see the package doc).
func nodeJoined(s Status, o Options) bool {
	switch {
	case s.LocalState == 4:
	case s.LocalState == 2 && o.AvailableWhenDonor && physicalSST(s.SSTMethod):
	default:
		return false
	}
	return !s.Desync &&
		s.RejectQueries != "ALL" && s.RejectQueries != "ALL_KILL" &&
		!s.DonorRejects &&
		s.Ready &&
		s.LocalIndex >= 0 &&
		s.ClusterStatus == "Primary"
}

// chooseCluster returns the most common wsrep_cluster_state_uuid among the
// nodes that answered, ties going to the lexically smaller UUID.
func chooseCluster(probes []Probe) (string, int) {
	counts := map[string]int{}
	for _, p := range probes {
		if p.Up && p.HasStatus && p.Status.ClusterUUID != "" {
			counts[p.Status.ClusterUUID]++
		}
	}
	best, bestN := "", 0
	for u, c := range counts {
		if c > bestN || (c == bestN && u < best) {
			best, bestN = u, c
		}
	}
	return best, bestN
}

// chooseMaster returns the index of the writer (-1 for none) and whether
// it was kept by the writer marker or disable_master_failback against the
// normal choice.
func chooseMaster(in Input, joined []bool, agreed int) (int, bool) {
	o := in.Options
	eligible := func(i int, allowDrain bool) bool {
		a := in.Admin[in.Probes[i].Server.Name]
		return joined[i] && !a.Maintenance && (allowDrain || !a.Drain)
	}
	cand := candidate(in, func(i int) bool { return eligible(i, false) })
	if cand < 0 {
		cand = candidate(in, func(i int) bool { return eligible(i, true) })
	}
	if agreed >= 0 && eligible(agreed, true) {
		return agreed, agreed != cand
	}
	if o.DisableMasterFailback && in.Memory.Master != "" {
		for i, p := range in.Probes {
			if p.Server.Name == in.Memory.Master && eligible(i, true) {
				return i, i != cand
			}
		}
	}
	return cand, false
}

func candidate(in Input, ok func(int) bool) int {
	o := in.Options
	best, bestPrio := -1, 0
	// With use_priority, a positive priority beats everything else.
	if o.UsePriority {
		for i, p := range in.Probes {
			pr := p.Server.Priority
			if !ok(i) || pr <= 0 {
				continue
			}
			if best < 0 || pr < bestPrio ||
				(pr == bestPrio && p.Status.LocalIndex < in.Probes[best].Status.LocalIndex) {
				best, bestPrio = i, pr
			}
		}
		if best >= 0 {
			return best
		}
	}
	for i, p := range in.Probes {
		if !ok(i) || (o.UsePriority && p.Server.Priority < 0) {
			continue
		}
		if best < 0 || p.Status.LocalIndex < in.Probes[best].Status.LocalIndex {
			best = i
		}
	}
	// galeramon applies root_node_as_master only without use_priority and
	// disable_master_failback: the lowest index must be the root node (0).
	if best >= 0 && o.RootNodeAsMaster && !o.UsePriority && !o.DisableMasterFailback &&
		in.Probes[best].Status.LocalIndex != 0 {
		return -1
	}
	return best
}

// markLagging runs the lag detector and sets the Lagging bits in snap. It
// returns the detector state for the next round.
func markLagging(in Input, joined []bool, snap *topology.Snapshot) map[string]LagTrack {
	o := in.Options
	next := make(map[string]LagTrack, len(in.Probes))
	type lagger struct {
		i       int
		queue   int64
		fcDelta uint64
	}
	var lagging []lagger
	eligible := 0
	for i, p := range in.Probes {
		if !p.Up || !p.HasStatus {
			continue // a node we cannot see has no baseline
		}
		prev := in.Memory.Lag[p.Server.Name]
		st := p.Status
		tr := LagTrack{FCSent: st.FlowControlSent, Seen: true}
		if !joined[i] {
			next[p.Server.Name] = tr
			continue
		}
		var fcDelta uint64
		// A counter that went backwards was reset (FLUSH STATUS or a
		// restart): this round has no delta.
		if prev.Seen && st.FlowControlSent >= prev.FCSent {
			fcDelta = st.FlowControlSent - prev.FCSent
		}
		signal := (o.LagFCSentThreshold > 0 && fcDelta >= o.LagFCSentThreshold) ||
			(o.LagRecvQueueThreshold > 0 && st.RecvQueue >= o.LagRecvQueueThreshold)
		switch {
		case signal:
			tr.Lagging = true
		case prev.Lagging:
			tr.CleanRounds = prev.CleanRounds + 1
			tr.Lagging = tr.CleanRounds < o.LagHysteresis
			if !tr.Lagging {
				tr.CleanRounds = 0
			}
		}
		next[p.Server.Name] = tr
		if in.Admin[p.Server.Name].Maintenance {
			if tr.Lagging {
				snap.Servers[i].State |= topology.Lagging
			}
			continue
		}
		eligible++
		if tr.Lagging {
			lagging = append(lagging, lagger{i, st.RecvQueue, fcDelta})
		}
	}
	if len(lagging) > 0 && len(lagging) == eligible {
		sort.SliceStable(lagging, func(a, b int) bool {
			if lagging[a].queue != lagging[b].queue {
				return lagging[a].queue < lagging[b].queue
			}
			return lagging[a].fcDelta < lagging[b].fcDelta
		})
		lagging = lagging[1:]
	}
	for _, l := range lagging {
		snap.Servers[l.i].State |= topology.Lagging
	}
	return next
}
