package sql

import (
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
)

// Prepared single-table UPDATE and DELETE reuse their compiled SET expressions, WHERE conditions, ORDER BY
// and access path under the same rules as a SELECT's plan (plancache.go): every parameter constant is
// still in the compiled statement where it is read at run time, compiling raised no warning, and the
// catalog, table definition, default database, account and parameter types are unchanged. What must
// happen on every execution still does: the metadata lock and table lookup, the privilege check, the
// LIMIT value and sql_mode's strictness.

// matchPlan is a compiled single-table WHERE and ORDER BY with its access path.
type matchPlan struct {
	conds []expr
	order []orderItem
	plan  *accessPlan
}

// dmlPlan is a compiled single-table UPDATE (setCols/setExprs) or DELETE.
type dmlPlan struct {
	tbl      *catalog.Table
	setCols  []*catalog.Column
	setExprs []expr
	match    *matchPlan
	// cacheable is false when compiling read state other than the parameters (SET c = DEFAULT can be
	// the current time).
	cacheable bool
}

// dmlPlanFor compiles a single-table UPDATE or DELETE on tbl with compile, or reuses its plan when stmt is a
// prepared statement (it has parameters) executed before under the same conditions.
func (s *Session) dmlPlanFor(stmt ast.StmtNode, tbl *catalog.Table, params []Value, compile func() (*dmlPlan, error)) (*dmlPlan, error) {
	if len(params) == 0 {
		return compile()
	}
	schema := s.e.schema.Load()
	sp := s.stmtPlans(stmt)
	for _, cp := range sp.variants {
		if cp.dml != nil && cp.dml.tbl == tbl && cp.reusable(s, schema, params) {
			for _, sl := range cp.slots {
				sl.c.v = params[sl.order]
			}
			return cp.dml, nil
		}
	}
	var slots []paramSlot
	s.plans.recording = &slots
	warnings := s.warnCount
	dp, err := compile()
	s.plans.recording = nil
	if err != nil || s.warnCount != warnings || !dp.cacheable {
		return dp, err
	}
	cp := newCachedPlanOf(s, schema, slots, params, func(w *planWalker) {
		for _, e := range dp.setExprs {
			w.expr(e, false)
		}
		for _, e := range dp.match.conds {
			w.expr(e, false)
		}
		for _, o := range dp.match.order {
			w.expr(o.e, false)
		}
		w.access(dp.match.plan)
	})
	if cp != nil {
		cp.dml = dp
		sp.add(cp)
	}
	return dp, nil
}
