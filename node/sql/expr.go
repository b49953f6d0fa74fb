package sql

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/types"
)

// exprType is the static type of an expression, used for result metadata and for choosing how operators
// compare and compute.
type exprType struct {
	ft      types.FieldType
	notNull bool
	// explicitColl: ft.Coll comes from a COLLATE clause, which wins over every other operand's collation.
	explicitColl bool
}

// expr is a compiled expression.
type expr interface {
	eval(c *evalCtx) (types.Value, error)
	typ() *exprType
}

// evalCtx carries what expressions read while a statement runs.
type evalCtx struct {
	s       *Session
	row     []types.Value // the current (joined) row
	aggVals []types.Value // aggregate results of the current group
	// rowIndex counts rows for conversion warnings ("at row N").
	rowIndex int
	// keys/images, when set (multi-table UPDATE/DELETE), receive each joined table's row key and image.
	keys, images [][]byte
}

// scopeCol is a column visible to name resolution.
type scopeCol struct {
	db, table, name string
	et              exprType
	col             *catalog.Column // nil for derived columns
	idx             int             // position in the flat row
	hidden          bool            // merged away by JOIN ... USING: only reachable qualified
}

type scope struct {
	cols []scopeCol
	used []bool // flat-row columns handed out by resolve (colneed.go)
}

func (sc *scope) add(c scopeCol) { sc.cols = append(sc.cols, c) }

// resolve finds a column; ambiguous unqualified names answer 1052.
func (sc *scope) resolve(db, table, name, clause string) (*scopeCol, error) {
	var found *scopeCol
	for i := range sc.cols {
		c := &sc.cols[i]
		if !strings.EqualFold(c.name, name) {
			continue
		}
		if table != "" && c.table != table {
			continue
		}
		if table == "" && c.hidden {
			continue
		}
		if db != "" && c.db != db {
			continue
		}
		if found != nil {
			if table == "" {
				return nil, newErr(ErNonUniq, "Column '%s' in %s is ambiguous", name, clause)
			}
			continue
		}
		found = c
	}
	if found == nil {
		full := name
		if table != "" {
			full = table + "." + name
		}
		if db != "" {
			full = db + "." + full
		}
		return nil, errUnknownColumn(full, clause)
	}
	sc.markUsed(found.idx)
	return found, nil
}

// compiler turns AST expressions into expr trees.
type compiler struct {
	s      *Session
	sc     *scope
	clause string      // for 1054 messages: "SELECT", "WHERE", ...
	aggs   *[]*aggCall // non-nil where aggregate functions are allowed
	params []types.Value
	// colHook, when set, can replace a column reference (ORDER BY aliases, ON DUPLICATE KEY VALUES()).
	insertValues []types.Value
	// aliases, when set, resolve unqualified names to select-list fields first (HAVING, ORDER BY).
	aliases map[string]expr
	// outer, inside a subquery, resolves names the subquery's own tables do not have (correlation).
	outer *outerBox
}

// outerBox links a subquery to the row of its enclosing query.
type outerBox struct {
	sc     *scope
	row    []types.Value // the enclosing query's current row, set before each evaluation
	refs   []int         // enclosing-row columns the subquery reads
	parent *outerBox
}

// outerRef reads a column of the enclosing query's current row.
type outerRef struct {
	box *outerBox
	idx int
	et  exprType
}

func (x *outerRef) eval(*evalCtx) (types.Value, error) { return x.box.row[x.idx], nil }
func (x *outerRef) typ() *exprType                     { return &x.et }

