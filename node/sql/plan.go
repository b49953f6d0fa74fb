package sql

import (
	"bytes"
	"context"
	"sort"
	"strconv"

	"github.com/pingcap/tidb/pkg/parser/opcode"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/codec"
	"github.com/maxproxy/maxproxy/node/sql/types"
	"github.com/maxproxy/maxproxy/node/storage"
)

// accessPlan is how one table is read: a full primary scan, or key ranges of one index computed from
// equality (=, IN, IS NULL) conditions on a leading column prefix plus an optional range on the next column.
// The statement's whole condition is still evaluated on every row read, so a plan only needs to return a
// superset of the matching rows; when a search value cannot be encoded exactly the plan falls back to a scan.
type accessPlan struct {
	ix     *catalog.Index // nil: full scan of the primary space
	eq     [][]expr       // per leading index column: the values it must equal (one, or an IN list)
	isNull []bool         // per eq column: a NULL value matches NULL keys (IS NULL, or <=>)
	lo, hi expr
	loIncl bool
	hiIncl bool
	or     []bound // alternative ranges on the column after eq (k BETWEEN a AND b OR k BETWEEN c AND d ...)
	point  bool    // eq covers a unique index: at most one row per value combination
	desc   bool    // iterate in descending key order
}

// exprRefs reports every flat-row column index e reads.
func exprRefs(e expr, fn func(idx int)) {
	switch x := e.(type) {
	case *colRef:
		fn(x.idx)
	case *cmpExpr:
		exprRefs(x.l, fn)
		exprRefs(x.r, fn)
	case *logicExpr:
		exprRefs(x.l, fn)
		exprRefs(x.r, fn)
	case *arithExpr:
		exprRefs(x.l, fn)
		exprRefs(x.r, fn)
	case *bitExpr:
		exprRefs(x.l, fn)
		if x.r != nil {
			exprRefs(x.r, fn)
		}
	case *notExpr:
		exprRefs(x.e, fn)
	case *negExpr:
		exprRefs(x.e, fn)
	case *isNullExpr:
		exprRefs(x.e, fn)
	case *isTruthExpr:
		exprRefs(x.e, fn)
	case *inExpr:
		exprRefs(x.e, fn)
		for _, l := range x.list {
			exprRefs(l, fn)
		}
	case *betweenExpr:
		exprRefs(x.e, fn)
		exprRefs(x.lo, fn)
		exprRefs(x.hi, fn)
	case *likeExpr:
		exprRefs(x.e, fn)
		exprRefs(x.p, fn)
	case *caseExpr:
		if x.value != nil {
			exprRefs(x.value, fn)
		}
		for i := range x.whens {
			exprRefs(x.whens[i], fn)
			exprRefs(x.thens[i], fn)
		}
		if x.els != nil {
			exprRefs(x.els, fn)
		}
	case *funcExpr:
		for _, a := range x.args {
			exprRefs(a, fn)
		}
		if x.name == "rand" || x.name == "uuid" || x.name == "last_insert_id" {
			fn(-2) // non-deterministic: never a key bound
		}
	case *castExpr:
		exprRefs(x.e, fn)
	case *collateExpr:
		exprRefs(x.e, fn)
	case *userVarAssign:
		exprRefs(x.e, fn)
		fn(-2) // a side effect: evaluated per row, never a key bound
	case *userVarExpr:
		fn(-2) // may change while the statement runs (@n := ...)
	case *inSubqueryExpr:
		exprRefs(x.e, fn)
		exprRefs(x.sub, fn)
	case *subqueryExpr:
		if x.box != nil {
			for _, idx := range x.box.refs {
				fn(idx)
			}
		}
	case *aggRef:
		fn(-2)
	}
}

// boundBefore reports whether e only reads columns before off (outer tables) or constants.
func boundBefore(e expr, off int) bool {
	ok := true
	exprRefs(e, func(idx int) {
		if idx < 0 || idx >= off {
			ok = false
		}
	})
	return ok
}

// splitAnd flattens AND trees.
func splitAnd(e expr, out []expr) []expr {
	if l, ok := e.(*logicExpr); ok && l.op == opcode.LogicAnd {
		out = splitAnd(l.l, out)
		return splitAnd(l.r, out)
	}
	return append(out, e)
}

