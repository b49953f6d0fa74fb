package server

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/test_driver"
)

// fakeEngine is a test double of the SQL engine: a few accounts and databases, and sessions that
// evaluate SELECTs of literals, parameters and a handful of functions, one canned table and
// transaction statements.
type fakeEngine struct {
	accounts map[string]Account // "user@host"; host "%" matches any
	dbs      map[string]bool

	mu        sync.Mutex
	open      int           // sessions not yet closed
	sleeping  chan uint32   // receives the connection id when SLEEP() starts
	release   chan struct{} // closing it ends every SLEEP() normally
	sessions  map[uint32]*fakeSession
	commitErr error // what COMMIT returns, under mu
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		accounts: map[string]Account{
			"root@127.0.0.1": {KillAny: true},
			"app@%":          {NativeHash: mysql.NativePasswordHash([]byte("secret"))},
			"other@%":        {NativeHash: mysql.NativePasswordHash([]byte("pw2"))},
			"locked@%":       {NativeHash: mysql.NativePasswordHash([]byte("pw3")), Locked: true},
		},
		dbs:      map[string]bool{"test": true, "shop": true},
		sleeping: make(chan uint32, 16),
		release:  make(chan struct{}),
		sessions: make(map[uint32]*fakeSession),
	}
}

func (e *fakeEngine) Account(user, host string) (Account, bool) {
	if a, ok := e.accounts[user+"@"+host]; ok {
		return a, true
	}
	a, ok := e.accounts[user+"@%"]
	return a, ok
}

func (e *fakeEngine) NewSession(connID uint32, user, host string) (Session, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.open++
	s := &fakeSession{e: e, connID: connID, user: user, killed: make(chan struct{})}
	e.sessions[connID] = s
	return s, nil
}

func (e *fakeEngine) failCommits(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.commitErr = err
}

func (e *fakeEngine) openSessions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.open
}

type fakeSession struct {
	e      *fakeEngine
	connID uint32
	user   string
	db     string
	inTxn  bool
	closed bool
	caps   uint32        // from SetClientCapabilities
	killed chan struct{} // closed by fakeEngine.killSession
}

func (s *fakeSession) status() uint16 {
	if s.inTxn {
		return mysql.SERVER_STATUS_AUTOCOMMIT | mysql.SERVER_STATUS_IN_TRANS
	}
	return mysql.SERVER_STATUS_AUTOCOMMIT
}

func (s *fakeSession) UseDB(name string) error {
	if !s.e.dbs[name] {
		return &mysql.MyError{Code: 1049, State: "42000", Message: fmt.Sprintf("Unknown database '%s'", name)}
	}
	if s.user == "other" && name == "shop" {
		return &mysql.MyError{Code: 1044, State: "42000",
			Message: fmt.Sprintf("Access denied for user '%s'@'%%' to database '%s'", s.user, name)}
	}
	s.db = name
	return nil
}

func (s *fakeSession) CurrentDB() string { return s.db }

func (s *fakeSession) SetClientCapabilities(caps uint32) { s.caps = caps }

func (s *fakeSession) Killed() <-chan struct{} { return s.killed }

// killSession kills connection id's session the way the SQL layer's own KILL CONNECTION does.
func (e *fakeEngine) killSession(id uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	close(e.sessions[id].killed)
}

func (s *fakeSession) Close() {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.e.open--
	}
}

func (s *fakeSession) Prepare(ctx context.Context, stmt ast.StmtNode, sqlText string) (*PrepareInfo, error) {
	n := countParams(stmt)
	info := &PrepareInfo{}
	if sel, ok := stmt.(*ast.SelectStmt); ok {
		params := make([]Value, n)
		for i := range params {
			params[i] = Value{Kind: KindNull}
		}
		cols, _, err := s.evalSelect(ctx, sel, params)
		if err != nil {
			return nil, err
		}
		info.Columns = cols
	}
	return info, nil
}

type paramCounter struct{ n int }

func (p *paramCounter) Enter(n ast.Node) (ast.Node, bool) {
	if _, ok := n.(*test_driver.ParamMarkerExpr); ok {
		p.n++
	}
	return n, false
}
func (p *paramCounter) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func countParams(stmt ast.StmtNode) int {
	var pc paramCounter
	stmt.Accept(&pc)
	return pc.n
}

