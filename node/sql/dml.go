package sql

import (
	"context"
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/types"
	"github.com/maxproxy/maxproxy/node/storage"
)

// singleTable resolves the target of INSERT/UPDATE/DELETE.
func (s *Session) singleTable(ctx context.Context, refs *ast.TableRefsClause, what string) (*catalog.Table, string, error) {
	if refs == nil || refs.TableRefs == nil {
		return nil, "", errNotSupported(what + " without a table")
	}
	j := refs.TableRefs
	if j.Right != nil {
		return nil, "", errNotSupported("multi-table " + what)
	}
	ts, ok := j.Left.(*ast.TableSource)
	if !ok {
		return nil, "", errNotSupported("multi-table " + what)
	}
	tn, ok := ts.Source.(*ast.TableName)
	if !ok {
		return nil, "", errNotSupported(what + " on a derived table")
	}
	db := tn.Schema.O
	if db == "" {
		db = s.db
		if db == "" {
			return nil, "", newErr(ErNoDB, "No database selected")
		}
	}
	if s.virtualTable(db, tn.Name.O) != nil {
		return nil, "", s.errTableDenied(strings.ToUpper(what), db, tn.Name.O)
	}
	// The metadata lock comes first so the definition read below stays current until the transaction ends.
	if err := s.lockTableForWrite(ctx, db, tn.Name.O); err != nil {
		return nil, "", err
	}
	tbl := s.e.schema.Load().Table(db, tn.Name.O)
	if tbl == nil {
		return nil, "", errNoSuchTable(db, tn.Name.O)
	}
	alias := ts.AsName.O
	if alias == "" {
		alias = tn.Name.O
	}
	return tbl, alias, nil
}

func tableScope(tbl *catalog.Table, alias string) *scope {
	sc := &scope{}
	for _, c := range tbl.Columns {
		sc.add(scopeCol{db: tbl.DB, table: alias, name: c.Name, et: exprType{ft: c.Type, notNull: c.NotNull}, col: c, idx: c.Offset})
	}
	return sc
}

// storeValue converts v for column c, turning conversion problems into errors (strict mode, no IGNORE)
// or warnings, as MariaDB does.
func (s *Session) storeValue(v types.Value, c *catalog.Column, tbl *catalog.Table, strict bool) (types.Value, error) {
	if v.IsNull() {
		return v, nil
	}
	cv, st := types.Cast(v, &c.Type)
	row := s.stmtRow
	switch st {
	case types.OK:
		return cv, nil
	case types.Rounded:
		if c.Type.Class() == types.ClassDecimal {
			s.warn("Note", ErWarnDataTruncated, "Data truncated for column '%s' at row %d", c.Name, row)
		}
		return cv, nil
	case types.Invalid:
		var msg string
		switch c.Type.Class() {
		case types.ClassDate, types.ClassDatetime:
			kind := "datetime"
			if c.Type.Class() == types.ClassDate {
				kind = "date"
			}
			msg = fmt.Sprintf("Incorrect %s value: '%s' for column `%s`.`%s`.`%s` at row %d", kind, v.String(), tbl.DB, tbl.Name, c.Name, row)
			if strict {
				return cv, newErr(ErTruncatedWrongValue, "%s", msg)
			}
			s.warn("Warning", ErTruncatedWrongValue, "%s", msg)
			return cv, nil
		case types.ClassInt:
			msg = "integer"
		case types.ClassDecimal:
			msg = "decimal"
		case types.ClassFloat:
			msg = "double"
		default:
			msg = "string"
		}
		m := fmt.Sprintf("Incorrect %s value: '%s' for column `%s`.`%s`.`%s` at row %d", msg, v.String(), tbl.DB, tbl.Name, c.Name, row)
		if strict {
			return cv, newErr(ErTruncatedWrongValueFC, "%s", m)
		}
		s.warn("Warning", ErTruncatedWrongValueFC, "%s", m)
		return cv, nil
	case types.Truncated:
		if strict {
			return cv, newErr(ErWarnDataTruncated, "Data truncated for column '%s' at row %d", c.Name, row)
		}
		s.warn("Warning", ErWarnDataTruncated, "Data truncated for column '%s' at row %d", c.Name, row)
		return cv, nil
	case types.OutOfRange:
		if strict {
			return cv, newErr(ErWarnDataOutOfRange, "Out of range value for column '%s' at row %d", c.Name, row)
		}
		s.warn("Warning", ErWarnDataOutOfRange, "Out of range value for column '%s' at row %d", c.Name, row)
		return cv, nil
	case types.TooLong:
		if strict {
			return cv, newErr(ErDataTooLong, "Data too long for column '%s' at row %d", c.Name, row)
		}
		s.warn("Warning", ErWarnDataTruncated, "Data truncated for column '%s' at row %d", c.Name, row)
		return cv, nil
	}
	return cv, nil
}

