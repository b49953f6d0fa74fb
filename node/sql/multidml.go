package sql

import (
	"context"
	"fmt"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/types"
	"github.com/maxproxy/maxproxy/node/storage"
)

// Multi-table UPDATE and DELETE run the join as a locking SELECT, collect each target row once (by row
// key), then change the targets.

type joinedTarget struct {
	ft     *fromTable
	index  int
	seen   map[string]bool
	keys   [][]byte
	images [][]byte
	rows   [][]types.Value // the target's own columns
	joined [][]types.Value // the whole joined row, for SET expressions
}

// joinForDML compiles FROM + WHERE of a multi-table statement and runs it with locking reads.
func (s *Session) joinForDML(ctx context.Context, t *storage.Txn, refs *ast.TableRefsClause, where ast.ExprNode,
	params []Value, targets func(qp *queryPlan) ([]*joinedTarget, error), need catalog.Privileges, verb string) (*queryPlan, *scope, []*joinedTarget, error) {
	if refs == nil || refs.TableRefs == nil {
		return nil, nil, nil, errNotSupported(verb + " without tables")
	}
	qp := &queryPlan{limit: -1, lock: lockExclusive, params: params}
	sc := &scope{}
	if err := s.buildFrom(refs.TableRefs, qp, sc); err != nil {
		return nil, nil, nil, err
	}
	tgs, err := targets(qp)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, tg := range tgs {
		if tg.ft.tbl == nil {
			return nil, nil, nil, s.errTableDenied(verb, tg.ft.db, tg.ft.name)
		}
		if !s.hasPriv(tg.ft.db, need) {
			return nil, nil, nil, s.errTableDenied(verb, tg.ft.db, tg.ft.name)
		}
		if err := s.lockTableForWrite(ctx, tg.ft.db, tg.ft.name); err != nil {
			return nil, nil, nil, err
		}
		if cur := s.e.schema.Load().Table(tg.ft.db, tg.ft.name); cur != tg.ft.tbl {
			return nil, nil, nil, newErr(ErDeadlock, "Deadlock found when trying to get lock; try restarting transaction")
		}
	}
	if where != nil {
		cp := &compiler{s: s, sc: sc, params: params, clause: "WHERE"}
		w, err := cp.compile(where)
		if err != nil {
			return nil, nil, nil, err
		}
		qp.assignConds(splitAnd(w, nil), false)
	}
	qp.width = len(sc.cols)
	for _, ft := range qp.tables {
		if ft.tbl != nil {
			ft.plan = planAccess(ft.tbl, ft.off, ft.access)
		}
	}
	c := &evalCtx{s: s, row: make([]types.Value, qp.width), keys: make([][]byte, len(qp.tables)), images: make([][]byte, len(qp.tables))}
	emit := func() (bool, error) {
		for _, tg := range tgs {
			key := c.keys[tg.index]
			if key == nil || tg.seen[string(key)] {
				continue
			}
			tg.seen[string(key)] = true
			tg.keys = append(tg.keys, key)
			tg.images = append(tg.images, c.images[tg.index])
			tg.rows = append(tg.rows, append([]types.Value(nil), c.row[tg.ft.off:tg.ft.off+tg.ft.ncols]...))
			tg.joined = append(tg.joined, append([]types.Value(nil), c.row...))
		}
		return true, nil
	}
	if err := s.joinLevel(ctx, t, qp, 0, c, emit); err != nil {
		return nil, nil, nil, err
	}
	return qp, sc, tgs, nil
}

func targetByAlias(qp *queryPlan, name string) (*joinedTarget, error) {
	for i, ft := range qp.tables {
		if ft.alias == name {
			return &joinedTarget{ft: ft, index: i, seen: map[string]bool{}}, nil
		}
	}
	return nil, newErr(ErUnknownTable, "Unknown table '%s' in MULTI DELETE", name)
}

func (s *Session) execMultiDelete(ctx context.Context, t *storage.Txn, x *ast.DeleteStmt, params []Value) (*Result, error) {
	if x.Order != nil || x.Limit != nil {
		return nil, newErr(ErWrongUsage, "Incorrect usage of DELETE and ORDER BY / LIMIT")
	}
	_, _, tgs, err := s.joinForDML(ctx, t, x.TableRefs, x.Where, params, func(qp *queryPlan) ([]*joinedTarget, error) {
		var out []*joinedTarget
		if x.Tables == nil {
			return nil, errNotSupported("this multi-table DELETE")
		}
		for _, tn := range x.Tables.Tables {
			tg, err := targetByAlias(qp, tn.Name.O)
			if err != nil {
				return nil, err
			}
			out = append(out, tg)
		}
		return out, nil
	}, catalog.PrivDelete, "DELETE")
	if err != nil {
		return nil, err
	}
	var n uint64
	for _, tg := range tgs {
		for i, key := range tg.keys {
			if err := s.deleteRow(ctx, t, tg.ft.tbl, tg.rows[i], key, tg.images[i]); err != nil {
				return nil, err
			}
			n++
		}
	}
	return &Result{AffectedRows: n}, nil
}

