package sql

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

// numericFuncs compute on full-precision values; other functions see DECIMAL arguments at their declared
// scale.
var numericFuncs = map[string]bool{"round": true, "truncate": true, "floor": true, "ceil": true, "ceiling": true,
	"abs": true, "sign": true, "mod": true, "greatest": true, "least": true, "pow": true, "power": true, "sqrt": true,
	"exp": true, "ln": true, "log": true, "log10": true, "log2": true, "nullif": true}

// temporalFuncs take date/time arguments as values.
var temporalFuncs = map[string]bool{"date_format": true, "datediff": true, "date": true, "year": true, "month": true,
	"day": true, "dayofmonth": true, "hour": true, "minute": true, "second": true, "unix_timestamp": true,
	"greatest": true, "least": true, "nullif": true, "coalesce": true, "ifnull": true, "if": true}

// funcExpr is a scalar function call.
type funcExpr struct {
	name string
	args []expr
	et   exprType
	fn   func(c *evalCtx, args []types.Value) (types.Value, error)
	// lazy functions evaluate their own arguments (IF, COALESCE...)
	lazy func(c *evalCtx, args []expr) (types.Value, error)
}

func (x *funcExpr) typ() *exprType { return &x.et }

func (x *funcExpr) eval(c *evalCtx) (types.Value, error) {
	if x.lazy != nil {
		v, err := x.lazy(c, x.args)
		if err != nil {
			return v, err
		}
		return coerce(v, &x.et.ft), nil
	}
	var buf [4]types.Value
	vals := buf[:0]
	numeric := numericFuncs[x.name]
	for _, a := range x.args {
		v, err := a.eval(c)
		if err != nil {
			return v, err
		}
		if !numeric && !temporalFuncs[x.name] && v.Kind() == types.KindDatetime {
			// In string context a DATETIME shows its declared fractional digits.
			fsp := min(a.typ().ft.Decimals, 6)
			if a.typ().ft.Class() != types.ClassDatetime {
				fsp = 0
				if v.Time().Micro() != 0 {
					fsp = 6
				}
			}
			v = types.NewString(string(v.Time().AppendDatetime(nil, fsp)))
		}
		if !numeric && v.Kind() == types.KindFloat {
			// In string context FLOAT(M,D)/DOUBLE(M,D) values show their fixed scale.
			if ft := &a.typ().ft; ft.Class() == types.ClassFloat && ft.Decimals >= 0 && ft.Decimals < 31 {
				v = types.NewString(strconv.FormatFloat(v.Float(), 'f', ft.Decimals, 64))
			}
		}
		if !numeric && v.Kind() == types.KindDecimal {
			// Outside arithmetic a DECIMAL shows its declared scale (1/3 is '0.3333' in CONCAT).
			if ft := &a.typ().ft; ft.Class() == types.ClassDecimal && int(v.Decimal().Scale()) > ft.Decimals {
				v = types.NewDecimal(v.Decimal().Round(int32(ft.Decimals)))
			}
		}
		vals = append(vals, v)
	}
	return x.fn(c, vals)
}

var (
	bin     = types.CollationBinary
	strType = exprType{ft: types.FieldType{Tp: mysql.TypeVarString, Flen: 255, Coll: types.CollationGeneralCI}}
	strNN   = exprType{ft: types.FieldType{Tp: mysql.TypeVarString, Flen: 255, Coll: types.CollationGeneralCI}, notNull: true}
	intType = exprType{ft: types.FieldType{Tp: mysql.TypeLonglong, Flen: 21, Coll: bin}}
	// MariaDB's Item_long_func results: INT with the function's display width.
	long10     = longType(10)
	long2      = longType(2)
	intNN      = exprType{ft: types.FieldType{Tp: mysql.TypeLonglong, Flen: 21, Coll: bin}, notNull: true}
	uintNN     = exprType{ft: types.FieldType{Tp: mysql.TypeLonglong, Unsigned: true, Flen: 21, Coll: bin}, notNull: true}
	doubleType = exprType{ft: types.FieldType{Tp: mysql.TypeDouble, Flen: 22, Decimals: 31, Coll: bin}}
	dtNN       = exprType{ft: types.FieldType{Tp: mysql.TypeDatetime, Flen: 19, Coll: bin}, notNull: true}
	dateNN     = exprType{ft: types.FieldType{Tp: mysql.TypeDate, Flen: 10, Coll: bin}, notNull: true}
	dtType     = exprType{ft: types.FieldType{Tp: mysql.TypeDatetime, Flen: 19, Coll: bin}}
)

