package sql

import (
	"context"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/maxproxy/maxproxy/node/sql/codec"
	"github.com/maxproxy/maxproxy/node/sql/types"
	"github.com/maxproxy/maxproxy/node/storage"
)

// Non-correlated subqueries and derived tables are evaluated once per statement, in the statement's
// transaction (snapshot reads). Correlated subqueries answer 1235.

// resultSet is a compiled SELECT or UNION that yields rows.
type resultSet struct {
	cols []Column
	ets  []exprType
	run  func(ctx context.Context, t *storage.Txn) ([][]types.Value, error)
}

func (s *Session) compileResultSet(n ast.ResultSetNode, params []Value, outer *outerBox) (*resultSet, error) {
	switch x := n.(type) {
	case *ast.SelectStmt:
		qp, err := s.compileSelectIn(x, "", params, outer)
		if err != nil {
			return nil, err
		}
		if qp.lock != lockNone {
			return nil, errNotSupported("locking reads in subqueries")
		}
		rs := &resultSet{cols: qp.cols}
		for _, f := range qp.fields {
			rs.ets = append(rs.ets, *f.typ())
		}
		rs.run = func(ctx context.Context, t *storage.Txn) ([][]types.Value, error) { return s.runSelect(ctx, t, qp) }
		return rs, nil
	case *ast.SetOprStmt:
		return s.compileSetOpr(x, params, outer)
	}
	return nil, errNotSupported("this subquery")
}

// stmtTxn returns the transaction of the running statement for subqueries (a read snapshot if none).
func (s *Session) subqueryTxn() (*storage.Txn, func()) {
	if s.curTxn != nil {
		return s.curTxn, func() {}
	}
	return s.readTxn()
}

// subqueryExpr is a scalar subquery, EXISTS, or the right side of IN.
type subqueryExpr struct {
	box    *outerBox // non-nil with refs: correlated, re-run for every enclosing row
	rs     *resultSet
	kind   byte // 's' scalar, 'e' exists, 'i' in-list
	done   bool
	rows   [][]types.Value
	et     exprType
	negate bool
}

func (x *subqueryExpr) typ() *exprType { return &x.et }

func (x *subqueryExpr) correlated() bool { return x.box != nil && len(x.box.refs) > 0 }

func (x *subqueryExpr) load(c *evalCtx) error {
	if x.correlated() {
		x.box.row = c.row
	} else if x.done {
		return nil
	}
	t, end := c.s.subqueryTxn()
	defer end()
	ctx := c.s.curCtx
	if ctx == nil {
		ctx = context.Background()
	}
	rows, err := x.rs.run(ctx, t)
	if err != nil {
		return err
	}
	x.rows, x.done = rows, true
	return nil
}

func (x *subqueryExpr) eval(c *evalCtx) (types.Value, error) {
	if err := x.load(c); err != nil {
		return types.Null, err
	}
	switch x.kind {
	case 'e':
		return types.NewBool((len(x.rows) > 0) != x.negate), nil
	case 's':
		if len(x.rows) == 0 {
			return types.Null, nil
		}
		if len(x.rows) > 1 {
			return types.Null, newErr(ErSubqueryNo1Row, "Subquery returns more than 1 row")
		}
		return x.rows[0][0], nil
	}
	return types.Null, errNotSupported("subquery in this position")
}

func (cp *compiler) subquery(n ast.ResultSetNode, kind byte) (*subqueryExpr, error) {
	box := &outerBox{sc: cp.sc, parent: cp.outer}
	rs, err := cp.s.compileResultSet(n, cp.params, box)
	if err != nil {
		return nil, err
	}
	if kind != 'e' && len(rs.cols) != 1 {
		return nil, newErr(ErOperandColumns, "Operand should contain 1 column(s)")
	}
	x := &subqueryExpr{rs: rs, kind: kind, box: box}
	if kind == 'e' {
		x.et = boolType
	} else {
		x.et = rs.ets[0]
		x.et.notNull = false
	}
	return x, nil
}

// inSubqueryExpr is "e [NOT] IN (SELECT ...)".
type inSubqueryExpr struct {
	e    expr
	sub  *subqueryExpr
	not  bool
	coll types.Collation
}