type colCond struct {
	eq     []expr // equality values (IN list) — nil if none
	isNull bool
	// nullSafe: eq came from <=>, so a NULL value finds the NULL keys instead of nothing.
	nullSafe bool
	lo, hi   expr
	loIncl   bool
	hiIncl   bool
	hasLoHi  bool
	or       []bound
}

// bound is one range on a column; nil lo/hi are open ends.
type bound struct {
	lo, hi         expr
	loIncl, hiIncl bool
}

// anyCollation marks a condition whose outcome does not depend on a collation (IS NULL).
const anyCollation = types.Collation(255)

// orBounds turns a disjunction of simple conditions on one column of the table into ranges.
func orBounds(e expr, isMyCol func(expr, types.Collation) (int, bool), off int) (int, []bound, bool) {
	var leaves []expr
	var flatten func(e expr)
	flatten = func(e expr) {
		if l, ok := e.(*logicExpr); ok && l.op == opcode.LogicOr {
			flatten(l.l)
			flatten(l.r)
			return
		}
		leaves = append(leaves, e)
	}
	flatten(e)
	col := -1
	var out []bound
	same := func(c int) bool {
		if col < 0 {
			col = c
		}
		return c == col
	}
	for _, leaf := range leaves {
		switch x := leaf.(type) {
		case *betweenExpr:
			c, ok := isMyCol(x.e, x.coll)
			if !ok || x.not || !same(c) || !boundBefore(x.lo, off) || !boundBefore(x.hi, off) {
				return 0, nil, false
			}
			out = append(out, bound{lo: x.lo, hi: x.hi, loIncl: true, hiIncl: true})
		case *inExpr:
			c, ok := isMyCol(x.e, x.coll)
			if !ok || x.not || !same(c) {
				return 0, nil, false
			}
			for _, v := range x.list {
				if !boundBefore(v, off) {
					return 0, nil, false
				}
				out = append(out, bound{lo: v, hi: v, loIncl: true, hiIncl: true})
			}
		case *cmpExpr:
			c, ok := isMyCol(x.l, x.coll)
			other, op := x.r, x.op
			if !ok {
				c, ok = isMyCol(x.r, x.coll)
				other, op = x.l, flipOp(op)
			}
			if !ok || !same(c) || !boundBefore(other, off) {
				return 0, nil, false
			}
			switch op {
			case opcode.EQ:
				out = append(out, bound{lo: other, hi: other, loIncl: true, hiIncl: true})
			case opcode.LT, opcode.LE:
				out = append(out, bound{hi: other, hiIncl: op == opcode.LE})
			case opcode.GT, opcode.GE:
				out = append(out, bound{lo: other, loIncl: op == opcode.GE})
			default:
				return 0, nil, false
			}
		default:
			return 0, nil, false
		}
	}
	return col, out, col >= 0
}

