// Package server is maxnode's MySQL protocol front end: it accepts client connections, performs the
// MariaDB-compatible handshake, and turns protocol commands into calls on the SQL engine.
//
// The protocol layer is our own, over go-mysql's mysql package (constants and helpers), because
// go-mysql's server package cannot verify a scramble against a stored SHA1(SHA1(password)) hash nor
// advertise CLIENT_MULTI_STATEMENTS or CLIENT_DEPRECATE_EOF, and its packet.Conn neither bounds reads
// nor buffers writes. What the server implements:
//
//   - Handshake v10 announcing "5.5.5-" + Config.Version (MariaDB's convention) with collation
//     utf8mb4_general_ci (45), mysql_native_password verified against Account.NativeHash, an auth switch
//     for clients proposing another plugin, and MariaDB's 1045/1044/1049/1040/4151 answers. Accounts
//     are matched by the client's IP address (like --skip-name-resolve). No TLS, no compression; the
//     client's character set is not passed on (sessions are utf8mb4).
//   - Prepared statements: the server numbers ? markers in text order (ParamMarkerExpr.SetOrder) and
//     decodes COM_STMT_EXECUTE parameters (NULL bitmap, rebinding, long data, every MYSQL_TYPE_* a
//     client sends; temporal values become MariaDB text); MariaDB's statement id 0xffffffff names the
//     last prepared statement.
//   - COM_QUERY (multi-statements with SERVER_MORE_RESULTS_EXISTS when the client asked for them),
//     COM_STMT_PREPARE/EXECUTE/SEND_LONG_DATA/RESET/CLOSE with the binary row protocol, COM_INIT_DB,
//     COM_PING, COM_FIELD_LIST, COM_STATISTICS, COM_SET_OPTION, COM_RESET_CONNECTION,
//     COM_CHANGE_USER, COM_PROCESS_KILL and COM_QUIT. CLIENT_DEPRECATE_EOF is honoured. Cursors
//     (COM_STMT_FETCH) answer ER_NOT_SUPPORTED_YET.
//   - Connection ids from one counter per Server, handed to the engine so CONNECTION_ID() matches.
//     KILL id closes a connection; KILL QUERY id cancels the context of its running statement, which
//     then fails with 1317 "Query execution was interrupted". A KILL the engine executes itself
//     (Session.Killed) closes the connection the same way; a goroutine per connection watches for it.
//   - A statement whose commit outcome is unknown (the Session returns ErrOutcomeUnknown) closes the
//     connection without any packet: the client reports 2013, an indeterminate commit, never a
//     rollback (GALERA.md §12.5).
//   - The negotiated capability flags reach the session (Session.SetClientCapabilities); CLIENT_FOUND_ROWS
//     is offered and makes UPDATE report matched rows.
//   - Reads are bounded by max_allowed_packet (payloads over 16 MiB are reassembled); replies are
//     buffered and flushed once per command. Idle connections close after Config.IdleTimeout
//     (wait_timeout) and every write has a deadline (net_write_timeout), so a silent client cannot
//     pin a session and its locks. A malformed packet is answered with 1835 and the
//     connection is closed; it never brings the server down. Neither does a panic behind one
//     statement: it is logged with its stack, answered with 1105 and that connection is closed.
//
// SQL text is parsed with the TiDB parser, one parser per connection, and parse errors are reported
// with MariaDB's 1064 wording. The engine is reached through the Engine and Session interfaces
// declared here; node wires node/sql to them.
//
// Concurrency: each connection is served by one goroutine that owns its session. KILL and Shutdown
// reach other connections only through the conn's mutex-guarded fields, its statement context and by
// closing its socket. Shutdown stops accepting, closes idle connections, waits for running statements
// until its context ends, then interrupts them and waits for every goroutine.
package server
