package sql

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

// timeFieldType is a TIME result with fsp fractional digits.
func timeFieldType(fsp int) types.FieldType {
	ft := types.FieldType{Tp: mysql.TypeDuration, Flen: 10, Decimals: fsp, Coll: bin}
	if fsp > 0 {
		ft.Flen += fsp + 1
	}
	return ft
}

// argFsp is the number of fractional-second digits an argument brings to a temporal result: a string
// literal its own digits, a DATETIME/TIME its declared ones, integers none, anything else 6 (unknown).
func argFsp(e expr) int {
	et := e.typ()
	if c, ok := e.(*constExpr); ok && c.v.IsStringish() {
		if _, fsp, st := types.ParseDuration(c.v.Str()); st != types.Invalid {
			return fsp
		}
		return 6
	}
	switch et.ft.Class() {
	case types.ClassDatetime, types.ClassTime:
		return min(et.ft.Decimals, 6)
	case types.ClassInt, types.ClassDate:
		return 0
	case types.ClassDecimal:
		return min(et.ft.Decimals, 6)
	}
	if et.ft.Tp == mysql.TypeNull {
		return 0
	}
	return 6
}

// temporal is a value read as MariaDB's functions over "datetime or time" arguments read it.
type temporal struct {
	datetime bool
	t        types.Time // when datetime
	us       int64      // when a time
}

// asTemporal reads v as a datetime when it is one (or a string or number that spells a date), else as a
// TIME; ok=false when it is neither.
func asTemporal(v types.Value) (temporal, bool) {
	switch v.Kind() {
	case types.KindDate, types.KindDatetime:
		return temporal{datetime: true, t: v.Time()}, true
	case types.KindTime:
		return temporal{us: v.Duration()}, true
	case types.KindString, types.KindBytes:
		s := strings.TrimSpace(v.Str())
		// "10:11:12" would also parse as the date 2010-11-12: a first delimiter ':' means a time.
		if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 && s[i] != ':' && s[i] != '.' {
			if t, st := types.ToTime(v); st == types.OK {
				return temporal{datetime: true, t: t}, true
			}
		} else if i < 0 && len(s) > 7 {
			if t, st := types.ToTime(v); st == types.OK {
				return temporal{datetime: true, t: t}, true
			}
		}
	case types.KindInt, types.KindUint, types.KindDecimal, types.KindFloat:
		if f, _ := types.ToFloat(v); f >= 1e8 || f <= -1e8 {
			if t, st := types.ToTime(v); st == types.OK {
				return temporal{datetime: true, t: t}, true
			}
			return temporal{}, false
		}
	}
	us, st := types.ToDuration(v)
	if st == types.Invalid {
		return temporal{}, false
	}
	return temporal{us: us}, true
}

// timeOfDay is a datetime's time of day in microseconds.
func timeOfDay(t types.Time) int64 {
	return int64(t.Hour()*3600+t.Minute()*60+t.Second())*1000000 + int64(t.Micro())
}

// absMicros is a datetime as microseconds since 0000-01-01 (with MySQL's day numbers).
func absMicros(t types.Time) int64 { return dayNumber(t)*86400000000 + timeOfDay(t) }

// fromAbsMicros is the inverse of absMicros; ok=false outside years 1..9999.
func fromAbsMicros(us int64) (types.Time, bool) {
	if us < 0 {
		return 0, false
	}
	days, tod := us/86400000000, us%86400000000
	y, m, d := dateFromDayNumber(days)
	if y < 1 || y > 9999 {
		return 0, false
	}
	sec := tod / 1000000
	return types.MakeTime(y, m, d, int(sec/3600), int(sec/60%60), int(sec%60), int(tod%1000000)), true
}