// implicitDefault is the value MySQL uses for a NOT NULL column without a usable value in non-strict mode.
func implicitDefault(c *catalog.Column) types.Value {
	switch c.Type.Class() {
	case types.ClassInt:
		if c.Type.Unsigned {
			return types.NewUint(0)
		}
		return types.NewInt(0)
	case types.ClassFloat:
		return types.NewFloat(0)
	case types.ClassDecimal:
		return types.NewDecimal(types.DecimalFromInt(0).Round(int32(c.Type.Decimals)))
	case types.ClassDate:
		return types.NewDate(0)
	case types.ClassDatetime:
		return types.NewDatetime(0)
	}
	if c.Type.Coll == types.CollationBinary {
		return types.NewBinary("")
	}
	return types.NewString("")
}

func (s *Session) nowValue(c *catalog.Column) types.Value {
	t := types.FromGoTime(s.stmtTime())
	if c.Type.Class() == types.ClassDate {
		return types.NewDate(t)
	}
	v, _ := types.Cast(types.NewDatetime(t), &c.Type)
	return v
}

func (s *Session) defaultFor(c *catalog.Column) types.Value {
	if c.DefaultNow {
		return s.nowValue(c)
	}
	return c.DefaultValue
}

func (s *Session) autoIncIncrement() (inc, off uint64) {
	v, _ := s.getSysVar("auto_increment_increment", scopeSession)
	o, _ := s.getSysVar("auto_increment_offset", scopeSession)
	inc, _ = types.ToUint(v)
	off, _ = types.ToUint(o)
	if inc == 0 {
		inc = 1
	}
	if off == 0 || off > inc {
		off = 1
	}
	return inc, off
}

// nextAutoInc reserves the next AUTO_INCREMENT value honouring auto_increment_increment/offset (Galera's
// interleaving).
func (s *Session) nextAutoInc(tbl *catalog.Table) (uint64, error) {
	inc, off := s.autoIncIncrement()
	base := max(tbl.AutoIncBase, 1)
	first, err := s.e.db.NextCounter(tbl.CounterName("ai"), inc, base)
	if err != nil {
		return 0, err
	}
	for v := first; v < first+inc; v++ {
		if inc == 1 || v%inc == off%inc {
			return v, nil
		}
	}
	return first, nil
}

// autoIncBatch is the AUTO_INCREMENT interval an INSERT ... SELECT has reserved and not yet used.
type autoIncBatch struct {
	next, end uint64
	size      uint64 // of the next interval to reserve
}

// nextAutoIncBatched is nextAutoInc for INSERT ... SELECT, whose row count is not known up front:
// InnoDB reserves such values in intervals of 1, 2, 4, ... (up to 65535) and drops what a statement
// leaves unused, so later ids skip them; maxnode hands out the same ids. Other inserts, and every insert
// under auto_increment_increment > 1, take one value at a time.
func (s *Session) nextAutoIncBatched(tbl *catalog.Table, b *autoIncBatch, bulk bool) (uint64, error) {
	if inc, _ := s.autoIncIncrement(); !bulk || inc != 1 {
		return s.nextAutoInc(tbl)
	}
	if b.next == b.end {
		b.size = min(max(b.size*2, 1), 65535)
		first, err := s.e.db.NextCounter(tbl.CounterName("ai"), b.size, max(tbl.AutoIncBase, 1))
		if err != nil {
			return 0, err
		}
		b.next, b.end = first, first+b.size
	}
	b.next++
	return b.next - 1, nil
}

