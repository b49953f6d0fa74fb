package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/maxproxy/maxproxy/node/replicator"
	"github.com/maxproxy/maxproxy/node/server"
	"github.com/maxproxy/maxproxy/node/sql"
	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/types"
)

// engine adapts *sql.Engine to the server's Engine interface.
type engine struct {
	e      *sql.Engine
	gate   readiness      // nil for a standalone node
	reject *rejectQueries // wsrep_reject_queries; nil for a standalone node
}

// readiness is wsrep_ready: a cluster node outside the primary component serves only what Galera serves
// there (GALERA.md §3.1). SyncWait is the causal read behind wsrep_sync_wait.
type readiness interface {
	Primary() bool
	SyncWait(ctx context.Context) error
}

// wsrep_sync_wait bits (GALERA.md §2.2).
const (
	syncWaitRead   = 1 // SELECT, BEGIN / START TRANSACTION
	syncWaitUpdate = 2 // UPDATE, DELETE
	syncWaitInsert = 4 // INSERT, REPLACE
	syncWaitShow   = 8 // SHOW
)

func syncWaitClass(stmt ast.StmtNode) int64 {
	switch stmt.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt, *ast.BeginStmt:
		return syncWaitRead
	case *ast.UpdateStmt, *ast.DeleteStmt:
		return syncWaitUpdate
	case *ast.InsertStmt:
		return syncWaitInsert
	case *ast.ShowStmt:
		return syncWaitShow
	}
	return 0
}

var errSyncWaitTimeout = &mysql.MyError{Code: 1205, State: "HY000", Message: "Lock wait timeout exceeded; try restarting transaction"}

// syncWait performs wsrep_sync_wait's causal read before stmt when the session asks for it. Like
// MariaDB it is skipped inside an open multi-statement transaction.
func (a *session) syncWait(ctx context.Context, stmt ast.StmtNode) error {
	if a.eng.gate == nil || a.inTx {
		return nil
	}
	class := syncWaitClass(stmt)
	if class == 0 {
		return nil
	}
	v, err := a.s.Variable("wsrep_sync_wait")
	if err != nil {
		return nil // not a variable of this engine: nothing was asked for
	}
	mask, st := types.ToInt(v)
	if st != types.OK || mask&class == 0 {
		return nil
	}
	if err := a.eng.gate.SyncWait(ctx); err != nil {
		if errors.Is(err, replicator.ErrSyncWaitTimeout) {
			return errSyncWaitTimeout
		}
		return err
	}
	return nil
}

// Galera's answers to a write-set over wsrep_max_ws_rows / wsrep_max_ws_size (GALERA.md §3.3); the
// transaction was rolled back.
var (
	errMaxWSRows = &mysql.MyError{Code: 1180, State: "HY000", Message: "wsrep_max_ws_rows exceeded"}
	errMaxWSSize = &mysql.MyError{Code: 1105, State: "HY000", Message: "Maximum writeset size exceeded"}
)

// errNotReady is what MariaDB sends for any other statement on a node that is not ready.
var errNotReady = &mysql.MyError{Code: 1047, State: "08S01", Message: "WSREP has not yet prepared node for application use"}

// allowedWhenNotReady reports whether stmt runs on a node outside the primary component: SET, SHOW and a
// SELECT that reads no table (SELECT 1, SELECT @@wsrep_node_name), as in MariaDB's dispatch check, and
// ROLLBACK.
func allowedWhenNotReady(stmt ast.StmtNode) bool {
	switch st := stmt.(type) {
	case *ast.SetStmt, *ast.ShowStmt:
		return true
	case *ast.RollbackStmt:
		// Discarding a transaction needs nobody else. Refusing it would leave the transaction open on
		// the connection, and a client's next START TRANSACTION would commit it implicitly once the node
		// is ready again — half a transaction the client believes rolled back.
		return true
	case *ast.SelectStmt:
		var v tableFinder
		st.Accept(&v)
		return !v.found
	}
	return false
}

// tableFinder looks for any table reference, subqueries included.
type tableFinder struct{ found bool }

func (v *tableFinder) Enter(n ast.Node) (ast.Node, bool) {
	if _, ok := n.(*ast.TableName); ok {
		v.found = true
	}
	return n, v.found
}

