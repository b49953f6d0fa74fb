package sql

import (
	"math"
	"math/bits"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

type logicExpr struct {
	op   opcode.Op
	l, r expr
}

func (x *logicExpr) typ() *exprType { return &nullableBool }

func (x *logicExpr) eval(c *evalCtx) (types.Value, error) {
	lv, err := x.l.eval(c)
	if err != nil {
		return lv, err
	}
	lt, lok := types.Truth(lv)
	switch x.op {
	case opcode.LogicAnd:
		if lok && !lt {
			return types.NewBool(false), nil
		}
	case opcode.LogicOr:
		if lok && lt {
			return types.NewBool(true), nil
		}
	}
	rv, err := x.r.eval(c)
	if err != nil {
		return rv, err
	}
	rt, rok := types.Truth(rv)
	switch x.op {
	case opcode.LogicAnd:
		if rok && !rt {
			return types.NewBool(false), nil
		}
		if !lok || !rok {
			return types.Null, nil
		}
		return types.NewBool(true), nil
	case opcode.LogicOr:
		if rok && rt {
			return types.NewBool(true), nil
		}
		if !lok || !rok {
			return types.Null, nil
		}
		return types.NewBool(false), nil
	}
	// XOR
	if !lok || !rok {
		return types.Null, nil
	}
	return types.NewBool(lt != rt), nil
}

type cmpExpr struct {
	op   opcode.Op
	l, r expr
	coll types.Collation
}

func (x *cmpExpr) typ() *exprType {
	if x.op == opcode.NullEQ {
		return &boolType
	}
	return &nullableBool
}

func (x *cmpExpr) eval(c *evalCtx) (types.Value, error) {
	lv, err := x.l.eval(c)
	if err != nil {
		return lv, err
	}
	rv, err := x.r.eval(c)
	if err != nil {
		return rv, err
	}
	if lv.IsNull() || rv.IsNull() {
		if x.op == opcode.NullEQ {
			return types.NewBool(lv.IsNull() && rv.IsNull()), nil
		}
		return types.Null, nil
	}
	d := types.Compare(lv, rv, x.coll)
	var r bool
	switch x.op {
	case opcode.EQ, opcode.NullEQ:
		r = d == 0
	case opcode.NE:
		r = d != 0
	case opcode.LT:
		r = d < 0
	case opcode.LE:
		r = d <= 0
	case opcode.GT:
		r = d > 0
	case opcode.GE:
		r = d >= 0
	}
	return types.NewBool(r), nil
}

// arithClass decides how + - * / compute.
type arithClass uint8

const (
	arithInt arithClass = iota
	arithUint
	arithDecimal
	arithFloat
)

type arithExpr struct {
	op    opcode.Op
	l, r  expr
	class arithClass
	et    exprType
	text  string
}

func (x *arithExpr) typ() *exprType { return &x.et }

func classOf(et *exprType) arithClass {
	switch et.ft.Class() {
	case types.ClassInt:
		if et.ft.Unsigned {
			return arithUint
		}
		return arithInt
	case types.ClassDecimal:
		return arithDecimal
	case types.ClassDate, types.ClassDatetime:
		return arithInt
	case types.ClassTime:
		// TIME in arithmetic is the number HHMMSS[.ffffff].
		if et.ft.Decimals > 0 {
			return arithDecimal
		}
		return arithInt
	}
	return arithFloat // strings, and NULL (NULL + 1 is a DOUBLE in MariaDB)
}

func newArith(op opcode.Op, l, r expr) *arithExpr {
	lc, rc := classOf(l.typ()), classOf(r.typ())
	cls := max(lc, rc)
	if cls == arithUint && (lc == arithInt || rc == arithInt) && op != opcode.Plus && op != opcode.Minus && op != opcode.Mul {
		cls = arithUint
	}
	switch op {
	case opcode.Div:
		if cls != arithFloat {
			cls = arithDecimal
		}
	case opcode.IntDiv:
		if cls == arithFloat || cls == arithDecimal {
			// DIV computes in the operands' class then truncates to an integer.
		}
	}
	x := &arithExpr{op: op, l: l, r: r, class: cls}
	lt, rt := l.typ(), r.typ()
	x.et.notNull = lt.notNull && rt.notNull && op != opcode.Div && op != opcode.Mod && op != opcode.IntDiv
	bin := types.CollationBinary
	switch {
	case op == opcode.IntDiv:
		x.et.ft = types.FieldType{Tp: mysql.TypeLonglong, Flen: max(lt.ft.Flen, 1), Coll: bin, Unsigned: cls == arithUint}
		if lt.ft.Class() != types.ClassInt || rt.ft.Class() != types.ClassInt {
			x.et.ft.Flen = 21 // a fractional divisor can make the quotient longer than the dividend
		}
	case cls == arithFloat:
		// A DOUBLE result keeps a fixed scale when its operands have one (DOUBLE(10,2) * 2 shows 2 digits).
		dec := 31
		ld, rd := fixedDecimals(lt), fixedDecimals(rt)
		if ld < 31 && rd < 31 {
			switch op {
			case opcode.Div:
				dec = ld + types.DivPrecisionIncrement
			default:
				dec = max(ld, rd)
			}
			if dec >= 31 {
				dec = 31
			}
		}
		x.et.ft = types.FieldType{Tp: mysql.TypeDouble, Flen: 22, Decimals: dec, Coll: bin}
	case cls == arithDecimal:
		ld, rd := decScale(lt), decScale(rt)
		sc := max(ld, rd)
		switch op {
		case opcode.Mul:
			sc = min(ld+rd, types.MaxDecimalScale)
		case opcode.Div:
			sc = min(ld+types.DivPrecisionIncrement, types.MaxDecimalScale)
		}
		x.et.ft = types.FieldType{Tp: mysql.TypeNewDecimal, Flen: max(lt.ft.Flen, rt.ft.Flen) + sc + 2, Decimals: sc, Coll: bin}
	default:
		// Display widths as MariaDB's: a sum needs a carry digit and a sign, a product both widths. A TIME
		// operand counts as its number HHHMMSS.
		lw, rw := arithWidth(lt), arithWidth(rt)
		flen := max(lw, rw) + 2
		switch op {
		case opcode.Mul:
			flen = lw + rw + 1
		case opcode.Mod:
			flen = max(lw, rw) + 1
		}
		x.et.ft = types.FieldType{Tp: mysql.TypeLonglong, Flen: min(flen, 21), Coll: bin, Unsigned: cls == arithUint}
	}
	return x
}

// arithWidth is an integer operand's width in characters.
func arithWidth(et *exprType) int {
	if et.ft.Class() == types.ClassTime {
		return 7
	}
	return et.ft.Flen
}

func decScale(et *exprType) int {
	if c := et.ft.Class(); c == types.ClassDecimal || c == types.ClassTime {
		return et.ft.Decimals
	}
	return 0
}

func (x *arithExpr) outOfRange(c *evalCtx) error {
	name := "BIGINT"
	if x.class == arithUint {
		name = "BIGINT UNSIGNED"
	}
	if x.class == arithDecimal {
		name = "DECIMAL"
	}
	if x.class == arithFloat {
		name = "DOUBLE"
	}
	return newErr(ErDataOutOfRange, "%s value is out of range in '%s'", name, x.text)
}

func (x *arithExpr) eval(c *evalCtx) (types.Value, error) {
	lv, err := x.l.eval(c)
	if err != nil {
		return lv, err
	}
	rv, err := x.r.eval(c)
	if err != nil {
		return rv, err
	}
	if lv.IsNull() || rv.IsNull() {
		return types.Null, nil
	}
	if x.op == opcode.IntDiv {
		return x.intDiv(c, lv, rv)
	}
	switch x.class {
	case arithInt:
		a, _ := types.ToInt(lv)
		b, _ := types.ToInt(rv)
		var r int64
		switch x.op {
		case opcode.Plus:
			r = a + b
			if (r > a) != (b > 0) {
				return types.Null, x.outOfRange(c)
			}
		case opcode.Minus:
			r = a - b
			if (r < a) != (b > 0) {
				return types.Null, x.outOfRange(c)
			}
		case opcode.Mul:
			if a != 0 && b != 0 {
				r = a * b
				if r/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
					return types.Null, x.outOfRange(c)
				}
			}
		case opcode.Mod:
			if b == 0 {
				c.s.warnDivZero()
				return types.Null, nil
			}
			if b == -1 {
				return types.NewInt(0), nil
			}
			r = a % b
		}
		return types.NewInt(r), nil
	case arithUint:
		return x.uintOp(c, lv, rv)
	case arithDecimal:
		a, _ := types.ToDecimal(lv)
		b, _ := types.ToDecimal(rv)
		var r types.Decimal
		switch x.op {
		case opcode.Plus:
			r = a.Add(b)
		case opcode.Minus:
			r = a.Sub(b)
		case opcode.Mul:
			r = a.Mul(b)
		case opcode.Div:
			q, ok := a.Div(b)
			if !ok {
				c.s.warnDivZero()
				return types.Null, nil
			}
			r = q
		case opcode.Mod:
			q, ok := a.Mod(b)
			if !ok {
				c.s.warnDivZero()
				return types.Null, nil
			}
			r = q
		}
		if r.IntDigits() > types.MaxDecimalPrecision {
			return types.Null, x.outOfRange(c)
		}
		return types.NewDecimal(r), nil
	}
	a, _ := types.ToFloat(lv)
	b, _ := types.ToFloat(rv)
	var r float64
	switch x.op {
	case opcode.Plus:
		r = a + b
	case opcode.Minus:
		r = a - b
	case opcode.Mul:
		r = a * b
	case opcode.Div:
		if b == 0 {
			c.s.warnDivZero()
			return types.Null, nil
		}
		r = a / b
	case opcode.Mod:
		if b == 0 {
			c.s.warnDivZero()
			return types.Null, nil
		}
		r = math.Mod(a, b)
	}
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return types.Null, x.outOfRange(c)
	}
	return types.NewFloat(r), nil
}

