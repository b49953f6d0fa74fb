package server

import (
	"context"
	"errors"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Engine is what the server needs from the SQL layer. It is declared here, by its consumer; the node
// package adapts node/sql to it.
type Engine interface {
	// Account returns the account that user connecting from host (an IP address) logs in as, matched
	// the way MariaDB matches mysql.user rows; ok is false when no account matches.
	Account(user, host string) (acct Account, ok bool)
	// NewSession starts the SQL session of an authenticated connection.
	NewSession(connID uint32, user, host string) (Session, error)
}

// ErrOutcomeUnknown is returned, wrapped, by a Session when a statement's commit may or may not take
// effect (a cluster node lost the primary component, or its deadline passed, while the write-set was being
// ordered). The server then closes the connection without sending anything: clients report the lost
// connection (2013), which they treat as an indeterminate commit, whereas any error packet would claim a
// rollback (GALERA.md §12.5).
var ErrOutcomeUnknown = errors.New("server: commit outcome unknown")

// Account is the part of a mysql.user row the handshake needs.
type Account struct {
	// NativeHash is SHA1(SHA1(password)), 20 bytes; empty for an account without a password.
	NativeHash []byte
	// KillAny reports SUPER or CONNECTION ADMIN: KILL may target other users' connections.
	KillAny bool
	// Locked refuses every login to the account (ALTER USER ... ACCOUNT LOCK).
	Locked bool
}

// AbortedConnectCounter is implemented by engines that count failed logins (Aborted_connects).
type AbortedConnectCounter interface {
	AbortedConnect()
}

// Session executes the statements of one connection. The server calls it from one goroutine at a time.
type Session interface {
	// Execute runs one parsed statement. sqlText is the statement's own text; params holds the values of
	// the statement's ? markers (nil for text-protocol queries). ctx is cancelled by KILL QUERY/KILL.
	Execute(ctx context.Context, stmt ast.StmtNode, sqlText string, params []Value) (*Result, error)
	// Prepare checks a statement for COM_STMT_PREPARE and describes its result columns. The server has
	// numbered the statement's ? markers (ParamMarkerExpr.SetOrder, in text order) before the call;
	// Execute's params are indexed by that order.
	Prepare(ctx context.Context, stmt ast.StmtNode, sqlText string) (*PrepareInfo, error)
	// UseDB makes name the default database (COM_INIT_DB, CONNECT_WITH_DB); errors are 1049 or 1044.
	UseDB(name string) error
	// CurrentDB is the default database, "" when none.
	CurrentDB() string
	// SetClientCapabilities passes the connection's negotiated CLIENT_* flags (CLIENT_FOUND_ROWS makes
	// UPDATE report matched instead of changed rows). It is called once, before the first statement.
	SetClientCapabilities(caps uint32)
	// Killed is closed when the engine itself killed the session (KILL CONNECTION executed by the SQL
	// layer); the server then closes the connection. Nil when the engine never does.
	Killed() <-chan struct{}
	// Close rolls back an open transaction and releases everything the session holds.
	Close()
}

// PrepareInfo describes a prepared statement.
type PrepareInfo struct {
	// Columns are the result set columns, nil when the statement returns none.
	Columns []Column
}

// Result is the outcome of one statement: a result set when Columns is not nil, otherwise an OK.
type Result struct {
	Columns []Column
	// Rows streams the result set; the server closes it. Nil with Columns set means an empty set.
	Rows         Rows
	AffectedRows uint64
	LastInsertID uint64
	// Status holds SERVER_STATUS_* flags (in transaction, autocommit, ...) after the statement.
	Status   uint16
	Warnings uint16
	Info     string
}

// Rows is a forward-only stream of rows.
type Rows interface {
	// Next fills dst (one Value per column) with the next row and reports whether there was one.
	// Byte slices in dst stay valid until the next call.
	Next(dst []Value) bool
	// Err is the error that ended the stream early, if any.
	Err() error
	Close()
}

// Column describes one result column as the protocol's column definition carries it.
type Column struct {
	Name, OrgName, Table, OrgTable, DB string
	Type                               byte // mysql.MYSQL_TYPE_*
	Flags                              uint16
	Decimals                           byte
	Length                             uint32
	Charset                            uint16 // collation id; 63 (binary) for numbers and blobs
}

// Kind says which field of a Value is meaningful.
type Kind uint8

// Value kinds.
const (
	KindNull  Kind = iota
	KindInt        // Int
	KindUint       // Int holds the bits of a uint64
	KindFloat      // Float
	KindBytes      // Bytes: strings, decimals and temporal values in their MariaDB text form
)

// Value is one cell or parameter. Any column type may be given as KindBytes in its text form; the
// binary protocol converts by the column's type.
type Value struct {
	Kind  Kind
	Int   int64
	Float float64
	Bytes []byte
	// Type is, for a prepared statement parameter, the MYSQL_TYPE_* the client bound it with.
	Type byte
}

// Uint returns the unsigned value of a KindUint value.
func (v Value) Uint() uint64 { return uint64(v.Int) }