// planAccess picks the best index for the table whose columns start at off in the flat row.
func planAccess(tbl *catalog.Table, off int, conds []expr) *accessPlan {
	if tbl == nil {
		return &accessPlan{}
	}
	byCol := map[int]*colCond{}
	get := func(col int) *colCond {
		c := byCol[col]
		if c == nil {
			c = &colCond{}
			byCol[col] = c
		}
		return c
	}
	// isMyCol reports a column of this table compared under coll. String keys are ordered by the column's
	// collation, so a comparison under another one (COLLATE, a binary operand) cannot use its index.
	isMyCol := func(e expr, coll types.Collation) (int, bool) {
		r, ok := e.(*colRef)
		if !ok || r.idx < off || r.idx >= off+len(tbl.Columns) {
			return 0, false
		}
		if ft := &tbl.Columns[r.idx-off].Type; coll != anyCollation && ft.Class() == types.ClassString && ft.Coll != coll {
			return 0, false
		}
		return r.idx - off, true
	}
	for _, c := range conds {
		switch x := c.(type) {
		case *cmpExpr:
			col, ok := isMyCol(x.l, x.coll)
			other, op := x.r, x.op
			if !ok {
				col, ok = isMyCol(x.r, x.coll)
				other = x.l
				op = flipOp(op)
			}
			if !ok || !boundBefore(other, off) {
				continue
			}
			cc := get(col)
			switch op {
			case opcode.EQ, opcode.NullEQ:
				if cc.eq == nil && !cc.isNull {
					cc.eq = []expr{other}
					cc.nullSafe = op == opcode.NullEQ
				}
			case opcode.GT, opcode.GE:
				if cc.lo == nil {
					cc.lo, cc.loIncl, cc.hasLoHi = other, op == opcode.GE, true
				}
			case opcode.LT, opcode.LE:
				if cc.hi == nil {
					cc.hi, cc.hiIncl, cc.hasLoHi = other, op == opcode.LE, true
				}
			}
		case *inExpr:
			col, ok := isMyCol(x.e, x.coll)
			if !ok || x.not {
				continue
			}
			all := true
			for _, l := range x.list {
				if !boundBefore(l, off) {
					all = false
				}
			}
			if all && get(col).eq == nil {
				get(col).eq = x.list
			}
		case *betweenExpr:
			col, ok := isMyCol(x.e, x.coll)
			if !ok || x.not || !boundBefore(x.lo, off) || !boundBefore(x.hi, off) {
				continue
			}
			cc := get(col)
			if cc.lo == nil && cc.hi == nil {
				cc.lo, cc.hi, cc.loIncl, cc.hiIncl, cc.hasLoHi = x.lo, x.hi, true, true, true
			}
		case *isNullExpr:
			col, ok := isMyCol(x.e, anyCollation)
			if ok && !x.not && get(col).eq == nil {
				get(col).isNull = true
			}
		case *logicExpr:
			if x.op != opcode.LogicOr {
				continue
			}
			if col, bs, ok := orBounds(x, isMyCol, off); ok && get(col).or == nil {
				get(col).or = bs
			}
		}
	}
	if len(byCol) == 0 {
		return &accessPlan{}
	}
	best := &accessPlan{}
	bestScore := 0.0
	for rank, ix := range tbl.Indexes {
		p := &accessPlan{ix: ix}
		n := 0
		for i, c := range ix.Cols {
			cc := byCol[c.Offset]
			if cc == nil {
				break
			}
			if cc.isNull {
				p.eq = append(p.eq, []expr{newConst(types.Null)})
				p.isNull = append(p.isNull, true)
			} else if cc.eq != nil {
				p.eq = append(p.eq, cc.eq)
				p.isNull = append(p.isNull, cc.nullSafe)
			} else {
				if cc.hasLoHi && ix.Columns[i].Length == 0 {
					p.lo, p.hi, p.loIncl, p.hiIncl = cc.lo, cc.hi, cc.loIncl, cc.hiIncl
				} else if cc.or != nil && ix.Columns[i].Length == 0 {
					p.or = cc.or
				}
				break
			}
			n++
			if ix.Columns[i].Length > 0 {
				break
			}
		}
		score := float64(n)
		if p.lo != nil || p.hi != nil || p.or != nil {
			score += 0.5
		}
		if score == 0 {
			continue
		}
		if (ix.Primary || ix.Unique) && n == len(ix.Cols) {
			p.point = true
			for _, ic := range ix.Columns {
				if ic.Length > 0 {
					p.point = false
				}
			}
			score += 10
		}
		if ix.Primary {
			score += 0.25
		}
		score -= float64(rank) * 0.001
		if score > bestScore {
			best, bestScore = p, score
		}
	}
	return best
}

func flipOp(op opcode.Op) opcode.Op {
	switch op {
	case opcode.LT:
		return opcode.GT
	case opcode.LE:
		return opcode.GE
	case opcode.GT:
		return opcode.LT
	case opcode.GE:
		return opcode.LE
	}
	return op
}