func (x *arithExpr) uintOp(c *evalCtx, lv, rv types.Value) (types.Value, error) {
	// Mixed signed/unsigned: compute in 128-bit-ish terms via signs.
	ai, an := signedParts(lv)
	bi, bn := signedParts(rv)
	switch x.op {
	case opcode.Plus:
		if !an && !bn {
			s, carry := bits.Add64(ai, bi, 0)
			if carry != 0 {
				return types.Null, x.outOfRange(c)
			}
			return types.NewUint(s), nil
		}
		if an && bn {
			return types.Null, x.outOfRange(c)
		}
		pos, neg := ai, bi
		if an {
			pos, neg = bi, ai
		}
		if neg > pos {
			return types.Null, x.outOfRange(c)
		}
		return types.NewUint(pos - neg), nil
	case opcode.Minus:
		if !an && !bn {
			if bi > ai {
				return types.Null, x.outOfRange(c)
			}
			return types.NewUint(ai - bi), nil
		}
		if !an && bn {
			s, carry := bits.Add64(ai, bi, 0)
			if carry != 0 {
				return types.Null, x.outOfRange(c)
			}
			return types.NewUint(s), nil
		}
		return types.Null, x.outOfRange(c)
	case opcode.Mul:
		if (an != bn) && ai != 0 && bi != 0 {
			return types.Null, x.outOfRange(c)
		}
		hi, lo := bits.Mul64(ai, bi)
		if hi != 0 {
			return types.Null, x.outOfRange(c)
		}
		return types.NewUint(lo), nil
	case opcode.Mod:
		if bi == 0 {
			c.s.warnDivZero()
			return types.Null, nil
		}
		if an {
			return types.NewInt(-int64(ai % bi)), nil
		}
		return types.NewUint(ai % bi), nil
	}
	return types.Null, nil
}

