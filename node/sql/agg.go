package sql

import (
	"math"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/maxproxy/maxproxy/node/sql/codec"
	"github.com/maxproxy/maxproxy/node/sql/types"
)

// aggCall is one aggregate function of a grouped query.
type aggCall struct {
	name     string // count, sum, avg, min, max, group_concat
	args     []expr
	star     bool
	distinct bool
	et       exprType
	coll     types.Collation
	sep      string
	order    []orderItem // GROUP_CONCAT(... ORDER BY ...)
}

type aggRef struct {
	idx int
	et  exprType
}

func (x *aggRef) eval(c *evalCtx) (types.Value, error) { return c.aggVals[x.idx], nil }
func (x *aggRef) typ() *exprType                       { return &x.et }

func (cp *compiler) aggregate(x *ast.AggregateFuncExpr) (expr, error) {
	name := strings.ToLower(x.F)
	if cp.aggs == nil {
		return nil, newErr(ErInvalidGroupFuncUse, "Invalid use of group function")
	}
	a := &aggCall{name: name, distinct: x.Distinct}
	inner := *cp
	inner.aggs = nil // no nested aggregates
	args := x.Args
	if name == "group_concat" {
		// The parser appends the separator as the last argument.
		if len(args) < 2 {
			return nil, errNotSupported("GROUP_CONCAT without arguments")
		}
		sepExpr, err := inner.compile(args[len(args)-1])
		if err != nil {
			return nil, err
		}
		sv, _ := sepExpr.eval(&evalCtx{s: cp.s})
		a.sep = types.ToText(sv)
		args = args[:len(args)-1]
		if x.Order != nil {
			for _, item := range x.Order.Items {
				if _, ok := positionOf(item.Expr); ok {
					return nil, errNotSupported("positions in GROUP_CONCAT ... ORDER BY")
				}
				e, err := inner.compile(item.Expr)
				if err != nil {
					return nil, err
				}
				a.order = append(a.order, orderItem{e: e, desc: item.Desc, pos: -1, coll: collOf(e)})
			}
		}
	}
	for _, arg := range args {
		if v, ok := arg.(ast.ValueExpr); ok && name == "count" && len(args) == 1 && !x.Distinct {
			// COUNT(*) is parsed as COUNT(1).
			if v.GetValue() != nil {
				a.star = true
			}
		}
		e, err := inner.compile(arg)
		if err != nil {
			return nil, err
		}
		a.args = append(a.args, e)
	}
	bin := types.CollationBinary
	switch name {
	case "count":
		a.et = exprType{ft: types.FieldType{Tp: mysql.TypeLonglong, Flen: 21, Coll: bin}, notNull: true}
	case "sum", "avg":
		if len(a.args) != 1 {
			return nil, newErr(ErParse, "wrong number of arguments to %s", strings.ToUpper(name))
		}
		at := a.args[0].typ()
		switch at.ft.Class() {
		case types.ClassInt, types.ClassDecimal:
			sc := 0
			if at.ft.Class() == types.ClassDecimal {
				sc = at.ft.Decimals
			}
			if name == "avg" {
				sc += types.DivPrecisionIncrement
				a.et = exprType{ft: types.FieldType{Tp: mysql.TypeNewDecimal, Flen: at.ft.Flen + 4 + 1, Decimals: sc, Coll: bin}}
			} else {
				a.et = exprType{ft: types.FieldType{Tp: mysql.TypeNewDecimal, Flen: at.ft.Flen + 22, Decimals: sc, Coll: bin}}
			}
		default:
			dec := fixedDecimals(at)
			if name == "avg" {
				dec = min(dec+types.DivPrecisionIncrement, 31)
			}
			a.et = exprType{ft: types.FieldType{Tp: mysql.TypeDouble, Flen: 22, Decimals: dec, Coll: bin}}
		}
	case "min", "max":
		if len(a.args) != 1 {
			return nil, newErr(ErParse, "wrong number of arguments to %s", strings.ToUpper(name))
		}
		a.et = *a.args[0].typ()
		a.et.notNull = false
		a.coll = collOf(a.args[0])
	case "group_concat":
		a.et = exprType{ft: types.FieldType{Tp: mysql.TypeBlob, Flen: 1024, Coll: types.CollationGeneralCI}}
	case "bit_and", "bit_or", "bit_xor":
		a.et = exprType{ft: types.FieldType{Tp: mysql.TypeLonglong, Unsigned: true, Flen: 21, Coll: bin}, notNull: true}
	case "std", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp":
		if len(a.args) != 1 {
			return nil, newErr(ErParse, "wrong number of arguments to %s", strings.ToUpper(name))
		}
		dec := min(fixedDecimals(a.args[0].typ())+types.DivPrecisionIncrement, 31)
		a.et = exprType{ft: types.FieldType{Tp: mysql.TypeDouble, Flen: 22, Decimals: dec, Coll: bin}}
	default:
		return nil, errNotSupported("aggregate function " + strings.ToUpper(name))
	}
	*cp.aggs = append(*cp.aggs, a)
	return &aggRef{idx: len(*cp.aggs) - 1, et: a.et}, nil
}