// keyValue casts a search value to the column type for encoding; ok is false when the cast is not exact
// (the comparison semantics would differ from key order).
func keyValue(v types.Value, ft *types.FieldType) (types.Value, bool) {
	if v.IsNull() {
		return v, true
	}
	switch ft.Class() {
	case types.ClassString:
		if !v.IsStringish() {
			return v, false
		}
		return v, true
	case types.ClassInt:
		switch v.Kind() {
		case types.KindInt, types.KindUint, types.KindDecimal, types.KindString, types.KindBytes, types.KindFloat:
		default:
			return v, false
		}
		c, st := types.Cast(v, ft)
		if st != types.OK {
			return v, false
		}
		if v.Kind() != types.KindInt && v.Kind() != types.KindUint && types.Compare(c, v, types.CollationBinary) != 0 {
			return v, false
		}
		return c, true
	case types.ClassDecimal:
		if !v.IsNumeric() || v.Kind() == types.KindFloat {
			return v, false
		}
		c, st := types.Cast(v, ft)
		if st != types.OK {
			return v, false
		}
		return c, true
	case types.ClassFloat:
		if !v.IsNumeric() {
			return v, false
		}
		c, st := types.Cast(v, ft)
		if st != types.OK || types.Compare(c, v, types.CollationBinary) != 0 {
			return v, false
		}
		return c, true
	case types.ClassDate, types.ClassDatetime:
		if !v.IsTemporal() && !v.IsStringish() {
			return v, false
		}
		c, st := types.Cast(v, ft)
		if st != types.OK {
			return v, false
		}
		if ft.Class() == types.ClassDate {
			t, _ := types.ToTime(v)
			if t != t.DateOnly() {
				return v, false
			}
		}
		return c, true
	}
	return v, false
}

type keyRange struct{ start, end []byte }

// ranges evaluates the plan's bounds for the current outer row. full=true means "scan everything";
// an empty slice means no row can match.
func (p *accessPlan) ranges(c *evalCtx) (rs []keyRange, full bool, err error) {
	if p.ix == nil {
		return nil, true, nil
	}
	prefixes := [][]byte{{}}
	anyNull := false
	for i, vals := range p.eq {
		col := p.ix.Cols[i]
		plen := p.ix.Columns[i].Length
		var next [][]byte
		for _, ve := range vals {
			v, err := ve.eval(c)
			if err != nil {
				return nil, false, err
			}
			if v.IsNull() {
				if !p.isNull[i] {
					continue // col = NULL never matches
				}
				anyNull = true
			}
			kv, ok := keyValue(v, &col.Type)
			if !ok {
				return nil, true, nil
			}
			if plen > 0 && kv.IsStringish() {
				kv = prefixValue(kv, plen, &col.Type)
			}
			for _, pre := range prefixes {
				next = append(next, codec.AppendKey(append([]byte(nil), pre...), kv, &col.Type))
			}
			if len(next) > 4096 {
				return nil, true, nil
			}
		}
		prefixes = next
		if len(prefixes) == 0 {
			return nil, false, nil
		}
	}
	sort.Slice(prefixes, func(a, b int) bool { return bytes.Compare(prefixes[a], prefixes[b]) < 0 })
	prefixes = dedupe(prefixes)
	rcol := len(p.eq)
	bounds := p.or
	if p.lo != nil || p.hi != nil {
		bounds = []bound{{lo: p.lo, hi: p.hi, loIncl: p.loIncl, hiIncl: p.hiIncl}}
	}
	for _, pre := range prefixes {
		if bounds == nil {
			if p.point && !anyNull {
				rs = append(rs, keyRange{start: pre, end: nil})
				continue
			}
			rs = append(rs, keyRange{start: pre, end: codec.PrefixEnd(pre)})
			continue
		}
		ft := &p.ix.Cols[rcol].Type
		for _, b := range bounds {
			start := append(append([]byte(nil), pre...), 0x01) // skip NULLs
			end := codec.PrefixEnd(pre)
			empty := false
			if b.lo != nil {
				v, err := b.lo.eval(c)
				if err != nil {
					return nil, false, err
				}
				if v.IsNull() {
					empty = true
				} else if kv, ok := keyValue(v, ft); ok {
					k := codec.AppendKey(append([]byte(nil), pre...), kv, ft)
					if b.loIncl {
						start = k
					} else {
						start = codec.PrefixEnd(k)
					}
				}
			}
			if b.hi != nil {
				v, err := b.hi.eval(c)
				if err != nil {
					return nil, false, err
				}
				if v.IsNull() {
					empty = true
				} else if kv, ok := keyValue(v, ft); ok {
					k := codec.AppendKey(append([]byte(nil), pre...), kv, ft)
					if b.hiIncl {
						end = codec.PrefixEnd(k)
					} else {
						end = k
					}
				}
			}
			if empty || (end != nil && bytes.Compare(start, end) >= 0) {
				continue
			}
			rs = append(rs, keyRange{start: start, end: end})
		}
	}
	if len(bounds) > 1 {
		rs = mergeRanges(rs)
	}
	return rs, false, nil
}