// signedParts returns |v| and whether v is negative.
func signedParts(v types.Value) (uint64, bool) {
	if v.Kind() == types.KindUint {
		return v.Uint(), false
	}
	i, _ := types.ToInt(v)
	if i < 0 {
		return uint64(-i), true
	}
	return uint64(i), false
}

func (x *arithExpr) intDiv(c *evalCtx, lv, rv types.Value) (types.Value, error) {
	if x.class == arithFloat || x.class == arithDecimal {
		a, _ := types.ToDecimal(lv)
		b, _ := types.ToDecimal(rv)
		if b.Sign() == 0 {
			c.s.warnDivZero()
			return types.Null, nil
		}
		q, _ := a.Div(b)
		i, ok := q.Truncate(0).Int64()
		if !ok {
			return types.Null, x.outOfRange(c)
		}
		return types.NewInt(i), nil
	}
	ai, an := signedParts(lv)
	bi, bn := signedParts(rv)
	if bi == 0 {
		c.s.warnDivZero()
		return types.Null, nil
	}
	q := ai / bi
	if an != bn {
		if q > 1<<63 {
			return types.Null, x.outOfRange(c)
		}
		return types.NewInt(-int64(q)), nil
	}
	if x.class == arithUint {
		return types.NewUint(q), nil
	}
	if q > math.MaxInt64 {
		return types.Null, x.outOfRange(c)
	}
	return types.NewInt(int64(q)), nil
}

