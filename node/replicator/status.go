package replicator

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/maxproxy/maxproxy/node/consensus"
)

// Galera's wsrep_local_state values this layer reports (GALERA.md §1.1). Donor/Desynced (StateDonor,
// flowcontrol.go) is reported for wsrep_desync=ON and while the node donates a state transfer (sst.go).
const (
	StateInitialized = 0
	StateJoiner      = 1 // a learner receiving the log (IST)
	StateJoined      = 3 // promoted to voter, still applying its backlog
	StateSynced      = 4
)

// What this provider says it is: Galera 4's name and version line (the release the project tests
// against), marked as maxnode's, and what it can do (wsrep_provider_capabilities: no parallel applying,
// streaming replication, non-blocking DDL or provider pause).
const (
	ProviderName         = "Galera"
	ProviderVersion      = "26.4.23(maxnode)"
	ProviderVendor       = "maxproxy project (maxnode)"
	ProviderCapabilities = ":MULTI_MASTER:CERTIFICATION:TRX_REPLAY:ISOLATION:CAUSAL_READS:"
)

// Status is a point-in-time copy of the wsrep_* status variables monitors read (GALERA.md §1.3, §2.1).
type Status struct {
	Primary           bool
	LocalState        int
	LocalStateComment string
	ClusterSize       int
	ClusterWeight     int // wsrep_cluster_weight: the voters of the primary component (pc.weight 1 each)
	ClusterStateUUID  string
	ClusterConfID     int64  // -1 outside a primary component
	LocalIndex        int    // position of this node in the view's sorted member ids; -1 when not a member
	IncomingAddresses string // wsrep_incoming_addresses: the members' MySQL addresses, in view order
	LastCommitted     uint64
	LocalCertFailures uint64
	LocalBFAborts     uint64
	LocalReplays      uint64 // wsrep_local_replays: local commits Galera would have BF-aborted and replayed
	Replicated        uint64
	ReplicatedBytes   uint64
	Received          uint64
	ReceivedBytes     uint64
	ReplKeys          uint64 // wsrep_repl_keys: certification keys of the write-sets this node replicated
	ReplKeysBytes     uint64
	ReplDataBytes     uint64 // row images (keys and values) of the write-sets this node replicated
	LocalCommits      uint64 // local transactions that replicated and passed certification
	LocalRecvQueue    int
	RecvQueueStats    QueueStats        // wsrep_local_recv_queue_max/_min/_avg
	SendQueueStats    QueueStats        // wsrep_local_send_queue_max/_min/_avg
	CachedDownto      uint64            // wsrep_local_cached_downto (stats.go gcacheMarks)
	FlowControl       FlowControlStatus // wsrep_flow_control_*, wsrep_desync (flowcontrol.go)
	CertIndexSize     int
	CertDepsDistance  float64
	CertInterval      float64 // wsrep_cert_interval
	Applied           bool    // anything applied: wsrep_apply_window / wsrep_commit_window are 1 from then on
	CausalReads       uint64
	OpenTransactions  int64  // local transactions that have written something
	ReplLatency       string // wsrep_evs_repl_latency: min/avg/max/stddev/samples in seconds
	GcommUUID         string // this process's identity in the group (new at every start, as Galera's)
}

// reachableWait bounds how long Status waits for consensus to say which members it hears from.
const reachableWait = 50 * time.Millisecond