func (s *Session) execInsert(ctx context.Context, t *storage.Txn, x *ast.InsertStmt, params []Value) (*Result, error) {
	var aiBatch autoIncBatch
	tbl, alias, err := s.singleTable(ctx, x.Table, "INSERT")
	if err != nil {
		return nil, err
	}
	need := catalog.PrivInsert
	verb := "INSERT"
	if x.IsReplace {
		need |= catalog.PrivDelete
		verb = "REPLACE"
	}
	if len(x.OnDuplicate) > 0 {
		need |= catalog.PrivUpdate
	}
	if !s.hasPriv(tbl.DB, need) {
		return nil, s.errTableDenied(verb, tbl.DB, tbl.Name)
	}
	if x.Priority == mysql.DelayedPriority {
		return nil, errNotSupported("INSERT DELAYED")
	}
	if len(x.PartitionNames) > 0 {
		return nil, errNotSupported("PARTITION")
	}
	strict := s.strictMode() && !x.IgnoreErr
	// Target columns.
	var cols []*catalog.Column
	if len(x.Columns) > 0 {
		for _, cn := range x.Columns {
			c := tbl.Column(cn.Name.O)
			if c == nil {
				return nil, errUnknownColumn(cn.Name.O, "INSERT INTO")
			}
			cols = append(cols, c)
		}
	} else {
		cols = tbl.Columns
	}
	seen := map[*catalog.Column]bool{}
	for _, c := range cols {
		if seen[c] {
			return nil, newErr(ErFieldSpecifiedTwice, "Column '%s' specified twice", c.Name)
		}
		seen[c] = true
	}
	// Source rows: VALUES lists, SET, or SELECT.
	var lists [][]ast.ExprNode
	var selRows [][]types.Value
	switch {
	case x.Select != nil:
		sel, ok := x.Select.(*ast.SelectStmt)
		if !ok {
			return nil, errNotSupported("INSERT ... SELECT with UNION")
		}
		qp, err := s.compileSelect(sel, "", params)
		if err != nil {
			return nil, err
		}
		if len(qp.fields) != len(cols) {
			return nil, newErr(ErWrongValueCountOnRow, "Column count doesn't match value count at row 1")
		}
		if selRows, err = s.runSelect(ctx, t, qp); err != nil {
			return nil, err
		}
	default:
		lists = x.Lists
	}
	valueCP := &compiler{s: s, sc: &scope{}, clause: "INSERT INTO", params: params}
	// ON DUPLICATE KEY UPDATE assignments are compiled against the table row.
	var dupCols []*catalog.Column
	var dupExprs []expr
	dupCP := &compiler{s: s, sc: tableScope(tbl, alias), clause: "SET", params: params}
	for _, a := range x.OnDuplicate {
		c := tbl.Column(a.Column.Name.O)
		if c == nil {
			return nil, errUnknownColumn(a.Column.Name.O, "SET")
		}
		e, err := dupCP.compile(a.Expr)
		if err != nil {
			return nil, err
		}
		dupCols = append(dupCols, c)
		dupExprs = append(dupExprs, e)
	}
	aiCol := tbl.AutoIncColumn()
	var affected uint64
	var firstID, explicitID, updatedID uint64
	nRows := len(lists) + len(selRows)
	for r := 0; r < nRows; r++ {
		s.stmtRow = r + 1
		row := make([]types.Value, len(tbl.Columns))
		set := make([]bool, len(tbl.Columns))
		var raw []types.Value
		if r < len(lists) {
			list := lists[r]
			if len(list) != len(cols) && !(len(list) == 0 && len(x.Columns) == 0) {
				return nil, newErr(ErWrongValueCountOnRow, "Column count doesn't match value count at row %d", r+1)
			}
			raw = make([]types.Value, len(list))
			for i, n := range list {
				c := cols[i]
				if _, isDef := n.(*ast.DefaultExpr); isDef {
					continue
				}
				e, err := valueCP.compile(n)
				if err != nil {
					return nil, err
				}
				v, err := e.eval(&evalCtx{s: s, rowIndex: r + 1})
				if err != nil {
					return nil, err
				}
				raw[i] = v
				set[c.Offset] = true
			}
		} else {
			raw = selRows[r-len(lists)]
			for _, c := range cols {
				set[c.Offset] = true
			}
		}
		// Fill values and defaults.
		for i, c := range cols {
			if i < len(raw) && set[c.Offset] {
				row[c.Offset] = raw[i]
			}
		}
		for _, c := range tbl.Columns {
			if set[c.Offset] {
				continue
			}
			if c.AutoInc {
				continue
			}
			if !c.HasDefault && c.NotNull {
				if c.Type.Tp == mysql.TypeTimestamp && !s.explicitTimestampDefaults() {
					row[c.Offset] = s.nowValue(c)
					continue
				}
				if strict {
					return nil, newErr(ErNoDefaultForField, "Field '%s' doesn't have a default value", c.Name)
				}
				s.warn("Warning", ErNoDefaultForField, "Field '%s' doesn't have a default value", c.Name)
				row[c.Offset] = implicitDefault(c)
				continue
			}
			row[c.Offset] = s.defaultFor(c)
		}
		// Convert explicit values.
		for _, c := range tbl.Columns {
			if !set[c.Offset] {
				continue
			}
			v := row[c.Offset]
			if v.IsNull() {
				if c.AutoInc {
					continue
				}
				if c.NotNull {
					if c.Type.Tp == mysql.TypeTimestamp && !s.explicitTimestampDefaults() {
						row[c.Offset] = s.nowValue(c)
						continue
					}
					if strict || nRows == 1 {
						if !x.IgnoreErr {
							return nil, newErr(ErBadNull, "Column '%s' cannot be null", c.Name)
						}
					}
					s.warn("Warning", ErBadNull, "Column '%s' cannot be null", c.Name)
					row[c.Offset] = implicitDefault(c)
				}
				continue
			}
			cv, err := s.storeValue(v, c, tbl, strict)
			if err != nil {
				return nil, err
			}
			row[c.Offset] = cv
		}
		// AUTO_INCREMENT.
		generated, explicit := uint64(0), uint64(0)
		if aiCol != nil {
			v := row[aiCol.Offset]
			zero := v.IsNull()
			if !zero {
				if t, _ := types.Truth(v); !t {
					zero = true
				}
			}
			if zero {
				id, err := s.nextAutoIncBatched(tbl, &aiBatch, x.Select != nil)
				if err != nil {
					return nil, err
				}
				cv, st := types.Cast(types.NewUint(id), &aiCol.Type)
				if st != types.OK {
					return nil, newErr(167, "Out of range value for column '%s' at row %d", aiCol.Name, r+1)
				}
				row[aiCol.Offset] = cv
				generated = id
			} else {
				u, _ := types.ToUint(v)
				if _, err := s.e.db.NextCounter(tbl.CounterName("ai"), 0, u+1); err != nil {
					return nil, err
				}
				explicit = u
			}
		}
		n, outcome, rowID, err := s.insertOne(ctx, t, tbl, row, x, dupCols, dupExprs, dupCP)
		if err != nil {
			return nil, err
		}
		affected += n
		// Only rows actually inserted count for LAST_INSERT_ID; a row turned into an update reports the
		// updated row's id in the OK packet, as MariaDB.
		switch outcome {
		case outcomeInserted:
			if generated != 0 && firstID == 0 {
				firstID = generated
			}
			if explicit != 0 && explicitID == 0 {
				explicitID = explicit
			}
		case outcomeUpdated:
			if aiCol != nil {
				updatedID = rowID
			}
		}
	}
	res := &Result{AffectedRows: affected}
	switch {
	case firstID != 0:
		s.stmtInsertID = firstID
		res.LastInsertID = firstID
	case explicitID != 0:
		res.LastInsertID = explicitID
	case updatedID != 0:
		res.LastInsertID = updatedID
	}
	if nRows > 1 || x.Select != nil {
		dups := uint64(0)
		if x.IgnoreErr {
			dups = uint64(nRows) - affected
		}
		res.Info = fmt.Sprintf("Records: %d  Duplicates: %d  Warnings: %d", nRows, dups, s.warnCount)
	}
	return res, nil
}

