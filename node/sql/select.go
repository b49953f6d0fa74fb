package sql

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/types"
	"github.com/maxproxy/maxproxy/node/storage"
)

// fromTable is one table of a FROM clause.
type fromTable struct {
	db, name, alias string
	tbl             *catalog.Table // stored table
	virt            *virtualTable  // information_schema / mysql tables
	off, ncols      int
	left            bool   // LEFT JOIN: null-extended when nothing matches
	access          []expr // conditions usable to choose the access path (ON, and WHERE for inner joins)
	onFilter        []expr // LEFT JOIN: ON conditions (decide matching)
	filter          []expr // conditions checked once this table's row is in place
	plan            *accessPlan
	need            *colMask // stored columns the query reads; nil: all (colneed.go)
	display         int      // position for SELECT * (differs from join order for RIGHT JOIN)
}

// queryPlan is a compiled SELECT.
type queryPlan struct {
	tables   []*fromTable
	width    int // flat row width: table columns then projected fields
	fields   []expr
	cols     []Column
	hidden   int // trailing fields that are not returned (ORDER BY helpers)
	aggs     []*aggCall
	grouped  bool
	groupBy  []expr
	having   expr
	order    []orderItem
	distinct bool
	limit    int64 // -1: none
	offset   int64
	params   []Value // statement parameters, for subqueries in FROM
	lock     lockMode
	constOK  []expr // conditions without column references
}

type orderItem struct {
	e    expr
	desc bool
	pos  int // >=0: projected field index
	coll types.Collation
}

func (s *Session) execSelect(ctx context.Context, x *ast.SelectStmt, sqlText string, params []Value) (*Result, error) {
	qp, err := s.selectPlan(x, sqlText, params)
	if err != nil {
		return nil, err
	}
	var t *storage.Txn
	end := func() {}
	if qp.lock != lockNone && !s.inTxn && s.autocommit() {
		// An autocommit locking read holds its row locks only for the statement; it writes nothing.
		lt := s.beginTxn(false)
		defer lt.Rollback()
		t = lt
	} else if len(qp.tables) > 0 {
		t, end = s.readTxn()
	}
	defer end()
	s.curTxn, s.curCtx = t, ctx
	rows, err := s.runSelect(ctx, t, qp)
	s.curTxn, s.curCtx = nil, nil
	if err != nil {
		// A SELECT wrote nothing, so there is nothing of its own to undo; a deadlock still ends the
		// whole transaction.
		if s.inTxn && txnFatal(err) {
			s.rollbackTxn()
		}
		return nil, err
	}
	s.foundRows = int64(len(rows))
	return &Result{Columns: qp.cols, Rows: rows}, nil
}

func (s *Session) compileSelect(x *ast.SelectStmt, sqlText string, params []Value) (*queryPlan, error) {
	return s.compileSelectIn(x, sqlText, params, nil)
}