// hasNullArg reports a NULL literal among args.
func hasNullArg(args []expr) bool {
	for _, a := range args {
		if a.typ().ft.Tp == mysql.TypeNull {
			return true
		}
	}
	return false
}

// longType is an INT result of display width n.
func longType(n int) exprType {
	return exprType{ft: types.FieldType{Tp: mysql.TypeLong, Flen: n, Coll: bin}}
}

func nullIfAny(vals []types.Value) bool {
	for _, v := range vals {
		if v.IsNull() {
			return true
		}
	}
	return false
}

func argCount(name string, n, min, max int) error {
	if n < min || (max >= 0 && n > max) {
		return newErr(1582, "Incorrect parameter count in the call to native function '%s'", name)
	}
	return nil
}

// collationFuncs return a string in the collation of their string arguments, so an argument's COLLATE
// clause carries over to the result (CONCAT('a', 'B' COLLATE utf8mb4_bin) compares in utf8mb4_bin).
var collationFuncs = map[string]bool{"concat": true, "concat_ws": true, "lower": true, "lcase": true, "upper": true,
	"ucase": true, "substring": true, "substr": true, "mid": true, "left": true, "right": true, "trim": true,
	"ltrim": true, "rtrim": true, "replace": true, "repeat": true, "lpad": true, "rpad": true, "reverse": true,
	"substring_index": true, "if": true, "ifnull": true, "nvl": true, "coalesce": true, "nullif": true,
	"greatest": true, "least": true}

func (cp *compiler) funcCall(x *ast.FuncCallExpr) (expr, error) {
	e, err := cp.funcCallTyped(x)
	if err != nil || !collationFuncs[x.FnName.L] {
		return e, err
	}
	f, ok := e.(*funcExpr)
	if !ok || f.et.ft.Class() != types.ClassString {
		return e, nil
	}
	args := f.args
	if x.FnName.L == "if" && len(args) == 3 {
		args = args[1:]
	}
	if err := explicitCollConflict(x.FnName.L, args...); err != nil {
		return nil, err
	}
	for _, a := range args {
		if et := a.typ(); et.explicitColl {
			f.et.ft.Coll, f.et.explicitColl = et.ft.Coll, true
		}
	}
	return f, nil
}