// Outcomes of insertOne.
const (
	outcomeInserted = iota
	outcomeIgnored
	outcomeUpdated // ON DUPLICATE KEY UPDATE changed (or kept) the existing row
)

// insertOne inserts one prepared row handling duplicates per the statement's mode; it returns the
// affected-row count MySQL reports for it and what happened to the row.
func (s *Session) insertOne(ctx context.Context, t *storage.Txn, tbl *catalog.Table, row []types.Value, x *ast.InsertStmt,
	dupCols []*catalog.Column, dupExprs []expr, dupCP *compiler) (n uint64, outcome int, updatedID uint64, err error) {
	var rowKey []byte
	if tbl.Primary() != nil {
		rowKey = primaryKey(tbl, row)
	} else {
		id, err := s.e.db.NextCounter(tbl.CounterName("rowid"), 1, 1)
		if err != nil {
			return 0, outcomeIgnored, 0, err
		}
		rowKey = hiddenRowKey(id)
	}
	var affected uint64
	for attempt := 0; ; attempt++ {
		cf, err := s.findConflict(ctx, t, tbl, row, rowKey)
		if err != nil {
			return 0, outcomeIgnored, 0, err
		}
		if cf == nil {
			break
		}
		switch {
		case x.IsReplace:
			old, ok, err := t.GetForUpdate(ctx, tbl.Space, cf.rowKey, true)
			if err != nil {
				return 0, outcomeIgnored, 0, err
			}
			if !ok {
				return 0, outcomeIgnored, 0, fmt.Errorf("sql: index entry of %s.%s points at a missing row", tbl.DB, tbl.Name)
			}
			oldRow, err := decodeRow(tbl, old)
			if err != nil {
				return 0, outcomeIgnored, 0, err
			}
			if err := s.deleteRow(ctx, t, tbl, oldRow, cf.rowKey, old); err != nil {
				return 0, outcomeIgnored, 0, err
			}
			affected++
			if attempt > len(tbl.Indexes) {
				return 0, outcomeIgnored, 0, fmt.Errorf("sql: REPLACE did not converge")
			}
			continue
		case len(dupExprs) > 0:
			old, ok, err := t.GetForUpdate(ctx, tbl.Space, cf.rowKey, true)
			if err != nil {
				return 0, outcomeIgnored, 0, err
			}
			if !ok {
				return 0, outcomeIgnored, 0, fmt.Errorf("sql: index entry of %s.%s points at a missing row", tbl.DB, tbl.Name)
			}
			oldRow, err := decodeRow(tbl, old)
			if err != nil {
				return 0, outcomeIgnored, 0, err
			}
			newRow := append([]types.Value(nil), oldRow...)
			dupCP.insertValues = row
			c := &evalCtx{s: s, row: newRow}
			for i, col := range dupCols {
				v, err := dupExprs[i].eval(c)
				if err != nil {
					return 0, outcomeIgnored, 0, err
				}
				if v.IsNull() && col.NotNull {
					return 0, outcomeIgnored, 0, newErr(ErBadNull, "Column '%s' cannot be null", col.Name)
				}
				cv, err := s.storeValue(v, col, tbl, s.strictMode() && !x.IgnoreErr)
				if err != nil {
					return 0, outcomeIgnored, 0, err
				}
				newRow[col.Offset] = cv
			}
			dupCP.insertValues = nil
			if rowsEqual(oldRow, newRow) {
				// MariaDB reports the row's id only when the update changed it: a no-op reports 0.
				if s.clientFoundRows {
					return 1, outcomeUpdated, 0, nil
				}
				return 0, outcomeUpdated, 0, nil
			}
			s.touchOnUpdate(tbl, newRow, dupCols)
			if _, err := s.updateRow(ctx, t, tbl, oldRow, newRow, cf.rowKey, old); err != nil {
				return 0, outcomeIgnored, 0, err
			}
			return 2, outcomeUpdated, autoIncValue(tbl, newRow), nil
		case x.IgnoreErr:
			e := dupEntryError(cf.ix, row)
			s.warn("Warning", e.Code, "%s", e.Msg)
			return 0, outcomeIgnored, 0, nil
		default:
			return 0, outcomeIgnored, 0, dupEntryError(cf.ix, row)
		}
	}
	if err := s.insertRow(ctx, t, tbl, row, rowKey); err != nil {
		return 0, outcomeIgnored, 0, err
	}
	return affected + 1, outcomeInserted, 0, nil
}