// compileSelectIn compiles a SELECT; outer is set for a subquery that may read its enclosing query's row.
func (s *Session) compileSelectIn(x *ast.SelectStmt, sqlText string, params []Value, outer *outerBox) (*queryPlan, error) {
	if x.With != nil {
		return nil, errNotSupported("WITH")
	}
	if x.Kind != ast.SelectStmtKindSelect {
		return nil, errNotSupported("TABLE/VALUES statements")
	}
	if x.SelectIntoOpt != nil {
		return nil, errNotSupported("SELECT ... INTO")
	}
	if x.WindowSpecs != nil {
		return nil, errNotSupported("WINDOW")
	}
	qp := &queryPlan{limit: -1, params: params}
	sc := &scope{}
	if x.From != nil {
		if err := checkAliases(x.From.TableRefs, map[string]bool{}); err != nil {
			return nil, err
		}
		if err := s.buildFromIn(x.From.TableRefs, qp, sc, outer); err != nil {
			return nil, err
		}
	}
	if x.LockInfo != nil {
		switch x.LockInfo.LockType {
		case ast.SelectLockForUpdate:
			qp.lock = lockExclusive
		case ast.SelectLockForShare:
			qp.lock = lockShared
		case ast.SelectLockNone:
		default:
			return nil, errNotSupported("this locking clause")
		}
	}
	cp := &compiler{s: s, sc: sc, params: params, outer: outer}
	// WHERE
	if x.Where != nil {
		cp.clause = "WHERE"
		w, err := cp.compile(x.Where)
		if err != nil {
			return nil, err
		}
		qp.assignConds(splitAnd(w, nil), false)
	}
	// Select list
	var aggs []*aggCall
	cp.aggs = &aggs
	cp.clause = "SELECT"
	type fieldSrc struct {
		node ast.ExprNode
		name string
	}
	var srcs []fieldSrc
	for _, f := range x.Fields.Fields {
		if f.WildCard != nil {
			n := 0
			ordered := append([]*fromTable(nil), qp.tables...)
			sort.Slice(ordered, func(i, j int) bool { return ordered[i].display < ordered[j].display })
			for _, ft := range ordered {
				if f.WildCard.Table.L != "" && (ft.alias != f.WildCard.Table.O || (f.WildCard.Schema.L != "" && ft.db != f.WildCard.Schema.O)) {
					continue
				}
				for i := 0; i < ft.ncols; i++ {
					c := sc.cols[ft.off+i]
					if c.hidden {
						continue
					}
					sc.markUsed(c.idx)
					qp.fields = append(qp.fields, &colRef{idx: c.idx, et: c.et})
					qp.cols = append(qp.cols, s.columnMeta(&c.et, c.name, &c))
					srcs = append(srcs, fieldSrc{name: c.name})
					n++
				}
			}
			if n == 0 {
				if f.WildCard.Table.L != "" {
					return nil, newErr(ErBadTable, "Unknown table '%s'", f.WildCard.Table.O)
				}
				return nil, newErr(1096, "No tables used")
			}
			continue
		}
		e, err := cp.compile(f.Expr)
		if err != nil {
			return nil, err
		}
		name := f.AsName.O
		var src *scopeCol
		if cn, ok := f.Expr.(*ast.ColumnNameExpr); ok {
			src, _ = sc.resolve(cn.Name.Schema.O, cn.Name.Table.O, cn.Name.Name.O, "SELECT")
			if name == "" {
				name = cn.Name.Name.O
				if src != nil && qp.viewColumn(src.idx) {
					name = src.name
				}
			}
		}
		if name == "" {
			name = exprName(f, sqlText)
		}
		qp.fields = append(qp.fields, e)
		col := s.columnMeta(e.typ(), mb3Name(name), src)
		if src == nil {
			col.OrgName = ""
		} else if f.AsName.O != "" {
			col.OrgName = src.name
		}
		qp.cols = append(qp.cols, col)
		srcs = append(srcs, fieldSrc{node: f.Expr, name: name})
	}
	nTableCols := len(sc.cols)
	// Aliases visible to GROUP BY / HAVING / ORDER BY.
	aliasIdx := map[string]int{}
	for i, fs := range srcs {
		if _, dup := aliasIdx[strings.ToLower(fs.name)]; !dup {
			aliasIdx[strings.ToLower(fs.name)] = i
		}
	}
	// GROUP BY
	if x.GroupBy != nil {
		cp.clause = "GROUP BY"
		inner := *cp
		inner.aggs = nil
		for _, item := range x.GroupBy.Items {
			node := item.Expr
			if pos, ok := positionOf(node); ok {
				if pos < 1 || pos > len(srcs) || srcs[pos-1].node == nil {
					if pos >= 1 && pos <= len(srcs) {
						qp.groupBy = append(qp.groupBy, qp.fields[pos-1])
						continue
					}
					return nil, errUnknownColumn(itoa(pos), "GROUP BY")
				}
				node = srcs[pos-1].node
			} else if cn, ok := node.(*ast.ColumnNameExpr); ok && cn.Name.Table.L == "" {
				if _, err := sc.resolve("", "", cn.Name.Name.O, "GROUP BY"); err != nil {
					if i, ok := aliasIdx[cn.Name.Name.L]; ok && srcs[i].node != nil {
						node = srcs[i].node
					}
				}
			}
			e, err := inner.compile(node)
			if err != nil {
				if me, ok := err.(*Error); ok && me.Code == ErInvalidGroupFuncUse {
					return nil, newErr(1056, "Can't group on '%s'", restoreText(node))
				}
				return nil, err
			}
			qp.groupBy = append(qp.groupBy, e)
		}
	}
	if x.Having != nil {
		cp.clause = "HAVING"
		h, err := s.compileWithAliases(cp, x.Having.Expr, aliasIdx, nTableCols, qp.fields)
		if err != nil {
			return nil, err
		}
		qp.having = h
	}
	if x.OrderBy != nil {
		cp.clause = "ORDER BY"
		for _, item := range x.OrderBy.Items {
			oi := orderItem{desc: item.Desc, pos: -1}
			if pos, ok := positionOf(item.Expr); ok {
				if pos < 1 || pos > len(qp.fields) {
					return nil, errUnknownColumn(itoa(pos), "ORDER BY")
				}
				oi.pos = pos - 1
				oi.coll = collOf(qp.fields[pos-1])
				qp.order = append(qp.order, oi)
				continue
			}
			e, err := s.compileWithAliases(cp, item.Expr, aliasIdx, nTableCols, qp.fields)
			if err != nil {
				return nil, err
			}
			oi.e = e
			oi.coll = collOf(e)
			qp.order = append(qp.order, oi)
		}
	}
	qp.aggs = aggs
	qp.grouped = len(aggs) > 0 || x.GroupBy != nil
	qp.distinct = x.Distinct
	qp.width = nTableCols + len(qp.fields)
	if x.Limit != nil {
		lc := &compiler{s: s, sc: &scope{}, params: params, clause: "limit"}
		if x.Limit.Count != nil {
			n, err := limitValue(lc, x.Limit.Count)
			if err != nil {
				return nil, err
			}
			qp.limit = n
		}
		if x.Limit.Offset != nil {
			n, err := limitValue(lc, x.Limit.Offset)
			if err != nil {
				return nil, err
			}
			qp.offset = n
		}
	}
	// Access paths.
	for _, ft := range qp.tables {
		if ft.tbl != nil {
			ft.plan = planAccess(ft.tbl, ft.off, ft.access)
		}
	}
	qp.orderByIndex()
	qp.setNeeded(sc)
	return qp, nil
}

