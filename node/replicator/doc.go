// Package replicator is maxnode's Galera layer (GALERA.md §4, §12): it implements storage.Replicator over
// node/consensus (etcd raft) and is the consensus FSM that turns the raft log into Galera's total order.
//
// # Commit path (origin)
//
// storage.Txn.Commit calls Replicate with the transaction's write-set. Replicate refuses at once with
// ErrNotPrimary (wraps storage.ErrCertification: rolled back, MySQL 1213) when the node is outside the
// primary component; otherwise it encodes a node/writeset (source = this process's UUID, last_seen chosen
// by the configured certify.Policy — default PolicySnapshot, the transaction's read snapshot — keys
// {space, key} from the storage ops, which carry node/sql's collation-normalised memcomparable keys, and
// the full row images), registers a waiter and proposes it. The FSM settles the waiter when the entry is
// certified. Outcomes:
//   - passed: ws.Seqno is set, nil is returned, and the storage commits the session's own workspace at that
//     seqno (it orders it after every lower seqno);
//   - failed certification: ws.Seqno is set and storage.ErrCertification returned; the storage consumes the
//     seqno with an empty apply; wsrep_local_cert_failures counts it;
//   - dropped by consensus (consensus.ErrNotCommitted, e.g. a leader change while it was forwarded): known
//     never to commit, so it is proposed again, invisibly to the client, while the node stays Primary and
//     time remains; if time runs out first, or it was proposed before the cluster existed: ErrNotOrdered,
//     a plain rollback;
//   - anything else — the caller's deadline, Config.ReplicateTimeout, loss of the primary component or
//     shutdown while the entry was in flight — returns an error wrapping ErrUnknownOutcome. The waiter is
//     withdrawn under the FSM's lock, so exactly one side decides: if the entry is applied later, the FSM
//     applies it like a remote write-set. The SQL layer must not report a rollback for ErrUnknownOutcome; it
//     closes the connection (GALERA.md §12.5).
//
// # FSM (every node, origin included, in log order)
//
// Apply runs on the consensus owner goroutine. A cluster entry (the bootstrap) and every write-set entry —
// failed or malformed ones included — consume the next seqno, so seqnos are gap-free. Certification
// (node/certify) is deterministic: it reads only the log. Applying to storage happens on one apply
// goroutine fed by an unbounded queue (wsrep_local_recv_queue): remote write-sets and abandoned local ones
// go through storage.DB.Apply, which BF-aborts conflicting local transactions; failed ones are empty
// applies that only advance the position. Local write-sets whose session still waits are committed by the
// session itself at their seqno.
//
// # Membership, primary component, bootstrap
//
// A node started with Bootstrap (--bootstrap) and no raft state founds raft as its only voter and
// proposes the cluster entry, which fixes wsrep_cluster_state_uuid and the starting seqno; until one is in
// the log nobody is Primary (as Galera nodes wait for a primary component). Primary = the cluster exists,
// the node is a voter and it knows a leader; raft runs with CheckQuorum and PreVote, so a leader without a
// majority steps down and an isolated follower forgets its leader after an election timeout. Outside the
// primary component the node reports wsrep_local_state 0/Initialized, wsrep_cluster_status non-Primary,
// wsrep_ready OFF, wsrep_cluster_conf_id -1 and, as wsrep_cluster_size, itself and the members it
// heard from within two election timeouts (consensus Reachable: a minority's members keep exchanging
// vote requests), as Galera's non-primary component counts its own members.
// Every time a node (re)enters the primary component — at start, after a partition heals; not after
// the moments without a leader while the members elect a new one — it is a
// Joiner (1, non-Primary, 1047 to clients) until it has applied everything the leader had committed at
// that moment (runRejoin: one ReadIndex round), then Joined until its receive queue first falls to the
// flow-control lower limit, then Synced: a node coming back from a partition never serves the state it was left with, and one that
// needs a state transfer learns it before it looks Synced. Primary reads only atomics (no FSM lock:
// it runs for every client statement).
//
// # Views and membership (view.go)
//
// The view is the raft configuration (voters and learners), kept by the FSM from the configuration
// changes consensus reports in log order (replayed ones included), so every node has the same one.
// wsrep_cluster_size counts voters and learners (Galera counts joiners), wsrep_local_index is the node's
// position in the sorted ids, wsrep_cluster_conf_id is 1 at the cluster entry and +1 for every change of
// the member set (a learner's promotion to voter is a state change, not a view). MEMBER log entries carry
// each node's name, replication and MySQL address (wsrep_incoming_addresses; a node announces itself once
// it serves, Config.OnPeer teaches the transport a joiner's replication address); quorum is raft's
// majority of the voters, which equals Galera's "majority of the previous primary view" as long as the
// voter set follows the view, which is what joins and graceful leaves do:
//   - Join: a node outside the configuration (an empty data directory not founding the cluster, or a
//     node that left) sends a MEMBER entry with the join flag through a member (consensus.ProposeVia)
//     every election timeout. The leader adds it as a raft learner; it receives the retained log from
//     where its own ends (Galera's IST, donor = the leader, which stays Synced as Galera's IST donors do)
//     and shows Joiner (1, "Joining: receiving State Transfer", non-Primary); if the leader has
//     discarded what it needs, it gets a state transfer first (sst.go). Once it has applied the
//     commit index with an empty receive queue it proposes PROMOTE and the leader makes it a voter: it is
//     Joined (3) until its receive queue first falls to the flow-control lower limit, then Synced (4). A voter that has been outside
//     the primary component for rejoinChecks election timeouts asks too, since its configuration may be
//     stale (it was removed while down, or by pc.bootstrap); a leader that still has it as a member
//     ignores the request, unless it comes from an empty data directory (the request says so) with a
//     last log index below what raft believes the member acknowledged — its data directory was emptied
//     and it came back under the same id — in which case the leader removes it and adds it back on its
//     next request (raft would never resend entries it thinks the member holds). A request ordered before
//     the member was last added is stale and ignored, and so is one from the process that joined
//     (requests name their process: a joiner asks through every member until it has applied its own
//     addition, so copies arrive late); a member that kept its state (it fell behind, or
//     received a state transfer) is never removed this way. Only a voter outside the primary component
//     asks, not one catching up after re-entering it.
//   - Graceful leave (Leave, called by a clean stop): the leader hands leadership to another voter
//     first, then the node proposes its own removal and waits until it has applied it. Two clean stops
//     of three nodes leave a one-voter Primary component. Consensus refuses (on every node) a removal of
//     the last voter, so members stopping at the same time leave exactly one member (ErrLastMember).
//     A leader that cannot hand off removes itself; raft then steps it down, so consensus first sends
//     every member the commit index (announceCommit): otherwise the one left alone might never learn
//     it is the only voter. A node outside the primary component for two election timeouts stops
//     without leaving (partitioned, or removed without having learned it).
//     Configuration changes are made durable at once, so a restart never returns to a configuration that
//     needs a member that left.
//   - Eviction: the leader removes a voter it has not heard from for evs.inactive_timeout
//     (Config.InactiveTimeout, from node.toml; 15 s), one per election timeout, so the survivors' quorum
//     no longer counts it (3 → 2 after a crash; a second crash leaves 1 of 2, non-Primary, as in Galera).
//     Until then a crashed member counts against quorum. The evicted node asks to be added again when it
//     returns.
//   - pc.weight (Config.ZeroWeight, SetWeight / SetProviderOptions): raft has no weights, so 1 is a
//     voter and 0 a member that never counts in quorum — a learner that is never promoted (a voter set
//     to 0 demotes itself; set back to 1 it asks for promotion). It is in the view, wsrep_cluster_size and,
//     once caught up and while it hears from the leader, the primary component (it takes writes);
//     wsrep_cluster_weight is the number of voters and is listed only in the primary component, as in
//     Galera. Larger weights are refused (ErrWeight). Eviction after evs.inactive_timeout covers
//     learners too.
//   - pc.bootstrap=YES (SetProviderOptions / ForceBootstrap, bootstrap.go) on a non-primary node makes
//     it the only voter (consensus.ForceNewCluster: its uncommitted log tail is discarded and the removal
//     of every other member is committed in its log). Nothing the node knew committed is lost; writes only
//     the others committed are not in the new component, as in Galera — bootstrap the most advanced node.
//     The removed members are fenced off for the life of the process (their votes and appends dropped);
//     they rejoin through the join protocol, one at a time (two of them together are a majority of
//     their old configuration). Their logs must not hold committed entries the new component lacks
//     (raft cannot take those back, and stops): bootstrap the most advanced node, or bring the others
//     back with empty data directories.
//
// # Whole-cluster outage
//
// maxnode's policy is raft's: after every node crashed, the cluster is Primary again as soon as a
// majority of the last voter set is back, each with its log, and nothing acknowledged is lost (an
// acknowledged write is on a majority's fsynced log, and any majority intersects it). Galera instead
// waits for all members of the last view (pc.recovery) or an operator's bootstrap; after a crash every
// grastate.dat says safe_to_bootstrap: 0 and --bootstrap is refused here too. After clean stops the last
// member has safe_to_bootstrap: 1 and is a one-voter cluster by itself; the others rejoin.
//
// # Durable state
//
// grastate.dat (GALERA.md §5.5) holds the state UUID, seqno -1 while running and the last seqno after a
// clean shutdown, and safe_to_bootstrap = 1 only when the last view this node was a voter of had it as
// its only voter (Galera recomputes it on every primary view); Bootstrap refuses with Galera's message
// when it says 0. replicator.state holds the FSM position (raft index, seqno, certification index, view
// and member table) and is written at Start (marked running) and by a clean Close; a clean restart
// resumes from it.
//
// # Crash restart
//
// consensus persists its own apply position independently, and the storage's durable position
// (storage.DB.DurableSeqno) may lag behind it (DB.Apply does not wait for the disk). A node whose
// replicator.state says running (or disagrees with the storage) therefore restarts consensus with
// ReplayFrom 1: every committed entry since the last checkpoint (below) is delivered again, through the
// same per-proposer filter, so the FSM sees exactly the sequence of the first run. The FSM resumes from
// the checkpoint's state (consensus Config.Restore; certification index included) or, before the first
// checkpoint, from scratch at the cluster entry (certify.New at the cluster's base seqno), and certifies
// every write-set again in order, giving the same verdicts and seqnos as the first time; seqnos at or
// below the storage's durable seqno are not applied again, later ones are. A storage that lost seqnos
// the checkpoint covers (an OS crash with flush policy 2) cannot be replayed: Start returns ErrUnclean,
// which wraps ErrStateTransfer, and the node receives a state transfer.
//
// # gcache and state transfer (sst.go)
//
// gcache.size (Config.GcacheSize, default 128M) bounds the raft log a node keeps. Once about a quarter
// of it was appended since the last checkpoint, runGcache takes one (consensus.Node.Checkpoint: the FSM's
// state — seqno, state UUID, conf_id, TOI count, certification index, view — captured on the consensus
// goroutine at exactly the checkpoint's index), waits until the storage has made the checkpoint's seqno
// durable, and hands it to consensus.Compact, which makes it the restart base and discards the oldest
// entries that no longer fit in gcache.size. Entries after the checkpoint are never discarded.
//
// A member whose next entry its leader has discarded is told so (consensus OnSnapshot):
// StateTransferNeeded closes and the node stops without leaving the cluster to receive a state snapshot
// transfer (Galera's SST; node/sst.go asks the members of cluster_address in turn, honouring
// wsrep_sst_donor). The donor side, ServeStateTransfer, refuses unless the node is Synced (and named, when
// the joiner names donors); otherwise it is Donor/Desynced and out of flow control while it streams
// (Galera's donors desync too), commits go on, and it sends a checkpoint taken at or after the index
// the joiner needs together with a storage snapshot pinned at exactly the checkpoint's seqno (taken on
// the consensus goroutine once the storage has committed that seqno, so nothing later can be in it).
// ReceiveStateTransfer installs both: the storage (storage.InstallSnapshot, swapped in only once verified),
// the raft state (consensus.InstallCheckpoint: empty log, base at the checkpoint, term and vote kept) and
// replicator.state/grastate.dat, under an in-progress marker so that an interrupted installation is
// repeated rather than started from. The node then starts as after a clean stop at the checkpoint and
// receives the rest of the log (IST) from the leader. A node whose data does not match the cluster's
// base (it has data but no cluster state, or another history) asks for a state transfer the same way.
//
// # DDL: total order isolation (toi.go)
//
// node/sql hands a DDL statement (text, default schema, sql_mode, and the storage spaces of the tables it
// changes, as the origin sees them) to ReplicateTOI after validating it locally. It is proposed as a TOI
// entry: it consumes a seqno, passes certification (TOI skips the key checks) and puts EXCLUSIVE keys on
// those spaces, so write-sets that read them before the DDL fail certification on every node. The apply
// goroutine waits until the storage holds every lower seqno, BF-aborts local transactions holding locks
// in those spaces (storage.DB.AbortSpaceHolders), and runs the statement through the TOIExecutor
// (SetTOIExecutor: node/sql's TOIApplier, an engine of its own) with a context that makes its storage
// commit land exactly at the TOI's seqno (Replicate recognises it). A statement that commits nothing (it
// failed, or changed nothing) consumes its seqno empty. The origin's ReplicateTOI returns the statement's
// own result once its node has run it; every node gets the same one, so a CREATE TABLE that lost a race
// answers 1050 on its origin and changes nothing anywhere. Space ids: the n-th TOI of the log (counted
// from the cluster entry, saved in replicator.state and recounted by a crash replay) allocates from
// [TOISpaceBase + n·TOISpaces, +TOISpaces); the storage's local allocator stays below TOISpaceBase. So
// tables created concurrently on different nodes never share a space, and every node uses the same ids.
//
// # Flow control and desync (flowcontrol.go)
//
// gcs.fc_limit / gcs.fc_factor / gcs.fc_single_primary give Galera's interval [lower, upper]. A node whose
// receive queue exceeds upper (while nobody pauses) proposes an FC entry "stop" (it consumes no seqno);
// while any member's stop is in effect Replicate and ReplicateTOI wait before proposing
// (wsrep_local_send_queue counts them; a deadline reached while paused is a plain rollback). The node
// proposes "continue" once its queue is at or below lower. Requests are idempotent per node, and each is a
// lease of FCLease (evs.suspect_timeout, 5 s) that the paused node renews while behind, so a node that
// dies holding a pause releases the cluster after the lease (Galera's view change does it there).
// Status: wsrep_flow_control_sent (stops this node sent), _recv (stops applied, own included), _paused_ns,
// _paused (fraction since start or ResetStats), _active, _requested. SetDesync (SET GLOBAL
// wsrep_desync) takes the node out of flow control and reports Donor/Desynced (2); unlike Galera the
// desync is local to the node, not ordered through the group.
//
// # Write-set limits, replay, arbitrator, auto-increment
//
// wsrep_max_ws_rows and wsrep_max_ws_size (wslimits.go; SetMaxWSRows, SetMaxWSSize) are checked in
// Replicate before anything is proposed: rows are the ops on table-row spaces (SetRowSpaces; secondary
// index entries do not count), size is the encoded entry. Over a limit Replicate returns ErrMaxWSRows /
// ErrMaxWSSize: nothing was ordered, the storage rolls back, and they are neither ErrCertification (no
// wsrep_retry_autocommit retry, no 1213) nor ErrUnknownOutcome; node maps them to 1180 and 1105. TOI
// commits are exempt, as DDL is in Galera.
//
// Replay (GALERA.md §4.6): an applied write-set BF-aborts local lock holders, but one that is already
// committing cannot be aborted; when it then passes certification behind that write-set it commits its
// own write-set — what Galera's replay re-applies — and the storage counts it (storage Stats.Replays,
// wsrep_local_replays). The client sees success.
//
// Config.Arbitrator (maxnode --arbitrator, garbd) starts consensus as a NonCandidate voter; it certifies
// the log like any member but stores no data (every seqno is applied empty, DDL is not run) and refuses
// to donate state transfers. ViewChanged / MemberView (viewsub.go) publish the member set after every
// configuration change, which node uses for wsrep_auto_increment_control.
//
// # Not implemented (first cut)
//
//   - Account statements (CREATE USER, GRANT, ...) replicate as ordinary write-sets, not TOI; receivers
//     reload their SQL catalog after such a write-set is applied (Config.OnApply), asynchronously. RSU
//     (wsrep_OSU_method) and non-blocking DDL are not implemented: all DDL is TOI.
//   - IST always comes from the raft leader (which stays Synced, as Galera's IST donors do); only SST
//     has a donor choice. The joiner's SST is received while it is stopped (its MySQL port is closed, as
//     a mysqld receiving SST at start-up), not while it serves. The flow-control pauses in effect are
//     not part of a checkpoint: a node that received SST learns only the requests made after it.
//   - No evs.suspect_timeout/delayed list (eviction is by evs.inactive_timeout only), no Galera-strict
//     whole-cluster outage mode (raft-natural, see above). pc.weight is 0 or 1 only (below).
//   - wsrep_provider_options accepts only pc.bootstrap and pc.weight at runtime (SetProviderOptions).
//   - Status (status.go, stats.go) lists Galera 4's variables in its order. One apply goroutine: the
//     parallel-apply ones are constants (wsrep_apply_window 1, oooe/oool 0). wsrep_local_cached_downto
//     is read from marks the FSM notes every markEvery entries, so it may be up to that many seqnos
//     above the exact answer, and after a restart it starts at the next seqno until the log applied
//     in this run is compacted. wsrep_evs_repl_latency measures proposal to ordering of this node's own
//     write-sets. wsrep_evs_delayed and wsrep_evs_evict_list are always empty (no evs.suspect_timeout,
//     no auto-eviction).
//   - wsrep_max_ws_rows is checked when the transaction commits (the whole transaction fails with 1180),
//     not at the row that crosses it as MariaDB does. A TOI's BF abort of a committing transaction is
//     not counted as a replay.
package replicator