func rowsEqual(a, b []types.Value) bool {
	for i := range a {
		if a[i].IsNull() != b[i].IsNull() {
			return false
		}
		if a[i].IsNull() {
			continue
		}
		if a[i].Kind() != b[i].Kind() || types.Compare(a[i], b[i], types.CollationBinary) != 0 {
			return false
		}
	}
	return true
}

// touchOnUpdate sets ON UPDATE CURRENT_TIMESTAMP columns not assigned explicitly.
func (s *Session) touchOnUpdate(tbl *catalog.Table, row []types.Value, assigned []*catalog.Column) {
	for _, c := range tbl.Columns {
		if !c.OnUpdateNow {
			continue
		}
		explicit := false
		for _, a := range assigned {
			if a == c {
				explicit = true
			}
		}
		if !explicit {
			row[c.Offset] = s.nowValue(c)
		}
	}
}

// matchedRow is a row a single-table UPDATE or DELETE changes.
type matchedRow struct {
	key, image []byte
	row        []types.Value
}

// compileMatch compiles a single-table WHERE and ORDER BY and chooses the access path, against sc.
func (s *Session) compileMatch(tbl *catalog.Table, sc *scope, where ast.ExprNode, order *ast.OrderByClause, params []Value) (*matchPlan, error) {
	cp := &compiler{s: s, sc: sc, clause: "WHERE", params: params}
	mp := &matchPlan{}
	if where != nil {
		w, err := cp.compile(where)
		if err != nil {
			return nil, err
		}
		mp.conds = splitAnd(w, nil)
	}
	if order != nil {
		cp.clause = "ORDER BY"
		for _, item := range order.Items {
			e, err := cp.compile(item.Expr)
			if err != nil {
				return nil, err
			}
			mp.order = append(mp.order, orderItem{e: e, desc: item.Desc, coll: collOf(e), pos: -1})
		}
	}
	mp.plan = planAccess(tbl, 0, mp.conds)
	return mp, nil
}