// compileWithAliases compiles an expression where unqualified names prefer select-list aliases
// (MySQL's HAVING/ORDER BY resolution).
func (s *Session) compileWithAliases(cp *compiler, n ast.ExprNode, aliasIdx map[string]int, base int, fields []expr) (expr, error) {
	inner := *cp
	inner.aliases = make(map[string]expr, len(aliasIdx))
	for name, i := range aliasIdx {
		inner.aliases[name] = &aliasRef{idx: base + i, et: *fields[i].typ()}
	}
	return inner.compile(n)
}

// aliasRef reads a projected field (its type is resolved lazily from the plan's field list).
type aliasRef struct {
	idx int
	et  exprType
}

func (x *aliasRef) eval(c *evalCtx) (types.Value, error) { return c.row[x.idx], nil }
func (x *aliasRef) typ() *exprType                       { return &x.et }

func positionOf(n ast.ExprNode) (int, bool) {
	if p, ok := n.(*ast.PositionExpr); ok && p.P == nil {
		return p.N, true
	}
	if v, ok := n.(*driver.ValueExpr); ok {
		switch v.Datum.Kind() {
		case driver.KindInt64:
			return int(v.Datum.GetInt64()), true
		case driver.KindUint64:
			return int(v.Datum.GetUint64()), true
		}
	}
	return 0, false
}

func limitValue(cp *compiler, n ast.ExprNode) (int64, error) {
	e, err := cp.compile(n)
	if err != nil {
		return 0, err
	}
	v, err := e.eval(&evalCtx{s: cp.s})
	if err != nil {
		return 0, err
	}
	if v.Kind() != types.KindInt && v.Kind() != types.KindUint {
		return 0, newErr(ErWrongArguments, "Incorrect arguments to LIMIT")
	}
	u, _ := types.ToUint(v)
	if u > 1<<62 {
		u = 1 << 62
	}
	return int64(u), nil
}

func itoa(i int) string { return types.NewInt(int64(i)).String() }

// exprName is MariaDB's name for an unaliased select expression.
func exprName(f *ast.SelectField, sqlText string) string {
	inner, parens := f.Expr, 0
	for {
		p, ok := inner.(*ast.ParenthesesExpr)
		if !ok {
			break
		}
		inner, parens = p.Expr, parens+1
	}
	if v, ok := inner.(*driver.ValueExpr); ok {
		switch v.Datum.Kind() {
		case driver.KindString:
			return v.Datum.GetString()
		case driver.KindNull:
			return "NULL"
		}
	}
	// The parser records each unaliased field's own text (up to the next token); its offsets are
	// relative to the whole COM_QUERY, which in a multi-statement query is not sqlText.
	t := fieldText(f.Text(), 0)
	if t == "" {
		t = fieldText(sqlText, f.Offset)
	}
	if t == "" {
		return restoreText(f.Expr)
	}
	if _, literal := inner.(*driver.ValueExpr); literal {
		// A parenthesized literal is named after the literal itself.
		for ; parens > 0 && strings.HasPrefix(t, "(") && strings.HasSuffix(t, ")"); parens-- {
			t = strings.TrimSpace(t[1 : len(t)-1])
		}
	}
	return t
}

// buildFrom flattens the FROM clause (left-deep joins of base tables).
func (s *Session) buildFrom(n ast.ResultSetNode, qp *queryPlan, sc *scope) error {
	return s.buildFromIn(n, qp, sc, nil)
}

