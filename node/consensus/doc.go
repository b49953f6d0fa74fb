// Package consensus gives maxnode its total order and quorum: a go.etcd.io/raft/v3 (v3.7.0) RawNode driven by
// one owner goroutine per node, a durable log under the data directory, proposal batching, waiters for
// proposal outcomes, ReadIndex for causal reads, membership changes and a non-candidate (arbitrator) mode.
// It knows nothing about write-sets: entries are opaque bytes handed to an FSM in log order.
//
// # The Ready loop
//
// Start launches the owner goroutine. It is the only code that touches the RawNode: it ticks it, steps
// inbound messages (Step, from the transport), steps proposals, and handles every Ready. Raft runs with
// AsyncStorageWrites: (1) messages that do not depend on local durability go to the Transport at once
// (the leader's appends reach the followers while it syncs its own copy); (2) MsgStorageAppend goes to
// the appender goroutine (appender.go), raft's local append thread: the new entries, the hard state and
// the apply position are written in ONE write, fdatasynced (never turned off: raft's safety depends on
// it), and only then are its Responses (acknowledgements, votes) sent, or handed back to the owner
// goroutine to step; (3) MsgStorageApply: committed entries — only ever locally durable ones — go to the
// FSM in order on the owner goroutine, then its Responses are stepped. So a leader applies and answers a
// committed batch while the next one is being synced, and a follower acknowledges the moment its write is
// durable. A hard state that only moves the commit index is kept in memory (raft does not need it
// durable) and written with the next durable write.
//
// Batching: proposals queue on a channel; each loop turn drains up to MaxBatch of them into one MsgProp,
// and the appender writes everything queued while its previous write was being synced in one write, so
// N concurrent proposers cost about one fsync per disk round trip, not one per proposal. Followers
// forward proposals to the leader through raft (proposal forwarding stays on).
//
// # Durable state
//
// DataDir/raft/ holds the log as append-only segment files of checksummed records (logstore.go): entries,
// the hard state, the checkpoint (below) and the index and term of the last discarded entry, a proposal
// epoch incremented on every start, and the apply state: the last applied index, the configuration at that
// index, and the per-proposer filter below. A Ready's durable part is one write and one fdatasync (a
// B-tree file such as bbolt needs at least two syncs and several page writes per transaction, and this
// write is on every commit's critical path, on the leader and on the followers). Segments are allocated
// when created, so appends do not change the file size; a crash can only tear the last, unacknowledged
// write, which Open drops. The apply state is written together with the next log
// write (it never costs an fsync of its own), so after a crash entries after it are delivered to the FSM
// again: the FSM must skip indexes it has already made durable. Close writes nothing extra, so closing is
// equivalent to a crash as far as raft state goes.
//
// # Replay
//
// An FSM whose own durable state lags the persisted apply position (it lost a tail in a crash) restarts
// with Config.ReplayFrom: the apply position is moved back to ReplayFrom-1 and raft delivers every
// committed entry from there again. The per-proposer filter is rebuilt by admitting the retained entries
// before ReplayFrom in order, starting from the checkpoint's filter (or the empty filter at index 0
// before the first checkpoint), so each replayed entry is admitted or skipped exactly as the first time.
// A replay from at or before the checkpoint starts right after it, and Config.Restore first gets the
// checkpoint so that the FSM takes its state there. Replayed configuration changes are not applied to
// raft again (the restored configuration already holds them); they are reported to OnMembership marked
// Replayed, so an FSM rebuilding its view of the membership from the log sees every change in order.
//
// # Checkpoints, compaction and state transfer (checkpoint.go)
//
// A Checkpoint is the node's state at one applied index: the configuration and filter raft needs, and the
// FSM's state, which Node.Checkpoint captures on the owner goroutine so that both are at exactly that
// index. Compact makes one the restart base (once the FSM has made everything up to it durable) and
// discards the oldest entries that do not fit in a byte budget (the Galera layer's gcache), never one
// after the base. A leader that no longer holds the entries a follower needs sends it a raft snapshot
// message stripped to its metadata (Stats.SnapshotsNeeded counts them) and reports the snapshot failed,
// so raft keeps probing; the follower does not step it but reports it (Config.OnSnapshot): only a state
// transfer brings it back. InstallCheckpoint then makes a stopped node's raft state resume from another
// member's checkpoint (the log emptied, the checkpoint as base, commit at its index, term and vote kept),
// and the Galera layer installs the FSM data that goes with it. Raft snapshots never carry data and are
// never applied through raft: a snapshot message at or below the applied index only tells raft the
// commit index.
//
// # Proposal outcomes
//
// Raft alone cannot tell a proposer that an entry will never commit: a forwarded or uncommitted entry can
// be lost silently, or be committed later by a new leader. To settle every proposal deterministically each
// entry carries (proposer id, seq), seq increasing per proposer (epoch<<32 | counter, the epoch persisted
// before first use so seqs grow across restarts). The apply loop admits an entry only if its seq exceeds the
// highest seq already applied for that proposer; an overtaken entry is skipped on every node (the filter is
// log-derived state, persisted with the apply position). Hence, when the proposer applies an entry of its own
// with seq s, every pending proposal of its own with seq < s is known never to apply: Propose returns
// ErrNotCommitted. To force that point, a node proposes an empty barrier entry when the leader changes and
// whenever one of its proposals has been pending for an election timeout. Propose therefore returns the
// FSM's result (committed and applied locally), ErrNotCommitted (never, safe to report a rollback), or,
// when the caller's context ends or the node stops first, ErrUnknownOutcome / ErrClosed (the entry may
// still commit: the Galera layer must not claim a rollback). Never both.
// Epochs start at least at the Unix time, so a node that lost its data directory and comes back under
// the same id proposes above its former seqs instead of being filtered as overtaken.
//
// # Membership
//
// AddLearner (ConfChangeAddLearnerNode: a joiner that receives the log without voting), AddVoter (adds or
// promotes) and RemoveNode are simple one-at-a-time changes; a second one while the first is pending gets
// ErrConfChangeInProgress (raft itself would also refuse it). A node started with no Peers and an empty data
// dir waits to be added and then receives the log from the first index. OnMembership reports every applied
// change with the meta its proposer supplied (e.g. the member's address, for TCPTransport.SetPeer).
// A node outside the configuration has no leader to forward proposals to; ProposeVia hands one to a
// member instead (fire and forget — the joiner repeats it until it is added), which is how a joiner
// asks to be added.
//
// A change that would remove or demote the only voter (members leaving at the same time) is applied as a
// no-op on every node and its proposer gets ErrLastVoter; raft itself would panic. A leader that applies
// its own removal or demotion steps down (raft's StepDownOnRemoval) and says nothing more, so it first
// sends every member a heartbeat with the commit index it may take. Every applied configuration
// change is made durable at once (hard state with its commit index, and the apply state), not with the
// next log write: otherwise a restart could return to an older configuration that needs the vote of a
// member that has left. HandOff asks a leader to transfer leadership to its best other voter (a leader
// about to leave); Match reports what a leader believes a member's log holds. A heartbeat whose commit
// index is beyond the local log (the leader thinks this node holds entries it lost) has its commit
// dropped instead of making raft panic.
//
// # Forced new cluster
//
// ForceNewCluster (Galera's pc.bootstrap=YES) makes a voter the only voter whatever the others think,
// the way etcd's --force-new-cluster does, at runtime: the uncommitted log tail is discarded, one
// committed removal per other member is appended in the current term, everything is fsynced and raft is
// restarted from the log; the removals are applied (and reported) like any change and the node elects
// itself. The removed members are fenced off for the life of the process: their messages, except
// proposals (join requests), are dropped until they are added back, so a former member that returns with
// its old configuration can neither win this node's vote nor make it follow and overwrite its log. Two
// former members that return together still form a majority of their old configuration among
// themselves: as with Galera's pc.bootstrap, use it only when the others are gone, and bring them back
// with empty data directories.
//
// # Arbitrator (NonCandidate)
//
// raft v3.7.0 has no "voter that never becomes leader" switch, and a voter that never campaigns at all is
// not live: if it alone holds an entry committed just before the leader died, it refuses the surviving data
// node its vote (out of date) and nobody is ever elected. The closest safe equivalent used here:
//   - While it hears from a leader, a non-candidate advances its clock with RawNode.TickQuiesced instead of
//     Tick: leader leases still expire (so it grants votes under CheckQuorum/PreVote) but it never starts an
//     election, so the data nodes elect among themselves.
//   - It drops inbound MsgTimeoutNow, so leadership is never transferred to it.
//   - After nonCandidatePatience (3) election timeouts without hearing from a leader it ticks normally and
//     may win an election; as leader it immediately transfers leadership to the best other voter (raft
//     first brings that voter's log up to date), retrying every tick until the transfer happens.
//
// So an arbitrator leads only briefly, only when the data nodes cannot elect a leader without it, and only
// to hand over. That is safe because it keeps the raft log like any voter (what it has not discarded);
// a follower that needs entries it discarded gets a state transfer from a data node. It cannot be the
// only voter.
//
// # Reads
//
// ReadIndex asks raft for a read index (ReadOnlySafe: the leader confirms its leadership with a heartbeat
// round) and returns once this node has applied up to it: anything committed before the call is visible.
// Requests dropped for lack of a leader are re-issued on leader change and every election timeout.
//
// CheckQuorum and PreVote are always on: a leader that loses its majority steps down after an election
// timeout, and a partitioned node rejoining does not disrupt the cluster with a higher term.
//
// Transports: package simnet (in-memory, seeded faults, for tests) and TCPTransport (length-prefixed
// protobuf frames, optional TLS).
package consensus