// dateFromDayNumber inverts dayNumber.
func dateFromDayNumber(n int64) (y, m, d int) {
	// Estimate the year, then correct it: dayNumber is monotonic.
	y = int(n * 400 / 146097)
	for y > 0 && dayNumber(types.MakeTime(y, 1, 1, 0, 0, 0, 0)) > n {
		y--
	}
	for dayNumber(types.MakeTime(y+1, 1, 1, 0, 0, 0, 0)) <= n {
		y++
	}
	m = 1
	for m < 12 && dayNumber(types.MakeTime(y, m+1, 1, 0, 0, 0, 0)) <= n {
		m++
	}
	d = int(n-dayNumber(types.MakeTime(y, m, 1, 0, 0, 0, 0))) + 1
	return y, m, d
}

// datetimeText formats a datetime computed for a string-typed result: fractional digits only when set.
func datetimeText(t types.Time) string {
	fsp := 0
	if t.Micro() != 0 {
		fsp = 6
	}
	return string(t.AppendDatetime(nil, fsp))
}

// clippedDuration warns as MariaDB does when a TIME result leaves its range.
func (c *evalCtx) clippedDuration(us int64) types.Value {
	r, clipped := types.ClipDuration(us)
	if clipped {
		c.s.warn("Warning", ErTruncatedWrongValue, "Truncated incorrect time value: '%s'", types.FormatDuration(us))
	}
	return types.NewDuration(r)
}

// timestampDiff compiles TIMESTAMPDIFF(unit, a, b): b - a in whole units, months counted by the calendar.
func (cp *compiler) timestampDiff(x *ast.FuncCallExpr) (expr, error) {
	if len(x.Args) != 3 {
		return nil, argCount(x.FnName.O, len(x.Args), 3, 3)
	}
	tu, ok := x.Args[0].(*ast.TimeUnitExpr)
	if !ok {
		return nil, errNotSupported("TIMESTAMPDIFF without a unit")
	}
	args, err := cp.compileList(x.Args[1:])
	if err != nil {
		return nil, err
	}
	var div int64
	months := 0
	switch tu.Unit {
	case ast.TimeUnitMicrosecond:
		div = 1
	case ast.TimeUnitSecond:
		div = 1000000
	case ast.TimeUnitMinute:
		div = 60000000
	case ast.TimeUnitHour:
		div = 3600000000
	case ast.TimeUnitDay:
		div = 86400000000
	case ast.TimeUnitWeek:
		div = 7 * 86400000000
	case ast.TimeUnitMonth:
		months = 1
	case ast.TimeUnitQuarter:
		months = 3
	case ast.TimeUnitYear:
		months = 12
	default:
		return nil, errNotSupported("TIMESTAMPDIFF unit " + tu.Unit.String())
	}
	f := &funcExpr{name: "timestampdiff", args: args, et: intType}
	f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
		if nullIfAny(a) {
			return types.Null, nil
		}
		t1, s1 := types.ToTime(a[0])
		t2, s2 := types.ToTime(a[1])
		if s1 != types.OK || s2 != types.OK || t1.Month() == 0 || t2.Month() == 0 {
			return types.Null, nil
		}
		if months == 0 {
			return types.NewInt((absMicros(t2) - absMicros(t1)) / div), nil
		}
		neg := false
		if t2 < t1 {
			t1, t2, neg = t2, t1, true
		}
		// Whole months from t1 to t2: the month count, less one when t2's day and time of day are earlier.
		n := (t2.Year()-t1.Year())*12 + t2.Month() - t1.Month()
		if t2.Day() < t1.Day() || (t2.Day() == t1.Day() && timeOfDay(t2) < timeOfDay(t1)) {
			n--
		}
		n /= months
		if neg {
			n = -n
		}
		return types.NewInt(int64(n)), nil
	}
	return f, nil
}

// timestampAdd compiles TIMESTAMPADD(unit, n, dt) as DATE_ADD(dt, INTERVAL n unit).
func (cp *compiler) timestampAdd(x *ast.FuncCallExpr) (expr, error) {
	if len(x.Args) != 3 {
		return nil, argCount(x.FnName.O, len(x.Args), 3, 3)
	}
	add := &ast.FuncCallExpr{FnName: x.FnName, Args: []ast.ExprNode{x.Args[2], x.Args[1], x.Args[0]}}
	return cp.dateArith(add, false)
}

var dayNames = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