func (x *inSubqueryExpr) typ() *exprType { return &nullableBool }

func (x *inSubqueryExpr) eval(c *evalCtx) (types.Value, error) {
	v, err := x.e.eval(c)
	if err != nil || v.IsNull() {
		return types.Null, err
	}
	if err := x.sub.load(c); err != nil {
		return types.Null, err
	}
	sawNull := false
	for _, r := range x.sub.rows {
		w := r[0]
		if w.IsNull() {
			sawNull = true
			continue
		}
		if types.Compare(v, w, x.coll) == 0 {
			return types.NewBool(!x.not), nil
		}
	}
	if sawNull {
		return types.Null, nil
	}
	return types.NewBool(x.not), nil
}

// compileSetOpr compiles UNION [ALL] (INTERSECT/EXCEPT answer 1235).
func (s *Session) compileSetOpr(x *ast.SetOprStmt, params []Value, outer *outerBox) (*resultSet, error) {
	if x.With != nil {
		return nil, errNotSupported("WITH")
	}
	var parts []*resultSet
	var distinct []bool
	var walk func(l *ast.SetOprSelectList) error
	walk = func(l *ast.SetOprSelectList) error {
		if l.OrderBy != nil || l.Limit != nil {
			return errNotSupported("ORDER BY/LIMIT inside a parenthesized UNION part")
		}
		for _, n := range l.Selects {
			var op *ast.SetOprType
			switch sel := n.(type) {
			case *ast.SelectStmt:
				op = sel.AfterSetOperator
				rs, err := s.compileResultSet(sel, params, outer)
				if err != nil {
					return err
				}
				parts = append(parts, rs)
			case *ast.SetOprSelectList:
				op = sel.AfterSetOperator
				if err := walk(sel); err != nil {
					return err
				}
				continue
			default:
				return errNotSupported("this UNION part")
			}
			if len(parts) > 1 {
				if op == nil || (*op != ast.Union && *op != ast.UnionAll) {
					return errNotSupported("INTERSECT/EXCEPT")
				}
				distinct = append(distinct, *op == ast.Union)
			}
		}
		return nil
	}
	if err := walk(x.SelectList); err != nil {
		return nil, err
	}
	width := len(parts[0].cols)
	for _, p := range parts[1:] {
		if len(p.cols) != width {
			return nil, newErr(ErWrongNumberOfColumns, "The used SELECT statements have a different number of columns")
		}
	}
	// Result types merge across the parts; names come from the first part.
	rs := &resultSet{cols: append([]Column(nil), parts[0].cols...), ets: make([]exprType, width)}
	for i := 0; i < width; i++ {
		var es []expr
		for _, p := range parts {
			es = append(es, &constTyped{et: p.ets[i]})
		}
		rs.ets[i] = mergeTypes(es)
		name := rs.cols[i].Name
		rs.cols[i] = s.columnMeta(&rs.ets[i], name, nil)
	}
	// ORDER BY over the union: positions or result column names.
	type ob struct {
		pos  int
		desc bool
	}
	var order []ob
	if x.OrderBy != nil {
		for _, item := range x.OrderBy.Items {
			if pos, ok := positionOf(item.Expr); ok {
				if pos < 1 || pos > width {
					return nil, errUnknownColumn(itoa(pos), "ORDER BY")
				}
				order = append(order, ob{pos - 1, item.Desc})
				continue
			}
			cn, ok := item.Expr.(*ast.ColumnNameExpr)
			if !ok {
				return nil, errNotSupported("expressions in ORDER BY of a UNION")
			}
			found := -1
			for i, c := range rs.cols {
				if strings.EqualFold(c.Name, cn.Name.Name.O) {
					found = i
					break
				}
			}
			if found < 0 {
				return nil, errUnknownColumn(cn.Name.Name.O, "ORDER BY")
			}
			order = append(order, ob{found, item.Desc})
		}
	}
	limit, offset := int64(-1), int64(0)
	if x.Limit != nil {
		lc := &compiler{s: s, sc: &scope{}, params: params}
		var err error
		if x.Limit.Count != nil {
			if limit, err = limitValue(lc, x.Limit.Count); err != nil {
				return nil, err
			}
		}
		if x.Limit.Offset != nil {
			if offset, err = limitValue(lc, x.Limit.Offset); err != nil {
				return nil, err
			}
		}
	}
	rs.run = func(ctx context.Context, t *storage.Txn) ([][]types.Value, error) {
		var acc [][]types.Value
		for i, p := range parts {
			rows, err := p.run(ctx, t)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				for j := range r {
					r[j] = coerce(r[j], &rs.ets[j].ft)
				}
			}
			acc = append(acc, rows...)
			if i > 0 && distinct[i-1] {
				acc = dedupeRows(acc, rs.ets)
			}
		}
		if len(order) > 0 {
			sortSliceStableRows(acc, func(a, b []types.Value) bool {
				for _, o := range order {
					d := compareForSort(a[o.pos], b[o.pos], collOfType(&rs.ets[o.pos]))
					if d == 0 {
						continue
					}
					return (d < 0) != o.desc
				}
				return false
			})
		}
		if offset > 0 {
			if offset >= int64(len(acc)) {
				acc = nil
			} else {
				acc = acc[offset:]
			}
		}
		if limit >= 0 && int64(len(acc)) > limit {
			acc = acc[:limit]
		}
		return acc, nil
	}
	return rs, nil
}

