// Package session runs client sessions: one goroutine per client
// connection, owning that connection and the backend connections it opens.
//
// # Flow
//
// Service.Serve runs the connection phase (protocol.Accept, with the
// service's account manager), then reads commands one at a time. A
// COM_QUERY is classified (router/classify, one Classifier per service)
// and routed by package router (readwritesplit: router.Route and
// Session.Advance; readconnroute: router.RouteConnection once, at
// connect). The backend connection for the chosen server is opened lazily
// (backend.Dial with the client's stage1, capabilities, collation and
// database) and the reply is streamed back by backend.Conn.Relay, one
// flush per reply. The reply's status flags keep the router's view of the
// transaction and autocommit state exact.
//
// # Session commands and history
//
// SET, USE/COM_INIT_DB, text PREPARE/DEALLOCATE, COM_SET_OPTION and
// SELECTs that assign user variables go to every open backend: the client
// gets the master's reply (or the oldest connection's), a backend whose
// reply is an error where that one succeeded is dropped. Successful ones
// enter a bounded history (max_sescmd_history, prune_sescmd_history; see
// history) replayed on every backend connection opened later.
//
// # Prepared statements
//
// See stmt.go: the client sees one id per statement; each backend's id is
// mapped; statements are prepared on the writer and lazily on a reader when
// an EXECUTE is routed there, with the parameter types re-sent.
//
// # Failures
//
//   - An autocommit read that fails before any byte of its reply reached
//     the client is retried on another server (retry_failed_reads).
//   - A backend lost under a statement in a transaction ends the session
//     after ER_CONNECTION_KILLED (1927, 70100) naming the server; outside a
//     transaction the client gets that error and the session continues on
//     a new connection (the statement's outcome is unknown and said so).
//     If part of the reply was already relayed the client connection is
//     closed (the client reports 2013): never a silent loss.
//   - With no master, a statement waits up to delayed_retry_timeout when
//     delayed_retry is on, else fails at once, with error 2003 (HY000,
//     CR_CONN_HOST_ERROR as MaxScale uses it) whose message names the
//     service and the servers' states. Before the monitor's first report a
//     statement waits up to the connect timeout in any case.
//
// master_failure_mode: fail_on_write (the default) keeps sessions open
// without a master, reads go on and writes fail as above; error_on_write
// answers writes with ER_OPTION_PREVENTS_STATEMENT (1290, read-only);
// fail_instantly ends a session whose non-reader connection fails.
//
// # Connection ids and KILL
//
// Clients get the proxy's own connection id (Registry, unique in the
// process). KILL [CONNECTION|QUERY] <id> and COM_PROCESS_KILL with such an
// id become KILL [QUERY] <thread> on every backend the target session has,
// run through the killer's own connections so that MariaDB's privilege
// rules apply; KILL CONNECTION then ends the target session. Limitation,
// as in MaxScale: CONNECTION_ID() is answered by a backend and returns that
// backend's thread id, which differs from the id KILL accepts here.
//
// # Other limitations
//
//   - COM_CHANGE_USER closes the backend connections (they carry the old
//     identity); readwritesplit reopens them lazily, readconnroute at once
//     on the same server. A failed COM_CHANGE_USER ends the session.
//   - A prepared statement that the router would send to every backend
//     (a prepared SET, a SELECT assigning user variables) runs on the
//     writer only.
//   - Backend connections are always opened lazily, on first use
//     (lazy_connect = true behaviour; MaxScale's default connects the
//     writer and readers when the session starts).
//   - connection_keepalive and idle_session_pool_time are not implemented:
//     idle backend connections are neither pinged nor pooled. A backend
//     connection that died while idle is found dead only when the next
//     statement uses it: a read is retried elsewhere, anything else gets
//     error 1927 although the server never saw it (backend.Conn offers no
//     way to see a hang-up while idle).
//   - causal_reads = "local" is implemented with wsrep_sync_wait (see
//     causal in backends.go); causal_reads_timeout is not applied.
package session