// dmlLimit is a single-table UPDATE's or DELETE's LIMIT (-1: none).
func (s *Session) dmlLimit(limit *ast.Limit, params []Value) (int64, error) {
	if limit == nil {
		return -1, nil
	}
	if limit.Offset != nil {
		return 0, newErr(ErParse, "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'OFFSET' at line 1")
	}
	return limitValue(&compiler{s: s, sc: &scope{}, params: params}, limit.Count)
}

// matchRows runs a compiled single-table WHERE/ORDER BY and LIMIT lim with locking reads.
func (s *Session) matchRows(ctx context.Context, t *storage.Txn, tbl *catalog.Table, mp *matchPlan, lim int64) ([]matchedRow, error) {
	conds, orderExprs, plan := mp.conds, mp.order, mp.plan
	c := &evalCtx{s: s, row: make([]types.Value, len(tbl.Columns))}
	var out []matchedRow
	var keys [][]types.Value
	err := s.scanTable(ctx, t, tbl, plan, c, lockExclusive, nil, func(key, image []byte, row []types.Value) (bool, error) {
		c.row = row
		for _, f := range conds {
			v, err := f.eval(c)
			if err != nil {
				return false, err
			}
			if ok, _ := types.Truth(v); !ok {
				return true, nil
			}
		}
		out = append(out, matchedRow{key: key, image: image, row: row})
		if len(orderExprs) > 0 {
			k := make([]types.Value, len(orderExprs))
			for i, oi := range orderExprs {
				v, err := oi.e.eval(c)
				if err != nil {
					return false, err
				}
				k[i] = v
			}
			keys = append(keys, k)
			return true, nil
		}
		return lim < 0 || int64(len(out)) < lim, nil
	})
	if err != nil {
		return nil, err
	}
	if len(orderExprs) > 0 {
		idx := make([]int, len(out))
		for i := range idx {
			idx[i] = i
		}
		sortIdx(idx, func(a, b int) bool {
			for k, oi := range orderExprs {
				d := compareForSort(keys[a][k], keys[b][k], oi.coll)
				if d == 0 {
					continue
				}
				if oi.desc {
					return d > 0
				}
				return d < 0
			}
			return false
		})
		sorted := make([]matchedRow, len(out))
		for i, j := range idx {
			sorted[i] = out[j]
		}
		out = sorted
		if lim >= 0 && int64(len(out)) > lim {
			out = out[:lim]
		}
	}
	return out, nil
}

