package router

import (
	"github.com/maxproxy/maxproxy/router/classify"
)

// Target is where a statement goes.
type Target uint8

// The routing targets.
const (
	// TargetMaster: the writer. Decision.Server names it, or is empty when
	// there is none (Reason says why; the proxy decides whether to wait).
	TargetMaster Target = iota
	// TargetSlave: one reader, named by Decision.Server.
	TargetSlave
	// TargetAll: every backend the session uses (session commands); the
	// proxy also records the statement in the session's history.
	TargetAll
	// TargetServer: the server a hint or readconnroute named.
	TargetServer
	// TargetPrevious: the server that ran the previous statement (FOUND_ROWS,
	// SHOW WARNINGS, COM_STMT_FETCH), named by Decision.Server.
	TargetPrevious
)

var targetNames = [...]string{"master", "slave", "all", "server", "previous"}

// String returns the target's stable name.
func (t Target) String() string {
	if int(t) < len(targetNames) {
		return targetNames[t]
	}
	return "invalid"
}

// Decision is the router's answer for one statement or connection.
type Decision struct {
	Target Target
	// Server is the chosen server; empty for TargetAll, and when no server
	// can take the statement (then Reason is no_master, no_server, …).
	Server string
	// Reason is a short stable token for logs, metrics and golden files.
	Reason string
}

// Command is the protocol command being routed.
type Command uint8

// The commands the router distinguishes.
const (
	CmdQuery           Command = iota // COM_QUERY
	CmdStmtPrepare                    // COM_STMT_PREPARE
	CmdStmtExecute                    // COM_STMT_EXECUTE
	CmdStmtFetch                      // COM_STMT_FETCH
	CmdStmtClose                      // COM_STMT_CLOSE
	CmdStmtReset                      // COM_STMT_RESET
	CmdInitDB                         // COM_INIT_DB
	CmdResetConnection                // COM_RESET_CONNECTION, COM_CHANGE_USER
	CmdOther                          // anything else that reaches a backend
)

// Request is one thing to route.
type Request struct {
	Cmd Command
	// Class and Hint come from classify for CmdQuery and CmdStmtPrepare.
	Class classify.Class
	Hint  classify.Hint
	// StmtID is the client-facing statement id of the COM_STMT_* commands
	// (for CmdStmtPrepare, the id the proxy assigned, set before Advance).
	StmtID uint32
}

// Reasons, one per rule. They are part of the metrics and golden-file
// interface: change them only together with both.
const (
	ReasonRead             = "read"
	ReasonShow             = "show"
	ReasonWrite            = "write"
	ReasonDDL              = "ddl"
	ReasonCall             = "call"
	ReasonLoadData         = "load_data"
	ReasonLockTables       = "lock_tables"
	ReasonUnlockTables     = "unlock_tables"
	ReasonKill             = "kill"
	ReasonOther            = "other"
	ReasonUnknown          = "unknown"
	ReasonMultiStmt        = "multi_stmt"
	ReasonForUpdate        = "for_update"
	ReasonIntoOutfile      = "into_outfile"
	ReasonLastInsertID     = "last_insert_id"
	ReasonGetLock          = "get_lock"
	ReasonSequence         = "sequence"
	ReasonUnknownFunc      = "unknown_function"
	ReasonTempTable        = "temp_table"
	ReasonUserVarRead      = "user_var_read"
	ReasonUserVarOnMaster  = "user_var_on_master"
	ReasonUserVarWrite     = "user_var_write"
	ReasonPrevious         = "previous"
	ReasonShowMasterStatus = "show_master_status"
	ReasonSet              = "set"
	ReasonSetGlobal        = "set_global"
	ReasonSetMasterOnly    = "set_master_function"
	ReasonUse              = "use"
	ReasonPrepare          = "prepare"
	ReasonDeallocate       = "deallocate"
	ReasonExecuteUnknown   = "execute_unknown"
	ReasonTrxBegin         = "trx_begin"
	ReasonTrxBeginReadOnly = "trx_begin_read_only"
	// ReasonTrxBeginEndsReadOnly: a read-write BEGIN inside a read-only
	// transaction. It goes to the master; the proxy must also end the
	// read-only transaction on Session.ReadOnlyTrxServer (e.g. COMMIT).
	ReasonTrxBeginEndsReadOnly = "trx_begin_ends_read_only"
	ReasonTrxEnd               = "trx_end"
	ReasonTrxEndReadOnly       = "trx_end_read_only"
	ReasonTrx                  = "trx"
	ReasonReadOnlyTrx          = "read_only_trx"
	ReasonReadOnlyTrxLost      = "read_only_trx_server_lost"
	ReasonAutocommitOff        = "autocommit_off"
	ReasonHintMaster           = "hint_master"
	ReasonHintSlave            = "hint_slave"
	ReasonHintServer           = "hint_server"
	ReasonHintLast             = "hint_last"
	ReasonStmtPrepare          = "stmt_prepare"
	ReasonStmtClose            = "stmt_close"
	ReasonStmtReset            = "stmt_reset"
	ReasonStmtFetch            = "stmt_fetch"
	ReasonStmtUnknown          = "stmt_unknown"
	ReasonInitDB               = "init_db"
	ReasonResetConnection      = "reset_connection"
	ReasonCommand              = "command"
	ReasonNoSlave              = "no_slave"
	ReasonNoMaster             = "no_master"
	ReasonNoServer             = "no_server"
	ReasonNoPrevious           = "no_previous"
	ReasonDegradedSuffix       = "_degraded"
	ReasonPinnedPrefix         = "pinned_"
	ReasonConnSlaveFallback    = "slave_fallback_master"
)