// timeFuncs compiles the date/time functions beyond the basic ones, and the number-base functions;
// ok=false when name is none of them.
func (cp *compiler) timeFuncs(x *ast.FuncCallExpr, name string, args []expr) (expr, bool, error) {
	f := &funcExpr{name: name, args: args}
	n := len(args)
	check := func(min, max int) error { return argCount(x.FnName.O, n, min, max) }
	strict := func(et exprType, fn func(c *evalCtx, a []types.Value) types.Value) {
		f.et = et
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			if nullIfAny(a) {
				return types.Null, nil
			}
			return fn(c, a), nil
		}
	}
	// date reads a DATE-ish argument; zero dates give NULL, as in MariaDB's day functions.
	date := func(v types.Value) (types.Time, bool) {
		t, st := types.ToTime(v)
		if st != types.OK || t.Month() == 0 || t.Day() == 0 {
			return 0, false
		}
		return t, true
	}
	var err error
	switch name {
	case "time":
		if err = check(1, 1); err != nil {
			break
		}
		fsp := argFsp(args[0])
		strict(exprType{ft: timeFieldType(fsp)}, func(c *evalCtx, a []types.Value) types.Value {
			// TIME() reads strings as times (a date alone is a leading number), datetimes by their time.
			us, st := types.ToDuration(a[0])
			if st == types.Invalid {
				c.s.warn("Warning", ErTruncatedWrongValue, "Truncated incorrect time value: '%s'", types.ToText(a[0]))
				return types.Null
			}
			if st != types.OK {
				c.s.warn("Warning", ErTruncatedWrongValue, "Truncated incorrect time value: '%s'", types.ToText(a[0]))
			}
			return types.NewDuration(us)
		})
	case "microsecond":
		if err = check(1, 1); err != nil {
			break
		}
		strict(exprType{ft: types.FieldType{Tp: mysql.TypeLong, Flen: 6, Coll: bin}}, func(c *evalCtx, a []types.Value) types.Value {
			tv, ok := asTemporal(a[0])
			switch {
			case !ok:
				return types.Null
			case tv.datetime:
				return types.NewInt(int64(tv.t.Micro()))
			}
			us := tv.us
			if us < 0 {
				us = -us
			}
			return types.NewInt(us % 1000000)
		})
	case "dayofweek", "weekday", "dayofyear", "quarter":
		if err = check(1, 1); err != nil {
			break
		}
		flen := 1
		if name == "dayofyear" {
			flen = 3
		}
		strict(exprType{ft: types.FieldType{Tp: mysql.TypeLong, Flen: flen, Coll: bin}}, func(c *evalCtx, a []types.Value) types.Value {
			t, ok := date(a[0])
			if !ok {
				return types.Null
			}
			dn := dayNumber(t)
			switch name {
			case "dayofweek":
				return types.NewInt((dn+6)%7 + 1)
			case "weekday":
				return types.NewInt((dn + 5) % 7)
			case "quarter":
				return types.NewInt(int64((t.Month() + 2) / 3))
			}
			return types.NewInt(dn - dayNumber(types.MakeTime(t.Year(), 1, 1, 0, 0, 0, 0)) + 1)
		})
	case "dayname", "monthname":
		if err = check(1, 1); err != nil {
			break
		}
		et := strType
		et.ft.Flen = 9
		strict(et, func(c *evalCtx, a []types.Value) types.Value {
			t, ok := date(a[0])
			if !ok {
				return types.Null
			}
			if name == "monthname" {
				return types.NewString(monthNames[t.Month()-1])
			}
			return types.NewString(dayNames[(dayNumber(t)+5)%7])
		})
	case "last_day":
		if err = check(1, 1); err != nil {
			break
		}
		strict(exprType{ft: dateNN.ft}, func(c *evalCtx, a []types.Value) types.Value {
			t, ok := date(a[0])
			if !ok {
				return types.Null
			}
			next := types.MakeTime(t.Year(), t.Month(), 1, 0, 0, 0, 0)
			if t.Month() == 12 {
				return types.NewDate(types.MakeTime(t.Year(), 12, 31, 0, 0, 0, 0))
			}
			next = types.MakeTime(t.Year(), t.Month()+1, 1, 0, 0, 0, 0)
			y, m, d := dateFromDayNumber(dayNumber(next) - 1)
			return types.NewDate(types.MakeTime(y, m, d, 0, 0, 0, 0))
		})
	case "timediff":
		if err = check(2, 2); err != nil {
			break
		}
		fsp := max(argFsp(args[0]), argFsp(args[1]))
		strict(exprType{ft: timeFieldType(fsp)}, func(c *evalCtx, a []types.Value) types.Value {
			t1, ok1 := asTemporal(a[0])
			t2, ok2 := asTemporal(a[1])
			if !ok1 || !ok2 || t1.datetime != t2.datetime {
				return types.Null
			}
			if t1.datetime {
				return c.clippedDuration(absMicros(t1.t) - absMicros(t2.t))
			}
			return c.clippedDuration(t1.us - t2.us)
		})
	case "addtime", "subtime":
		if err = check(2, 2); err != nil {
			break
		}
		et := exprType{ft: types.FieldType{Tp: mysql.TypeString, Flen: 26, Decimals: 31, Coll: types.CollationGeneralCI}}
		fsp := max(argFsp(args[0]), argFsp(args[1]))
		switch args[0].typ().ft.Class() {
		case types.ClassDatetime:
			et.ft = types.FieldType{Tp: mysql.TypeDatetime, Flen: 19, Decimals: fsp, Coll: bin}
			if fsp > 0 {
				et.ft.Flen += fsp + 1
			}
		case types.ClassTime:
			et.ft = timeFieldType(fsp)
		}
		sign := int64(1)
		if name == "subtime" {
			sign = -1
		}
		strict(et, func(c *evalCtx, a []types.Value) types.Value {
			base, ok := asTemporal(a[0])
			d, st := types.ToDuration(a[1])
			if !ok || st == types.Invalid {
				return types.Null
			}
			if base.datetime {
				r, ok := fromAbsMicros(absMicros(base.t) + sign*d)
				if !ok {
					return types.Null
				}
				if et.ft.Class() == types.ClassDatetime {
					return types.NewDatetime(r)
				}
				return types.NewString(datetimeText(r))
			}
			r := c.clippedDuration(base.us + sign*d)
			if et.ft.Class() == types.ClassTime {
				return r
			}
			return types.NewString(types.FormatDuration(r.Duration()))
		})
	case "time_to_sec":
		if err = check(1, 1); err != nil {
			break
		}
		fsp := argFsp(args[0])
		et := exprType{ft: types.FieldType{Tp: mysql.TypeLonglong, Flen: 17, Coll: bin}}
		if fsp > 0 {
			et.ft = types.FieldType{Tp: mysql.TypeNewDecimal, Flen: 17 + fsp, Decimals: fsp, Coll: bin}
		}
		strict(et, func(c *evalCtx, a []types.Value) types.Value {
			tv, ok := asTemporal(a[0])
			if !ok {
				return types.Null
			}
			us := tv.us
			if tv.datetime {
				us = timeOfDay(tv.t)
			}
			if fsp == 0 {
				return types.NewInt(us / 1000000)
			}
			d, _, _ := types.ParseDecimal(string(appendMicros(nil, us)))
			return types.NewDecimal(d.Round(int32(fsp)))
		})
	case "sec_to_time":
		if err = check(1, 1); err != nil {
			break
		}
		fsp := argFsp(args[0])
		if args[0].typ().ft.Class() == types.ClassFloat || args[0].typ().ft.Class() == types.ClassString {
			fsp = 6
		}
		strict(exprType{ft: timeFieldType(fsp)}, func(c *evalCtx, a []types.Value) types.Value {
			d, _ := types.ToDecimal(a[0])
			d = d.Mul(types.DecimalFromInt(1000000)).Truncate(0)
			us, ok := d.Int64()
			if !ok {
				us = types.MaxDuration + 1
				if d.Sign() < 0 {
					us = -us
				}
			}
			return c.clippedDuration(us)
		})
	case "maketime":
		if err = check(3, 3); err != nil {
			break
		}
		fsp := argFsp(args[2])
		strict(exprType{ft: timeFieldType(fsp)}, func(c *evalCtx, a []types.Value) types.Value {
			h, _ := types.ToInt(a[0])
			m, _ := types.ToInt(a[1])
			sd, _ := types.ToDecimal(a[2])
			if m < 0 || m > 59 || sd.Sign() < 0 || sd.Cmp(types.DecimalFromInt(60)) >= 0 {
				return types.Null
			}
			sus, _ := sd.Mul(types.DecimalFromInt(1000000)).Truncate(0).Int64()
			neg := h < 0
			if neg {
				h = -h
			}
			if h > 838 {
				h = 839
			}
			us := (h*3600+m*60)*1000000 + sus
			if neg {
				us = -us
			}
			return c.clippedDuration(us)
		})
	case "week", "yearweek":
		if err = check(1, 2); err != nil {
			break
		}
		flen := 2
		if name == "yearweek" {
			flen = 6
		}
		f.et = exprType{ft: types.FieldType{Tp: mysql.TypeLong, Flen: flen, Coll: bin}}
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			if a[0].IsNull() || (len(a) == 2 && a[1].IsNull()) {
				return types.Null, nil
			}
			t, ok := date(a[0])
			if !ok {
				return types.Null, nil
			}
			mode := int64(0)
			if len(a) == 2 {
				mode, _ = types.ToInt(a[1])
			} else {
				dv, err := c.s.getSysVar("default_week_format", scopeSession)
				if err != nil {
					return types.Null, err
				}
				mode, _ = types.ToInt(dv)
			}
			bits := weekModeBits(mode)
			if name == "yearweek" {
				w, y := calcWeek(t, bits|weekYear)
				return types.NewInt(int64(y)*100 + w), nil
			}
			w, _ := calcWeek(t, bits)
			return types.NewInt(w), nil
		}
	case "str_to_date":
		if err = check(2, 2); err != nil {
			break
		}
		e, err := cp.strToDate(args)
		return e, true, err
	case "unhex":
		if err = check(1, 1); err != nil {
			break
		}
		et := exprType{ft: types.FieldType{Tp: mysql.TypeVarString, Flen: (args[0].typ().ft.Flen + 1) / 2, Coll: bin}}
		strict(et, func(c *evalCtx, a []types.Value) types.Value {
			s := types.ToText(a[0])
			if len(s)%2 == 1 {
				s = "0" + s
			}
			out := make([]byte, len(s)/2)
			for i := range out {
				hi, ok1 := hexDigit(s[2*i])
				lo, ok2 := hexDigit(s[2*i+1])
				if !ok1 || !ok2 {
					return types.Null
				}
				out[i] = hi<<4 | lo
			}
			return types.NewBytes(out)
		})
	case "bin", "oct":
		if err = check(1, 1); err != nil {
			break
		}
		base := int64(2)
		if name == "oct" {
			base = 8
		}
		et := strType
		et.ft.Flen = 64
		strict(et, func(c *evalCtx, a []types.Value) types.Value {
			return convBase(a[0], 10, base)
		})
	case "conv":
		if err = check(3, 3); err != nil {
			break
		}
		et := strType
		et.ft.Flen = 64
		strict(et, func(c *evalCtx, a []types.Value) types.Value {
			from, _ := types.ToInt(a[1])
			to, _ := types.ToInt(a[2])
			return convBase(a[0], from, to)
		})
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	return f, true, nil
}

