package types

import (
	"math"
	"testing"

	"github.com/pingcap/tidb/pkg/parser/mysql"
)

func dec(t *testing.T, s string) Decimal {
	t.Helper()
	d, n, err := ParseDecimal(s)
	if err != nil || n != len(s) {
		t.Fatalf("ParseDecimal(%q) = %v, %d, %v", s, d, n, err)
	}
	return d
}

func TestDecimalArithmetic(t *testing.T) {
	cases := []struct{ got, want string }{
		{dec(t, "1.10").Add(dec(t, "2.205")).String(), "3.305"},
		{dec(t, "1").Sub(dec(t, "2.5")).String(), "-1.5"},
		{dec(t, "-1.5").Mul(dec(t, "2.25")).String(), "-3.375"},
		{dec(t, "12.345").Round(2).String(), "12.35"},
		{dec(t, "-12.345").Round(2).String(), "-12.35"},
		{dec(t, "2.5").Round(0).String(), "3"},
		{dec(t, "-2.5").Round(0).String(), "-3"},
		{dec(t, "0.005").Round(2).String(), "0.01"},
		{dec(t, "1.2e3").String(), "1200"},
		{dec(t, "1.5e-3").String(), "0.0015"},
		{dec(t, "7").Truncate(0).String(), "7"},
		{dec(t, "-7.9").Truncate(0).String(), "-7"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
	q, ok := dec(t, "10").Div(dec(t, "4"))
	if !ok || q.Round(4).String() != "2.5000" {
		t.Errorf("10/4 = %s", q)
	}
	// Division keeps whole 9-digit words internally, as MariaDB: 1/3*3 rounds back to 1.
	q, _ = dec(t, "1").Div(dec(t, "3"))
	if q.String() != "0.333333333" || q.Mul(DecimalFromInt(3)).Round(4).String() != "1.0000" {
		t.Errorf("1/3 = %s", q)
	}
	q, _ = dec(t, "2").Div(dec(t, "3"))
	if q.Round(4).String() != "0.6667" {
		t.Errorf("2/3 = %s", q)
	}
	if _, ok := dec(t, "1").Div(DecimalFromInt(0)); ok {
		t.Error("division by zero must fail")
	}
	if dec(t, "1.50").Cmp(dec(t, "1.5")) != 0 || dec(t, "-2").Cmp(dec(t, "1")) >= 0 {
		t.Error("Cmp")
	}
	if i, ok := dec(t, "99999999999999999999").Int64(); ok || i != math.MaxInt64 {
		t.Error("Int64 overflow not reported")
	}
}

func TestParseTime(t *testing.T) {
	good := map[string]string{
		"2024-02-29":                 "2024-02-29 00:00:00",
		"2024-02-29 13:14:15":        "2024-02-29 13:14:15",
		"2024-2-3 4:5:6":             "2024-02-03 04:05:06",
		"20240102":                   "2024-01-02 00:00:00",
		"20240102030405":             "2024-01-02 03:04:05",
		"99-12-31":                   "1999-12-31 00:00:00",
		"2024-01-01 00:00:00.5":      "2024-01-01 00:00:00.500000",
		"0000-00-00 00:00:00":        "0000-00-00 00:00:00",
		"2024/01/02 10.11.12":        "2024-01-02 10:11:12",
		"2024-01-02T03:04:05":        "2024-01-02 03:04:05",
		" 2024-01-02 ":               "2024-01-02 00:00:00",
		"2024-01-02 03:04:05.123456": "2024-01-02 03:04:05.123456",
	}
	for in, want := range good {
		tm, err := ParseTime(in)
		if err != nil {
			t.Errorf("ParseTime(%q): %v", in, err)
			continue
		}
		fsp := 0
		if tm.Micro() != 0 {
			fsp = 6
		}
		if got := string(tm.AppendDatetime(nil, fsp)); got != want {
			t.Errorf("ParseTime(%q) = %s, want %s", in, got, want)
		}
	}
	for _, in := range []string{"2023-02-29", "2024-13-01", "2024-01-32", "abc", "", "2024-01-01 24:00:00", "2024-00-10"} {
		if _, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) accepted an invalid date", in)
		}
	}
}