func (v *tableFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// ready refuses stmt with 1047 on a cluster node outside the primary component or with
// wsrep_reject_queries set, as MariaDB's dispatch check does; a standalone node (wsrep off) never does.
func (a engine) ready(stmt ast.StmtNode) error {
	if a.gate == nil || (a.gate.Primary() && !a.reject.rejecting()) || allowedWhenNotReady(stmt) {
		return nil
	}
	return errNotReady
}

var _ server.Engine = engine{}

func (a engine) Account(user, host string) (server.Account, bool) {
	acct, ok := a.e.Accounts().Lookup(user, host)
	if !ok {
		return server.Account{}, false
	}
	out := server.Account{Locked: acct.Locked}
	if acct.AuthString != "" {
		hash, err := hex.DecodeString(strings.TrimPrefix(acct.AuthString, "*"))
		if err != nil || len(hash) != 20 {
			// A hash of another plugin cannot be checked with mysql_native_password: no login.
			return server.Account{}, false
		}
		out.NativeHash = hash
	}
	for _, u := range a.e.Schema().Users {
		if u.User == acct.User && u.Host == acct.Host {
			out.KillAny = u.Global&catalog.PrivSuper != 0
			break
		}
	}
	return out, true
}

// AbortedConnect counts a failed login in Aborted_connects.
func (a engine) AbortedConnect() { a.e.AbortedConnect() }

func (a engine) NewSession(connID uint32, user, host string) (server.Session, error) {
	return &session{s: a.e.NewSession(connID, user, host), eng: a}, nil
}

// session adapts *sql.Session; its buffers are reused from one statement to the next, which the
// server allows (a result is written before the next statement runs).
type session struct {
	s      *sql.Session
	eng    engine
	inTx   bool           // a multi-statement transaction is open (after the last statement)
	parser *parser.Parser // for describe's private copies, created on first use
	params []sql.Value
	cols   []server.Column
	rows   rows
	res    server.Result
}

func (a *session) Execute(ctx context.Context, stmt ast.StmtNode, sqlText string, params []server.Value) (*server.Result, error) {
	if err := a.eng.ready(stmt); err != nil {
		return nil, err
	}
	if err := a.syncWait(ctx, stmt); err != nil {
		return nil, err
	}
	a.params = a.params[:0]
	for i := range params {
		a.params = append(a.params, toSQLValue(&params[i]))
	}
	res, err := a.s.Execute(ctx, stmt, sqlText, a.params)
	if err != nil {
		return nil, clientError(err)
	}
	a.inTx = res.Status&mysql.SERVER_STATUS_IN_TRANS != 0
	out := &a.res
	*out = server.Result{
		AffectedRows: res.AffectedRows,
		LastInsertID: res.LastInsertID,
		Status:       res.Status,
		Warnings:     res.Warnings,
		Info:         res.Info,
	}
	if res.Columns != nil {
		out.Columns = a.columns(res.Columns)
		a.rows = rows{cols: res.Columns, src: res.Rows, scratch: a.rows.scratch[:0], ends: a.rows.ends[:0]}
		out.Rows = &a.rows
	}
	return out, nil
}

// SessionVariable reports @@session.name for SET STATEMENT, which restores it after its statement.
func (a *session) SessionVariable(name string) (any, error) {
	v, err := a.s.Variable(name)
	if err != nil {
		return nil, clientError(err)
	}
	switch v.Kind() {
	case types.KindNull:
		return nil, nil
	case types.KindInt:
		return v.Int(), nil
	case types.KindUint:
		return v.Uint(), nil
	case types.KindFloat, types.KindDecimal:
		f, _ := types.ToFloat(v)
		return f, nil
	}
	return types.ToText(v), nil
}

var _ server.VariableReader = (*session)(nil)

func (a *session) columns(cols []sql.Column) []server.Column {
	a.cols = a.cols[:0]
	for _, c := range cols {
		a.cols = append(a.cols, server.Column(c))
	}
	return a.cols
}

// Prepare describes a statement for COM_STMT_PREPARE: node/sql resolves names (unknown tables fail
// here, as in MariaDB) and reports result columns. Clients such as libmariadb decide from the
// prepare-time column count whether an execution returns rows, so when node/sql cannot tell (a SELECT
// whose LIMIT is a parameter, SHOW) the columns come from a dry run that reads and locks no row.
func (a *session) Prepare(ctx context.Context, stmt ast.StmtNode, sqlText string) (*server.PrepareInfo, error) {
	if err := a.eng.ready(stmt); err != nil {
		return nil, err
	}
	p, err := a.s.Prepare(sqlText)
	if err != nil {
		return nil, clientError(err)
	}
	cols := p.Columns
	if cols == nil {
		switch stmt.(type) {
		case *ast.SelectStmt, *ast.ShowStmt:
			if cols, err = a.describe(ctx, sqlText); err != nil {
				return nil, err
			}
		}
	}
	info := &server.PrepareInfo{}
	if cols != nil {
		info.Columns = make([]server.Column, len(cols))
		for i, c := range cols {
			info.Columns[i] = server.Column(c)
		}
	}
	return info, nil
}

// describe runs a private copy of a SELECT or SHOW so that it returns no rows: the SELECT's WHERE
// becomes FALSE and it loses LIMIT and any locking clause; parameters are NULL. SHOW reads only
// metadata and runs as it is.
func (a *session) describe(ctx context.Context, sqlText string) ([]sql.Column, error) {
	if a.parser == nil {
		a.parser = parser.New()
	}
	probe, err := a.parser.ParseOneStmt(sqlText, "", "")
	if err != nil {
		return nil, fmt.Errorf("prepare: reparse: %w", err)
	}
	if sel, ok := probe.(*ast.SelectStmt); ok {
		sel.Where = ast.NewValueExpr(int64(0), "", "")
		sel.Limit = nil
		sel.LockInfo = nil
		sel.SelectIntoOpt = nil
	}
	// Count after the rewrite: node/sql checks that every remaining marker has exactly one value.
	params := make([]sql.Value, server.NumberParams(probe))
	res, err := a.s.Execute(ctx, probe, sqlText, params)
	if err != nil {
		return nil, clientError(err)
	}
	return res.Columns, nil
}

func (a *session) UseDB(name string) error { return clientError(a.s.UseDB(name)) }
func (a *session) CurrentDB() string       { return a.s.CurrentDB() }
func (a *session) Close()                  { a.s.Close() }

// SetClientCapabilities applies CLIENT_FOUND_ROWS: UPDATE then counts matched rows, as MariaDB does.
func (a *session) SetClientCapabilities(caps uint32) {
	a.s.SetClientFoundRows(caps&mysql.CLIENT_FOUND_ROWS != 0)
}

// Killed fires when node/sql executed KILL CONNECTION against this session.
func (a *session) Killed() <-chan struct{} { return a.s.Killed() }

// clientError gives the server the *mysql.MyError it sends unchanged, or, for a commit whose outcome
// is unknown, server.ErrOutcomeUnknown (the server closes the connection instead of answering).
func clientError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, replicator.ErrUnknownOutcome) {
		return fmt.Errorf("%w: %w", server.ErrOutcomeUnknown, err)
	}
	switch {
	case errors.Is(err, replicator.ErrMaxWSRows):
		return errMaxWSRows
	case errors.Is(err, replicator.ErrMaxWSSize):
		return errMaxWSSize
	}
	var se *sql.Error
	if errors.As(err, &se) {
		return &mysql.MyError{Code: se.Code, State: se.State, Message: se.Msg}
	}
	return fmt.Errorf("sql: %w", err)
}

