package server

// KillAll ends every client connection as KILL CONNECTION does, the caller's own included: what
// SET GLOBAL wsrep_reject_queries = ALL_KILL asks of a Galera node (GALERA.md §3.4). A connection in
// the middle of a statement has it interrupted and its socket closed; idle ones are closed at once.
func (s *Server) KillAll() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// Every connection refuses further commands before any socket closes: the caller's own may be
	// among the first closed, and its client must not find a connection that still runs statements.
	for _, c := range conns {
		c.mu.Lock()
		c.markKilledLocked()
		c.mu.Unlock()
	}
	for _, c := range conns {
		c.nc.Close()
	}
}