type bitExpr struct {
	op   opcode.Op
	l, r expr
}

var uintType = exprType{ft: types.FieldType{Tp: mysql.TypeLonglong, Unsigned: true, Flen: 21, Coll: types.CollationBinary}}

func (x *bitExpr) typ() *exprType { return &uintType }
func (x *bitExpr) eval(c *evalCtx) (types.Value, error) {
	lv, err := x.l.eval(c)
	if err != nil {
		return lv, err
	}
	var rv types.Value
	if x.r != nil {
		if rv, err = x.r.eval(c); err != nil {
			return rv, err
		}
		if rv.IsNull() {
			return types.Null, nil
		}
	}
	if lv.IsNull() {
		return types.Null, nil
	}
	a := toBits(lv)
	b := toBits(rv)
	switch x.op {
	case opcode.And:
		return types.NewUint(a & b), nil
	case opcode.Or:
		return types.NewUint(a | b), nil
	case opcode.Xor:
		return types.NewUint(a ^ b), nil
	case opcode.LeftShift:
		if b >= 64 {
			return types.NewUint(0), nil
		}
		return types.NewUint(a << b), nil
	case opcode.RightShift:
		if b >= 64 {
			return types.NewUint(0), nil
		}
		return types.NewUint(a >> b), nil
	case opcode.BitNeg:
		return types.NewUint(^a), nil
	}
	return types.Null, nil
}

func toBits(v types.Value) uint64 {
	if v.Kind() == types.KindUint {
		return v.Uint()
	}
	i, _ := types.ToInt(v)
	return uint64(i)
}

func (cp *compiler) binary(x *ast.BinaryOperationExpr) (expr, error) {
	lr, lrow := x.L.(*ast.RowExpr)
	rr, rrow := x.R.(*ast.RowExpr)
	if lrow || rrow {
		return cp.rowOperation(x, lr, rr)
	}
	l, err := cp.compile(x.L)
	if err != nil {
		return nil, err
	}
	r, err := cp.compile(x.R)
	if err != nil {
		return nil, err
	}
	switch x.Op {
	case opcode.LogicAnd, opcode.LogicOr, opcode.LogicXor:
		return &logicExpr{op: x.Op, l: l, r: r}, nil
	case opcode.EQ, opcode.NE, opcode.LT, opcode.LE, opcode.GT, opcode.GE, opcode.NullEQ:
		if err := explicitCollConflict(opText(x.Op), l, r); err != nil {
			return nil, err
		}
		return &cmpExpr{op: x.Op, l: l, r: r, coll: collOf(l, r)}, nil
	case opcode.Plus, opcode.Minus, opcode.Mul, opcode.Div, opcode.Mod, opcode.IntDiv:
		a := newArith(x.Op, l, r)
		a.text = restoreText(x)
		return a, nil
	case opcode.And, opcode.Or, opcode.Xor, opcode.LeftShift, opcode.RightShift:
		return &bitExpr{op: x.Op, l: l, r: r}, nil
	}
	return nil, errNotSupported("operator " + x.Op.String())
}