func (cp *compiler) funcCallTyped(x *ast.FuncCallExpr) (expr, error) {
	name := x.FnName.L
	switch name {
	case "date_add", "adddate":
		return cp.dateArith(x, false)
	case "date_sub", "subdate":
		return cp.dateArith(x, true)
	case "timestampdiff":
		return cp.timestampDiff(x)
	case "timestampadd":
		return cp.timestampAdd(x)
	}
	args, err := cp.compileList(x.Args)
	if err != nil {
		return nil, err
	}
	f := &funcExpr{name: name, args: args}
	n := len(args)
	strictNull := func(et exprType, fn func(c *evalCtx, a []types.Value) (types.Value, error)) {
		et.notNull = true
		for _, a := range args {
			if !a.typ().notNull {
				et.notNull = false
			}
		}
		f.et = et
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			if nullIfAny(a) {
				return types.Null, nil
			}
			return fn(c, a)
		}
	}
	check := func(min, max int) error { return argCount(x.FnName.O, n, min, max) }
	switch name {
	case "concat":
		if err := check(1, -1); err != nil {
			return nil, err
		}
		et := strType
		flen := 0
		for _, a := range args {
			flen += a.typ().ft.Flen
			if a.typ().ft.Coll == bin && a.typ().ft.Class() == types.ClassString && a.typ().ft.Tp != mysql.TypeNull {
				et.ft.Coll = bin
			}
		}
		et.ft.Flen = flen
		strictNull(et, func(c *evalCtx, a []types.Value) (types.Value, error) {
			var sb strings.Builder
			for _, v := range a {
				sb.WriteString(types.ToText(v))
			}
			return types.NewString(sb.String()), nil
		})
	case "concat_ws":
		if err := check(2, -1); err != nil {
			return nil, err
		}
		f.et = strType
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			if a[0].IsNull() {
				return types.Null, nil
			}
			var parts []string
			for _, v := range a[1:] {
				if !v.IsNull() {
					parts = append(parts, types.ToText(v))
				}
			}
			return types.NewString(strings.Join(parts, types.ToText(a[0]))), nil
		}
	case "length", "octet_length":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		strictNull(long10, func(c *evalCtx, a []types.Value) (types.Value, error) {
			return types.NewInt(int64(len(types.ToText(a[0])))), nil
		})
	case "char_length", "character_length":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		strictNull(long10, func(c *evalCtx, a []types.Value) (types.Value, error) {
			if a[0].Kind() == types.KindBytes {
				return types.NewInt(int64(len(a[0].Str()))), nil
			}
			return types.NewInt(int64(utf8.RuneCountInString(types.ToText(a[0])))), nil
		})
	case "lower", "lcase", "upper", "ucase":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		up := name == "upper" || name == "ucase"
		et := strType
		et.ft.Flen = args[0].typ().ft.Flen
		if ft := &args[0].typ().ft; ft.Class() == types.ClassString && ft.Coll == bin {
			et.ft.Coll = bin // binary strings (and NULL) stay binary, unchanged
		}
		strictNull(et, func(c *evalCtx, a []types.Value) (types.Value, error) {
			if a[0].Kind() == types.KindBytes {
				return a[0], nil
			}
			if up {
				return types.NewString(strings.ToUpper(types.ToText(a[0]))), nil
			}
			return types.NewString(strings.ToLower(types.ToText(a[0]))), nil
		})
	case "now", "current_timestamp", "localtime", "localtimestamp", "sysdate":
		if err := check(0, 1); err != nil {
			return nil, err
		}
		fsp := 0
		if n == 1 {
			v, _ := args[0].eval(&evalCtx{s: cp.s})
			i, _ := types.ToInt(v)
			if i < 0 || i > 6 {
				return nil, newErr(1426, "Too big precision %d specified for '%s'. Maximum is 6", i, x.FnName.O)
			}
			fsp = int(i)
		}
		f.et = dtNN
		f.et.ft.Decimals = fsp
		if fsp > 0 {
			f.et.ft.Flen = 20 + fsp
		}
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			t := c.s.stmtTime()
			if name == "sysdate" {
				t = time.Now().In(c.s.location())
			}
			tv := types.FromGoTime(t)
			div := int(math.Pow10(6 - fsp))
			tv = tv - types.Time(tv.Micro()) + types.Time(tv.Micro()/div*div)
			return types.NewDatetime(tv), nil
		}
	case "curdate", "current_date":
		f.et = dateNN
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			return types.NewDate(types.FromGoTime(c.s.stmtTime())), nil
		}
	case "utc_timestamp":
		f.et = dtNN
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			return types.NewDatetime(types.FromGoTime(c.s.stmtTime().UTC())), nil
		}
	case "unix_timestamp":
		if err := check(0, 1); err != nil {
			return nil, err
		}
		f.et = intType
		f.et.ft.Flen = 17
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			if len(a) == 0 {
				return types.NewInt(c.s.stmtTime().Unix()), nil
			}
			if a[0].IsNull() {
				return types.Null, nil
			}
			t, st := types.ToTime(a[0])
			if st != types.OK {
				return types.Null, nil
			}
			return types.NewInt(t.GoTime(c.s.location()).Unix()), nil
		}
	case "coalesce":
		if err := check(1, -1); err != nil {
			return nil, err
		}
		f.et = mergeTypes(args)
		f.et.notNull = false
		for _, a := range args {
			if a.typ().notNull {
				f.et.notNull = true
			}
		}
		f.lazy = func(c *evalCtx, es []expr) (types.Value, error) {
			for _, e := range es {
				v, err := e.eval(c)
				if err != nil || !v.IsNull() {
					return v, err
				}
			}
			return types.Null, nil
		}
	case "ifnull", "nvl":
		if err := check(2, 2); err != nil {
			return nil, err
		}
		f.et = mergeTypes(args)
		f.et.notNull = args[0].typ().notNull || args[1].typ().notNull
		f.lazy = func(c *evalCtx, es []expr) (types.Value, error) {
			v, err := es[0].eval(c)
			if err != nil || !v.IsNull() {
				return v, err
			}
			return es[1].eval(c)
		}
	case "nullif":
		if err := check(2, 2); err != nil {
			return nil, err
		}
		f.et = *args[0].typ()
		f.et.notNull = false
		coll := collOf(args...)
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			if !a[0].IsNull() && !a[1].IsNull() && types.Compare(a[0], a[1], coll) == 0 {
				return types.Null, nil
			}
			return a[0], nil
		}
	case "if":
		if err := check(3, 3); err != nil {
			return nil, err
		}
		f.et = mergeTypes(args[1:])
		f.lazy = func(c *evalCtx, es []expr) (types.Value, error) {
			v, err := es[0].eval(c)
			if err != nil {
				return v, err
			}
			if t, _ := types.Truth(v); t {
				return es[1].eval(c)
			}
			return es[2].eval(c)
		}
	case "last_insert_id":
		if err := check(0, 1); err != nil {
			return nil, err
		}
		f.et = uintNN
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			if len(a) == 1 {
				u, _ := types.ToUint(a[0])
				c.s.lastInsertID = u
				c.s.stmtSetLID = true
				return types.NewUint(u), nil
			}
			return types.NewUint(c.s.lastInsertID), nil
		}
	case "row_count":
		f.et = intNN
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) { return types.NewInt(c.s.prevRowCount), nil }
	case "found_rows":
		f.et = intNN
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) { return types.NewInt(c.s.foundRows), nil }
	case "database", "schema":
		f.et = strType
		f.et.ft.Flen = 64
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			if c.s.db == "" {
				return types.Null, nil
			}
			return types.NewString(c.s.db), nil
		}
	case "version":
		f.et = strNN
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			return types.NewString(c.s.e.opts.ServerVersion), nil
		}
	case "connection_id":
		f.et = longType(10)
		f.et.notNull = true
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) { return types.NewUint(uint64(c.s.connID)), nil }
	case "user", "session_user", "system_user":
		f.et = strNN
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			return types.NewString(c.s.user + "@" + c.s.host), nil
		}
	case "current_user":
		f.et = strNN
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			return types.NewString(c.s.authUser + "@" + c.s.authHost), nil
		}
	case "abs":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		et := *args[0].typ()
		if et.ft.Class() == types.ClassString {
			et = doubleType
		}
		if et.ft.Class() == types.ClassInt {
			// As MariaDB: one more character than the argument (ABS(INT column) is BIGINT).
			et.ft.Tp, et.ft.Flen = mysql.TypeLonglong, min(et.ft.Flen+1, 21)
		}
		strictNull(et, func(c *evalCtx, a []types.Value) (types.Value, error) {
			v := coerce(a[0], &et.ft)
			switch v.Kind() {
			case types.KindInt:
				if v.Int() < 0 {
					if v.Int() == math.MinInt64 {
						return types.Null, newErr(ErDataOutOfRange, "BIGINT value is out of range in 'abs(%d)'", v.Int())
					}
					return types.NewInt(-v.Int()), nil
				}
			case types.KindDecimal:
				if v.Decimal().Sign() < 0 {
					return types.NewDecimal(v.Decimal().Neg()), nil
				}
			case types.KindFloat:
				return types.NewFloat(math.Abs(v.Float())), nil
			}
			return v, nil
		})
	case "round", "truncate":
		if err := check(1, 2); err != nil {
			return nil, err
		}
		if name == "truncate" && n != 2 {
			return nil, argCount(x.FnName.O, n, 2, 2)
		}
		digits := int64(0)
		if n == 2 {
			c, ok := args[1].(*constExpr)
			if !ok {
				return nil, errNotSupported("ROUND with a non-constant precision")
			}
			digits, _ = types.ToInt(c.v)
		}
		et := *args[0].typ()
		switch et.ft.Class() {
		case types.ClassDecimal:
			et.ft.Decimals = int(max(0, min(digits, 30)))
		case types.ClassInt:
		default:
			et = doubleType
		}
		strictNull(et, func(c *evalCtx, a []types.Value) (types.Value, error) {
			return roundValue(a[0], digits, name == "truncate", &et.ft), nil
		})
	case "floor", "ceil", "ceiling":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		et := *args[0].typ()
		if et.ft.Class() != types.ClassInt {
			if et.ft.Class() == types.ClassDecimal {
				et.ft = types.FieldType{Tp: mysql.TypeLonglong, Flen: max(1, et.ft.Flen-et.ft.Decimals) + 1, Coll: bin}
			} else {
				et = doubleType
			}
		}
		up := name != "floor"
		strictNull(et, func(c *evalCtx, a []types.Value) (types.Value, error) {
			switch a[0].Kind() {
			case types.KindInt, types.KindUint:
				return a[0], nil
			case types.KindDecimal:
				d := a[0].Decimal()
				t := d.Truncate(0)
				if up && t.Cmp(d) < 0 {
					t = t.Add(types.DecimalFromInt(1))
				} else if !up && t.Cmp(d) > 0 {
					t = t.Sub(types.DecimalFromInt(1))
				}
				i, _ := t.Int64()
				return types.NewInt(i), nil
			}
			fv, _ := types.ToFloat(a[0])
			if up {
				return types.NewFloat(math.Ceil(fv)), nil
			}
			return types.NewFloat(math.Floor(fv)), nil
		})
	case "mod":
		if err := check(2, 2); err != nil {
			return nil, err
		}
		return newArith(opcode.Mod, args[0], args[1]), nil
	case "substring", "substr", "mid":
		if err := check(2, 3); err != nil {
			return nil, err
		}
		strictNull(strType, func(c *evalCtx, a []types.Value) (types.Value, error) {
			r := []rune(types.ToText(a[0]))
			pos, _ := types.ToInt(a[1])
			ln := int64(len(r))
			if len(a) == 3 {
				ln, _ = types.ToInt(a[2])
			}
			if pos < 0 {
				pos = int64(len(r)) + pos + 1
				if pos < 1 {
					return types.NewString(""), nil
				}
			}
			if pos == 0 || pos > int64(len(r)) || ln <= 0 {
				return types.NewString(""), nil
			}
			end := min(pos-1+ln, int64(len(r)))
			return types.NewString(string(r[pos-1 : end])), nil
		})
	case "left", "right":
		if err := check(2, 2); err != nil {
			return nil, err
		}
		strictNull(strType, func(c *evalCtx, a []types.Value) (types.Value, error) {
			r := []rune(types.ToText(a[0]))
			k, _ := types.ToInt(a[1])
			k = max(0, min(k, int64(len(r))))
			if name == "left" {
				return types.NewString(string(r[:k])), nil
			}
			return types.NewString(string(r[int64(len(r))-k:])), nil
		})
	case "trim", "ltrim", "rtrim":
		if err := check(1, 2); err != nil {
			return nil, err
		}
		if n == 2 && name == "trim" {
			return nil, errNotSupported("TRIM(... FROM ...)")
		}
		strictNull(strType, func(c *evalCtx, a []types.Value) (types.Value, error) {
			s := types.ToText(a[0])
			switch name {
			case "ltrim":
				s = strings.TrimLeft(s, " ")
			case "rtrim":
				s = strings.TrimRight(s, " ")
			default:
				s = strings.Trim(s, " ")
			}
			return types.NewString(s), nil
		})
	case "replace":
		if err := check(3, 3); err != nil {
			return nil, err
		}
		strictNull(strType, func(c *evalCtx, a []types.Value) (types.Value, error) {
			from := types.ToText(a[1])
			if from == "" {
				return types.NewString(types.ToText(a[0])), nil
			}
			return types.NewString(strings.ReplaceAll(types.ToText(a[0]), from, types.ToText(a[2]))), nil
		})
	case "repeat":
		if err := check(2, 2); err != nil {
			return nil, err
		}
		strictNull(strType, func(c *evalCtx, a []types.Value) (types.Value, error) {
			k, _ := types.ToInt(a[1])
			s := types.ToText(a[0])
			if k <= 0 {
				return types.NewString(""), nil
			}
			if int64(len(s))*k > 16<<20 {
				return types.Null, nil
			}
			return types.NewString(strings.Repeat(s, int(k))), nil
		})
	case "greatest", "least":
		if err := check(2, -1); err != nil {
			return nil, err
		}
		et := mergeTypes(args)
		if et.ft.Class() == types.ClassString || et.ft.Tp == mysql.TypeNull {
			// MariaDB compares numbers with strings (or NULL) as DOUBLE, and returns one.
			numeric, null := false, false
			for _, a := range args {
				switch ft := &a.typ().ft; {
				case ft.Tp == mysql.TypeNull:
					null = true
				case ft.Class() == types.ClassInt || ft.Class() == types.ClassDecimal || ft.Class() == types.ClassFloat:
					numeric = true
				}
			}
			if numeric || (null && et.ft.Tp == mysql.TypeNull) {
				notNull := et.notNull
				et = doubleType
				et.notNull = notNull
			}
		} else if hasNullArg(args) && et.ft.Class() != types.ClassString {
			notNull := et.notNull
			et = doubleType
			et.notNull = notNull
		}
		coll := collOf(args...)
		strictNull(et, func(c *evalCtx, a []types.Value) (types.Value, error) {
			best := a[0]
			for _, v := range a[1:] {
				d := types.Compare(v, best, coll)
				if (name == "greatest" && d > 0) || (name == "least" && d < 0) {
					best = v
				}
			}
			return coerce(best, &et.ft), nil
		})
	case "md5":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		strictNull(exprType{ft: types.FieldType{Tp: mysql.TypeVarString, Flen: 32, Coll: types.CollationGeneralCI}}, func(c *evalCtx, a []types.Value) (types.Value, error) {
			h := md5.Sum([]byte(types.ToText(a[0])))
			return types.NewString(hex.EncodeToString(h[:])), nil
		})
	case "sha1", "sha":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		strictNull(exprType{ft: types.FieldType{Tp: mysql.TypeVarString, Flen: 40, Coll: types.CollationGeneralCI}}, func(c *evalCtx, a []types.Value) (types.Value, error) {
			h := sha1.Sum([]byte(types.ToText(a[0])))
			return types.NewString(hex.EncodeToString(h[:])), nil
		})
	case "password":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		strictNull(exprType{ft: types.FieldType{Tp: mysql.TypeVarString, Flen: 41, Coll: types.CollationGeneralCI}}, func(c *evalCtx, a []types.Value) (types.Value, error) {
			return types.NewString(NativePasswordHash(types.ToText(a[0]))), nil
		})
	case "hex":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		strictNull(strType, func(c *evalCtx, a []types.Value) (types.Value, error) {
			if a[0].IsNumeric() {
				u := toBits(a[0])
				h := strings.ToUpper(strings.TrimLeft(hex.EncodeToString([]byte{byte(u >> 56), byte(u >> 48), byte(u >> 40), byte(u >> 32), byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}), "0"))
				if h == "" {
					h = "0"
				}
				return types.NewString(h), nil
			}
			return types.NewString(strings.ToUpper(hex.EncodeToString([]byte(types.ToText(a[0]))))), nil
		})
	case "date":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		strictNull(exprType{ft: dateNN.ft}, func(c *evalCtx, a []types.Value) (types.Value, error) {
			t, st := types.ToTime(a[0])
			if st != types.OK {
				return types.Null, nil
			}
			return types.NewDate(t), nil
		})
		f.et.notNull = false
	case "hour", "minute", "second":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		// Time parts read the argument as a TIME when it is one ('10:11:12', HHMMSS numbers, TIME values):
		// HOUR('100:00:00') is 100.
		strictNull(long2, func(c *evalCtx, a []types.Value) (types.Value, error) {
			tv, ok := asTemporal(a[0])
			if !ok {
				return types.Null, nil
			}
			us := tv.us
			if tv.datetime {
				us = timeOfDay(tv.t)
			}
			if us < 0 {
				us = -us
			}
			sec := us / 1000000
			switch name {
			case "hour":
				return types.NewInt(sec / 3600), nil
			case "minute":
				return types.NewInt(sec / 60 % 60), nil
			}
			return types.NewInt(sec % 60), nil
		})
		f.et.notNull = false
	case "year", "month", "day", "dayofmonth":
		if err := check(1, 1); err != nil {
			return nil, err
		}
		yflen := 2
		if name == "year" {
			yflen = 4
		}
		strictNull(longType(yflen), func(c *evalCtx, a []types.Value) (types.Value, error) {
			t, st := types.ToTime(a[0])
			if st != types.OK {
				return types.Null, nil
			}
			var r int
			switch name {
			case "year":
				r = t.Year()
			case "month":
				r = t.Month()
			case "day", "dayofmonth":
				r = t.Day()
			case "hour":
				r = t.Hour()
			case "minute":
				r = t.Minute()
			default:
				r = t.Second()
			}
			return types.NewInt(int64(r)), nil
		})
		f.et.notNull = false
	case "rand":
		if err := check(0, 0); err != nil {
			return nil, errNotSupported("RAND(seed)")
		}
		f.et = doubleType
		f.et.notNull = true
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) { return types.NewFloat(c.s.rng.Float64()), nil }
	case "uuid":
		f.et = strNN
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) { return types.NewString(c.s.newUUID()), nil }
	case "char":
		return nil, errNotSupported("CHAR()")
	default:
		if e, ok, err := cp.moreFuncs(x, name, args); ok {
			return e, err
		}
		db := cp.s.db
		if db == "" {
			return nil, newErr(ErSpDoesNotExist, "FUNCTION %s does not exist", x.FnName.O)
		}
		return nil, newErr(ErSpDoesNotExist, "FUNCTION %s.%s does not exist", db, x.FnName.O)
	}
	return f, nil
}