// appendMicros appends us as seconds with six decimals.
func appendMicros(b []byte, us int64) []byte {
	if us < 0 {
		b = append(b, '-')
		us = -us
	}
	b = append(b, types.NewInt(us/1000000).String()...)
	b = append(b, '.')
	return appendPadded(b, int(us%1000000), 6)
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// convBase is CONV(v, from, to): v's leading digits in base |from| (negative from: signed), printed in
// base |to| (negative to: signed, else as an unsigned 64-bit value, as MariaDB). Bases outside 2..36
// give NULL.
func convBase(v types.Value, from, to int64) types.Value {
	fb, tb := abs(from), abs(to)
	if fb < 2 || fb > 36 || tb < 2 || tb > 36 {
		return types.Null
	}
	var s string
	if v.IsNumeric() && fb == 10 {
		// Fractions are truncated: BIN(12.7) is 1100.
		i, _ := types.ToInt(v)
		if k := v.Kind(); k == types.KindDecimal || k == types.KindFloat {
			d, _ := types.ToDecimal(v)
			i, _ = d.Truncate(0).Int64()
		}
		if v.Kind() == types.KindUint {
			s = types.NewUint(v.Uint()).String()
		} else {
			s = types.NewInt(i).String()
		}
	} else {
		s = strings.TrimSpace(types.ToText(v))
	}
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var u uint64
	for i := 0; i < len(s); i++ {
		d, ok := digitValue(s[i])
		if !ok || int64(d) >= fb {
			break
		}
		if u > (1<<64-1-uint64(d))/uint64(fb) {
			u = 1<<64 - 1
			continue
		}
		u = u*uint64(fb) + uint64(d)
	}
	if neg {
		u = -u
	}
	if to < 0 && int64(u) < 0 {
		return types.NewString("-" + formatBase(-u, uint64(tb)))
	}
	return types.NewString(formatBase(u, uint64(tb)))
}

func abs(i int64) int64 {
	if i < 0 {
		return -i
	}
	return i
}

func digitValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'Z':
		return c - 'A' + 10, true
	}
	return 0, false
}