type notExpr struct{ e expr }

func (x *notExpr) typ() *exprType { return &nullableBool }
func (x *notExpr) eval(c *evalCtx) (types.Value, error) {
	v, err := x.e.eval(c)
	if err != nil {
		return v, err
	}
	t, ok := types.Truth(v)
	if !ok {
		return types.Null, nil
	}
	return types.NewBool(!t), nil
}

type negExpr struct {
	e  expr
	et exprType
}

func (x *negExpr) typ() *exprType { return &x.et }
func (x *negExpr) eval(c *evalCtx) (types.Value, error) {
	v, err := x.e.eval(c)
	if err != nil || v.IsNull() {
		return v, err
	}
	switch x.et.ft.Class() {
	case types.ClassInt:
		if v.Kind() == types.KindUint {
			if v.Uint() > 1<<63 {
				return types.Null, newErr(ErDataOutOfRange, "BIGINT value is out of range in '-%s'", v.String())
			}
			return types.NewInt(-int64(v.Uint())), nil
		}
		i, _ := types.ToInt(v)
		if i == math.MinInt64 {
			return types.Null, newErr(ErDataOutOfRange, "BIGINT value is out of range in '-%d'", i)
		}
		return types.NewInt(-i), nil
	case types.ClassDecimal:
		d, _ := types.ToDecimal(v)
		return types.NewDecimal(d.Neg()), nil
	}
	f, _ := types.ToFloat(v)
	return types.NewFloat(-f), nil
}

func (cp *compiler) unary(x *ast.UnaryOperationExpr) (expr, error) {
	e, err := cp.compile(x.V)
	if err != nil {
		return nil, err
	}
	switch x.Op {
	case opcode.Not, opcode.Not2:
		return &notExpr{e: e}, nil
	case opcode.Plus:
		return e, nil
	case opcode.Minus:
		// Fold literals so -9223372036854775808 stays an integer.
		if c, ok := e.(*constExpr); ok {
			if c.v.Kind() == types.KindUint && c.v.Uint() == 1<<63 {
				return newConst(types.NewInt(math.MinInt64)), nil
			}
		}
		et := *e.typ()
		switch et.ft.Class() {
		case types.ClassInt:
			et.ft = types.FieldType{Tp: mysql.TypeLonglong, Flen: et.ft.Flen + 1, Coll: types.CollationBinary}
		case types.ClassDecimal:
		default:
			et.ft = types.FieldType{Tp: mysql.TypeDouble, Flen: 22, Decimals: 31, Coll: types.CollationBinary}
		}
		n := &negExpr{e: e, et: et}
		if _, ok := e.(*constExpr); ok {
			v, err := n.eval(nil)
			if err != nil {
				return nil, err
			}
			return newConst(v), nil
		}
		return n, nil
	case opcode.BitNeg:
		return &bitExpr{op: opcode.BitNeg, l: e}, nil
	}
	return nil, errNotSupported("operator " + x.Op.String())
}

// fixedDecimals is the scale an operand shows: integers 0, decimals their scale, FLOAT/DOUBLE their
// declared scale, otherwise 31 (not fixed).
func fixedDecimals(et *exprType) int {
	switch et.ft.Class() {
	case types.ClassInt:
		return 0
	case types.ClassDecimal:
		return et.ft.Decimals
	case types.ClassFloat:
		if et.ft.Decimals >= 0 && et.ft.Decimals < 31 {
			return et.ft.Decimals
		}
	}
	return 31
}

