package storage

// count is the number of keys with lock entries (holders or waiters).
func (lm *lockManager) count() int {
	n := 0
	for i := range lm.shards {
		sh := &lm.shards[i]
		sh.mu.Lock()
		for _, keys := range sh.m {
			n += len(keys)
		}
		sh.mu.Unlock()
	}
	return n
}
