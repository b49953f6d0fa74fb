package sql

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

// dateArith compiles DATE_ADD/DATE_SUB/ADDDATE/SUBDATE and "d + INTERVAL n unit".
func (cp *compiler) dateArith(x *ast.FuncCallExpr, sub bool) (expr, error) {
	if len(x.Args) != 3 {
		return nil, argCount(x.FnName.O, len(x.Args), 3, 3)
	}
	tu, ok := x.Args[2].(*ast.TimeUnitExpr)
	if !ok {
		return nil, errNotSupported(x.FnName.O + " without INTERVAL")
	}
	d, err := cp.compile(x.Args[0])
	if err != nil {
		return nil, err
	}
	n, err := cp.compile(x.Args[1])
	if err != nil {
		return nil, err
	}
	unit := tu.Unit
	dayLevel := false
	switch unit {
	case ast.TimeUnitDay, ast.TimeUnitWeek, ast.TimeUnitMonth, ast.TimeUnitQuarter, ast.TimeUnitYear:
		dayLevel = true
	case ast.TimeUnitMicrosecond, ast.TimeUnitSecond, ast.TimeUnitMinute, ast.TimeUnitHour:
	default:
		return nil, errNotSupported("INTERVAL unit " + unit.String())
	}
	f := &funcExpr{name: x.FnName.L, args: []expr{d, n}}
	argClass := d.typ().ft.Class()
	switch {
	case argClass == types.ClassDate && dayLevel:
		f.et = exprType{ft: dateNN.ft}
	case argClass == types.ClassDate || argClass == types.ClassDatetime:
		f.et = exprType{ft: dtNN.ft}
		if argClass == types.ClassDatetime {
			f.et.ft.Decimals = d.typ().ft.Decimals
		}
		if unit == ast.TimeUnitMicrosecond {
			f.et.ft.Decimals = 6
		}
	default:
		// A string argument gives a string result, typed CHAR as MariaDB's.
		f.et = exprType{ft: types.FieldType{Tp: mysql.TypeString, Flen: 29, Coll: types.CollationGeneralCI}}
	}
	f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
		if a[0].IsNull() || a[1].IsNull() {
			return types.Null, nil
		}
		t, st := types.ToTime(a[0])
		if st != types.OK || t.Month() == 0 {
			return types.Null, nil
		}
		amount, _ := types.ToInt(a[1])
		if sub {
			amount = -amount
		}
		g := t.GoTime(time.UTC)
		switch unit {
		case ast.TimeUnitMicrosecond:
			g = g.Add(time.Duration(amount) * time.Microsecond)
		case ast.TimeUnitSecond:
			g = g.Add(time.Duration(amount) * time.Second)
		case ast.TimeUnitMinute:
			g = g.Add(time.Duration(amount) * time.Minute)
		case ast.TimeUnitHour:
			g = g.Add(time.Duration(amount) * time.Hour)
		case ast.TimeUnitDay:
			g = g.AddDate(0, 0, int(amount))
		case ast.TimeUnitWeek:
			g = g.AddDate(0, 0, 7*int(amount))
		case ast.TimeUnitMonth, ast.TimeUnitQuarter, ast.TimeUnitYear:
			months := int(amount)
			if unit == ast.TimeUnitQuarter {
				months *= 3
			} else if unit == ast.TimeUnitYear {
				months *= 12
			}
			// MySQL clips to the last day of the target month instead of overflowing.
			y, m, day := g.Date()
			total := int(m) - 1 + months
			ny, nm := y+total/12, total%12
			if nm < 0 {
				nm += 12
				ny--
			}
			last := time.Date(ny, time.Month(nm+2), 0, 0, 0, 0, 0, time.UTC).Day()
			g = time.Date(ny, time.Month(nm+1), min(day, last), g.Hour(), g.Minute(), g.Second(), g.Nanosecond(), time.UTC)
		}
		if g.Year() < 1 || g.Year() > 9999 {
			return types.Null, nil
		}
		r := types.FromGoTime(g)
		switch {
		case f.et.ft.Class() == types.ClassDate:
			return types.NewDate(r), nil
		case f.et.ft.Class() == types.ClassDatetime:
			return types.NewDatetime(r), nil
		case dayLevel && t == t.DateOnly() && !strings.Contains(types.ToText(a[0]), ":"):
			return types.NewString(string(r.AppendDate(nil))), nil
		}
		fsp := 0
		if r.Micro() != 0 {
			fsp = 6
		}
		return types.NewString(string(r.AppendDatetime(nil, fsp))), nil
	}
	return f, nil
}

// dayNumber counts days from 0000-01-01 (MySQL's calc_daynr), so differences span the whole DATE range
// (a time.Duration only spans 292 years).
func dayNumber(t types.Time) int64 {
	y, m, d := int64(t.Year()), int64(t.Month()), int64(t.Day())
	n := 365*y + 31*(m-1) + d
	if m <= 2 {
		y--
	} else {
		n -= (4*m + 23) / 10
	}
	return n + y/4 - (y/100+1)*3/4
}

var monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// dateFormat implements DATE_FORMAT's specifiers.
func dateFormat(t types.Time, f string) string {
	var b strings.Builder
	g := t.GoTime(time.UTC)
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' || i+1 == len(f) {
			b.WriteByte(c)
			continue
		}
		i++
		pad := func(v, w int) { b.WriteString(string(appendPadded(nil, v, w))) }
		switch f[i] {
		case 'Y':
			pad(t.Year(), 4)
		case 'y':
			pad(t.Year()%100, 2)
		case 'm':
			pad(t.Month(), 2)
		case 'c':
			b.WriteString(strconv.Itoa(t.Month()))
		case 'd':
			pad(t.Day(), 2)
		case 'e':
			b.WriteString(strconv.Itoa(t.Day()))
		case 'H':
			pad(t.Hour(), 2)
		case 'k':
			b.WriteString(strconv.Itoa(t.Hour()))
		case 'h', 'I':
			pad((t.Hour()+11)%12+1, 2)
		case 'l':
			b.WriteString(strconv.Itoa((t.Hour()+11)%12 + 1))
		case 'i':
			pad(t.Minute(), 2)
		case 's', 'S':
			pad(t.Second(), 2)
		case 'f':
			pad(t.Micro(), 6)
		case 'p':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'M':
			if t.Month() >= 1 {
				b.WriteString(monthNames[t.Month()-1])
			}
		case 'b':
			if t.Month() >= 1 {
				b.WriteString(monthNames[t.Month()-1][:3])
			}
		case 'W':
			b.WriteString(g.Weekday().String())
		case 'a':
			b.WriteString(g.Weekday().String()[:3])
		case 'w':
			b.WriteString(strconv.Itoa(int(g.Weekday())))
		case 'j':
			pad(g.YearDay(), 3)
		case 'T':
			pad(t.Hour(), 2)
			b.WriteByte(':')
			pad(t.Minute(), 2)
			b.WriteByte(':')
			pad(t.Second(), 2)
		case 'r':
			pad((t.Hour()+11)%12+1, 2)
			b.WriteByte(':')
			pad(t.Minute(), 2)
			b.WriteByte(':')
			pad(t.Second(), 2)
			if t.Hour() < 12 {
				b.WriteString(" AM")
			} else {
				b.WriteString(" PM")
			}
		case 'D':
			d := t.Day()
			b.WriteString(strconv.Itoa(d))
			switch {
			case d%100 >= 11 && d%100 <= 13:
				b.WriteString("th")
			case d%10 == 1:
				b.WriteString("st")
			case d%10 == 2:
				b.WriteString("nd")
			case d%10 == 3:
				b.WriteString("rd")
			default:
				b.WriteString("th")
			}
		default:
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

func appendPadded(b []byte, v, w int) []byte {
	s := strconv.Itoa(v)
	for i := len(s); i < w; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// moreFuncs compiles the less common scalar functions; ok=false when name is unknown.
func (cp *compiler) moreFuncs(x *ast.FuncCallExpr, name string, args []expr) (expr, bool, error) {
	f := &funcExpr{name: name, args: args}
	n := len(args)
	check := func(min, max int) error { return argCount(x.FnName.O, n, min, max) }
	strict := func(et exprType, fn func(a []types.Value) types.Value) {
		f.et = et
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			if nullIfAny(a) {
				return types.Null, nil
			}
			return fn(a), nil
		}
	}
	var err error
	switch name {
	case "date_format":
		err = check(2, 2)
		strict(strType, func(a []types.Value) types.Value {
			t, st := types.ToTime(a[0])
			if st != types.OK {
				return types.Null
			}
			return types.NewString(dateFormat(t, types.ToText(a[1])))
		})
	case "datediff":
		err = check(2, 2)
		strict(longType(8), func(a []types.Value) types.Value {
			t1, s1 := types.ToTime(a[0])
			t2, s2 := types.ToTime(a[1])
			if s1 != types.OK || s2 != types.OK || t1.Month() == 0 || t2.Month() == 0 {
				return types.Null
			}
			return types.NewInt(dayNumber(t1) - dayNumber(t2))
		})
	case "from_unixtime":
		err = check(1, 1)
		f.et = dtType
		f.fn = func(c *evalCtx, a []types.Value) (types.Value, error) {
			if a[0].IsNull() {
				return types.Null, nil
			}
			sec, _ := types.ToFloat(a[0])
			if sec < 0 {
				return types.Null, nil
			}
			whole, frac := math.Modf(sec)
			g := time.Unix(int64(whole), int64(frac*1e9)).In(c.s.location())
			return types.NewDatetime(types.FromGoTime(g)), nil
		}
	case "locate", "instr", "position":
		err = check(2, 3)
		strict(longType(11), func(a []types.Value) types.Value {
			sub, str := types.ToText(a[0]), types.ToText(a[1])
			if name == "instr" {
				sub, str = str, sub
			}
			start := int64(1)
			if len(a) == 3 {
				start, _ = types.ToInt(a[2])
			}
			r := []rune(str)
			if start < 1 || start > int64(len(r))+1 {
				return types.NewInt(0)
			}
			hay := strings.ToLower(string(r[start-1:]))
			i := strings.Index(hay, strings.ToLower(sub))
			if i < 0 {
				return types.NewInt(0)
			}
			return types.NewInt(start + int64(utf8.RuneCountInString(hay[:i])))
		})
	case "lpad", "rpad":
		err = check(3, 3)
		strict(strType, func(a []types.Value) types.Value {
			s, pad := []rune(types.ToText(a[0])), []rune(types.ToText(a[2]))
			l, _ := types.ToInt(a[1])
			if l < 0 || l > 1<<20 {
				return types.Null
			}
			if int64(len(s)) >= l {
				return types.NewString(string(s[:l]))
			}
			if len(pad) == 0 {
				return types.Null
			}
			var fill []rune
			for int64(len(fill)+len(s)) < l {
				fill = append(fill, pad[len(fill)%len(pad)])
			}
			if name == "lpad" {
				return types.NewString(string(fill) + string(s))
			}
			return types.NewString(string(s) + string(fill))
		})
	case "reverse":
		err = check(1, 1)
		strict(strType, func(a []types.Value) types.Value {
			r := []rune(types.ToText(a[0]))
			for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
				r[i], r[j] = r[j], r[i]
			}
			return types.NewString(string(r))
		})
	case "ascii":
		err = check(1, 1)
		strict(longType(3), func(a []types.Value) types.Value {
			s := types.ToText(a[0])
			if s == "" {
				return types.NewInt(0)
			}
			return types.NewInt(int64(s[0]))
		})
	case "space":
		err = check(1, 1)
		strict(strType, func(a []types.Value) types.Value {
			k, _ := types.ToInt(a[0])
			if k < 0 || k > 1<<20 {
				return types.NewString("")
			}
			return types.NewString(strings.Repeat(" ", int(k)))
		})
	case "substring_index":
		err = check(3, 3)
		strict(strType, func(a []types.Value) types.Value {
			s, d := types.ToText(a[0]), types.ToText(a[1])
			k, _ := types.ToInt(a[2])
			if d == "" || k == 0 {
				return types.NewString("")
			}
			parts := strings.Split(s, d)
			if k > 0 {
				if int(k) >= len(parts) {
					return types.NewString(s)
				}
				return types.NewString(strings.Join(parts[:k], d))
			}
			if int(-k) >= len(parts) {
				return types.NewString(s)
			}
			return types.NewString(strings.Join(parts[len(parts)+int(k):], d))
		})
	case "strcmp":
		err = check(2, 2)
		coll := collOf(args...)
		strict(long2, func(a []types.Value) types.Value {
			return types.NewInt(int64(coll.Compare(types.ToText(a[0]), types.ToText(a[1]))))
		})
	case "sign":
		err = check(1, 1)
		strict(long2, func(a []types.Value) types.Value {
			fv, _ := types.ToFloat(a[0])
			switch {
			case fv > 0:
				return types.NewInt(1)
			case fv < 0:
				return types.NewInt(-1)
			}
			return types.NewInt(0)
		})
	case "pow", "power", "sqrt", "exp", "ln", "log", "log10", "log2":
		if name == "pow" || name == "power" {
			err = check(2, 2)
		} else if name == "log" {
			err = check(1, 2)
		} else {
			err = check(1, 1)
		}
		strict(doubleType, func(a []types.Value) types.Value {
			x0, _ := types.ToFloat(a[0])
			var r float64
			switch name {
			case "pow", "power":
				y, _ := types.ToFloat(a[1])
				r = math.Pow(x0, y)
			case "sqrt":
				r = math.Sqrt(x0)
			case "exp":
				r = math.Exp(x0)
			case "ln":
				r = math.Log(x0)
			case "log":
				if len(a) == 2 {
					y, _ := types.ToFloat(a[1])
					if x0 <= 0 || x0 == 1 || y <= 0 {
						return types.Null
					}
					r = math.Log(y) / math.Log(x0)
				} else {
					r = math.Log(x0)
				}
			case "log10":
				r = math.Log10(x0)
			case "log2":
				r = math.Log2(x0)
			}
			if math.IsNaN(r) || math.IsInf(r, 0) {
				return types.Null
			}
			return types.NewFloat(r)
		})
	case "pi":
		err = check(0, 0)
		f.et = exprType{ft: types.FieldType{Tp: mysql.TypeDouble, Flen: 8, Decimals: 6, Coll: bin}, notNull: true}
		f.fn = func(*evalCtx, []types.Value) (types.Value, error) { return types.NewFloat(math.Pi), nil }
	case "get_lock", "release_lock", "is_free_lock", "is_used_lock", "release_all_locks":
		return nil, true, errNotSupported(strings.ToUpper(name))
	default:
		return cp.timeFuncs(x, name, args)
	}
	if err != nil {
		return nil, true, err
	}
	return f, true, nil
}