func (s *Session) buildFromIn(n ast.ResultSetNode, qp *queryPlan, sc *scope, outer *outerBox) error {
	switch x := n.(type) {
	case *ast.Join:
		if x.Left == nil {
			return errNotSupported("empty join")
		}
		if x.NaturalJoin {
			return errNotSupported("NATURAL JOIN")
		}
		if x.Right == nil {
			return s.buildFromIn(x.Left, qp, sc, outer)
		}
		if _, ok := x.Right.(*ast.Join); ok {
			return errNotSupported("nested join on the right side")
		}
		left, right := x.Left, x.Right
		if x.Tp == ast.RightJoin {
			// A RIGHT JOIN B is B LEFT JOIN A; SELECT * still lists A's columns first.
			if _, ok := x.Left.(*ast.Join); ok {
				return errNotSupported("RIGHT JOIN after another join")
			}
			left, right = x.Right, x.Left
		}
		first := len(qp.tables)
		if err := s.buildFromIn(left, qp, sc, outer); err != nil {
			return err
		}
		if err := s.buildFromIn(right, qp, sc, outer); err != nil {
			return err
		}
		ft := qp.tables[len(qp.tables)-1]
		ft.left = x.Tp == ast.LeftJoin || x.Tp == ast.RightJoin
		if x.Tp == ast.RightJoin {
			qp.tables[first].display, ft.display = ft.display, qp.tables[first].display
		}
		var conds []expr
		if len(x.Using) > 0 {
			// USING (c): ON left.c = right.c, and the right-hand c is neither listed by * nor ambiguous.
			for _, cn := range x.Using {
				l, r := -1, -1
				for i := range sc.cols {
					c := &sc.cols[i]
					if !strings.EqualFold(c.name, cn.Name.O) || c.hidden {
						continue
					}
					if c.idx >= ft.off {
						r = i
					} else {
						l = i
					}
				}
				if l < 0 || r < 0 {
					return errUnknownColumn(cn.Name.O, "FROM")
				}
				lc, rc := &sc.cols[l], &sc.cols[r]
				sc.markUsed(lc.idx)
				sc.markUsed(rc.idx)
				conds = append(conds, &cmpExpr{op: opcode.EQ, l: &colRef{idx: lc.idx, et: lc.et}, r: &colRef{idx: rc.idx, et: rc.et}, coll: collOf(&colRef{et: lc.et}, &colRef{et: rc.et})})
				if x.Tp == ast.RightJoin {
					lc.hidden = true
				} else {
					rc.hidden = true
				}
			}
		}
		if x.On != nil {
			cp := &compiler{s: s, sc: sc, clause: "ON", outer: outer, params: qp.params}
			e, err := cp.compile(x.On.Expr)
			if err != nil {
				return err
			}
			conds = splitAnd(e, conds)
		}
		if len(conds) > 0 {
			qp.assignConds(conds, true)
		}
		return nil
	case *ast.TableSource:
		var ft *fromTable
		var err error
		alias := x.AsName.O
		switch src := x.Source.(type) {
		case *ast.TableName:
			if alias == "" {
				alias = src.Name.O
			}
			for _, other := range qp.tables {
				if other.alias == alias {
					return newErr(ErNonUniqTable, "Not unique table/alias: '%s'", alias)
				}
			}
			ft, err = s.openTable(src)
		case *ast.SelectStmt, *ast.SetOprStmt:
			ft, err = s.derivedTable(src, alias, qp.params)
		default:
			return errNotSupported("this table source")
		}
		if err != nil {
			return err
		}
		for _, other := range qp.tables {
			if other.alias == alias {
				return newErr(ErNonUniqTable, "Not unique table/alias: '%s'", alias)
			}
		}
		ft.alias = alias
		ft.off = len(sc.cols)
		if ft.tbl != nil {
			ft.ncols = len(ft.tbl.Columns)
			for _, c := range ft.tbl.Columns {
				sc.add(scopeCol{db: ft.db, table: alias, name: c.Name, et: exprType{ft: c.Type, notNull: c.NotNull}, col: c, idx: len(sc.cols)})
			}
		} else {
			ft.ncols = len(ft.virt.cols)
			for _, c := range ft.virt.cols {
				sc.add(scopeCol{db: ft.db, table: alias, name: c.name, et: c.et, idx: len(sc.cols)})
			}
		}
		ft.display = len(qp.tables)
		qp.tables = append(qp.tables, ft)
		return nil
	case *ast.SelectStmt, *ast.SetOprStmt:
		return errNotSupported("derived tables")
	}
	return errNotSupported("this FROM clause")
}

// viewColumn reports whether flat-row column idx belongs to a table MariaDB implements as a view.
func (qp *queryPlan) viewColumn(idx int) bool {
	for _, ft := range qp.tables {
		if idx >= ft.off && idx < ft.off+ft.ncols {
			return ft.virt != nil && ft.virt.view
		}
	}
	return false
}

// openTable resolves a table name and checks the SELECT privilege.
func (s *Session) openTable(tn *ast.TableName) (*fromTable, error) {
	db := tn.Schema.O
	if db == "" {
		db = s.db
		if db == "" {
			return nil, newErr(ErNoDB, "No database selected")
		}
	}
	if vt := s.virtualTable(db, tn.Name.O); vt != nil {
		if strings.EqualFold(db, "mysql") && !s.hasPriv(db, catalog.PrivSelect) {
			return nil, s.errTableDenied("SELECT", db, tn.Name.O)
		}
		return &fromTable{db: db, name: tn.Name.O, virt: vt}, nil
	}
	if !s.hasPriv(db, catalog.PrivSelect) {
		return nil, s.errTableDenied("SELECT", db, tn.Name.O)
	}
	tbl := s.e.schema.Load().Table(db, tn.Name.O)
	if tbl == nil {
		return nil, errNoSuchTable(db, tn.Name.O)
	}
	return &fromTable{db: db, name: tn.Name.O, tbl: tbl}, nil
}