func (s *fakeSession) Execute(ctx context.Context, stmt ast.StmtNode, sqlText string, params []Value) (*Result, error) {
	switch st := stmt.(type) {
	case *ast.SelectStmt:
		cols, rows, err := s.evalSelect(ctx, st, params)
		if err != nil {
			return nil, err
		}
		return &Result{Columns: cols, Rows: &sliceRows{rows: rows}, Status: s.status()}, nil
	case *ast.InsertStmt:
		return &Result{AffectedRows: uint64(len(st.Lists)), LastInsertID: 42, Status: s.status()}, nil
	case *ast.UpdateStmt:
		// Two rows match, one changes.
		if s.caps&mysql.CLIENT_FOUND_ROWS != 0 {
			return &Result{AffectedRows: 2, Status: s.status()}, nil
		}
		return &Result{AffectedRows: 1, Status: s.status()}, nil
	case *ast.BeginStmt:
		s.inTxn = true
		return &Result{Status: s.status()}, nil
	case *ast.CommitStmt, *ast.RollbackStmt:
		s.inTxn = false
		if _, ok := st.(*ast.CommitStmt); ok {
			s.e.mu.Lock()
			err := s.e.commitErr
			s.e.mu.Unlock()
			if err != nil {
				return nil, err
			}
		}
		return &Result{Status: s.status()}, nil
	case *ast.UseStmt:
		if err := s.UseDB(st.DBName); err != nil {
			return nil, err
		}
		return &Result{Status: s.status()}, nil
	}
	return nil, &mysql.MyError{Code: 1235, State: "42000", Message: fmt.Sprintf("fake engine: %T", stmt)}
}

// cannedTable is "t": every column type the binary protocol encodes specially.
var cannedColumns = []Column{
	{Name: "id", Table: "t", Type: mysql.MYSQL_TYPE_LONGLONG, Charset: 63, Flags: mysql.NOT_NULL_FLAG | mysql.PRI_KEY_FLAG},
	{Name: "name", Table: "t", Type: mysql.MYSQL_TYPE_VAR_STRING, Charset: 45, Length: 400},
	{Name: "created", Table: "t", Type: mysql.MYSQL_TYPE_DATETIME, Charset: 63, Decimals: 6},
	{Name: "price", Table: "t", Type: mysql.MYSQL_TYPE_DOUBLE, Charset: 63, Decimals: notFixedDec},
	{Name: "small", Table: "t", Type: mysql.MYSQL_TYPE_TINY, Charset: 63},
	{Name: "dur", Table: "t", Type: mysql.MYSQL_TYPE_TIME, Charset: 63},
	{Name: "amount", Table: "t", Type: mysql.MYSQL_TYPE_NEWDECIMAL, Charset: 63, Decimals: 2},
}

var cannedRows = [][]Value{
	{{Kind: KindInt, Int: 1}, {Kind: KindBytes, Bytes: []byte("héllo")}, {Kind: KindBytes, Bytes: []byte("2024-02-29 13:14:15.123456")},
		{Kind: KindFloat, Float: 2.5}, {Kind: KindInt, Int: -7}, {Kind: KindBytes, Bytes: []byte("-838:59:59")}, {Kind: KindBytes, Bytes: []byte("12.34")}},
	{{Kind: KindInt, Int: 2}, {Kind: KindNull}, {Kind: KindBytes, Bytes: []byte("2000-01-01")},
		{Kind: KindFloat, Float: 1e20}, {Kind: KindBytes, Bytes: []byte("127")}, {Kind: KindBytes, Bytes: []byte("00:00:00")}, {Kind: KindNull}},
}

func (s *fakeSession) evalSelect(ctx context.Context, sel *ast.SelectStmt, params []Value) ([]Column, [][]Value, error) {
	if sel.From != nil {
		return cannedColumns, cannedRows, nil
	}
	var cols []Column
	var row []Value
	next := 0
	for _, f := range sel.Fields.Fields {
		name := f.Text()
		if f.AsName.O != "" {
			name = f.AsName.O
		}
		v, typ, err := s.eval(ctx, f.Expr, params, &next)
		if err != nil {
			return nil, nil, err
		}
		col := Column{Name: name, Type: typ, Charset: 45, Decimals: notFixedDec}
		if v.Kind == KindUint {
			col.Flags |= mysql.UNSIGNED_FLAG
		}
		cols = append(cols, col)
		row = append(row, v)
	}
	return cols, [][]Value{row}, nil
}