func formatBase(u, base uint64) string {
	if u == 0 {
		return "0"
	}
	var buf [64]byte
	i := len(buf)
	for u > 0 {
		i--
		buf[i] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[u%base]
		u /= base
	}
	return string(buf[i:])
}

// strToDate compiles STR_TO_DATE(s, format). The result type follows a constant format, as MariaDB's:
// DATE when it only reads date parts, TIME when only time parts, DATETIME otherwise (with microseconds
// for %f); a non-constant format gives DATETIME(6).
func (cp *compiler) strToDate(args []expr) (expr, error) {
	f := &funcExpr{name: "str_to_date", args: args}
	ft := types.FieldType{Tp: mysql.TypeDatetime, Flen: 26, Decimals: 6, Coll: bin}
	if c, ok := args[1].(*constExpr); ok && !c.v.IsNull() {
		ft = strToDateType(types.ToText(c.v))
	}
	f.et = exprType{ft: ft}
	f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
		if nullIfAny(a) {
			return types.Null, nil
		}
		p, ok := parseWithFormat(types.ToText(a[0]), types.ToText(a[1]))
		if !ok {
			c.s.warn("Warning", ErTruncatedWrongValue, "Incorrect datetime value: '%s' for function str_to_date", types.ToText(a[0]))
			return types.Null, nil
		}
		switch ft.Class() {
		case types.ClassTime:
			return types.NewDuration(int64((p.hour*60+p.minute)*60+p.second)*1000000 + int64(p.micro)), nil
		case types.ClassDate:
			return types.NewDate(types.MakeTime(p.year, p.month, p.day, 0, 0, 0, 0)), nil
		}
		t := types.MakeTime(p.year, p.month, p.day, p.hour, p.minute, p.second, p.micro)
		if ft.Decimals == 0 {
			t -= types.Time(t.Micro())
		}
		return types.NewDatetime(t), nil
	}
	return f, nil
}

