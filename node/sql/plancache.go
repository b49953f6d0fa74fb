package sql

import (
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
)

// Plan cache for prepared statements.
//
// A prepared statement arrives at Execute as the same AST every time, with new parameter values. Compiling a
// SELECT (name resolution, privilege checks, typing, access-path choice) costs more than running a point
// lookup, so the session keeps the compiled plan per statement AST and rebinds the parameters instead.
//
// Compilation turns each ? into a constant holding that execution's value, and may look at the value while
// compiling, so a plan is reused only when nothing could have depended on it:
//   - the compiler records the constant it made for each ? (recordParam); every recorded constant must still
//     be in the plan, only inside expression kinds that read their operands at run time (column references,
//     comparisons, BETWEEN, IN, AND/OR/NOT, IS NULL, plain aggregates) and in access-path bounds, which are
//     evaluated per execution. A constant folded away or wrapped in anything else makes the plan uncacheable;
//   - the plan reads only stored tables (no information_schema, derived tables or subqueries) and compiling
//     it raised no warning;
//   - reuse requires the same catalog (its pointer changes with every DDL and account change, which also
//     covers the privilege checks made while compiling), default database and account, and parameters of the
//     same types as at compile time (the display width of a parameter used only as a comparison operand does
//     not matter);
//   - any statement other than DML and transaction control (SET, USE, DDL, ...) clears the session's cache,
//     since session variables may shape compilation.
//
// Reuse binds the new values into the recorded constants; a plan is used by one execution at a time (a
// session runs one statement at a time and results are materialised before the next one).

// maxCachedStmts bounds the statements a session keeps plans for (prepared statements closed by the client
// stay until the cache is cleared); maxPlanVariants bounds the parameter-type variants per statement.
const (
	maxCachedStmts  = 256
	maxPlanVariants = 4
)

type planCache struct {
	stmts     map[ast.StmtNode]*stmtPlans
	recording *[]paramSlot // set while compiling a plan that may be cached
}

type stmtPlans struct {
	numParams int
	variants  []*cachedPlan
	next      int // variant to replace when full
}

type paramSlot struct {
	c     *constExpr
	order int
	exact bool // the parameter's full type matters, not only its type class for comparison
}

type cachedPlan struct {
	schema     *catalog.Schema
	db         string
	user, host string
	types      []exprType // of each parameter when compiled
	exact      []bool     // per parameter: compare the whole type, display width included
	slots      []paramSlot
	qp         *queryPlan // a SELECT's plan, or
	dml        *dmlPlan   // a single-table UPDATE's or DELETE's (dmlcache.go)
}

// recordParam is called by the compiler for the constant it made of parameter order.
func (s *Session) recordParam(c *constExpr, order int) {
	if r := s.plans.recording; r != nil {
		*r = append(*r, paramSlot{c: c, order: order})
	}
}

// observePlanCache clears the cache before any statement that may change how later statements compile.
func (s *Session) observePlanCache(stmt ast.StmtNode) {
	switch stmt.(type) {
	case *ast.SelectStmt, *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt,
		*ast.BeginStmt, *ast.CommitStmt, *ast.RollbackStmt:
		return
	}
	s.plans.stmts = nil
}

// paramCount is numberParams for a statement executed before (prepared statements: the AST does not change).
func (s *Session) paramCount(stmt ast.StmtNode) int {
	if sp := s.plans.stmts[stmt]; sp != nil {
		return sp.numParams
	}
	n := numberParams(stmt)
	s.stmtPlans(stmt).numParams = n
	return n
}

func (s *Session) stmtPlans(stmt ast.StmtNode) *stmtPlans {
	if sp := s.plans.stmts[stmt]; sp != nil {
		return sp
	}
	if s.plans.stmts == nil || len(s.plans.stmts) >= maxCachedStmts {
		s.plans.stmts = map[ast.StmtNode]*stmtPlans{}
	}
	sp := &stmtPlans{numParams: -1}
	s.plans.stmts[stmt] = sp
	return sp
}

// selectPlan compiles x, or reuses its cached plan when x is a prepared statement (it has parameters).
func (s *Session) selectPlan(x *ast.SelectStmt, sqlText string, params []Value) (*queryPlan, error) {
	if len(params) == 0 {
		return s.compileSelect(x, sqlText, params)
	}
	schema := s.e.schema.Load()
	sp := s.stmtPlans(x)
	for _, cp := range sp.variants {
		if cp.qp != nil && cp.reusable(s, schema, params) {
			for _, sl := range cp.slots {
				sl.c.v = params[sl.order]
			}
			return cp.qp, nil
		}
	}
	var slots []paramSlot
	s.plans.recording = &slots
	warnings := s.warnCount
	qp, err := s.compileSelect(x, sqlText, params)
	s.plans.recording = nil
	if err != nil || s.warnCount != warnings {
		return qp, err
	}
	if cp := newCachedPlan(s, schema, qp, slots, params); cp != nil {
		sp.add(cp)
	}
	return qp, nil
}

