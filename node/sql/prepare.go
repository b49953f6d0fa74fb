package sql

import (
	"sort"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

// Prepared is a parsed statement with ? placeholders (COM_STMT_PREPARE).
type Prepared struct {
	Stmt      ast.StmtNode
	SQL       string
	NumParams int
	// Columns describes the result set when the statement is a SELECT whose shape does not depend on the
	// parameters' values; nil otherwise (the server then sends no column definitions at prepare time).
	Columns []Column
}

// paramCollector finds the ? markers of a statement.
type paramCollector struct{ markers []*driver.ParamMarkerExpr }

func (p *paramCollector) Enter(n ast.Node) (ast.Node, bool) {
	if pm, ok := n.(*driver.ParamMarkerExpr); ok {
		p.markers = append(p.markers, pm)
	}
	return n, false
}

func (p *paramCollector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// numberParams assigns each ? its position in the text (the parser records offsets, not orders) and returns
// how many there are.
func numberParams(stmt ast.StmtNode) int {
	pc := &paramCollector{}
	stmt.Accept(pc)
	sort.Slice(pc.markers, func(i, j int) bool { return pc.markers[i].Offset < pc.markers[j].Offset })
	for i, m := range pc.markers {
		m.Order = i
	}
	return len(pc.markers)
}

// Prepare parses sqlText (one statement) and describes it.
func (s *Session) Prepare(sqlText string) (*Prepared, error) {
	if s.parser == nil {
		s.parser = parser.New()
	}
	stmts, _, err := s.parser.Parse(sqlText, "", "")
	if err != nil {
		return nil, SyntaxError(sqlText, err)
	}
	if len(stmts) != 1 {
		return nil, newErr(ErUnknownStmtHandler, "Prepared statements must contain exactly one statement")
	}
	return s.PrepareStmt(stmts[0], sqlText)
}

// PrepareStmt describes an already parsed statement (the server parses COM_STMT_PREPARE itself).
func (s *Session) PrepareStmt(stmt ast.StmtNode, sqlText string) (*Prepared, error) {
	n := numberParams(stmt)
	p := &Prepared{Stmt: stmt, SQL: sqlText, NumParams: n}
	if sel, ok := stmt.(*ast.SelectStmt); ok {
		params := make([]types.Value, n)
		for i := range params {
			params[i] = types.Null
		}
		if qp, err := s.compileSelect(sel, sqlText, params); err == nil {
			p.Columns = qp.cols
		} else if me, ok := err.(*Error); ok && me.Code != ErWrongArguments {
			// Name-resolution errors (unknown table/column) surface at prepare time, as MariaDB does.
			return nil, me
		}
	}
	return p, nil
}
