// Package certify is maxnode's certification: Galera 4's deterministic conflict test (GALERA.md §4.3,
// §12.3) run by every node, in seqno order, on every write-set of the total order. It is a pure state
// machine — no goroutines, clocks, I/O or locks — so identical logs give identical verdicts everywhere.
//
// # The test
//
// The index maps a key hash to, per key type, the most recent certified write-set that referenced it.
// Keys are expanded as Galera does: a server-wide zero-level SHARED key, every proper prefix of a key path
// as a SHARED branch key, the full path with the key's own type; duplicates keep the strongest type. For
// a write-set T at seqno s with last_seen L from source S:
//
//  1. It fails if L ≥ s, if L precedes the certifier's initial position, or if s − L exceeds the window.
//  2. TOI write-sets skip the key checks (they always pass), depend on s−1 and are PA-unsafe.
//  3. Otherwise every key is checked against the stored references in the order and with the meaning of
//     the §4.3 table (C: potential conflict, D: dependency only). A C cell with stored write-set R is a
//     conflict iff R.seqno > L and (R is TOI or R's source ≠ S): first committer in total order wins, and
//     same-node overlaps never conflict (the local lock manager serialised them).
//  4. depends_seqno starts at s−1 when the window is empty, else at (oldest write-set in the window) − 1
//     (and at least L with Config.PessimisticPA), is raised to every C/D reference's seqno and to the last
//     PA-unsafe seqno. On success every key's reference for its type becomes T.
//
// # Purging: a fixed window, at log positions only
//
// Of the two deterministic schemes of §12.2 this package implements the fixed window W (Config.Window,
// Galera's cert.max_length 16384): consuming seqno s (by Certify or Advance) drops every write-set at or
// below s − W from the index. This is safe because any later write-set whose last_seen is below s − W
// fails as too old, and every other one has last_seen at or above the dropped seqnos, so they could only
// have been dependencies. Purging depends on the position alone, never on what other nodes applied, so no
// commit-cut messages are needed. The price: a transaction whose certification interval exceeds W fails
// (1213) even without a conflict, as in Galera.
//
// # last_seen policy
//
// Certification uses whatever last_seen the write-set carries; the origin chooses it (Policy.LastSeen).
// The default, PolicySnapshot, uses the transaction's read snapshot: any write to one of its keys committed
// by another node after the snapshot makes it fail, so an acknowledged write is never overwritten by a
// transaction that did not see it (no lost update across nodes). PolicyGalera reproduces Galera exactly
// (last committed at replication time), including its cross-node lost update (P4). Either way a verdict
// never undoes an acknowledged write: the origin acknowledges only after its own write-set passed, and
// every node reaches the same verdict from the same log. A TOI write-set reads no snapshot: give it the
// node's last committed seqno as last_seen under either policy (it is still subject to the window).
// A transaction whose snapshot is more than Window seqnos old when it commits fails as too old under
// PolicySnapshot, like Galera's cert.max_length.
//
// # State transfer
//
// A certifier created with New at position P has an empty index, so write-sets with last_seen < P fail
// there (ReasonBeforeInitial) while other nodes may pass them. A joiner must therefore restore the
// donor's certifier with AppendState / Restore as part of the snapshot (GALERA.md §12.3), not start empty.
package certify