// aggState accumulates one aggregate for one group.
type aggState struct {
	call    *aggCall
	count   int64
	sumDec  types.Decimal
	sumF    float64
	sumI    int64
	intMode bool // summing int64 without overflow so far
	val     types.Value
	has     bool
	bits    uint64
	seen    map[string]struct{}
	parts   []string
	keys    [][]types.Value // GROUP_CONCAT ORDER BY keys, parallel to parts
	mean    float64         // running mean and sum of squared deviations (Welford) for STDDEV/VARIANCE
	m2      float64
}

func newAggState(a *aggCall) *aggState {
	st := &aggState{call: a, intMode: true}
	if a.name == "bit_and" {
		st.bits = ^uint64(0)
	}
	if a.distinct {
		st.seen = map[string]struct{}{}
	}
	return st
}

func (st *aggState) add(c *evalCtx) error {
	a := st.call
	if a.star {
		st.count++
		return nil
	}
	vals := make([]types.Value, len(a.args))
	for i, e := range a.args {
		v, err := e.eval(c)
		if err != nil {
			return err
		}
		if v.IsNull() {
			return nil // aggregates skip NULLs
		}
		vals[i] = v
	}
	if st.seen != nil {
		var k []byte
		for i, v := range vals {
			ft := a.args[i].typ().ft
			cv := coerce(v, &ft)
			k = codec.AppendKey(k, cv, &ft)
		}
		if _, dup := st.seen[string(k)]; dup {
			return nil
		}
		st.seen[string(k)] = struct{}{}
	}
	v := vals[0]
	st.count++
	switch a.name {
	case "sum", "avg":
		if a.et.ft.Class() == types.ClassDecimal {
			if st.intMode && v.Kind() == types.KindInt {
				s := st.sumI + v.Int()
				if (s > st.sumI) == (v.Int() > 0) || v.Int() == 0 {
					st.sumI = s
					return nil
				}
			}
			if st.intMode {
				st.intMode = false
				st.sumDec = types.DecimalFromInt(st.sumI)
			}
			d, _ := types.ToDecimal(v)
			st.sumDec = st.sumDec.Add(d)
			return nil
		}
		f, _ := types.ToFloat(v)
		st.sumF += f
	case "min", "max":
		if !st.has {
			st.val, st.has = v, true
			return nil
		}
		d := types.Compare(v, st.val, a.coll)
		if (a.name == "min" && d < 0) || (a.name == "max" && d > 0) {
			st.val = v
		}
	case "group_concat":
		var sb strings.Builder
		for _, p := range vals {
			sb.WriteString(types.ToText(p))
		}
		st.parts = append(st.parts, sb.String())
		if len(a.order) > 0 {
			k := make([]types.Value, len(a.order))
			for i, oi := range a.order {
				v, err := oi.e.eval(c)
				if err != nil {
					return err
				}
				k[i] = v
			}
			st.keys = append(st.keys, k)
		}
	case "std", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp":
		f, _ := types.ToFloat(v)
		delta := f - st.mean
		st.mean += delta / float64(st.count)
		st.m2 += delta * (f - st.mean)
	case "bit_and":
		st.bits &= toBits(v)
	case "bit_or":
		st.bits |= toBits(v)
	case "bit_xor":
		st.bits ^= toBits(v)
	}
	return nil
}

func (st *aggState) result() types.Value {
	a := st.call
	switch a.name {
	case "count":
		return types.NewInt(st.count)
	case "sum", "avg":
		if st.count == 0 {
			return types.Null
		}
		if a.et.ft.Class() == types.ClassDecimal {
			sum := st.sumDec
			if st.intMode {
				sum = types.DecimalFromInt(st.sumI)
			}
			if a.name == "sum" {
				return types.NewDecimal(sum.Round(int32(a.et.ft.Decimals)))
			}
			q, _ := sum.Div(types.DecimalFromInt(st.count))
			return types.NewDecimal(q.Round(int32(a.et.ft.Decimals)))
		}
		if a.name == "sum" {
			return types.NewFloat(st.sumF)
		}
		return types.NewFloat(st.sumF / float64(st.count))
	case "min", "max":
		if !st.has {
			return types.Null
		}
		return st.val
	case "std", "stddev", "stddev_pop", "variance", "var_pop":
		if st.count == 0 {
			return types.Null
		}
		v := st.m2 / float64(st.count)
		if a.name == "variance" || a.name == "var_pop" {
			return types.NewFloat(v)
		}
		return types.NewFloat(math.Sqrt(v))
	case "stddev_samp", "var_samp":
		if st.count < 2 {
			return types.Null
		}
		v := st.m2 / float64(st.count-1)
		if a.name == "var_samp" {
			return types.NewFloat(v)
		}
		return types.NewFloat(math.Sqrt(v))
	case "group_concat":
		if len(st.parts) == 0 {
			return types.Null
		}
		parts := st.parts
		if len(a.order) > 0 {
			idx := make([]int, len(parts))
			for i := range idx {
				idx[i] = i
			}
			sortSliceStable(idx, func(x, y int) bool {
				for k, oi := range a.order {
					d := compareForSort(st.keys[x][k], st.keys[y][k], oi.coll)
					if d != 0 {
						return (d < 0) != oi.desc
					}
				}
				return false
			})
			sorted := make([]string, len(parts))
			for i, j := range idx {
				sorted[i] = parts[j]
			}
			parts = sorted
		}
		s := strings.Join(parts, a.sep)
		if len(s) > 1<<20 { // group_concat_max_len
			s = s[:1<<20]
		}
		return types.NewString(s)
	}
	return types.NewUint(st.bits)
}