// assignConds places each conjunct at the first join level where all its columns are available.
func (qp *queryPlan) assignConds(conds []expr, fromOn bool) {
	for _, c := range conds {
		level := -1
		exprRefs(c, func(idx int) {
			if idx < 0 {
				// Not a column (a non-deterministic function): evaluate per row, once all tables are in place.
				level = len(qp.tables) - 1
				return
			}
			for i, ft := range qp.tables {
				if idx >= ft.off && idx < ft.off+ft.ncols && i > level {
					level = i
				}
			}
		})
		if level < 0 {
			if fromOn && len(qp.tables) > 0 {
				// ON with a constant condition: applies to the just-joined table.
				ft := qp.tables[len(qp.tables)-1]
				if ft.left {
					ft.onFilter = append(ft.onFilter, c)
				} else {
					ft.filter = append(ft.filter, c)
				}
				continue
			}
			qp.constOK = append(qp.constOK, c)
			continue
		}
		if fromOn {
			// ON conditions belong to the table they join (the last one when the clause was compiled).
			ft := qp.tables[len(qp.tables)-1]
			ft.access = append(ft.access, c)
			if ft.left {
				ft.onFilter = append(ft.onFilter, c)
			} else {
				ft.filter = append(ft.filter, c)
			}
			continue
		}
		ft := qp.tables[level]
		if !ft.left {
			ft.access = append(ft.access, c)
		}
		ft.filter = append(ft.filter, c)
	}
}

// orderByIndex drops the sort when a single-table query reads an index in ORDER BY order.
func (qp *queryPlan) orderByIndex() {
	if len(qp.tables) != 1 || len(qp.order) == 0 || qp.grouped || qp.distinct {
		return
	}
	ft := qp.tables[0]
	if ft.tbl == nil || ft.plan == nil {
		return
	}
	if ft.plan.ix != nil {
		if desc, ok := qp.orderMatches(ft, ft.plan.ix, ft.plan); ok {
			ft.plan.desc = desc
			qp.order = nil
		}
		return
	}
	// A full scan: the primary key order may already be the ORDER BY; with a LIMIT, a secondary index in
	// ORDER BY order is read instead (as MariaDB does), so the scan stops early.
	if pk := ft.tbl.Primary(); pk != nil {
		if desc, ok := qp.orderMatches(ft, pk, ft.plan); ok {
			ft.plan.desc = desc
			qp.order = nil
			return
		}
	}
	if qp.limit < 0 {
		return
	}
	for _, ix := range ft.tbl.Indexes {
		if ix.Primary {
			continue
		}
		if desc, ok := qp.orderMatches(ft, ix, &accessPlan{}); ok {
			ft.plan = &accessPlan{ix: ix, desc: desc}
			qp.order = nil
			return
		}
	}
}

// orderMatches reports whether reading ix through plan yields rows in ORDER BY order, and in which direction.
func (qp *queryPlan) orderMatches(ft *fromTable, ix *catalog.Index, plan *accessPlan) (desc bool, ok bool) {
	// Equality-bound leading columns (single value) can be skipped in the match.
	start := 0
	if plan.ix != nil {
		for _, vals := range plan.eq {
			if len(vals) != 1 {
				break
			}
			start++
		}
		if start < len(plan.eq) {
			return false, false
		}
	}
	// A plain secondary index orders equal keys by the primary key (its entries end with the row key).
	cols := ix.Cols
	prefixed := false
	for _, ic := range ix.Columns {
		if ic.Length > 0 {
			prefixed = true
		}
	}
	if pk := ft.tbl.Primary(); pk != nil && !ix.Primary && !ix.Unique && !prefixed {
		cols = append(append([]*catalog.Column(nil), ix.Cols...), pk.Cols...)
	}
	desc = qp.order[0].desc
	for i, oi := range qp.order {
		if oi.desc != desc {
			return false, false
		}
		e := oi.e
		if oi.pos >= 0 {
			e = qp.fields[oi.pos]
		}
		if ar, ok := e.(*aliasRef); ok {
			e = qp.fields[ar.idx-(qp.width-len(qp.fields))]
		}
		cr, ok := e.(*colRef)
		k := start + i
		if !ok || k >= len(cols) || cr.idx != ft.off+cols[k].Offset || (k < len(ix.Columns) && ix.Columns[k].Length > 0) {
			return false, false
		}
		if cols[k].Type.Class() == types.ClassString && oi.coll != cols[k].Type.Coll {
			return false, false
		}
	}
	return desc, true
}