// Status returns the current status. A node outside the primary component reports Initialized/non-Primary
// and counts in wsrep_cluster_size itself and the members it has heard from within two election timeouts
// (its side of the partition).
func (r *Replicator) Status() Status {
	primary := r.Primary()
	var cs consensus.Status
	var reachable []uint64 // outside the primary component: the members on this side of a partition
	if r.node != nil {
		cs = r.node.Status()
		if !primary {
			ctx, cancel := context.WithTimeout(context.Background(), reachableWait)
			reachable, _ = r.node.Reachable(ctx, 2*r.electionTimeout())
			cancel()
		}
	}
	r.mu.Lock()
	s := Status{
		Primary:           primary,
		LocalState:        StateInitialized,
		LocalStateComment: "Initialized",
		ClusterSize:       1,
		ClusterConfID:     -1,
		LocalIndex:        -1,
		LocalCertFailures: r.certFailures.Load(),
		Replicated:        r.replicated.Load(),
		ReplicatedBytes:   r.replicatedBytes.Load(),
		Received:          r.received.Load(),
		ReceivedBytes:     r.receivedBytes.Load(),
		ReplKeys:          r.replKeys.Load(),
		ReplKeysBytes:     r.replKeysBytes.Load(),
		ReplDataBytes:     r.replDataBytes.Load(),
		LocalCommits:      r.localCommits.Load(),
		CausalReads:       r.causalReads.Load(),
		ReplLatency:       r.replLatency.String(),
		GcommUUID:         formatUUID(r.source),
		CachedDownto:      r.gcache.downto(cs.FirstIndex, r.seqno+1),
	}
	if r.cert != nil {
		cst := r.cert.Stats()
		s.CertIndexSize, s.CertDepsDistance, s.CertInterval = cst.IndexSize, cst.DepsDistance(), cst.Interval()
	}
	if r.haveUUID {
		s.ClusterStateUUID = formatUUID(r.uuid)
	} else {
		s.ClusterStateUUID = formatUUID([16]byte{})
	}
	confID := r.confID
	members := r.view.ids()
	if len(members) == 0 {
		// A state saved by a version without views: the raft configuration is the view.
		members = append(slices.Clone(cs.Voters), cs.Learners...)
		slices.Sort(members)
	}
	s.IncomingAddresses = r.incomingAddresses(members)
	r.mu.Unlock()
	if r.db != nil {
		s.LastCommitted = r.db.LastCommitted()
		dbs := r.db.Stats()
		s.LocalBFAborts, s.LocalReplays = dbs.BFAborts, dbs.Replays
		s.OpenTransactions, s.Applied = dbs.OpenWriters, dbs.Applied > 0 || dbs.Commits > 0
	}
	s.LocalRecvQueue = r.queue.len()
	s.RecvQueueStats, s.SendQueueStats = r.queue.stats.snapshot(), r.fc.sendQ.snapshot()
	s.FlowControl = r.fc.status(max(len(cs.Voters), 1))
	s.LocalIndex = slices.Index(members, r.cfg.ID)
	switch {
	case primary && r.catchingUp.Load() && s.LocalRecvQueue > s.FlowControl.Lower:
		s.LocalState, s.LocalStateComment = StateJoined, "Joined"
	case primary:
		// Joined ends once the backlog first falls to the flow-control lower limit (GALERA.md §12.6):
		// under a steady write load an exactly empty queue may never be observed.
		r.catchingUp.Store(false)
		s.LocalState, s.LocalStateComment = StateSynced, "Synced"
	case slices.Contains(cs.Learners, r.cfg.ID) || r.inPrimaryComponent():
		// A learner receiving the log, or a member catching up after it (re)entered the primary
		// component (Primary, runRejoin): Galera's IST.
		s.LocalState, s.LocalStateComment = StateJoiner, "Joining: receiving State Transfer"
	}
	if primary {
		s.ClusterSize = len(members)
		s.ClusterConfID = int64(confID)
		s.ClusterWeight = len(cs.Voters)
	} else {
		// Galera's non-primary component counts the members it can see (GALERA.md §1.3): those this
		// node heard from recently.
		for _, id := range reachable {
			if slices.Contains(members, id) {
				s.ClusterSize++
			}
		}
	}
	if primary && (s.FlowControl.Desync || r.fc.donating()) {
		s.LocalState, s.LocalStateComment = StateDonor, "Donor/Desynced"
	}
	return s
}

// Row is one SHOW STATUS row.
type Row struct{ Name, Value string }

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