func (cp *compiler) compile(n ast.ExprNode) (expr, error) {
	switch x := n.(type) {
	case *driver.ParamMarkerExpr:
		if x.Order >= len(cp.params) {
			return nil, newErr(ErWrongArguments, "Incorrect arguments to EXECUTE")
		}
		c := newConst(cp.params[x.Order])
		c.et = paramType(c.v)
		cp.s.recordParam(c, x.Order)
		return c, nil
	case *driver.ValueExpr:
		return literal(x)
	case *ast.ColumnNameExpr:
		if cp.aliases != nil && x.Name.Table.L == "" {
			if a, ok := cp.aliases[x.Name.Name.L]; ok {
				return a, nil
			}
		}
		c, err := cp.sc.resolve(x.Name.Schema.O, x.Name.Table.O, x.Name.Name.O, cp.clause)
		if err != nil {
			if me, ok := err.(*Error); ok && me.Code == ErBadField && cp.outer != nil {
				if oc, oerr := cp.outer.sc.resolve(x.Name.Schema.O, x.Name.Table.O, x.Name.Name.O, cp.clause); oerr == nil {
					cp.outer.refs = append(cp.outer.refs, oc.idx)
					return &outerRef{box: cp.outer, idx: oc.idx, et: oc.et}, nil
				}
				for p := cp.outer.parent; p != nil; p = p.parent {
					if _, perr := p.sc.resolve(x.Name.Schema.O, x.Name.Table.O, x.Name.Name.O, cp.clause); perr == nil {
						return nil, errNotSupported("subqueries correlated to a query more than one level out")
					}
				}
			}
			return nil, err
		}
		return &colRef{idx: c.idx, et: c.et}, nil
	case *ast.ParenthesesExpr:
		return cp.compile(x.Expr)
	case *ast.BinaryOperationExpr:
		return cp.binary(x)
	case *ast.UnaryOperationExpr:
		return cp.unary(x)
	case *ast.IsNullExpr:
		e, err := cp.compile(x.Expr)
		if err != nil {
			return nil, err
		}
		return &isNullExpr{e: e, not: x.Not}, nil
	case *ast.IsTruthExpr:
		e, err := cp.compile(x.Expr)
		if err != nil {
			return nil, err
		}
		return &isTruthExpr{e: e, not: x.Not, truth: x.True != 0}, nil
	case *ast.PatternInExpr:
		e, err := cp.compile(x.Expr)
		if err != nil {
			return nil, err
		}
		if x.Sel != nil {
			sq, ok := x.Sel.(*ast.SubqueryExpr)
			if !ok {
				return nil, errNotSupported("this IN form")
			}
			sub, err := cp.subquery(sq.Query, 'i')
			if err != nil {
				return nil, err
			}
			return &inSubqueryExpr{e: e, sub: sub, not: x.Not, coll: collOf(e, sub)}, nil
		}
		list, err := cp.compileList(x.List)
		if err != nil {
			return nil, err
		}
		if err := explicitCollConflict("in", append([]expr{e}, list...)...); err != nil {
			return nil, err
		}
		return &inExpr{e: e, list: list, not: x.Not, coll: collOf(append([]expr{e}, list...)...)}, nil
	case *ast.BetweenExpr:
		e, err := cp.compile(x.Expr)
		if err != nil {
			return nil, err
		}
		lo, err := cp.compile(x.Left)
		if err != nil {
			return nil, err
		}
		hi, err := cp.compile(x.Right)
		if err != nil {
			return nil, err
		}
		if err := explicitCollConflict("between", e, lo, hi); err != nil {
			return nil, err
		}
		return &betweenExpr{e: e, lo: lo, hi: hi, not: x.Not, coll: collOf(e, lo, hi)}, nil
	case *ast.PatternLikeOrIlikeExpr:
		e, err := cp.compile(x.Expr)
		if err != nil {
			return nil, err
		}
		p, err := cp.compile(x.Pattern)
		if err != nil {
			return nil, err
		}
		if err := explicitCollConflict("like", e, p); err != nil {
			return nil, err
		}
		coll := collOf(e, p)
		if !x.IsLike {
			coll = types.CollationGeneralCI
		}
		return &likeExpr{e: e, p: p, not: x.Not, esc: rune(x.Escape), coll: coll}, nil
	case *ast.CaseExpr:
		return cp.caseExpr(x)
	case *ast.FuncCallExpr:
		return cp.funcCall(x)
	case *ast.FuncCastExpr:
		return cp.cast(x)
	case *ast.AggregateFuncExpr:
		return cp.aggregate(x)
	case *ast.VariableExpr:
		return cp.variable(x)
	case *ast.DefaultExpr:
		return nil, errNotSupported("DEFAULT() in this context")
	case *ast.SubqueryExpr:
		return cp.subquery(x.Query, 's')
	case *ast.ExistsSubqueryExpr:
		sq, ok := x.Sel.(*ast.SubqueryExpr)
		if !ok {
			return nil, errNotSupported("this EXISTS form")
		}
		sub, err := cp.subquery(sq.Query, 'e')
		if err != nil {
			return nil, err
		}
		sub.negate = x.Not
		return sub, nil
	case *ast.CompareSubqueryExpr:
		return nil, errNotSupported("ANY/ALL subqueries")
	case *ast.RowExpr:
		return nil, errNotSupported("row constructors")
	case *ast.SetCollationExpr:
		return cp.collate(x)
	case *ast.WindowFuncExpr:
		return nil, errNotSupported("window functions")
	case *ast.TimeUnitExpr:
		return nil, errNotSupported("INTERVAL expressions")
	case *ast.ValuesExpr:
		return cp.valuesExpr(x)
	case *ast.PatternRegexpExpr:
		return nil, errNotSupported("REGEXP")
	}
	return nil, errNotSupported(fmt.Sprintf("expression %T", n))
}

