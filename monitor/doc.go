// Package monitor watches a Galera cluster the way MariaDB MaxScale's
// galeramon does and publishes what it sees as immutable
// topology.Snapshot values.
//
// A Monitor keeps one connection per server (go-mysql's client, collation
// utf8mb4_general_ci, connect/read/write timeouts) and, every
// monitor_interval, probes all servers concurrently with SHOW STATUS and
// SHOW VARIABLES — the only statements a non-ready Galera node answers.
// The results go through the pure galera.Classify, and the whole new
// snapshot is stored in a topology.Holder (one atomic pointer, read
// without locks on the query path) and offered to subscribers on
// channels of capacity one that always hold the newest snapshot, so a
// slow subscriber never blocks probing and never misses the latest state.
//
// Timing contract: a round publishes at most one interval after it
// started. A server whose probe has not answered by then keeps its
// previous result for that round and is not probed again until its
// probe returns, which its own timeouts bound: backend_connect_timeout for
// each connection attempt including the login, backend_read_timeout for
// each whole query. A query that times out is not retried on a new
// connection (the server is hung, not restarted), so a hung server shows
// as Down one read timeout after it stopped answering, while the others
// are published on time.
//
// Events (MaxScale's ten) are logged, counted in
// maxproxy_monitor_events_total{event} and, when a script is configured,
// handed to one script goroutine through a bounded queue: events that do
// not fit are dropped and counted, never waited for.
//
// The operator API (SetMaintenance, SetDrain, ...) takes effect in a
// round started at once. The current writer cannot be drained
// (ErrDrainWriter), as in galeramon; maintenance moves the writer. The
// operator state and the disable_master_failback writer live in a bbolt
// journal, restored by New; a writer older than journal_max_age is
// ignored, operator state never expires. An operator's Stop is journaled
// too, with the last published snapshot: New restores it (Stopped reports
// it) so that the owner can keep a restarted monitor stopped while routing
// by the states the operator froze; the first Run clears it.
//
// Metrics, labelled by monitor and bounded by the configured servers:
// probe duration, state changes, every state bit of every server
// (maxproxy_monitor_server_state{state}), wsrep_local_state,
// wsrep_local_recv_queue, the growth of wsrep_flow_control_sent between
// probes, rounds, script runs and journal errors.
//
// With sticky_writer, every probe of a ready node also reads the writer
// marker (one row of maxproxy.writer, see sticky.go) and the writer it
// names stays the writer for every proxy instance; a monitor that cannot
// use the marked node moves the marker with a compare-and-set before its
// next probe of the new writer.
//
// Not implemented: galeramon's marking of asynchronous replicas of Galera
// nodes as Slave; TLS to the backends.
package monitor