// rowOperation compiles an operator with a row constructor operand: comparisons of two rows of the same
// arity expand into their elements ((a, b) < (c, d) is a < c OR (a = c AND b < d), which keeps MariaDB's
// NULL outcomes); a row against a scalar, or in any other operator, is MariaDB's 4078.
func (cp *compiler) rowOperation(x *ast.BinaryOperationExpr, lr, rr *ast.RowExpr) (expr, error) {
	if lr == nil || rr == nil || !isComparison(x.Op) {
		return nil, cp.illegalRowOperand(x, lr, rr)
	}
	if len(lr.Values) != len(rr.Values) {
		return nil, newErr(ErOperandColumns, "Operand should contain %d column(s)", len(lr.Values))
	}
	l, err := cp.compileList(lr.Values)
	if err != nil {
		return nil, err
	}
	r, err := cp.compileList(rr.Values)
	if err != nil {
		return nil, err
	}
	cmp := func(op opcode.Op, i int) expr { return &cmpExpr{op: op, l: l[i], r: r[i], coll: collOf(l[i], r[i])} }
	switch x.Op {
	case opcode.EQ, opcode.NullEQ:
		e := cmp(x.Op, 0)
		for i := 1; i < len(l); i++ {
			e = &logicExpr{op: opcode.LogicAnd, l: e, r: cmp(x.Op, i)}
		}
		return e, nil
	case opcode.NE:
		e := cmp(opcode.EQ, 0)
		for i := 1; i < len(l); i++ {
			e = &logicExpr{op: opcode.LogicAnd, l: e, r: cmp(opcode.EQ, i)}
		}
		return &notExpr{e: e}, nil
	}
	// Lexicographic: the strict operator on every element but the last, which uses x.Op itself.
	strict := x.Op
	switch x.Op {
	case opcode.LE:
		strict = opcode.LT
	case opcode.GE:
		strict = opcode.GT
	}
	last := len(l) - 1
	e := cmp(x.Op, last)
	for i := last - 1; i >= 0; i-- {
		e = &logicExpr{op: opcode.LogicOr, l: cmp(strict, i), r: &logicExpr{op: opcode.LogicAnd, l: cmp(opcode.EQ, i), r: e}}
	}
	return e, nil
}

func isComparison(op opcode.Op) bool {
	switch op {
	case opcode.EQ, opcode.NE, opcode.LT, opcode.LE, opcode.GT, opcode.GE, opcode.NullEQ:
		return true
	}
	return false
}

// illegalRowOperand is MariaDB's 4078 for a row where a scalar is required.
func (cp *compiler) illegalRowOperand(x *ast.BinaryOperationExpr, lr, rr *ast.RowExpr) error {
	name := func(n ast.ExprNode, row bool) (string, error) {
		if row {
			return "row", nil
		}
		e, err := cp.compile(n)
		if err != nil {
			return "", err
		}
		return strings.ToLower(e.typ().ft.DataTypeName()), nil
	}
	ln, err := name(x.L, lr != nil)
	if err != nil {
		return err
	}
	rn, err := name(x.R, rr != nil)
	if err != nil {
		return err
	}
	return newErr(ErIllegalParamTypes, "Illegal parameter data types %s and %s for operation '%s'", ln, rn, opText(x.Op))
}

// opText is an operator as MariaDB's messages spell it.
func opText(op opcode.Op) string {
	switch op {
	case opcode.EQ:
		return "="
	case opcode.NE:
		return "<>"
	case opcode.LT:
		return "<"
	case opcode.LE:
		return "<="
	case opcode.GT:
		return ">"
	case opcode.GE:
		return ">="
	case opcode.NullEQ:
		return "<=>"
	case opcode.Plus:
		return "+"
	case opcode.Minus:
		return "-"
	case opcode.Mul:
		return "*"
	case opcode.Div:
		return "/"
	case opcode.IntDiv:
		return "DIV"
	case opcode.Mod:
		return "MOD"
	}
	return strings.ToLower(op.String())
}