func (cp *compiler) compileList(ns []ast.ExprNode) ([]expr, error) {
	out := make([]expr, len(ns))
	for i, n := range ns {
		e, err := cp.compile(n)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// collOf picks the collation for comparing expressions: binary if any string operand is binary.
func collOf(es ...expr) types.Collation {
	coll := types.CollationGeneralCI
	for _, e := range es {
		if et := e.typ(); et.explicitColl {
			return et.ft.Coll
		}
	}
	for _, e := range es {
		ft := &e.typ().ft
		if ft.Tp == mysql.TypeNull {
			continue // a NULL literal has no collation to impose
		}
		if ft.Class() == types.ClassString {
			if ft.Coll == types.CollationBinary {
				return types.CollationBinary
			}
			if ft.Coll == types.CollationBin {
				coll = types.CollationBin
			}
		}
	}
	return coll
}

// ---- leaves ----

type constExpr struct {
	v  types.Value
	et exprType
}

func (c *constExpr) eval(*evalCtx) (types.Value, error) { return c.v, nil }
func (c *constExpr) typ() *exprType                     { return &c.et }

func newConst(v types.Value) *constExpr {
	return &constExpr{v: v, et: typeOfValue(v)}
}

// typeOfValue is the static type of a literal value.
func typeOfValue(v types.Value) exprType {
	et := exprType{notNull: !v.IsNull()}
	switch v.Kind() {
	case types.KindNull:
		et.ft = types.FieldType{Tp: mysql.TypeNull, Coll: types.CollationBinary}
	case types.KindInt:
		// As MariaDB's Item_int: INT up to 9 characters, BIGINT beyond.
		tp := mysql.TypeLonglong
		if n := len(v.String()); n <= 9 {
			tp = mysql.TypeLong
		}
		et.ft = types.FieldType{Tp: tp, Flen: len(v.String()), Coll: types.CollationBinary}
	case types.KindUint:
		et.ft = types.FieldType{Tp: mysql.TypeLonglong, Unsigned: true, Flen: len(v.String()), Coll: types.CollationBinary}
	case types.KindFloat:
		et.ft = types.FieldType{Tp: mysql.TypeDouble, Flen: 22, Decimals: 31, Coll: types.CollationBinary}
	case types.KindDecimal:
		d := v.Decimal()
		et.ft = types.FieldType{Tp: mysql.TypeNewDecimal, Flen: d.IntDigits() + int(d.Scale()) + 1, Decimals: int(d.Scale()), Coll: types.CollationBinary}
	case types.KindString:
		et.ft = types.FieldType{Tp: mysql.TypeVarString, Flen: types.CharLen(v.Str()), Decimals: 39, Coll: types.CollationGeneralCI}
	case types.KindBytes:
		et.ft = types.FieldType{Tp: mysql.TypeVarString, Flen: len(v.Str()), Decimals: 39, Coll: types.CollationBinary}
	case types.KindDate:
		et.ft = types.FieldType{Tp: mysql.TypeDate, Flen: 10, Coll: types.CollationBinary}
	case types.KindDatetime:
		et.ft = types.FieldType{Tp: mysql.TypeDatetime, Flen: 19, Coll: types.CollationBinary}
	}
	return et
}

func literal(x *driver.ValueExpr) (expr, error) {
	d := &x.Datum
	switch d.Kind() {
	case driver.KindNull:
		return newConst(types.Null), nil
	case driver.KindInt64:
		return newConst(types.NewInt(d.GetInt64())), nil
	case driver.KindUint64:
		return newConst(types.NewUint(d.GetUint64())), nil
	case driver.KindFloat32, driver.KindFloat64:
		return newConst(types.NewFloat(d.GetFloat64())), nil
	case driver.KindString:
		return newConst(types.NewString(d.GetString())), nil
	case driver.KindBytes:
		return newConst(types.NewBinary(string(d.GetBytes()))), nil
	case driver.KindMysqlDecimal:
		dec, _, err := types.ParseDecimal(d.GetMysqlDecimal().String())
		if err != nil {
			return nil, newErr(ErParse, "invalid decimal literal")
		}
		return newConst(types.NewDecimal(dec)), nil
	case driver.KindBinaryLiteral:
		return newConst(types.NewBinary(string(d.GetBinaryLiteral()))), nil
	}
	return nil, errNotSupported("this literal")
}

type colRef struct {
	idx int
	et  exprType
}

func (c *colRef) eval(ctx *evalCtx) (types.Value, error) { return ctx.row[c.idx], nil }
func (c *colRef) typ() *exprType                         { return &c.et }

// ---- predicates ----

type isNullExpr struct {
	e   expr
	not bool
}

func (x *isNullExpr) eval(c *evalCtx) (types.Value, error) {
	v, err := x.e.eval(c)
	if err != nil {
		return v, err
	}
	return types.NewBool(v.IsNull() != x.not), nil
}
func (x *isNullExpr) typ() *exprType { return &boolType }

var boolType = exprType{ft: types.FieldType{Tp: mysql.TypeLong, Flen: 1, Coll: types.CollationBinary}, notNull: true}
var nullableBool = exprType{ft: types.FieldType{Tp: mysql.TypeLong, Flen: 1, Coll: types.CollationBinary}}

type isTruthExpr struct {
	e          expr
	not, truth bool
}

func (x *isTruthExpr) eval(c *evalCtx) (types.Value, error) {
	v, err := x.e.eval(c)
	if err != nil {
		return v, err
	}
	t, ok := types.Truth(v)
	r := ok && t == x.truth
	return types.NewBool(r != x.not), nil
}
func (x *isTruthExpr) typ() *exprType { return &boolType }

type inExpr struct {
	e    expr
	list []expr
	not  bool
	coll types.Collation
}

func (x *inExpr) eval(c *evalCtx) (types.Value, error) {
	v, err := x.e.eval(c)
	if err != nil || v.IsNull() {
		return types.Null, err
	}
	sawNull := false
	for _, le := range x.list {
		w, err := le.eval(c)
		if err != nil {
			return w, err
		}
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
func (x *inExpr) typ() *exprType { return &nullableBool }

type betweenExpr struct {
	e, lo, hi expr
	not       bool
	coll      types.Collation
}

func (x *betweenExpr) eval(c *evalCtx) (types.Value, error) {
	v, err := x.e.eval(c)
	if err != nil {
		return v, err
	}
	lo, err := x.lo.eval(c)
	if err != nil {
		return lo, err
	}
	hi, err := x.hi.eval(c)
	if err != nil {
		return hi, err
	}
	if v.IsNull() {
		return types.Null, nil
	}
	// Three-valued: v >= lo AND v <= hi
	geLo, loNull := false, lo.IsNull()
	if !loNull {
		geLo = types.Compare(v, lo, x.coll) >= 0
	}
	leHi, hiNull := false, hi.IsNull()
	if !hiNull {
		leHi = types.Compare(v, hi, x.coll) <= 0
	}
	var r types.Value
	switch {
	case (!loNull && !geLo) || (!hiNull && !leHi):
		r = types.NewBool(false)
	case loNull || hiNull:
		return types.Null, nil
	default:
		r = types.NewBool(true)
	}
	if x.not {
		return types.NewBool(r.Int() == 0), nil
	}
	return r, nil
}
func (x *betweenExpr) typ() *exprType { return &nullableBool }

type likeExpr struct {
	e, p expr
	not  bool
	esc  rune
	coll types.Collation
}

func (x *likeExpr) eval(c *evalCtx) (types.Value, error) {
	v, err := x.e.eval(c)
	if err != nil {
		return v, err
	}
	p, err := x.p.eval(c)
	if err != nil {
		return p, err
	}
	if v.IsNull() || p.IsNull() {
		return types.Null, nil
	}
	m := x.coll.LikeMatch(types.ToText(v), types.ToText(p), x.esc)
	return types.NewBool(m != x.not), nil
}
func (x *likeExpr) typ() *exprType { return &nullableBool }

// ---- CASE ----

type caseExpr struct {
	value expr
	whens []expr
	thens []expr
	els   expr
	et    exprType
	coll  types.Collation
}

func (cp *compiler) caseExpr(x *ast.CaseExpr) (expr, error) {
	ce := &caseExpr{}
	var err error
	if x.Value != nil {
		if ce.value, err = cp.compile(x.Value); err != nil {
			return nil, err
		}
	}
	var results []expr
	for _, w := range x.WhenClauses {
		we, err := cp.compile(w.Expr)
		if err != nil {
			return nil, err
		}
		te, err := cp.compile(w.Result)
		if err != nil {
			return nil, err
		}
		ce.whens = append(ce.whens, we)
		ce.thens = append(ce.thens, te)
		results = append(results, te)
	}
	if x.ElseClause != nil {
		if ce.els, err = cp.compile(x.ElseClause); err != nil {
			return nil, err
		}
		results = append(results, ce.els)
	}
	ce.et = mergeTypes(results)
	if ce.els == nil {
		ce.et.notNull = false
	}
	if ce.value != nil {
		ce.coll = collOf(append([]expr{ce.value}, ce.whens...)...)
	}
	return ce, nil
}

func (x *caseExpr) eval(c *evalCtx) (types.Value, error) {
	var base types.Value
	if x.value != nil {
		v, err := x.value.eval(c)
		if err != nil {
			return v, err
		}
		base = v
	}
	for i, w := range x.whens {
		wv, err := w.eval(c)
		if err != nil {
			return wv, err
		}
		match := false
		if x.value != nil {
			match = !base.IsNull() && !wv.IsNull() && types.Compare(base, wv, x.coll) == 0
		} else {
			match, _ = types.Truth(wv)
		}
		if match {
			v, err := x.thens[i].eval(c)
			return coerce(v, &x.et.ft), err
		}
	}
	if x.els != nil {
		v, err := x.els.eval(c)
		return coerce(v, &x.et.ft), err
	}
	return types.Null, nil
}
func (x *caseExpr) typ() *exprType { return &x.et }

// mergeTypes is the result type of CASE/IF/COALESCE branches (MySQL's type aggregation, simplified:
// any string → string, any float → double, any decimal → decimal, else integer).
func mergeTypes(es []expr) exprType {
	et := exprType{notNull: true}
	var hasStr, hasBin, hasFloat, hasDec, hasInt, hasDate, hasDT, hasTime, allUnsigned = false, false, false, false, false, false, false, false, true
	flen, dec := 0, 0
	allLong, anyUnsigned := true, false // every integer operand is at most INT; some are unsigned
	for _, e := range es {
		t := e.typ()
		if !t.notNull {
			et.notNull = false
		}
		switch t.ft.Tp {
		case mysql.TypeNull:
			continue
		}
		switch t.ft.Class() {
		case types.ClassString:
			hasStr = true
			if t.ft.Coll == types.CollationBinary {
				hasBin = true
			}
		case types.ClassFloat:
			hasFloat = true
		case types.ClassDecimal:
			hasDec = true
		case types.ClassInt:
			hasInt = true
			if !t.ft.Unsigned {
				allUnsigned = false
			} else {
				anyUnsigned = true
			}
			if t.ft.Tp == mysql.TypeLonglong {
				allLong = false
			}
		case types.ClassDate:
			hasDate = true
		case types.ClassDatetime:
			hasDT = true
		case types.ClassTime:
			hasTime = true
		}
		if t.ft.Flen > flen {
			flen = t.ft.Flen
		}
		if t.ft.Decimals > dec && t.ft.Decimals < 31 {
			dec = t.ft.Decimals
		}
	}
	switch {
	case hasStr || ((hasDate || hasDT || hasTime) && (hasInt || hasFloat || hasDec)) || (hasTime && (hasDate || hasDT)):
		coll := types.CollationGeneralCI
		if hasBin {
			coll = types.CollationBinary
		}
		et.ft = types.FieldType{Tp: mysql.TypeVarString, Flen: flen, Coll: coll}
	case hasFloat:
		et.ft = types.FieldType{Tp: mysql.TypeDouble, Flen: 22, Decimals: 31, Coll: types.CollationBinary}
	case hasDec:
		et.ft = types.FieldType{Tp: mysql.TypeNewDecimal, Flen: flen + dec, Decimals: dec, Coll: types.CollationBinary}
	case hasInt:
		et.ft = types.FieldType{Tp: mysql.TypeLonglong, Unsigned: allUnsigned, Flen: flen, Coll: types.CollationBinary}
		if allLong && (allUnsigned || !anyUnsigned) {
			et.ft.Tp = mysql.TypeLong // INT with INT stays INT, as MariaDB aggregates them
		}
	case hasDT:
		et.ft = types.FieldType{Tp: mysql.TypeDatetime, Flen: 19, Coll: types.CollationBinary}
	case hasDate:
		et.ft = types.FieldType{Tp: mysql.TypeDate, Flen: 10, Coll: types.CollationBinary}
	case hasTime:
		et.ft = timeFieldType(dec)
	default:
		et.ft = types.FieldType{Tp: mysql.TypeNull, Coll: types.CollationBinary}
	}
	return et
}

// coerce converts v to the storage kind of ft's class so result metadata and values agree.
func coerce(v types.Value, ft *types.FieldType) types.Value {
	if v.IsNull() {
		return v
	}
	switch ft.Class() {
	case types.ClassInt:
		if v.Kind() == types.KindInt || v.Kind() == types.KindUint {
			return v
		}
		if ft.Unsigned {
			u, _ := types.ToUint(v)
			return types.NewUint(u)
		}
		i, _ := types.ToInt(v)
		return types.NewInt(i)
	case types.ClassFloat:
		if v.Kind() == types.KindFloat {
			return v
		}
		f, _ := types.ToFloat(v)
		return types.NewFloat(f)
	case types.ClassDecimal:
		if v.Kind() == types.KindDecimal {
			if ft.Decimals >= 0 && ft.Decimals < 31 && int(v.Decimal().Scale()) != ft.Decimals {
				return types.NewDecimal(v.Decimal().Round(int32(ft.Decimals)))
			}
			return v
		}
		d, _ := types.ToDecimal(v)
		if ft.Decimals >= 0 && ft.Decimals < 31 {
			d = d.Round(int32(ft.Decimals))
		}
		return types.NewDecimal(d)
	case types.ClassString:
		if v.IsStringish() {
			return v
		}
		if ft.Coll == types.CollationBinary {
			return types.NewBinary(v.String())
		}
		return types.NewString(v.String())
	case types.ClassDate:
		if v.Kind() == types.KindDate {
			return v
		}
		t, _ := types.ToTime(v)
		return types.NewDate(t)
	case types.ClassDatetime:
		if v.Kind() == types.KindDatetime {
			return v
		}
		t, _ := types.ToTime(v)
		return types.NewDatetime(t)
	case types.ClassTime:
		if v.Kind() == types.KindTime {
			return v
		}
		us, st := types.ToDuration(v)
		if st == types.Invalid {
			return types.Null
		}
		return types.NewDuration(us)
	}
	if ft.Tp == mysql.TypeNull {
		return types.Null
	}
	return v
}

// ---- variables ----

type sysVarExpr struct {
	name  string
	scope varScope
	et    exprType
}

func (x *sysVarExpr) eval(c *evalCtx) (types.Value, error) {
	return c.s.getSysVar(x.name, x.scope)
}
func (x *sysVarExpr) typ() *exprType { return &x.et }

type userVarExpr struct {
	name string
	et   exprType
}

func (x *userVarExpr) eval(c *evalCtx) (types.Value, error) {
	v, ok := c.s.userVars[x.name]
	if !ok {
		return types.Null, nil
	}
	return v, nil
}

// userVarType types a user variable not set yet (NULL): MariaDB says LONGBLOB.
var userVarType = exprType{ft: types.FieldType{Tp: mysql.TypeLongBlob, Flen: -1, Coll: types.CollationBinary}}

func (x *userVarExpr) typ() *exprType { return &x.et }

// userVarAssign is @name := expr.
type userVarAssign struct {
	name string
	e    expr
}

func (x *userVarAssign) typ() *exprType { return x.e.typ() }
func (x *userVarAssign) eval(c *evalCtx) (types.Value, error) {
	v, err := x.e.eval(c)
	if err != nil {
		return v, err
	}
	c.s.userVars[x.name] = v
	return v, nil
}

func (cp *compiler) variable(x *ast.VariableExpr) (expr, error) {
	name := strings.ToLower(x.Name)
	if !x.IsSystem {
		// The type comes from the value the variable holds now; the value is read when evaluated, so
		// "SELECT @n := @n + 1 FROM t" sees every assignment.
		et := userVarType
		if v, ok := cp.s.userVars[name]; ok {
			et = varType(v, false)
		}
		if x.Value != nil {
			val, err := cp.compile(x.Value)
			if err != nil {
				return nil, err
			}
			return &userVarAssign{name: name, e: val}, nil
		}
		return &userVarExpr{name: name, et: et}, nil
	}
	if x.Value != nil {
		return nil, errNotSupported("assignment to system variables inside expressions")
	}
	sc := scopeDefault
	if x.ExplicitScope {
		if x.IsGlobal {
			sc = scopeGlobal
		} else {
			sc = scopeSession
		}
	}
	v, err := cp.s.getSysVar(name, sc)
	if err != nil {
		return nil, err
	}
	et := varType(v, true)
	if def, ok := sysVars[name]; ok && def.kind == varInt && et.ft.Class() == types.ClassInt {
		et.ft.Unsigned = true // MariaDB's numeric system variables are BIGINT UNSIGNED; booleans BIGINT
	}
	return &sysVarExpr{name: name, scope: sc, et: et}, nil
}

// valuesExpr is VALUES(col) inside ON DUPLICATE KEY UPDATE: the value the INSERT tried to write.
type valuesExpr struct {
	idx int
	et  exprType
	cp  *compiler
}

func (x *valuesExpr) eval(c *evalCtx) (types.Value, error) {
	if x.cp.insertValues == nil {
		return types.Null, nil
	}
	return x.cp.insertValues[x.idx], nil
}
func (x *valuesExpr) typ() *exprType { return &x.et }

func (cp *compiler) valuesExpr(x *ast.ValuesExpr) (expr, error) {
	c, err := cp.sc.resolve("", "", x.Column.Name.Name.O, cp.clause)
	if err != nil {
		return nil, err
	}
	if c.col == nil {
		return nil, errUnknownColumn(x.Column.Name.Name.O, cp.clause)
	}
	return &valuesExpr{idx: c.col.Offset, et: c.et, cp: cp}, nil
}

// explicitCollConflict is MariaDB's 1267 for operands with different COLLATE clauses.
func explicitCollConflict(op string, es ...expr) error {
	var first *exprType
	for _, e := range es {
		et := e.typ()
		if !et.explicitColl {
			continue
		}
		if first == nil {
			first = et
			continue
		}
		if et.ft.Coll != first.ft.Coll {
			return newErr(ErCantAggregate2Collations, "Illegal mix of collations (%s,EXPLICIT) and (%s,EXPLICIT) for operation '%s'",
				first.ft.Coll.Name(), et.ft.Coll.Name(), op)
		}
	}
	return nil
}

// collateExpr is "expr COLLATE name": the value as a string of the connection's character set (utf8mb4)
// compared under the named collation.
type collateExpr struct {
	e  expr
	et exprType
}

func (x *collateExpr) typ() *exprType { return &x.et }
func (x *collateExpr) eval(c *evalCtx) (types.Value, error) {
	v, err := x.e.eval(c)
	if err != nil || v.IsNull() || v.Kind() == types.KindString {
		return v, err
	}
	return types.NewString(types.ToText(v)), nil
}

func (cp *compiler) collate(x *ast.SetCollationExpr) (expr, error) {
	e, err := cp.compile(x.Expr)
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(x.Collate)
	var coll types.Collation
	switch name {
	case "utf8mb4_general_ci":
		coll = types.CollationGeneralCI
	case "utf8mb4_bin":
		coll = types.CollationBin
	default:
		if strings.HasPrefix(name, "utf8mb4_") {
			return nil, errNotSupported("COLLATE " + name)
		}
		cs, _, _ := strings.Cut(name, "_")
		if cs == "utf8" {
			cs = "utf8mb3"
			name = "utf8mb3" + strings.TrimPrefix(name, "utf8")
		}
		return nil, newErr(ErCollationCharsetMismatch, "COLLATION '%s' is not valid for CHARACTER SET '%s'", name, "utf8mb4")
	}
	if ft := &e.typ().ft; ft.Class() == types.ClassString && ft.Coll == types.CollationBinary {
		return nil, newErr(ErCollationCharsetMismatch, "COLLATION '%s' is not valid for CHARACTER SET 'binary'", name)
	}
	et := exprType{ft: types.FieldType{Tp: mysql.TypeVarString, Flen: e.typ().ft.Flen, Coll: coll}, notNull: e.typ().notNull, explicitColl: true}
	if ft := &e.typ().ft; ft.Class() == types.ClassString {
		et.ft = *ft
		et.ft.Coll = coll
	}
	return &collateExpr{e: e, et: et}, nil
}

// varType is the result type of a variable holding v, as MariaDB types them: integers BIGINT
// (system variables' unsigned ones BIGINT UNSIGNED), user variables' strings LONGTEXT, an undefined or
// NULL user variable LONGBLOB.
func varType(v types.Value, system bool) exprType {
	et := typeOfValue(v)
	switch v.Kind() {
	case types.KindInt, types.KindUint:
		et.ft = types.FieldType{Tp: mysql.TypeLonglong, Unsigned: v.Kind() == types.KindUint, Flen: 21, Coll: types.CollationBinary}
	case types.KindString:
		if !system {
			et.ft = types.FieldType{Tp: mysql.TypeLongBlob, Flen: -1, Coll: types.CollationGeneralCI}
		}
	case types.KindNull:
		if !system {
			et.ft = types.FieldType{Tp: mysql.TypeLongBlob, Flen: -1, Coll: types.CollationBinary}
		}
	}
	if !system {
		et.notNull = false
	}
	return et
}

// paramType is the static type of a bound parameter: integers are BIGINT, as MariaDB reports them
// (drivers send 64-bit values). (MariaDB types string parameters CHAR; maxnode keeps VARCHAR, the type
// of the same literal.)
func paramType(v types.Value) exprType {
	et := typeOfValue(v)
	if k := v.Kind(); k == types.KindInt || k == types.KindUint {
		et.ft.Tp, et.ft.Flen = mysql.TypeLonglong, 21
	}
	return et
}