func (s *fakeSession) eval(ctx context.Context, e ast.ExprNode, params []Value, next *int) (Value, byte, error) {
	switch x := e.(type) {
	case *test_driver.ParamMarkerExpr:
		if x.Order >= len(params) {
			return Value{}, 0, &mysql.MyError{Code: 1210, State: "HY000", Message: "Incorrect arguments to EXECUTE"}
		}
		p := params[x.Order]
		switch p.Kind {
		case KindInt, KindUint:
			return p, mysql.MYSQL_TYPE_LONGLONG, nil
		case KindFloat:
			return p, mysql.MYSQL_TYPE_DOUBLE, nil
		case KindNull:
			return p, mysql.MYSQL_TYPE_NULL, nil
		}
		switch p.Type {
		case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_TIME:
			return p, p.Type, nil
		}
		return p, mysql.MYSQL_TYPE_VAR_STRING, nil
	case *test_driver.ValueExpr:
		switch v := x.GetValue().(type) {
		case int64:
			return Value{Kind: KindInt, Int: v}, mysql.MYSQL_TYPE_LONGLONG, nil
		case uint64:
			return Value{Kind: KindUint, Int: int64(v)}, mysql.MYSQL_TYPE_LONGLONG, nil
		case float64:
			return Value{Kind: KindFloat, Float: v}, mysql.MYSQL_TYPE_DOUBLE, nil
		case string:
			return Value{Kind: KindBytes, Bytes: []byte(v)}, mysql.MYSQL_TYPE_VAR_STRING, nil
		case nil:
			return Value{Kind: KindNull}, mysql.MYSQL_TYPE_NULL, nil
		default:
			return Value{Kind: KindBytes, Bytes: []byte(x.GetString())}, mysql.MYSQL_TYPE_NEWDECIMAL, nil
		}
	case *ast.FuncCallExpr:
		switch x.FnName.L {
		case "connection_id":
			return Value{Kind: KindUint, Int: int64(s.connID)}, mysql.MYSQL_TYPE_LONGLONG, nil
		case "database":
			if s.db == "" {
				return Value{Kind: KindNull}, mysql.MYSQL_TYPE_VAR_STRING, nil
			}
			return Value{Kind: KindBytes, Bytes: []byte(s.db)}, mysql.MYSQL_TYPE_VAR_STRING, nil
		case "sleep":
			select {
			case s.e.sleeping <- s.connID:
			default: // nobody is watching this many sleepers
			}
			select {
			case <-ctx.Done():
				return Value{}, 0, ctx.Err()
			case <-s.e.release:
				return Value{Kind: KindInt}, mysql.MYSQL_TYPE_LONGLONG, nil
			}
		case "repeat":
			v, _, err := s.eval(ctx, x.Args[0], params, next)
			if err != nil {
				return v, 0, err
			}
			n, _, err := s.eval(ctx, x.Args[1], params, next)
			if err != nil {
				return v, 0, err
			}
			if n.Int < 0 || n.Int*int64(len(v.Bytes)) > 64<<20 {
				return v, 0, &mysql.MyError{Code: 1301, State: "HY000", Message: "Result of repeat() was larger than max_allowed_packet"}
			}
			return Value{Kind: KindBytes, Bytes: []byte(strings.Repeat(string(v.Bytes), int(n.Int)))}, mysql.MYSQL_TYPE_LONG_BLOB, nil
		case "panic":
			panic("fake engine bug")
		case "length":
			v, _, err := s.eval(ctx, x.Args[0], params, next)
			return Value{Kind: KindInt, Int: int64(len(v.Bytes))}, mysql.MYSQL_TYPE_LONGLONG, err
		}
	case *ast.UnaryOperationExpr:
		v, t, err := s.eval(ctx, x.V, params, next)
		v.Int, v.Float = -v.Int, -v.Float
		return v, t, err
	}
	return Value{}, 0, &mysql.MyError{Code: 1235, State: "42000", Message: fmt.Sprintf("fake engine: expression %T", e)}
}

type sliceRows struct {
	rows [][]Value
	i    int
}

func (r *sliceRows) Next(dst []Value) bool {
	if r.i >= len(r.rows) {
		return false
	}
	copy(dst, r.rows[r.i])
	r.i++
	return true
}
func (r *sliceRows) Err() error { return nil }
func (r *sliceRows) Close()     {}