func (s *Session) execUpdate(ctx context.Context, t *storage.Txn, x *ast.UpdateStmt, params []Value) (*Result, error) {
	if x.MultipleTable || isMultiTable(x.TableRefs) {
		return s.execMultiUpdate(ctx, t, x, params)
	}
	tbl, alias, err := s.singleTable(ctx, x.TableRefs, "UPDATE")
	if err != nil {
		return nil, err
	}
	if !s.hasPriv(tbl.DB, catalog.PrivUpdate) {
		return nil, s.errTableDenied("UPDATE", tbl.DB, tbl.Name)
	}
	strict := s.strictMode() && !x.IgnoreErr
	dp, err := s.dmlPlanFor(x, tbl, params, func() (*dmlPlan, error) {
		dp := &dmlPlan{tbl: tbl, cacheable: true}
		var err error
		sc := tableScope(tbl, alias)
		cp := &compiler{s: s, sc: sc, clause: "SET", params: params}
		for _, a := range x.List {
			if a.Column.Table.L != "" && a.Column.Table.O != alias {
				return nil, errUnknownColumn(a.Column.Table.O+"."+a.Column.Name.O, "SET")
			}
			c := tbl.Column(a.Column.Name.O)
			if c == nil {
				return nil, errUnknownColumn(a.Column.Name.O, "SET")
			}
			var e expr
			if _, isDef := a.Expr.(*ast.DefaultExpr); isDef {
				e = newConst(s.defaultFor(c))
				dp.cacheable = false // the default may be the current time
			} else if e, err = cp.compile(a.Expr); err != nil {
				return nil, err
			}
			dp.setCols = append(dp.setCols, c)
			dp.setExprs = append(dp.setExprs, e)
		}
		if dp.match, err = s.compileMatch(tbl, sc, x.Where, x.Order, params); err != nil {
			return nil, err
		}
		return dp, nil
	})
	if err != nil {
		return nil, err
	}
	cols, exprs := dp.setCols, dp.setExprs
	lim, err := s.dmlLimit(x.Limit, params)
	if err != nil {
		return nil, err
	}
	rows, err := s.matchRows(ctx, t, tbl, dp.match, lim)
	if err != nil {
		return nil, err
	}
	var changed uint64
	for i, m := range rows {
		s.stmtRow = i + 1
		newRow := append([]types.Value(nil), m.row...)
		c := &evalCtx{s: s, row: newRow}
		for k, col := range cols {
			v, err := exprs[k].eval(c)
			if err != nil {
				return nil, err
			}
			if v.IsNull() && col.NotNull {
				if col.Type.Tp == mysql.TypeTimestamp && !s.explicitTimestampDefaults() {
					newRow[col.Offset] = s.nowValue(col)
					continue
				}
				if strict {
					return nil, newErr(ErBadNull, "Column '%s' cannot be null", col.Name)
				}
				s.warn("Warning", ErBadNull, "Column '%s' cannot be null", col.Name)
				newRow[col.Offset] = implicitDefault(col)
				continue
			}
			cv, err := s.storeValue(v, col, tbl, strict)
			if err != nil {
				return nil, err
			}
			newRow[col.Offset] = cv
		}
		if rowsEqual(m.row, newRow) {
			continue
		}
		s.touchOnUpdate(tbl, newRow, cols)
		if ai := tbl.AutoIncColumn(); ai != nil && !newRow[ai.Offset].IsNull() {
			// InnoDB raises the counter past a value an UPDATE writes into the AUTO_INCREMENT column.
			if u, st := types.ToUint(newRow[ai.Offset]); st == types.OK {
				if _, err := s.e.db.NextCounter(tbl.CounterName("ai"), 0, u+1); err != nil {
					return nil, err
				}
			}
		}
		if _, err := s.updateRow(ctx, t, tbl, m.row, newRow, m.key, m.image); err != nil {
			if x.IgnoreErr {
				if me, ok := err.(*Error); ok && me.Code == ErDupEntry {
					s.warn("Warning", me.Code, "%s", me.Msg)
					continue
				}
			}
			return nil, err
		}
		changed++
	}
	affected := changed
	if s.clientFoundRows {
		affected = uint64(len(rows))
	}
	return &Result{AffectedRows: affected, Info: fmt.Sprintf("Rows matched: %d  Changed: %d  Warnings: %d", len(rows), changed, s.warnCount)}, nil
}