// runSelect executes a compiled SELECT.
func (s *Session) runSelect(ctx context.Context, t *storage.Txn, qp *queryPlan) ([][]types.Value, error) {
	c := &evalCtx{s: s, row: make([]types.Value, qp.width)}
	for _, cond := range qp.constOK {
		v, err := cond.eval(c)
		if err != nil {
			return nil, err
		}
		if ok, _ := types.Truth(v); !ok {
			return s.finishEmpty(qp, c)
		}
	}
	var out [][]types.Value
	var groups map[string]*group
	var order []*group
	if qp.grouped {
		groups = map[string]*group{}
	}
	var seen *dedup
	if qp.distinct && !qp.grouped {
		seen = newDedup()
	}
	var gk []byte // group key scratch
	var slab rowSlab
	// Without ORDER BY / grouping the scan can stop once LIMIT rows are produced.
	stopAt := int64(-1)
	if !qp.grouped && len(qp.order) == 0 && qp.limit >= 0 {
		stopAt = qp.offset + qp.limit
	}
	emit := func() (bool, error) {
		if qp.grouped {
			k := gk[:0]
			for _, g := range qp.groupBy {
				v, err := g.eval(c)
				if err != nil {
					return false, err
				}
				ft := &g.typ().ft
				k = appendEqualityKey(k, coerce(v, ft), ft)
			}
			gk = k
			gr, ok := groups[string(k)]
			if !ok {
				gr = &group{first: append([]types.Value(nil), c.row...)}
				for _, a := range qp.aggs {
					gr.states = append(gr.states, newAggState(a))
				}
				groups[string(k)] = gr
				order = append(order, gr)
			}
			for _, st := range gr.states {
				if err := st.add(c); err != nil {
					return false, err
				}
			}
			return true, nil
		}
		row, keep, err := s.project(qp, c, seen, &slab)
		if err != nil || !keep {
			return true, err
		}
		out = append(out, row)
		return stopAt < 0 || int64(len(out)) < stopAt, nil
	}
	if len(qp.tables) == 0 {
		if _, err := emit(); err != nil {
			return nil, err
		}
	} else if err := s.joinLevel(ctx, t, qp, 0, c, emit); err != nil {
		return nil, err
	}
	if qp.grouped {
		if len(order) == 0 && len(qp.groupBy) == 0 {
			// Aggregates over no rows still produce one row.
			gr := &group{first: make([]types.Value, qp.width)}
			for _, a := range qp.aggs {
				gr.states = append(gr.states, newAggState(a))
			}
			order = append(order, gr)
		}
		if qp.distinct {
			seen = newDedup()
		}
		for _, gr := range order {
			copy(c.row, gr.first)
			c.aggVals = c.aggVals[:0]
			for _, st := range gr.states {
				c.aggVals = append(c.aggVals, st.result())
			}
			row, keep, err := s.project(qp, c, seen, &slab)
			if err != nil {
				return nil, err
			}
			if keep {
				out = append(out, row)
			}
		}
	}
	return qp.finish(out), nil
}

type group struct {
	first  []types.Value
	states []*aggState
}

func (s *Session) finishEmpty(qp *queryPlan, c *evalCtx) ([][]types.Value, error) {
	if qp.grouped && len(qp.groupBy) == 0 {
		c.aggVals = c.aggVals[:0]
		for _, a := range qp.aggs {
			c.aggVals = append(c.aggVals, newAggState(a).result())
		}
		row, keep, err := s.project(qp, c, nil, nil)
		if err != nil || !keep {
			return nil, err
		}
		return qp.finish([][]types.Value{row}), nil
	}
	return nil, nil
}

// project computes the output fields (plus ORDER BY keys) of the current row; keep=false when HAVING or
// DISTINCT drops it.
func (s *Session) project(qp *queryPlan, c *evalCtx, seen *dedup, slab *rowSlab) ([]types.Value, bool, error) {
	base := qp.width - len(qp.fields)
	for i, f := range qp.fields {
		v, err := f.eval(c)
		if err != nil {
			return nil, false, err
		}
		c.row[base+i] = coerce(v, &f.typ().ft)
	}
	if qp.having != nil {
		v, err := qp.having.eval(c)
		if err != nil {
			return nil, false, err
		}
		if ok, _ := types.Truth(v); !ok {
			return nil, false, nil
		}
	}
	n := len(qp.fields)
	row := slab.alloc(n, n+len(qp.order))
	copy(row, c.row[base:])
	if seen != nil && !seen.add(qp, row) {
		return nil, false, nil
	}
	for _, oi := range qp.order {
		if oi.pos >= 0 {
			row = append(row, row[oi.pos])
			continue
		}
		v, err := oi.e.eval(c)
		if err != nil {
			return nil, false, err
		}
		row = append(row, v)
	}
	return row, true, nil
}

// finish sorts, applies LIMIT/OFFSET and strips ORDER BY keys.
func (qp *queryPlan) finish(rows [][]types.Value) [][]types.Value {
	n := len(qp.fields)
	if len(qp.order) > 0 {
		sortRows(rows, n, qp.order)
	}
	if qp.offset > 0 {
		if qp.offset >= int64(len(rows)) {
			rows = nil
		} else {
			rows = rows[qp.offset:]
		}
	}
	if qp.limit >= 0 && int64(len(rows)) > qp.limit {
		rows = rows[:qp.limit]
	}
	for i := range rows {
		rows[i] = rows[i][:n:n]
	}
	return rows
}