func roundValue(v types.Value, digits int64, trunc bool, ft *types.FieldType) types.Value {
	switch v.Kind() {
	case types.KindInt, types.KindUint:
		if digits >= 0 {
			return v
		}
		d, _ := types.ToDecimal(v)
		p := types.DecimalFromInt(int64(math.Pow10(int(min(-digits, 18)))))
		q, _ := d.Div(p)
		if trunc {
			q = q.Truncate(0)
		} else {
			q = q.Round(0)
		}
		r := q.Mul(p)
		return coerce(types.NewDecimal(r), ft)
	case types.KindDecimal:
		if digits < 0 {
			p := types.DecimalFromInt(int64(math.Pow10(int(min(-digits, 18)))))
			q, _ := v.Decimal().Div(p)
			if trunc {
				q = q.Truncate(0)
			} else {
				q = q.Round(0)
			}
			return types.NewDecimal(q.Mul(p))
		}
		sc := int32(max(digits, 0))
		if trunc {
			return types.NewDecimal(v.Decimal().Truncate(sc))
		}
		return types.NewDecimal(v.Decimal().Round(sc))
	}
	f, _ := types.ToFloat(v)
	p := math.Pow10(int(digits))
	if trunc {
		return types.NewFloat(math.Trunc(f*p) / p)
	}
	// DOUBLE rounds half to even (rint), as MariaDB; DECIMAL rounds half away from zero.
	return types.NewFloat(math.RoundToEven(f*p) / p)
}