func strToDateType(format string) types.FieldType {
	date, tm, frac := false, false, false
	for i := 0; i+1 < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		switch format[i] {
		case 'Y', 'y', 'm', 'c', 'd', 'e', 'M', 'b', 'j', 'D', 'a', 'W', 'w', 'U', 'u', 'V', 'v', 'X', 'x':
			date = true
		case 'H', 'k', 'h', 'I', 'l', 'i', 's', 'S', 'p', 'T', 'r':
			tm = true
		case 'f':
			tm, frac = true, true
		}
	}
	switch {
	case date && !tm:
		return dateNN.ft
	case tm && !date:
		if frac {
			return timeFieldType(6)
		}
		return timeFieldType(0)
	}
	ft := types.FieldType{Tp: mysql.TypeDatetime, Flen: 19, Coll: bin}
	if frac {
		ft.Flen, ft.Decimals = 26, 6
	}
	return ft
}

// parsedDate holds the fields STR_TO_DATE read.
type parsedDate struct {
	year, month, day, hour, minute, second, micro int
}

// parseWithFormat reads s by a DATE_FORMAT-style format: %Y %y %m %c %d %e %H %k %h %I %l %i %s %S %f
// %p %M %b %T %r %j and %%; other characters must match literally (any punctuation matches any
// punctuation, as MariaDB is lenient). Input after the format is ignored, as MariaDB does.
func parseWithFormat(s, format string) (parsedDate, bool) {
	var p parsedDate
	pm, has12 := -1, false
	yday := 0
	i := 0
	num := func(maxDigits int) (int, bool) {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		v, j := 0, i
		for j < len(s) && j-i < maxDigits && s[j] >= '0' && s[j] <= '9' {
			v = v*10 + int(s[j]-'0')
			j++
		}
		if j == i {
			return 0, false
		}
		i = j
		return v, true
	}
	name := func(names []string, abbrev bool) (int, bool) {
		for k, nm := range names {
			if abbrev {
				nm = nm[:3]
			}
			if len(s)-i >= len(nm) && strings.EqualFold(s[i:i+len(nm)], nm) {
				i += len(nm)
				return k, true
			}
		}
		return 0, false
	}
	for k := 0; k < len(format); k++ {
		c := format[k]
		if c != '%' || k+1 == len(format) {
			if c == ' ' {
				for i < len(s) && s[i] == ' ' {
					i++
				}
				continue
			}
			if i >= len(s) || (s[i] != c && !(isPunct(s[i]) && isPunct(c))) {
				return p, false
			}
			i++
			continue
		}
		k++
		ok := true
		var v int
		switch format[k] {
		case 'Y':
			if v, ok = num(4); ok {
				p.year = v
			}
		case 'y':
			if v, ok = num(2); ok {
				p.year = v + 2000
				if v >= 70 {
					p.year = v + 1900
				}
			}
		case 'm', 'c':
			p.month, ok = num(2)
		case 'd', 'e':
			p.day, ok = num(2)
		case 'H', 'k':
			p.hour, ok = num(2)
		case 'h', 'I', 'l':
			p.hour, ok = num(2)
			has12 = true
		case 'i':
			p.minute, ok = num(2)
		case 's', 'S':
			p.second, ok = num(2)
		case 'f':
			start := i
			if v, ok = num(6); ok {
				for d := i - start; d < 6; d++ {
					v *= 10
				}
				p.micro = v
			}
		case 'j':
			yday, ok = num(3)
		case 'p':
			switch {
			case len(s)-i >= 2 && strings.EqualFold(s[i:i+2], "AM"):
				pm = 0
			case len(s)-i >= 2 && strings.EqualFold(s[i:i+2], "PM"):
				pm = 1
			default:
				ok = false
			}
			i += 2
		case 'M':
			v, ok = name(monthNames, false)
			p.month = v + 1
		case 'b':
			v, ok = name(monthNames, true)
			p.month = v + 1
		case 'W':
			_, ok = name(dayNames, false)
		case 'a':
			_, ok = name(dayNames, true)
		case 'T':
			var sub parsedDate
			sub, ok = parseTimePart(s, &i, false)
			p.hour, p.minute, p.second = sub.hour, sub.minute, sub.second
		case 'r':
			var sub parsedDate
			sub, ok = parseTimePart(s, &i, true)
			p.hour, p.minute, p.second = sub.hour, sub.minute, sub.second
			has12 = true
			pm = sub.micro
		case '%':
			ok = i < len(s) && s[i] == '%'
			i++
		default:
			return p, false
		}
		if !ok {
			return p, false
		}
	}
	if has12 {
		if p.hour < 1 || p.hour > 12 {
			return p, false
		}
		p.hour %= 12
		if pm == 1 {
			p.hour += 12
		}
	}
	if yday > 0 {
		if p.year == 0 || yday > 366 {
			return p, false
		}
		y, m, d := dateFromDayNumber(dayNumber(types.MakeTime(p.year, 1, 1, 0, 0, 0, 0)) + int64(yday) - 1)
		if y != p.year {
			return p, false
		}
		p.month, p.day = m, d
	}
	if p.month > 12 || p.hour > 23 || p.minute > 59 || p.second > 59 {
		return p, false
	}
	// Like MariaDB, days are only checked against 31 (2024-02-30 is returned as is).
	return p, p.day <= 31
}