// constTyped carries a static type for type merging.
type constTyped struct{ et exprType }

func (x *constTyped) eval(*evalCtx) (types.Value, error) { return types.Null, nil }
func (x *constTyped) typ() *exprType                     { return &x.et }

func collOfType(et *exprType) types.Collation { return collOf(&constTyped{et: *et}) }

func dedupeRows(rows [][]types.Value, ets []exprType) [][]types.Value {
	seen := map[string]struct{}{}
	out := rows[:0]
	for _, r := range rows {
		var k []byte
		for i, v := range r {
			k = codec.AppendKey(k, v, &ets[i].ft)
		}
		if _, dup := seen[string(k)]; dup {
			continue
		}
		seen[string(k)] = struct{}{}
		out = append(out, r)
	}
	return out
}

// execSetOpr runs a top-level UNION.
func (s *Session) execSetOpr(ctx context.Context, x *ast.SetOprStmt, params []Value) (*Result, error) {
	rs, err := s.compileSetOpr(x, params, nil)
	if err != nil {
		return nil, err
	}
	t, end := s.readTxn()
	defer end()
	s.curTxn, s.curCtx = t, ctx
	defer func() { s.curTxn, s.curCtx = nil, nil }()
	rows, err := rs.run(ctx, t)
	if err != nil {
		return nil, err
	}
	return &Result{Columns: rs.cols, Rows: rows}, nil
}

// derivedTable turns a FROM-clause subquery into a virtual table evaluated once per statement.
func (s *Session) derivedTable(sel ast.ResultSetNode, alias string, params []Value) (*fromTable, error) {
	if alias == "" {
		// MariaDB's grammar requires the alias, so this is a syntax error there.
		return nil, newErr(ErParse, "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '' at line 1")
	}
	rs, err := s.compileResultSet(sel, params, nil)
	if err != nil {
		return nil, err
	}
	vt := &virtualTable{}
	seen := map[string]bool{}
	for i, c := range rs.cols {
		if seen[strings.ToLower(c.Name)] {
			return nil, newErr(ErDupFieldName, "Duplicate column name '%s'", c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
		vt.cols = append(vt.cols, virtCol{name: c.Name, et: rs.ets[i]})
	}
	var cached [][]types.Value
	done := false
	vt.rows = func(s *Session) ([][]types.Value, error) {
		if done {
			return cached, nil
		}
		t, end := s.subqueryTxn()
		defer end()
		ctx := s.curCtx
		if ctx == nil {
			ctx = context.Background()
		}
		rows, err := rs.run(ctx, t)
		if err != nil {
			return nil, err
		}
		cached, done = rows, true
		return rows, nil
	}
	return &fromTable{name: alias, virt: vt}, nil
}