// castExpr is CAST(x AS type) / CONVERT(x, type).
type castExpr struct {
	e  expr
	et exprType
}

func (x *castExpr) typ() *exprType { return &x.et }
func (x *castExpr) eval(c *evalCtx) (types.Value, error) {
	v, err := x.e.eval(c)
	if err != nil || v.IsNull() {
		return v, err
	}
	if v.Kind() == types.KindDatetime && x.et.ft.Class() == types.ClassString {
		fsp := 0
		if ft := &x.e.typ().ft; ft.Class() == types.ClassDatetime {
			fsp = min(ft.Decimals, 6)
		} else if v.Time().Micro() != 0 {
			fsp = 6
		}
		v = types.NewString(string(v.Time().AppendDatetime(nil, fsp)))
	}
	if v.Kind() == types.KindDecimal && x.et.ft.Class() == types.ClassString {
		if ft := &x.e.typ().ft; ft.Class() == types.ClassDecimal && int(v.Decimal().Scale()) > ft.Decimals {
			v = types.NewDecimal(v.Decimal().Round(int32(ft.Decimals)))
		}
	}
	switch x.et.ft.Class() {
	case types.ClassInt:
		if v.IsStringish() {
			// CAST(string AS SIGNED/UNSIGNED) reads the integer prefix ('1e3' is 1), as MariaDB, with its
			// 1292 when that is not the whole string (a Note for trailing spaces).
			if level := intPrefixTruncation(v.Str()); level != "" {
				c.s.warn(level, ErTruncatedWrongValue, "Truncated incorrect INTEGER value: '%s'", v.Str())
			}
			i, u, neg := intPrefix(v.Str())
			switch {
			case x.et.ft.Unsigned && neg:
				return types.NewUint(uint64(i)), nil
			case x.et.ft.Unsigned:
				return types.NewUint(u), nil
			case neg:
				return types.NewInt(i), nil
			}
			return types.NewInt(int64(u)), nil
		}
		if x.et.ft.Unsigned {
			if v.Kind() == types.KindInt {
				return types.NewUint(uint64(v.Int())), nil
			}
			u, _ := types.ToUint(v)
			return types.NewUint(u), nil
		}
		if v.Kind() == types.KindUint {
			return types.NewInt(int64(v.Uint())), nil
		}
		i, _ := types.ToInt(v)
		return types.NewInt(i), nil
	case types.ClassDate, types.ClassDatetime:
		t, st := types.ToTime(v)
		if st != types.OK {
			return types.Null, nil
		}
		if x.et.ft.Class() == types.ClassDate {
			return types.NewDate(t), nil
		}
		// MariaDB truncates to the target's fractional digits (no TIME_ROUND_FRACTIONAL).
		return types.NewDatetime(truncMicro(t, x.et.ft.Decimals)), nil
	case types.ClassString:
		s := types.ToText(v)
		if v.Kind() == types.KindFloat {
			s = string(types.AppendFloat(nil, v.Float(), 64))
		}
		if x.et.ft.Flen > 0 {
			if r := []rune(s); len(r) > x.et.ft.Flen {
				s = string(r[:x.et.ft.Flen])
			}
		}
		if x.et.ft.Coll == types.CollationBinary {
			return types.NewBinary(s), nil
		}
		return types.NewString(s), nil
	}
	cv, _ := types.Cast(v, &x.et.ft)
	return cv, nil
}