// sortRows orders rows by their ORDER BY keys (stored from column n on). Collated string keys are turned
// into weight strings once per row instead of being re-collated on every comparison.
func sortRows(rows [][]types.Value, n int, order []orderItem) {
	weights := make([][][]byte, len(order))
	for k, oi := range order {
		all := true
		for _, r := range rows {
			if v := r[n+k]; !v.IsNull() && v.Kind() != types.KindString {
				all = false
				break
			}
		}
		if !all || oi.coll == types.CollationBinary {
			continue
		}
		// One buffer holds every row's weights (at most two bytes per input byte); a weight string is
		// never appended to once its successor starts.
		size := 0
		for _, r := range rows {
			size += 2 * len(r[n+k].Str())
		}
		buf := make([]byte, 0, size)
		ws := make([][]byte, len(rows))
		for i, r := range rows {
			if v := r[n+k]; !v.IsNull() {
				start := len(buf)
				buf = oi.coll.AppendWeights(buf, v.Str())
				ws[i] = buf[start:len(buf):len(buf)]
			}
		}
		weights[k] = ws
	}
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(ia, ib int) int {
		for k, oi := range order {
			var d int
			if ws := weights[k]; ws != nil {
				va, vb := rows[ia][n+k], rows[ib][n+k]
				switch {
				case va.IsNull() && vb.IsNull():
				case va.IsNull():
					d = -1
				case vb.IsNull():
					d = 1
				default:
					d = bytes.Compare(ws[ia], ws[ib])
				}
			} else {
				d = compareForSort(rows[ia][n+k], rows[ib][n+k], oi.coll)
			}
			if d == 0 {
				continue
			}
			if oi.desc {
				return -d
			}
			return d
		}
		return 0
	})
	sorted := make([][]types.Value, len(rows))
	for i, j := range idx {
		sorted[i] = rows[j]
	}
	copy(rows, sorted)
}

// compareForSort orders NULL first.
func compareForSort(a, b types.Value, coll types.Collation) int {
	switch {
	case a.IsNull() && b.IsNull():
		return 0
	case a.IsNull():
		return -1
	case b.IsNull():
		return 1
	}
	return types.Compare(a, b, coll)
}

