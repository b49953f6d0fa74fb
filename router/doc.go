// Package router makes the proxy's routing decisions as pure functions:
// no sockets, no clocks, no goroutines, no configuration loading.
//
// # Readwritesplit
//
// Route maps (request, session state, topology snapshot, options, load)
// to a Decision: the master, one slave, all of the session's backends
// (session commands), a named server (hints) or the previous server
// (FOUND_ROWS, SHOW WARNINGS, COM_STMT_FETCH), with a short stable Reason.
// The rules are MaxScale's readwritesplit rules (docs/ANCHORS.md §2.1):
//
//   - multi-statements, writes, DDL, CALL, LOAD DATA, locking reads,
//     LAST_INSERT_ID(), the GET_LOCK family, sequences, stored functions,
//     INTO OUTFILE and reads of session temporary tables go to the master;
//   - everything inside a read-write transaction, or with autocommit off,
//     goes to the master; START TRANSACTION READ ONLY picks one slave and
//     keeps the whole transaction there;
//   - SET (session and user variables), USE and text PREPARE/DEALLOCATE go
//     to every backend; SET GLOBAL goes to the master;
//   - user variables follow use_sql_variables_in; a variable assigned by a
//     statement that ran only on the master pins variable reads there;
//   - hints (master, slave, server NAME, last) apply outside transactions
//     when their target can take the statement;
//   - strict_multi_stmt, strict_sp_calls, a held GET_LOCK, SERIALIZABLE and
//     LOCK TABLES pin the session to the master (Session.Pins says why).
//
// Readers are chosen by least current operations (Load), healthy ones
// (not Lagging, Draining or Donor) first, then the session's previous
// server, then a per-session rotation (Session.TieBreak). With no reader,
// reads go to the master (reason no_slave); with no master, a decision
// says so (Server empty, reason no_master) and the proxy decides whether
// to wait for one.
//
// # Session state
//
// Session is owned by one proxy session. Route only reads it; Advance
// applies a routed statement's effects after its reply, trusting the
// reply's server status flags for transaction and autocommit state.
//
// # Readconnroute
//
// RouteConnection picks one server for a whole client connection by
// router_options (master, slave, synced, running) and least connections.
//
// # Cost
//
// Route and RouteConnection allocate nothing; with a cached class, the
// classify+route path of a statement allocates nothing either.
package router