// add keeps cp as a variant, replacing the oldest when the statement has maxPlanVariants.
func (sp *stmtPlans) add(cp *cachedPlan) {
	if len(sp.variants) < maxPlanVariants {
		sp.variants = append(sp.variants, cp)
	} else {
		sp.variants[sp.next] = cp
		sp.next = (sp.next + 1) % maxPlanVariants
	}
}

func (cp *cachedPlan) reusable(s *Session, schema *catalog.Schema, params []Value) bool {
	if cp.schema != schema || cp.db != s.db || cp.user != s.authUser || cp.host != s.authHost ||
		len(cp.types) != len(params) {
		return false
	}
	for i := range params {
		t := typeOfValue(params[i])
		if !cp.exact[i] {
			t.ft.Flen = cp.types[i].ft.Flen
		}
		if t != cp.types[i] {
			return false
		}
	}
	return true
}

// newCachedPlan returns qp as a reusable plan, or nil when it may depend on the parameters' values.
func newCachedPlan(s *Session, schema *catalog.Schema, qp *queryPlan, slots []paramSlot, params []Value) *cachedPlan {
	cp := newCachedPlanOf(s, schema, slots, params, func(w *planWalker) { w.plan(qp) })
	if cp != nil {
		cp.qp = qp
	}
	return cp
}

// newCachedPlanOf checks a compiled statement with walk and records what its reuse depends on; nil when it
// may depend on the parameters' values.
func newCachedPlanOf(s *Session, schema *catalog.Schema, slots []paramSlot, params []Value, walk func(*planWalker)) *cachedPlan {
	w := planWalker{ok: true, slots: make(map[*constExpr]*paramSlot, len(slots)), found: map[*constExpr]bool{}}
	for i := range slots {
		w.slots[slots[i].c] = &slots[i]
	}
	walk(&w)
	if !w.ok || len(w.found) != len(slots) {
		return nil
	}
	cp := &cachedPlan{
		schema: schema, db: s.db, user: s.authUser, host: s.authHost,
		types: make([]exprType, len(params)), exact: make([]bool, len(params)),
		slots: slots,
	}
	for i := range params {
		cp.types[i] = typeOfValue(params[i])
	}
	for _, sl := range slots {
		if sl.exact {
			cp.exact[sl.order] = true
		}
	}
	return cp
}

// planWalker checks that a plan reads its parameters only where their values are used at run time.
type planWalker struct {
	ok    bool
	slots map[*constExpr]*paramSlot
	found map[*constExpr]bool
}

func (w *planWalker) plan(qp *queryPlan) {
	for _, e := range qp.fields {
		w.expr(e, false)
	}
	for _, e := range qp.groupBy {
		w.expr(e, false)
	}
	w.expr(qp.having, false)
	for _, o := range qp.order {
		w.expr(o.e, false)
	}
	for _, e := range qp.constOK {
		w.expr(e, false)
	}
	for _, a := range qp.aggs {
		switch a.name {
		case "count", "sum", "avg", "min", "max":
		default:
			w.ok = false
		}
		for _, e := range a.args {
			w.expr(e, false)
		}
	}
	for _, ft := range qp.tables {
		if ft.tbl == nil {
			w.ok = false // information_schema, mysql.* or a derived table
			return
		}
		for _, list := range [][]expr{ft.access, ft.onFilter, ft.filter} {
			for _, e := range list {
				w.expr(e, false)
			}
		}
		w.access(ft.plan)
	}
}

// access walks an access path's bounds, which are evaluated per execution.
func (w *planWalker) access(p *accessPlan) {
	if p == nil {
		return
	}
	for _, vals := range p.eq {
		for _, e := range vals {
			w.expr(e, true)
		}
	}
	w.expr(p.lo, true)
	w.expr(p.hi, true)
	for _, b := range p.or {
		w.expr(b.lo, true)
		w.expr(b.hi, true)
	}
}

// expr walks e; operand says e is compared by value (its display width does not matter).
func (w *planWalker) expr(e expr, operand bool) {
	if !w.ok || e == nil {
		return
	}
	switch x := e.(type) {
	case *constExpr:
		if sl := w.slots[x]; sl != nil {
			w.found[x] = true
			if !operand {
				sl.exact = true
			}
		}
	case *colRef, *aliasRef, *aggRef:
	case *cmpExpr:
		w.expr(x.l, true)
		w.expr(x.r, true)
	case *betweenExpr:
		w.expr(x.e, true)
		w.expr(x.lo, true)
		w.expr(x.hi, true)
	case *inExpr:
		w.expr(x.e, true)
		for _, l := range x.list {
			w.expr(l, true)
		}
	case *logicExpr:
		w.expr(x.l, false)
		w.expr(x.r, false)
	case *arithExpr:
		// Its class and result type come from the operands' types, which must match exactly on reuse.
		w.expr(x.l, false)
		w.expr(x.r, false)
	case *notExpr:
		w.expr(x.e, false)
	case *isNullExpr:
		w.expr(x.e, false)
	default:
		w.ok = false
	}
}