// Rows returns the status as SHOW STATUS rows, in the order MariaDB lists them.
func (s Status) Rows() []Row {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int) string { return strconv.Itoa(v) }
	cluster := "non-Primary"
	if s.Primary {
		cluster = "Primary"
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	window := "0"
	if s.Applied {
		window = "1" // one applier: write-sets apply and commit strictly in order
	}
	// Galera's own statistics first, in its order (replicator_smm_stats.cpp), then its group-communication
	// ones, then the server's, as MariaDB lists them.
	rows := []Row{
		{"wsrep_local_state_uuid", s.ClusterStateUUID},
		{"wsrep_protocol_version", "10"},
		{"wsrep_last_committed", u(s.LastCommitted)},
		{"wsrep_replicated", u(s.Replicated)},
		{"wsrep_replicated_bytes", u(s.ReplicatedBytes)},
		{"wsrep_repl_keys", u(s.ReplKeys)},
		{"wsrep_repl_keys_bytes", u(s.ReplKeysBytes)},
		{"wsrep_repl_data_bytes", u(s.ReplDataBytes)},
		{"wsrep_repl_other_bytes", "0"},
		{"wsrep_received", u(s.Received)},
		{"wsrep_received_bytes", u(s.ReceivedBytes)},
		{"wsrep_local_commits", u(s.LocalCommits)},
		{"wsrep_local_cert_failures", u(s.LocalCertFailures)},
		{"wsrep_local_replays", u(s.LocalReplays)},
		{"wsrep_local_send_queue", i(s.FlowControl.SendQueue)},
		{"wsrep_local_send_queue_max", i(s.SendQueueStats.Max)},
		{"wsrep_local_send_queue_min", i(s.SendQueueStats.Min)},
		{"wsrep_local_send_queue_avg", f(s.SendQueueStats.Avg)},
		{"wsrep_local_recv_queue", i(s.LocalRecvQueue)},
		{"wsrep_local_recv_queue_max", i(s.RecvQueueStats.Max)},
		{"wsrep_local_recv_queue_min", i(s.RecvQueueStats.Min)},
		{"wsrep_local_recv_queue_avg", f(s.RecvQueueStats.Avg)},
		{"wsrep_local_cached_downto", u(s.CachedDownto)},
		{"wsrep_flow_control_paused_ns", u(s.FlowControl.PausedNs)},
		{"wsrep_flow_control_paused", f(s.FlowControl.Paused)},
		{"wsrep_flow_control_sent", u(s.FlowControl.Sent)},
		{"wsrep_flow_control_recv", u(s.FlowControl.Recv)},
		{"wsrep_flow_control_active", strconv.FormatBool(s.FlowControl.Active)},
		{"wsrep_flow_control_requested", strconv.FormatBool(s.FlowControl.Requested)},
		{"wsrep_flow_control_interval", fmt.Sprintf("[ %d, %d ]", s.FlowControl.Lower, s.FlowControl.Upper)},
		{"wsrep_flow_control_interval_low", i(s.FlowControl.Lower)},
		{"wsrep_flow_control_interval_high", i(s.FlowControl.Upper)},
		{"wsrep_cert_deps_distance", f(s.CertDepsDistance)},
		{"wsrep_apply_oooe", f(0)},
		{"wsrep_apply_oool", f(0)},
		{"wsrep_apply_window", window},
		{"wsrep_apply_waits", "0"},
		{"wsrep_commit_oooe", f(0)},
		{"wsrep_commit_oool", f(0)},
		{"wsrep_commit_window", window},
		{"wsrep_local_state", i(s.LocalState)},
		{"wsrep_local_state_comment", s.LocalStateComment},
		{"wsrep_cert_index_size", i(s.CertIndexSize)},
		{"wsrep_causal_reads", u(s.CausalReads)},
		{"wsrep_cert_interval", f(s.CertInterval)},
		{"wsrep_open_transactions", strconv.FormatInt(s.OpenTransactions, 10)},
		{"wsrep_open_connections", "0"},
		{"wsrep_incoming_addresses", s.IncomingAddresses},
	}
	if s.Primary {
		// Galera reports the weight of the primary component only; the row is absent elsewhere.
		rows = append(rows, Row{"wsrep_cluster_weight", i(s.ClusterWeight)})
	}
	rows = append(rows, []Row{
		{"wsrep_desync_count", u(desyncCount(s.FlowControl.Desync))},
		{"wsrep_evs_delayed", ""},
		{"wsrep_evs_evict_list", ""},
		{"wsrep_evs_repl_latency", s.ReplLatency},
		{"wsrep_evs_state", "OPERATIONAL"},
		{"wsrep_gcomm_uuid", s.GcommUUID},
		{"wsrep_gmcast_segment", "0"},
		{"wsrep_applier_thread_count", "1"},
		{"wsrep_cluster_capabilities", ""},
		{"wsrep_cluster_conf_id", strconv.FormatInt(s.ClusterConfID, 10)},
		{"wsrep_cluster_size", i(s.ClusterSize)},
		{"wsrep_cluster_state_uuid", s.ClusterStateUUID},
		{"wsrep_cluster_status", cluster},
		{"wsrep_connected", "ON"},
		{"wsrep_local_bf_aborts", u(s.LocalBFAborts)},
		{"wsrep_local_index", i(s.LocalIndex)},
		{"wsrep_provider_capabilities", ProviderCapabilities},
		{"wsrep_provider_name", ProviderName},
		{"wsrep_provider_vendor", ProviderVendor},
		{"wsrep_provider_version", ProviderVersion},
		{"wsrep_ready", onOff(s.Primary)},
		{"wsrep_rollbacker_thread_count", "0"},
		{"wsrep_thread_count", "1"},
	}...)
	return rows
}