func (s *Session) execDelete(ctx context.Context, t *storage.Txn, x *ast.DeleteStmt, params []Value) (*Result, error) {
	if x.IsMultiTable {
		return s.execMultiDelete(ctx, t, x, params)
	}
	tbl, alias, err := s.singleTable(ctx, x.TableRefs, "DELETE")
	if err != nil {
		return nil, err
	}
	if !s.hasPriv(tbl.DB, catalog.PrivDelete) {
		return nil, s.errTableDenied("DELETE", tbl.DB, tbl.Name)
	}
	dp, err := s.dmlPlanFor(x, tbl, params, func() (*dmlPlan, error) {
		mp, err := s.compileMatch(tbl, tableScope(tbl, alias), x.Where, x.Order, params)
		if err != nil {
			return nil, err
		}
		return &dmlPlan{tbl: tbl, match: mp, cacheable: true}, nil
	})
	if err != nil {
		return nil, err
	}
	lim, err := s.dmlLimit(x.Limit, params)
	if err != nil {
		return nil, err
	}
	rows, err := s.matchRows(ctx, t, tbl, dp.match, lim)
	if err != nil {
		return nil, err
	}
	for _, m := range rows {
		if err := s.deleteRow(ctx, t, tbl, m.row, m.key, m.image); err != nil {
			return nil, err
		}
	}
	return &Result{AffectedRows: uint64(len(rows))}, nil
}

func sortIdx(idx []int, less func(a, b int) bool) {
	// insertion-merge via sort.SliceStable semantics
	sortSliceStable(idx, less)
}

// autoIncValue is the row's AUTO_INCREMENT column value (0 when the table has none).
func autoIncValue(tbl *catalog.Table, row []types.Value) uint64 {
	ai := tbl.AutoIncColumn()
	if ai == nil {
		return 0
	}
	u, _ := types.ToUint(row[ai.Offset])
	return u
}

// explicitTimestampDefaults is explicit_defaults_for_timestamp (ON in MariaDB 10.10+): when OFF, NULL or a
// missing value for a NOT NULL TIMESTAMP column means "now".
func (s *Session) explicitTimestampDefaults() bool {
	v, _ := s.getSysVar("explicit_defaults_for_timestamp", scopeSession)
	on, _ := types.Truth(v)
	return on
}