// toSQLValue converts a prepared statement parameter. Strings, temporal values and decimals arrive as
// text; the engine converts text to the column's type as it does for literals.
func toSQLValue(v *server.Value) sql.Value {
	switch v.Kind {
	case server.KindInt:
		return types.NewInt(v.Int)
	case server.KindUint:
		return types.NewUint(v.Uint())
	case server.KindFloat:
		return types.NewFloat(v.Float)
	case server.KindBytes:
		switch v.Type {
		case mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB, mysql.MYSQL_TYPE_BLOB:
			return types.NewBytes(v.Bytes)
		case mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL:
			if d, _, err := types.ParseDecimal(string(v.Bytes)); err == nil {
				return types.NewDecimal(d)
			}
		}
		return types.NewString(string(v.Bytes))
	}
	return types.Null
}

// rows streams a materialised sql result to the server, converting each row into reused buffers. Values
// other than integers and doubles are rendered as text by their result column (sql.Column.AppendText:
// DATETIME(n)/TIMESTAMP(n) with n fractional digits); integers and doubles go to the server as numbers,
// which prints doubles by the column as well (DOUBLE(M,D) with D decimals).
type rows struct {
	cols    []sql.Column
	src     [][]sql.Value
	i       int
	scratch []byte
	ends    []int
}

func (r *rows) Next(dst []server.Value) bool {
	if r.i >= len(r.src) {
		return false
	}
	row := r.src[r.i]
	r.i++
	r.scratch = r.scratch[:0]
	r.ends = r.ends[:0]
	for i := range dst {
		v := row[i]
		d := &dst[i]
		*d = server.Value{}
		switch v.Kind() {
		case types.KindNull:
			d.Kind = server.KindNull
		case types.KindInt:
			d.Kind, d.Int = server.KindInt, v.Int()
		case types.KindUint:
			d.Kind, d.Int = server.KindUint, int64(v.Uint())
		case types.KindFloat:
			// The server prints it by the column too, fixed decimals included, and the binary protocol
			// sends the double itself.
			d.Kind, d.Float = server.KindFloat, v.Float()
		default:
			d.Kind = server.KindBytes
			r.scratch = r.cols[i].AppendText(r.scratch, v)
		}
		r.ends = append(r.ends, len(r.scratch))
	}
	// Slice the text only now: appending may have moved the buffer.
	start := 0
	for i := range dst {
		if dst[i].Kind == server.KindBytes {
			dst[i].Bytes = r.scratch[start:r.ends[i]:r.ends[i]]
		}
		start = r.ends[i]
	}
	return true
}

func (r *rows) Err() error { return nil }
func (r *rows) Close()     { r.src = nil }
