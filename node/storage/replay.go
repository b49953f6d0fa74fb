package storage

// Galera's replay (GALERA.md §4.6, §12.4). An applied write-set BF-aborts the local transactions that
// hold locks on its keys, but one that is already committing cannot be aborted here: its write-set is
// being (or has been) ordered, and replication decides. If it then passes certification with a seqno
// above the write-set that needed its lock, Galera would have aborted it and replayed its write-set;
// the storage commits that same write-set, so the client sees the success Galera's replay gives. Such
// commits are counted as replays (wsrep_local_replays). The classic case is a lock the write-set does
// not carry: SELECT ... FOR UPDATE of a row another node then changes.

// noteBFConflict records that the write-set at seqno needed a lock t holds while t is committing. The
// lowest such seqno is kept: Commit compares it with t's own seqno once every lower one is applied.
func (t *Txn) noteBFConflict(seqno uint64) {
	if t.state.Load() != stateCommitting {
		return
	}
	for {
		cur := t.bfSeqno.Load()
		if cur != 0 && cur <= seqno {
			return
		}
		if t.bfSeqno.CompareAndSwap(cur, seqno) {
			return
		}
	}
}

// countReplay counts t's commit at seqno as a replay when a write-set ordered before it needed one of
// its locks. Call it after t is applied: every lower seqno has been applied, and noted, by then.
func (t *Txn) countReplay(seqno uint64) {
	if bf := t.bfSeqno.Load(); bf != 0 && bf < seqno {
		t.db.stats.replays.Add(1)
	}
}