// parseTimePart reads hh:mm:ss, and with ampm a following AM/PM (reported in micro: 0 AM, 1 PM).
func parseTimePart(s string, i *int, ampm bool) (parsedDate, bool) {
	var p parsedDate
	fields := []*int{&p.hour, &p.minute, &p.second}
	for n, f := range fields {
		if n > 0 {
			if *i >= len(s) || s[*i] != ':' {
				return p, false
			}
			*i++
		}
		v, j := 0, *i
		for j < len(s) && j-*i < 2 && s[j] >= '0' && s[j] <= '9' {
			v = v*10 + int(s[j]-'0')
			j++
		}
		if j == *i {
			return p, false
		}
		*f, *i = v, j
	}
	if ampm {
		for *i < len(s) && s[*i] == ' ' {
			*i++
		}
		switch {
		case len(s)-*i >= 2 && strings.EqualFold(s[*i:*i+2], "AM"):
			p.micro = 0
		case len(s)-*i >= 2 && strings.EqualFold(s[*i:*i+2], "PM"):
			p.micro = 1
		default:
			return p, false
		}
		*i += 2
	}
	return p, true
}

func isPunct(c byte) bool {
	return c < 128 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != ' '
}

// Week modes (MariaDB's week_mode bits).
const (
	weekMondayFirst  = 1
	weekYear         = 2
	weekFirstWeekday = 4
)