func (s *Session) execMultiUpdate(ctx context.Context, t *storage.Txn, x *ast.UpdateStmt, params []Value) (*Result, error) {
	if x.Order != nil || x.Limit != nil {
		return nil, newErr(ErWrongUsage, "Incorrect usage of UPDATE and ORDER BY / LIMIT")
	}
	strict := s.strictMode() && !x.IgnoreErr
	type assign struct {
		tg  *joinedTarget
		col *catalog.Column
		e   expr
	}
	var assigns []assign
	_, _, tgs, err := s.joinForDML(ctx, t, x.TableRefs, x.Where, params, func(qp *queryPlan) ([]*joinedTarget, error) {
		sc := &scope{}
		for _, ft := range qp.tables {
			for i := 0; i < ft.ncols; i++ {
				c := scopeCol{db: ft.db, table: ft.alias, idx: ft.off + i}
				if ft.tbl != nil {
					col := ft.tbl.Columns[i]
					c.name, c.col, c.et = col.Name, col, exprType{ft: col.Type, notNull: col.NotNull}
				} else {
					c.name, c.et = ft.virt.cols[i].name, ft.virt.cols[i].et
				}
				sc.add(c)
			}
		}
		cp := &compiler{s: s, sc: sc, params: params, clause: "SET"}
		byTable := map[int]*joinedTarget{}
		var out []*joinedTarget
		for _, a := range x.List {
			sc0, err := sc.resolve(a.Column.Schema.O, a.Column.Table.O, a.Column.Name.O, "SET")
			if err != nil {
				return nil, err
			}
			ti := -1
			for i, ft := range qp.tables {
				if sc0.idx >= ft.off && sc0.idx < ft.off+ft.ncols {
					ti = i
				}
			}
			tg := byTable[ti]
			if tg == nil {
				tg = &joinedTarget{ft: qp.tables[ti], index: ti, seen: map[string]bool{}}
				byTable[ti] = tg
				out = append(out, tg)
			}
			var e expr
			if _, isDef := a.Expr.(*ast.DefaultExpr); isDef {
				if sc0.col == nil {
					return nil, errNotSupported("DEFAULT here")
				}
				e = newConst(s.defaultFor(sc0.col))
			} else if e, err = cp.compile(a.Expr); err != nil {
				return nil, err
			}
			if sc0.col == nil {
				return nil, s.errTableDenied("UPDATE", qp.tables[ti].db, qp.tables[ti].name)
			}
			assigns = append(assigns, assign{tg: tg, col: sc0.col, e: e})
		}
		return out, nil
	}, catalog.PrivUpdate, "UPDATE")
	if err != nil {
		return nil, err
	}
	var matched, changed uint64
	for _, tg := range tgs {
		tbl := tg.ft.tbl
		for i, key := range tg.keys {
			matched++
			s.stmtRow = i + 1
			c := &evalCtx{s: s, row: tg.joined[i]}
			newRow := append([]types.Value(nil), tg.rows[i]...)
			var cols []*catalog.Column
			for _, a := range assigns {
				if a.tg != tg {
					continue
				}
				v, err := a.e.eval(c)
				if err != nil {
					return nil, err
				}
				if v.IsNull() && a.col.NotNull {
					if strict {
						return nil, newErr(ErBadNull, "Column '%s' cannot be null", a.col.Name)
					}
					s.warn("Warning", ErBadNull, "Column '%s' cannot be null", a.col.Name)
					v = implicitDefault(a.col)
				} else if v, err = s.storeValue(v, a.col, tbl, strict); err != nil {
					return nil, err
				}
				newRow[a.col.Offset] = v
				// Later assignments of the same statement see the new value, as MySQL.
				c.row[tg.ft.off+a.col.Offset] = v
				cols = append(cols, a.col)
			}
			if rowsEqual(tg.rows[i], newRow) {
				continue
			}
			s.touchOnUpdate(tbl, newRow, cols)
			if _, err := s.updateRow(ctx, t, tbl, tg.rows[i], newRow, key, tg.images[i]); err != nil {
				return nil, err
			}
			changed++
		}
	}
	affected := changed
	if s.clientFoundRows {
		affected = matched
	}
	return &Result{AffectedRows: affected, Info: fmt.Sprintf("Rows matched: %d  Changed: %d  Warnings: %d", matched, changed, s.warnCount)}, nil
}

// isMultiTable reports a table reference with joins.
func isMultiTable(refs *ast.TableRefsClause) bool {
	return refs != nil && refs.TableRefs != nil && refs.TableRefs.Right != nil
}