func (cp *compiler) cast(x *ast.FuncCastExpr) (expr, error) {
	e, err := cp.compile(x.Expr)
	if err != nil {
		return nil, err
	}
	tp := x.Tp
	ce := &castExpr{e: e}
	ce.et.notNull = e.typ().notNull
	switch tp.GetType() {
	case mysql.TypeLonglong:
		// The display width follows the argument (MariaDB: INT when it stays within 9 characters).
		unsigned := mysql.HasUnsignedFlag(tp.GetFlag())
		flen := e.typ().ft.Flen
		if !unsigned {
			flen++
		}
		if flen <= 0 || flen > 21 || e.typ().ft.Class() == types.ClassFloat {
			flen = 21
		}
		if unsigned && !(e.typ().ft.Class() == types.ClassInt && e.typ().ft.Unsigned) {
			flen = 21 // a negative argument wraps around to a 20-digit value
		}
		ce.et.ft = types.FieldType{Tp: mysql.TypeLonglong, Unsigned: unsigned, Flen: flen, Coll: bin}
	case mysql.TypeNewDecimal:
		flen, dec := tp.GetFlen(), tp.GetDecimal()
		if flen <= 0 {
			flen = 10
		}
		if dec < 0 {
			dec = 0
		}
		ce.et.ft = types.FieldType{Tp: mysql.TypeNewDecimal, Flen: flen, Decimals: dec, Coll: bin}
	case mysql.TypeDouble, mysql.TypeFloat:
		ce.et.ft = types.FieldType{Tp: mysql.TypeDouble, Flen: 22, Decimals: 31, Coll: bin}
	case mysql.TypeDate:
		ce.et.ft = dateNN.ft
		ce.et.notNull = false
	case mysql.TypeDatetime:
		ce.et.ft = dtNN.ft
		ce.et.notNull = false
		if fsp := tp.GetDecimal(); fsp > 0 {
			if fsp > 6 {
				return nil, newErr(1426, "Too big precision specified for '%s'. Maximum is 6", restoreText(x.Expr))
			}
			ce.et.ft.Decimals, ce.et.ft.Flen = fsp, 20+fsp
		}
	case mysql.TypeVarString, mysql.TypeString, mysql.TypeVarchar:
		coll := types.CollationGeneralCI
		if tp.GetCharset() == "binary" {
			coll = bin
		}
		ce.et.ft = types.FieldType{Tp: mysql.TypeVarString, Flen: tp.GetFlen(), Coll: coll}
	default:
		return nil, errNotSupported("CAST to " + tp.String())
	}
	return ce, nil
}

