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
//     the client is retried on another server (retry_failed_reads); so is
//     one a node refuses with 1047 (a Galera node outside the primary
//     component) or with an error that ends the connection (1927 after a
//     KILL, shutdown errors).
//   - Another statement refused with 1047 was not run: with delayed_retry
//     it waits (up to delayed_retry_timeout) for the monitor to publish
//     another writer, or a new view, and is routed again; otherwise the
//     client gets the 1047.
//   - A backend lost under a statement in a transaction ends the session
//     after ER_CONNECTION_KILLED (1927, 70100) naming the server, unless
//     transaction replay moves the transaction or the statement was a
//     COMMIT (below); outside a
//     transaction the client gets that error and the session continues
//     on a new connection (the statement's outcome is unknown and said
//     so). An autocommit statement that was sent is never sent again, even
//     with transaction_replay (MaxScale 24.02.4's rule: it may have run);
//     only one never sent (no writer yet) waits and runs. If part of the
//     reply was already relayed the client connection is closed (the
//     client reports 2013): never a silent loss. A BEGIN (no transaction
//     being open) changes nothing, so it is sent again on a new
//     connection instead.
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
// master_reconnection (failover.go): outside a transaction, when the
// monitor names another writer or the connection to the writer was lost,
// the session's next write opens a connection to the writer (the session
// command history is replayed on it, as on every new connection). It is
// refused with 2003 naming the reason when master_reconnection is off,
// while the session has temporary tables (strict_tmp_tables: they were on
// the old writer), or when the history cannot rebuild the session's state
// (disabled, or abandoned past max_sescmd_history with prune off).
//
// # Transaction replay
//
// With transaction_replay (replay.go) the statements of the open
// transaction (COM_QUERY, and COM_STMT_EXECUTE with its PREPARE text) are
// kept, up to transaction_replay_max_size bytes (beyond it the
// transaction cannot be replayed), each with a 128-bit checksum (SHA-256,
// truncated) of the result the client saw: rows and errors, plus OK
// replies in the "full" mode ("result_only" skips them, "no_insert_id"
// also skips statements using LAST_INSERT_ID()). Column definitions are
// not hashed: MariaDB's metadata caching legitimately sends them on one
// connection and not on the other.
//
// When the transaction's backend fails under a statement of which the
// client saw nothing (connection error, 1047, 1927 or a shutdown error;
// a deadlock 1213/40001 with transaction_replay_retry_on_deadlock), the
// session waits for a writer (a server other than the failed one, or any
// after the monitor's next view; bounded by transaction_replay_timeout,
// or delayed_retry_timeout per attempt without one), opens a connection,
// makes a Galera node catch up with the cluster (wsrep_sync_wait) and
// re-executes the statements, comparing checksums. If all match, the
// interrupted statement is sent again and the client sees no error. A
// mismatch ends the session with 1927 saying the replay failed (with
// transaction_replay_retry_on_mismatch the replay is tried again, up to
// transaction_replay_attempts, on a fresh connection). When the replay
// after a deadlock fails the client gets the deadlock error; the next
// statement then ends the session, since the transaction is gone.
//
// A COMMIT (or DDL, which commits implicitly) interrupted after it was
// sent is never replayed blindly with transaction_replay_safe_commit (the
// default): it may have committed. With transaction_replay_commit_check
// (commitcheck.go) the session settles it instead: the COMMIT of a
// transaction that wrote is preceded by a marker row written in the same
// transaction (maxproxy.trx_marker, one row per session, a number never
// used before), and after the failover a causal read on the new writer
// says whether that number committed: yes, the client gets OK; no, the
// transaction is replayed and committed there. Only when the check cannot
// be made (no writer in transaction_replay_timeout, no table or no
// privilege on maxproxy.*), and always without the option, the client
// gets 1927 saying the outcome is unknown. The transaction is over
// either way, so the session continues outside it; the next statement
// opens a connection as needed. A COMMIT
// refused with 1047, or failed by a deadlock or a Galera certification
// failure (1213, with retry_on_deadlock), committed nothing and is
// replayed like any statement. With
// safe_commit off it is replayed like any other statement; a
// transaction that did commit then usually fails its checksums (a
// duplicate key, different affected rows), but not always.
//
// Replay compares results, not isolation: a transaction whose reads
// overlap writes that other sessions (or their replays) commit in the
// meantime fails with a mismatch. Session commands run inside the
// transaction are replayed from the history, before it, not in place. A
// transaction with LOAD DATA LOCAL INFILE or a server-side cursor
// (COM_STMT_FETCH) is not replayable, nor one whose first statement was
// not known to open it (and so not checksummed).
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
//   - idle_session_pool_time is not implemented: idle backend connections
//     are not pooled. connection_keepalive and wait_timeout are (idle.go):
//     backend connections unused for the keepalive interval get a COM_PING
//     while their client is active; a client back from a longer idle period
//     has its connections pinged before its command, and dead ones are
//     replaced quietly. With connection_keepalive off, a backend connection
//     that died while idle (the server's wait_timeout) is found dead only
//     when the next statement uses it: a read is retried elsewhere,
//     anything else gets error 1927 although the server never saw it
//     (backend.Conn offers no way to see a hang-up while idle).
//   - causal_reads = "local" is implemented with wsrep_sync_wait (see
//     causal in backends.go); causal_reads_timeout is not applied.
package session