// weekModeBits turns WEEK()'s mode argument into MariaDB's behaviour bits.
func weekModeBits(mode int64) int {
	m := int(mode & 7)
	if m&weekMondayFirst == 0 {
		m ^= weekFirstWeekday
	}
	return m
}

func daysInYear(y int) int64 {
	if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		return 366
	}
	return 365
}

// calcWeek is MariaDB's calc_week: the week number of t under the behaviour bits, and the year it
// belongs to.
func calcWeek(t types.Time, behaviour int) (week int64, year int) {
	daynr := dayNumber(t)
	firstDaynr := dayNumber(types.MakeTime(t.Year(), 1, 1, 0, 0, 0, 0))
	mondayFirst := behaviour&weekMondayFirst != 0
	wYear := behaviour&weekYear != 0
	firstWeekday := behaviour&weekFirstWeekday != 0
	sundayFirst := int64(0)
	if !mondayFirst {
		sundayFirst = 1
	}
	weekday := (firstDaynr + 5 + sundayFirst) % 7
	year = t.Year()
	if t.Month() == 1 && int64(t.Day()) <= 7-weekday {
		if !wYear && ((firstWeekday && weekday != 0) || (!firstWeekday && weekday >= 4)) {
			return 0, year
		}
		wYear = true
		year--
		days := daysInYear(year)
		firstDaynr -= days
		weekday = (weekday + 53*7 - days) % 7
	}
	var days int64
	if (firstWeekday && weekday != 0) || (!firstWeekday && weekday >= 4) {
		days = daynr - (firstDaynr + (7 - weekday))
	} else {
		days = daynr - (firstDaynr - weekday)
	}
	if wYear && days >= 52*7 {
		weekday = (weekday + daysInYear(year)) % 7
		if (!firstWeekday && weekday < 4) || (firstWeekday && weekday == 0) {
			return 1, year + 1
		}
	}
	return days/7 + 1, year
}