// truncMicro drops the fractional digits beyond fsp.
func truncMicro(t types.Time, fsp int) types.Time {
	if fsp >= 6 || fsp < 0 {
		return t
	}
	div := int(math.Pow10(6 - fsp))
	return t - types.Time(t.Micro()) + types.Time(t.Micro()/div*div)
}

// intPrefixTruncation is the level of the condition MariaDB raises when a string converts to an
// integer only partly: "" when it is all integer (after leading spaces), "Note" when only spaces follow,
// "Warning" for anything else (no digits, other characters, more than 64 bits).
func intPrefixTruncation(s string) string {
	j := 0
	for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n') {
		j++
	}
	if j < len(s) && (s[j] == '-' || s[j] == '+') {
		j++
	}
	start := j
	var u uint64
	overflow := false
	for ; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
		d := uint64(s[j] - '0')
		if u > (math.MaxUint64-d)/10 {
			overflow = true
		}
		u = u*10 + d
	}
	switch {
	case j == start || overflow:
		return "Warning"
	case j == len(s):
		return ""
	case strings.TrimRight(s[j:], " ") == "":
		return "Note"
	}
	return "Warning"
}

// intPrefix parses the leading integer of s (after spaces and a sign), saturating at 64 bits.
func intPrefix(s string) (i int64, u uint64, neg bool) {
	j := 0
	for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n') {
		j++
	}
	if j < len(s) && (s[j] == '-' || s[j] == '+') {
		neg = s[j] == '-'
		j++
	}
	for ; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
		d := uint64(s[j] - '0')
		if u > (math.MaxUint64-d)/10 {
			u = math.MaxUint64
			continue
		}
		u = u*10 + d
	}
	if neg {
		if u > 1<<63 {
			return math.MinInt64, 1 << 63, true
		}
		return -int64(u), u, true
	}
	return 0, u, false
}
