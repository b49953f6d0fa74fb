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
// The cluster is the raft voter set given at first start (Config.Peers, from cluster_address); views are
// not dynamic yet (no VIEW entries, no learner joins, no eviction). A node started with Bootstrap proposes
// the cluster entry, which fixes wsrep_cluster_state_uuid and the starting seqno; until one is in the log
// nobody is Primary (as Galera nodes wait for a primary component). Primary = the cluster exists, the node
// is a voter and it knows a leader; raft runs with CheckQuorum and PreVote, so a leader without a majority
// steps down and an isolated follower forgets its leader after an election timeout. Outside the primary
// component the node reports wsrep_local_state 0/Initialized, wsrep_cluster_status non-Primary,
// wsrep_ready OFF, wsrep_cluster_size 1 (it cannot see the other side) and wsrep_cluster_conf_id -1.
// A founding node that starts late with an empty data directory catches up from the raft log (never
// compacted here). A node whose data does not match the cluster's starting seqno needs a state transfer,
// which is not implemented: it stays non-Primary and logs why.
//
// # Durable state
//
// grastate.dat (GALERA.md §5.5) holds the state UUID, seqno -1 while running and the last seqno after a
// clean shutdown, and safe_to_bootstrap = 1 only for a one-voter cluster (views never shrink yet);
// Bootstrap refuses with Galera's message when it says 0. replicator.state holds the FSM position (raft
// index, seqno, certification index) and is written at Start (marked running) and by a clean Close; a
// clean restart resumes from it.
//
// # Crash restart
//
// consensus persists its own apply position independently, and the storage's durable position
// (storage.DB.DurableSeqno) may lag behind it (DB.Apply does not wait for the disk). A node whose
// replicator.state says running (or disagrees with the storage) therefore restarts consensus with
// ReplayFrom 1: every committed entry is delivered again, through the same per-proposer filter, so the
// FSM sees exactly the sequence of the first run. The certifier is rebuilt from scratch at the cluster
// entry (certify.New at the cluster's base seqno — the only point where its state is known from the log
// alone, since its window starts there) and every write-set is certified again in order, giving the same
// verdicts and seqnos as the first time; seqnos at or below the storage's durable seqno are not applied
// again, later ones are. No seqno→index map is kept: replaying from the log start needs none, at the cost
// of reading the whole retained log once per crash. The log is never compacted by this package, which
// keeps it retained below the storage's durable position; once anything compacts it, a crash restart
// fails with ErrUnclean (the node needs a state transfer).
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
// _paused (fraction since start or ResetFlowControlStats), _active, _requested. SetDesync (SET GLOBAL
// wsrep_desync) takes the node out of flow control and reports Donor/Desynced (2); unlike Galera the
// desync is local to the node, not ordered through the group.
//
// # Not implemented (first cut)
//
//   - Account statements (CREATE USER, GRANT, ...) replicate as ordinary write-sets, not TOI; receivers
//     reload their SQL catalog after such a write-set is applied (Config.OnApply), asynchronously. RSU
//     (wsrep_OSU_method) and non-blocking DDL are not implemented: all DDL is TOI.
//   - No state transfer beyond the raft log (no SST, no IST from a donor), no VIEW entries or dynamic
//     membership (learner joins, graceful leave, eviction), no Galera-strict
//     whole-cluster outage mode (raft-natural: a majority of voters back is Primary again). Crash restart needs the uncompacted raft log (see above).
//   - wsrep_cluster_conf_id stays 1 while Primary; a minority reports wsrep_cluster_size 1.
package replicator