func TestConversions(t *testing.T) {
	intCases := []struct {
		v    Value
		want int64
		st   Status
	}{
		{NewString("42"), 42, OK},
		{NewString("  -7 "), -7, OK},
		{NewString("12abc"), 12, Truncated},
		{NewString("abc"), 0, Invalid},
		{NewString("1.5"), 2, OK},
		{NewFloat(-2.5), -3, OK},
		{NewFloat(1e30), math.MaxInt64, OutOfRange},
		{NewUint(math.MaxUint64), math.MaxInt64, OutOfRange},
		{NewDecimal(DecimalFromInt(5)), 5, OK},
	}
	for _, c := range intCases {
		got, st := ToInt(c.v)
		if got != c.want || st != c.st {
			t.Errorf("ToInt(%v) = %d, %d; want %d, %d", c.v, got, st, c.want, c.st)
		}
	}
	tiny := &FieldType{Tp: mysql.TypeTiny}
	if v, st := Cast(NewInt(200), tiny); st != OutOfRange || v.Int() != 127 {
		t.Errorf("Cast 200 to TINYINT = %v, %d", v, st)
	}
	utiny := &FieldType{Tp: mysql.TypeTiny, Unsigned: true}
	if v, st := Cast(NewInt(-1), utiny); st != OutOfRange || v.Uint() != 0 {
		t.Errorf("Cast -1 to TINYINT UNSIGNED = %v, %d", v, st)
	}
	d52 := &FieldType{Tp: mysql.TypeNewDecimal, Flen: 5, Decimals: 2}
	if v, st := Cast(NewString("123.456"), d52); st != Rounded || v.String() != "123.46" {
		t.Errorf("Cast to DECIMAL(5,2) = %v, %d", v, st)
	}
	if _, st := Cast(NewInt(1000), d52); st != OutOfRange {
		t.Errorf("1000 fits DECIMAL(5,2)? %d", st)
	}
	vc := &FieldType{Tp: mysql.TypeVarchar, Flen: 3, Coll: CollationGeneralCI}
	if v, st := Cast(NewString("héllo"), vc); st != TooLong || v.Str() != "hél" {
		t.Errorf("Cast to VARCHAR(3) = %q, %d", v.Str(), st)
	}
	if v, st := Cast(NewString("ab    "), vc); st != OK || v.Str() != "ab " {
		t.Errorf("trailing spaces beyond the length are trimmed silently: %q, %d", v.Str(), st)
	}
	ch := &FieldType{Tp: mysql.TypeString, Flen: 5, Coll: CollationGeneralCI}
	if v, _ := Cast(NewString("ab  "), ch); v.Str() != "ab" {
		t.Errorf("CHAR strips trailing spaces: %q", v.Str())
	}
	date := &FieldType{Tp: mysql.TypeDate}
	if _, st := Cast(NewString("2023-02-30"), date); st != Invalid {
		t.Errorf("invalid date accepted: %d", st)
	}
}

func TestCompareMixedTypes(t *testing.T) {
	cases := []struct {
		a, b Value
		want int
	}{
		{NewInt(1), NewString("1"), 0},
		{NewInt(1), NewString("1.0"), 0},
		{NewString("abc"), NewInt(0), 0},
		{NewString("10"), NewString("9"), -1}, // string comparison
		{NewInt(10), NewString("9"), 1},       // numeric comparison
		{NewInt(-1), NewUint(math.MaxUint64), -1},
		{NewUint(math.MaxUint64), NewInt(-1), 1},
		{NewDecimal(DecimalFromInt(2)), NewInt(2), 0},
		{NewFloat(0.1), NewDecimal(DecimalFromInt(0)), 1},
		{NewString("a"), NewString("A "), 0},
		{NewBinary("a"), NewString("A"), 1},
		{NewDate(MakeTime(2024, 1, 2, 0, 0, 0, 0)), NewString("2024-01-02"), 0},
		{NewDatetime(MakeTime(2024, 1, 2, 3, 0, 0, 0)), NewString("2024-01-02"), 1},
	}
	for _, c := range cases {
		if got := Compare(c.a, c.b, CollationGeneralCI); got != c.want {
			t.Errorf("Compare(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestCollationGeneralCI(t *testing.T) {
	ci := CollationGeneralCI
	for _, p := range [][2]string{{"abc", "ABC"}, {"é", "E"}, {"Ä", "a"}, {"ß", "s"}, {"x ", "X"}, {"😀", "😃"}} {
		if ci.Compare(p[0], p[1]) != 0 {
			t.Errorf("%q and %q must be equal under utf8mb4_general_ci", p[0], p[1])
		}
	}
	if ci.Compare("a", "b") >= 0 || ci.Compare("B", "a") <= 0 || ci.Compare("a", "a\t") >= 0 {
		t.Error("ordering")
	}
	if CollationBin.Compare("a", "A") == 0 || CollationBinary.Compare("a ", "a") == 0 {
		t.Error("binary collations distinguish case/padding")
	}
	like := []struct {
		s, p string
		want bool
	}{
		{"hello", "h%", true}, {"hello", "H_LLO", true}, {"hello", "%ll%", true}, {"hello", "%x%", false},
		{"a%c", `a\%c`, true}, {"abc", `a\%c`, false}, {"", "%", true}, {"abc", "", false}, {"héllo", "h_llo", true},
		{"aaa", "%a%a%a%", true}, {"aa", "%a%a%a%", false},
	}
	for _, c := range like {
		if got := ci.LikeMatch(c.s, c.p, '\\'); got != c.want {
			t.Errorf("%q LIKE %q = %v", c.s, c.p, got)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	cases := []struct {
		f    float64
		bits int
		want string
	}{
		{0.30000000000000004, 64, "0.30000000000000004"},
		{1e20, 64, "1e20"},
		{1e15, 64, "1e15"},
		{1e14, 64, "100000000000000"},
		{1e-7, 64, "0.0000001"},
		{1e-16, 64, "1e-16"},
		{-2.5e-5, 64, "-0.000025"},
		{1.2345678901234567e19, 64, "1.2345678901234567e19"},
		{float64(float32(123456789.123)), 32, "123457000"},
		{float64(float32(1.0 / 3)), 32, "0.333333"},
		{3, 64, "3"},
	}
	for _, c := range cases {
		if got := string(AppendFloat(nil, c.f, c.bits)); got != c.want {
			t.Errorf("AppendFloat(%v, %d) = %s, want %s", c.f, c.bits, got, c.want)
		}
	}
}