// mergeRanges sorts ranges and merges overlapping ones so no row is read twice.
func mergeRanges(rs []keyRange) []keyRange {
	sort.Slice(rs, func(i, j int) bool { return bytes.Compare(rs[i].start, rs[j].start) < 0 })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.end == nil || bytes.Compare(r.start, last.end) <= 0 {
				if last.end != nil && (r.end == nil || bytes.Compare(r.end, last.end) > 0) {
					last.end = r.end
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

func dedupe(ps [][]byte) [][]byte {
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && bytes.Equal(p, ps[i-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// rowFunc receives each row read; returning false stops the scan.
type rowFunc func(rowKey, image []byte, row []types.Value) (bool, error)

// scanTable reads the rows the plan selects, in index order (reversed when p.desc). With a non-nil need only
// those columns are decoded and fn's row is reused between calls (see rowDecoder).
func (s *Session) scanTable(ctx context.Context, t *storage.Txn, tbl *catalog.Table, p *accessPlan, c *evalCtx, lock lockMode, need *colMask, fn rowFunc) error {
	rs, full, err := p.ranges(c)
	if err != nil {
		return err
	}
	if full {
		rs = []keyRange{{start: nil, end: nil}}
		p = &accessPlan{desc: p.desc && (p.ix == nil || p.ix.Primary)}
	}
	if p.desc {
		for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
			rs[i], rs[j] = rs[j], rs[i]
		}
	}
	primary := p.ix == nil || p.ix.Primary
	dec := newRowDecoder(tbl, need)
	for _, r := range rs {
		if err := s.checkKilled(ctx); err != nil {
			return err
		}
		if r.end == nil && r.start != nil && p.point {
			// point lookup
			var val []byte
			var ok bool
			if primary {
				val, ok, err = getRow(ctx, t, tbl, r.start, lock)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				row, err := dec.decode(val)
				if err != nil {
					return err
				}
				s.e.status.rowsRead.Add(1)
				if more, err := fn(r.start, val, row); err != nil || !more {
					return err
				}
				continue
			}
			var rk []byte
			if lock == lockNone {
				rk, ok, err = t.Get(p.ix.Space, r.start)
			} else {
				rk, ok, err = t.GetForUpdate(ctx, p.ix.Space, r.start, lock == lockExclusive)
			}
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if more, err := s.fetchByRowKey(ctx, t, dec, rk, lock, fn); err != nil || !more {
				return err
			}
			continue
		}
		var it storage.Iterator
		space := tbl.Space
		if !primary {
			space = p.ix.Space
		}
		if lock == lockNone {
			it = t.Scan(space, r.start, r.end, p.desc)
		} else {
			it = t.ScanForUpdate(ctx, space, r.start, r.end, p.desc, lock == lockExclusive)
		}
		more := true
		n := 0
		for more && it.Next() {
			if n++; n&1023 == 0 {
				if err := s.checkKilled(ctx); err != nil {
					it.Close()
					return err
				}
			}
			if primary {
				row, err := dec.decode(it.Value())
				if err != nil {
					it.Close()
					return err
				}
				s.e.status.rowsRead.Add(1)
				more, err = fn(it.Key(), it.Value(), row)
				if err != nil {
					it.Close()
					return err
				}
				continue
			}
			more, err = s.fetchByRowKey(ctx, t, dec, it.Value(), lock, fn)
			if err != nil {
				it.Close()
				return err
			}
		}
		err := it.Err()
		it.Close()
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
	return nil
}

func (s *Session) fetchByRowKey(ctx context.Context, t *storage.Txn, dec *rowDecoder, rk []byte, lock lockMode, fn rowFunc) (bool, error) {
	val, ok, err := getRow(ctx, t, dec.tbl, rk, lock)
	if err != nil {
		return false, err
	}
	if !ok {
		return true, nil
	}
	row, err := dec.decode(val)
	if err != nil {
		return false, err
	}
	s.e.status.rowsRead.Add(1)
	return fn(rk, val, row)
}

// describe names the plan for tests and diagnostics.
func (p *accessPlan) describe() string {
	if p.ix == nil {
		return "full scan"
	}
	name := p.ix.Name
	if p.ix.Primary {
		name = "PRIMARY"
	}
	kind := "range"
	if p.point {
		kind = "point"
	}
	return kind + " " + name + " eq=" + strconv.Itoa(len(p.eq))
}
