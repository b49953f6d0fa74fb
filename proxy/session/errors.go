package session

import (
	"fmt"

	"github.com/maxproxy/maxproxy/proxy/protocol"
)

// Error numbers the session layer sends itself. Where MariaDB has an error
// for the situation its number is used; for "no server to route to" the
// client library's CR_CONN_HOST_ERROR (2003) is used, as MaxScale does, so
// that connectors treat it as a connectivity problem rather than a bad
// statement.
const (
	erUnknownStmtHandler = 1243 // ER_UNKNOWN_STMT_HANDLER
	erNoSuchThread       = 1094 // ER_NO_SUCH_THREAD
	erKillDenied         = 1095 // ER_KILL_DENIED_ERROR
	crConnHostError      = 2003 // CR_CONN_HOST_ERROR
	erOptionPrevents     = 1290 // ER_OPTION_PREVENTS_STATEMENT
)

// errReadOnly is what master_failure_mode = error_on_write answers a write
// with while there is no master.
func errReadOnly() *protocol.Error {
	return &protocol.Error{Code: erOptionPrevents, State: "HY000",
		Message: "The MariaDB server is running with the --read-only option so it cannot execute this statement"}
}

// errNoServer says why a statement found no server: no master (none
// elected, or the wait of delayed_retry ran out), or every candidate failed.
func errNoServer(service, what, reason string) *protocol.Error {
	return &protocol.Error{Code: crConnHostError, State: "HY000",
		Message: fmt.Sprintf("maxproxy: service %q has no %s available: %s", service, what, reason)}
}

// errBackendLost is ER_CONNECTION_KILLED with the server named: the
// statement's outcome is unknown to the proxy.
func errBackendLost(server string, inTrx bool) *protocol.Error {
	msg := fmt.Sprintf("maxproxy: lost connection to server %q while running the statement; its outcome is unknown", server)
	if inTrx {
		msg = fmt.Sprintf("maxproxy: lost connection to server %q during a transaction; the transaction was rolled back or its outcome is unknown, and the session is closed", server)
	}
	return &protocol.Error{Code: protocol.ERConnectionKilled, State: "70100", Message: msg}
}

// errCommitLost is ER_CONNECTION_KILLED for a COMMIT sent to a server
// that failed before answering: it may have committed, so it is never
// replayed (transaction_replay_safe_commit).
func errCommitLost(server string) *protocol.Error {
	return &protocol.Error{Code: protocol.ERConnectionKilled, State: "70100",
		Message: fmt.Sprintf("maxproxy: lost connection to server %q while committing; the COMMIT's outcome is unknown, so it is not replayed; the transaction is over and the session continues", server)}
}

func errUnknownStmt(id uint32, cmd string) *protocol.Error {
	return &protocol.Error{Code: erUnknownStmtHandler, State: "HY000",
		Message: fmt.Sprintf("Unknown prepared statement handler (%d) given to %s", id, cmd)}
}

func errNoSuchThread(id uint64) *protocol.Error {
	return &protocol.Error{Code: erNoSuchThread, State: "HY000", Message: fmt.Sprintf("Unknown thread id: %d", id)}
}

func errKillDenied(id uint64) *protocol.Error {
	return &protocol.Error{Code: erKillDenied, State: "HY000", Message: fmt.Sprintf("You are not owner of thread %d", id)}
}
