// Package storage is maxnode's transactional key/value engine: ordered MVCC spaces in memory, row locks,
// an ordered commit pipeline that hands write-sets to replication, and bbolt durability under the data
// directory. Keys and values are opaque bytes; node/sql encodes rows and memcomparable keys.
//
// # Data model
//
// A space (SpaceID) is an ordered map, one per table's primary data and one per secondary index. Every key
// holds a version chain of (commit seqno, value or tombstone), newest first. A transaction reads the snapshot
// taken at Begin (the last commit seqno published then) plus its own buffered writes. Commits are applied to
// memory under one short critical section and the seqno is published only after every version of the commit
// is in place, so a snapshot never sees half a commit. Versions no active snapshot can see are dropped by a
// background collector; keys whose newest version is an invisible tombstone are removed from the tree.
//
// Reads never take a global lock: each space has its own RWMutex held only while copying a bounded batch of
// entries out of the tree, never across a client round trip. Returned keys and values are immutable and stay
// valid forever; callers must not modify them.
//
// # Locking
//
// Put, Delete, GetForUpdate and ScanForUpdate take row locks (shared or exclusive, keyed by space and key)
// held until Commit or Rollback. Waiting is FIFO per key; a requester that would close a cycle in the
// wait-for graph gets ErrDeadlock (MySQL 1213), and a wait longer than the lock wait timeout gets
// ErrLockWaitTimeout (1205). Locking reads lock the rows they return only: there are no gap or next-key locks,
// so a locking range read does not prevent phantoms. Locking reads see the latest committed version, not the
// snapshot (InnoDB's "current read").
//
// Txn.Savepoint and Txn.RollbackTo take back the writes made after a mark (statement atomicity, SQL
// SAVEPOINT) so that they also leave the write-set; the locks they took stay held.
//
// Scans copy the transaction's own writes in the range when the iterator is created: writes made while
// iterating are not returned by that iterator (this avoids the Halloween problem in UPDATE ... ORDER BY).
//
// # Commit, replication and durability
//
// Commit builds a WriteSet (full row images in first-write order, one op per key, last write wins), hands it
// to Options.Replicator when there is one, and on a nil verdict applies it in seqno order. Without a
// Replicator seqnos are assigned locally. With one, Replicate must set WriteSet.Seqno to the write-set's
// position in the total order; the storage then applies it once every lower seqno has been applied. Every
// seqno of the total order must be consumed exactly once, in order: by a local Commit whose Replicate
// returned nil (or ErrCertification with ws.Seqno set: the storage then applies an empty write-set at that
// seqno), or by DB.Apply (a remote write-set, or an empty write-set for a seqno that failed certification or
// carried no data, which only advances the position). Once Replicate has returned nil the commit is applied
// whatever happens to ctx: an ordered write-set cannot be abandoned.
//
// DB.Apply BF-aborts ("brute force") local transactions that hold a lock on a key the write-set touches (any
// key of a space it drops) and have not started committing: their locks are released at once and their next
// call (or the lock wait they are blocked in) fails with ErrDeadlock. The abort happens right after the
// write-set is published, so a transaction that locks one of its keys later reads the new version. DB.AbortTxn does the same for one transaction by id. A transaction
// that is already replicating is not aborted here: replication decides (a certified write-set is applied,
// which is Galera's replay; Stats.Replays counts those an earlier write-set needed a lock of, replay.go).
//
// Durability follows Options.FlushPolicy, like innodb_flush_log_at_trx_commit. Every group of concurrent
// commits is appended to a write-ahead log under dir/wal as one record in one write:
//   - 1: group commit. Commit returns after its record is written and fsynced.
//   - 2: Commit returns after its record is written without fsync, which survives a process crash
//     (kill -9); the log is fsynced at least every second, so an OS crash or power failure can lose about the
//     last second of commits.
//
// A background checkpoint copies the logged commits into the bbolt file (storage.db) in one fsynced bbolt
// transaction once 32 MiB of log or 10 seconds have accumulated, then deletes the log segments it covered;
// Close checkpoints everything, leaving an empty log. So bbolt is always a consistent, synced image up to its
// meta seqno, and changed rows cost bbolt page writes once per checkpoint rather than once per commit. Open
// replays the log into bbolt before loading. Only the end of the last segment may hold an incomplete
// record (a write cut off by a crash, never acknowledged); damage before it or a gap in the seqnos makes
// Open fail rather than start without acknowledged commits.
//
// A store that was not closed cleanly (a marker in the file says so) gets bbolt's full consistency check on
// Open; damage, found there or while loading, makes Open fail with an error rather than serve broken data
// (restore such a node by state transfer).
//
// DB.Apply returns once the write-set is applied in memory and queued; it does not wait for the log write,
// because a replicated node re-applies from its durable log after DB.DurableSeqno on restart. For the same
// reason a Commit through a Replicator does not wait for it either, whatever the flush policy (the policy
// then only says whether this store's log writes are fsynced), and a replicated store writes its log every
// few milliseconds rather than once per group of commits: nothing waits for it, so one write (and one
// wake-up of the flusher) covers the commits of that interval.
//
// The last applied seqno is stored in the same bbolt transaction as the data it covers. Space ids are
// allocated durably. AUTO_INCREMENT counters (NextCounter) reserve values in blocks of 1024 whose upper bound is
// persisted (and fsynced, whatever the policy) before any value of the block is handed out, so a counter never
// goes backwards after a restart or crash; a restart may skip up to 1024 values.
//
// # State transfer
//
// DB.WriteSnapshot streams a consistent copy of every space at one commit seqno (plus space-id and counter
// positions) from an MVCC snapshot, without stopping commits; RestoreSnapshot turns such a stream into a new
// data directory whose LastCommitted is that seqno. That is the data half of an SST; the joiner then applies
// write-sets after the seqno (IST) through DB.Apply. The stream is checksummed and a damaged one is refused.
//
// # Additions to NODE_API.md (all compatible)
//
// WriteSet.Seqno and Op.DropSpace (replication needs both), DB.Apply (remote write-sets), DB.AbortTxn (BF
// abort), DB.DurableSeqno, DB.Stats, DB.WriteSnapshot and RestoreSnapshot (state transfer), Txn.Snapshot,
// Txn.Savepoint, Txn.RollbackTo, ErrReadOnly, ErrKeyInvalid, ErrValueTooLarge, ErrSnapshotCorrupt,
// MaxKeySize, MaxValueSize and DefaultLockWaitTimeout.
//
// On Open every space is loaded from bbolt into memory. No bbolt transaction is ever held across a call
// that returns to the caller.
package storage