// joinLevel runs the nested loop for table i.
func (s *Session) joinLevel(ctx context.Context, t *storage.Txn, qp *queryPlan, i int, c *evalCtx, emit func() (bool, error)) error {
	if i == len(qp.tables) {
		_, err := emit()
		return err
	}
	ft := qp.tables[i]
	stop := false
	matched := false
	check := func(conds []expr) (bool, error) {
		for _, f := range conds {
			v, err := f.eval(c)
			if err != nil {
				return false, err
			}
			if ok, _ := types.Truth(v); !ok {
				return false, nil
			}
		}
		return true, nil
	}
	visit := func(row []types.Value) (bool, error) {
		copy(c.row[ft.off:ft.off+ft.ncols], row)
		if ft.left {
			ok, err := check(ft.onFilter)
			if err != nil || !ok {
				return true, err
			}
			matched = true
		}
		ok, err := check(ft.filter)
		if err != nil || !ok {
			return true, err
		}
		if i+1 == len(qp.tables) {
			more, err := emit()
			if !more {
				stop = true
			}
			return more, err
		}
		if err := s.joinLevel(ctx, t, qp, i+1, c, func() (bool, error) {
			more, err := emit()
			if !more {
				stop = true
			}
			return more, err
		}); err != nil {
			return false, err
		}
		return !stop, nil
	}
	if ft.virt != nil {
		rows, err := ft.virt.rows(s)
		if err != nil {
			return err
		}
		for _, r := range rows {
			more, err := visit(r)
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
	} else {
		err := s.scanTable(ctx, t, ft.tbl, ft.plan, c, qp.lock, ft.need, func(key, image []byte, row []types.Value) (bool, error) {
			if c.keys != nil {
				c.keys[i], c.images[i] = key, image
			}
			return visit(row)
		})
		if err != nil {
			return err
		}
	}
	if ft.left && !matched && !stop {
		for k := ft.off; k < ft.off+ft.ncols; k++ {
			c.row[k] = types.Null
		}
		if c.keys != nil {
			c.keys[i], c.images[i] = nil, nil
		}
		ok, err := check(ft.filter)
		if err != nil {
			return err
		}
		if ok {
			if i+1 == len(qp.tables) {
				_, err := emit()
				return err
			}
			return s.joinLevel(ctx, t, qp, i+1, c, emit)
		}
	}
	return nil
}

// columnMeta builds result metadata from a static type.
func (s *Session) columnMeta(et *exprType, name string, src *scopeCol) Column {
	ft := &et.ft
	col := Column{Name: name, OrgName: name, Type: ft.Tp, Decimals: byte(max(0, min(ft.Decimals, 255)))}
	if src != nil {
		col.Table, col.OrgTable, col.DB = src.table, src.table, src.db
		if src.col != nil {
			col.OrgName = src.col.Name
		}
	}
	switch ft.Class() {
	case types.ClassString:
		if ft.Tp == mysql.TypeVarchar {
			col.Type = mysql.TypeVarString
		}
		if ft.IsBlob() {
			col.Type = mysql.TypeBlob
			if ft.Tp == mysql.TypeLongBlob && (src == nil || src.col == nil) {
				col.Type = mysql.TypeLongBlob // user variables and virtual LONGTEXT columns, as MariaDB
			}
			col.Flags |= uint16(mysql.BlobFlag)
		}
		if ft.Coll == types.CollationBinary {
			col.Charset = 63
			col.Flags |= uint16(mysql.BinaryFlag)
			col.Length = uint32(ft.MaxChars())
		} else {
			col.Charset = types.CollationIDGeneralCI
			col.Length = uint32(min(int64(ft.MaxChars())*4, 1<<32-1))
		}
		if ft.Decimals >= 31 || ft.Decimals == 0 {
			col.Decimals = 39
			if ft.Decimals == 0 {
				col.Decimals = 0
			}
		}
	case types.ClassInt:
		col.Charset = 63
		col.Flags |= uint16(mysql.NumFlag | mysql.BinaryFlag)
		col.Length = uint32(max(ft.Flen, 1))
		if src != nil && src.col != nil {
			col.Length = uint32(types.DefaultIntWidth(ft.Tp, ft.Unsigned))
			if ft.Flen > 0 {
				col.Length = uint32(ft.Flen)
			}
		}
		col.Decimals = 0
		if ft.Tp == mysql.TypeLonglong && (src == nil || src.col == nil) && ft.Flen > 0 && ft.Flen <= 9 {
			// MariaDB types an integer expression INT while its width stays within 9 characters.
			col.Type = mysql.TypeLong
		}
	case types.ClassFloat, types.ClassDecimal:
		col.Charset = 63
		col.Flags |= uint16(mysql.NumFlag | mysql.BinaryFlag)
		col.Length = uint32(max(ft.Flen, 1))
		if ft.Class() == types.ClassDecimal {
			col.Length = uint32(ft.Flen + 1)
			if ft.Decimals > 0 {
				col.Length++
			}
		} else if ft.Decimals >= 31 || ft.Decimals < 0 {
			// FLOAT/DOUBLE without a fixed scale print their shortest form (31 = NOT_FIXED_DEC).
			col.Decimals = 31
			col.Length = 22
			if ft.Tp == mysql.TypeFloat {
				col.Length = 12
			}
		}
	case types.ClassDate:
		col.Charset, col.Length = 63, 10
		col.Flags |= uint16(mysql.BinaryFlag)
	case types.ClassDatetime:
		col.Charset, col.Length = 63, 19
		if ft.Decimals > 0 {
			col.Length += uint32(ft.Decimals) + 1
		}
		col.Flags |= uint16(mysql.BinaryFlag)
	case types.ClassTime:
		col.Charset, col.Length = 63, 10
		if ft.Decimals > 0 {
			col.Length += uint32(ft.Decimals) + 1
		}
		col.Flags |= uint16(mysql.BinaryFlag)
	}
	if ft.Tp == mysql.TypeNull {
		col.Charset, col.Length, col.Decimals = 63, 0, 0
		col.Flags |= uint16(mysql.BinaryFlag)
	}
	if ft.Unsigned {
		col.Flags |= uint16(mysql.UnsignedFlag)
	}
	if et.notNull {
		col.Flags |= uint16(mysql.NotNullFlag)
	}
	if src != nil && src.col != nil {
		c := src.col
		if c.AutoInc {
			col.Flags |= uint16(mysql.AutoIncrementFlag)
		}
		if !c.HasDefault && c.NotNull && !c.AutoInc {
			col.Flags |= uint16(mysql.NoDefaultValueFlag)
		}
	}
	return col
}

// checkAliases reports a repeated table alias before any table is opened (MariaDB checks names first).
func checkAliases(n ast.ResultSetNode, seen map[string]bool) error {
	switch x := n.(type) {
	case *ast.Join:
		if x.Left != nil {
			if err := checkAliases(x.Left, seen); err != nil {
				return err
			}
		}
		if x.Right != nil {
			return checkAliases(x.Right, seen)
		}
	case *ast.TableSource:
		alias := x.AsName.O
		if tn, ok := x.Source.(*ast.TableName); ok && alias == "" {
			alias = tn.Name.O
		}
		if alias == "" {
			return nil
		}
		if seen[alias] {
			return newErr(ErNonUniqTable, "Not unique table/alias: '%s'", alias)
		}
		seen[alias] = true
	}
	return nil
}

// mb3Name is a result column name as MariaDB sends it: names are kept in utf8mb3, so a character
// outside the BMP (an emoji) becomes '?'.
func mb3Name(name string) string {
	for _, r := range name {
		if r > 0xFFFF {
			return strings.Map(func(r rune) rune {
				if r > 0xFFFF {
					return '?'
				}
				return r
			}, name)
		}
	}
	return name
}
