package codec

import (
	"bytes"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

var (
	ftInt    = &types.FieldType{Tp: mysql.TypeLonglong}
	ftUint   = &types.FieldType{Tp: mysql.TypeLonglong, Unsigned: true}
	ftDouble = &types.FieldType{Tp: mysql.TypeDouble}
	ftDec    = &types.FieldType{Tp: mysql.TypeNewDecimal, Flen: 30, Decimals: 3}
	ftStr    = &types.FieldType{Tp: mysql.TypeVarchar, Flen: 100, Coll: types.CollationGeneralCI}
	ftBlob   = &types.FieldType{Tp: mysql.TypeBlob, Coll: types.CollationBinary}
	ftDT     = &types.FieldType{Tp: mysql.TypeDatetime, Decimals: 6}
)

func key(v types.Value, ft *types.FieldType) []byte {
	c, _ := types.Cast(v, ft)
	return AppendKey(nil, c, ft)
}

// checkOrder asserts that key order equals SQL order (NULL first) for every pair.
func checkOrder(t *testing.T, ft *types.FieldType, vals []types.Value) {
	t.Helper()
	for _, a := range vals {
		for _, b := range vals {
			ca, _ := types.Cast(a, ft)
			cb, _ := types.Cast(b, ft)
			want := 0
			switch {
			case ca.IsNull() && cb.IsNull():
			case ca.IsNull():
				want = -1
			case cb.IsNull():
				want = 1
			default:
				want = types.Compare(ca, cb, ft.Coll)
			}
			if got := bytes.Compare(key(a, ft), key(b, ft)); got != want {
				t.Errorf("%s: key order of %v vs %v = %d, SQL order %d", ft.SQLString(), a, b, got, want)
			}
		}
	}
}

func TestKeyOrder(t *testing.T) {
	checkOrder(t, ftInt, []types.Value{types.Null, types.NewInt(math.MinInt64), types.NewInt(-1), types.NewInt(0), types.NewInt(1), types.NewInt(math.MaxInt64)})
	checkOrder(t, ftUint, []types.Value{types.Null, types.NewUint(0), types.NewUint(1), types.NewUint(math.MaxUint64)})
	checkOrder(t, ftDouble, []types.Value{types.Null, types.NewFloat(math.Inf(-1)), types.NewFloat(-1e300), types.NewFloat(-1.5), types.NewFloat(math.Copysign(0, -1)), types.NewFloat(0), types.NewFloat(1e-300), types.NewFloat(2.5), types.NewFloat(math.Inf(1))})
	var decs []types.Value
	for _, s := range []string{"-99999.999", "-1000", "-999.5", "-1", "-0.001", "0", "0.001", "0.5", "1", "999.999", "1000", "123456789012345678901.5"} {
		d, _, err := types.ParseDecimal(s)
		if err != nil {
			t.Fatal(err)
		}
		decs = append(decs, types.NewDecimal(d))
	}
	checkOrder(t, ftDec, decs)
	checkOrder(t, ftStr, []types.Value{types.Null, types.NewString(""), types.NewString(" "), types.NewString("a"), types.NewString("A "), types.NewString("ab"), types.NewString("AB"), types.NewString("b"), types.NewString("é"), types.NewString("F"), types.NewString("z"), types.NewString("\x00"), types.NewString("a\x00b")})
	checkOrder(t, ftBlob, []types.Value{types.Null, types.NewBinary(""), types.NewBinary("\x00"), types.NewBinary("\x00\x00"), types.NewBinary("\x00\x01"), types.NewBinary("a"), types.NewBinary("a "), types.NewBinary("B"), types.NewBinary("\xff")})
	checkOrder(t, ftDT, []types.Value{types.Null, types.NewString("0000-00-00 00:00:00"), types.NewString("1999-12-31 23:59:59.999999"), types.NewString("2000-01-01"), types.NewString("2024-02-29 12:00:00")})
}

func TestStringKeyCaseInsensitive(t *testing.T) {
	if !bytes.Equal(key(types.NewString("Hello "), ftStr), key(types.NewString("hELLO"), ftStr)) {
		t.Fatal("general_ci keys must equal for case and trailing-space variants")
	}
	if bytes.Equal(key(types.NewBinary("a"), ftBlob), key(types.NewBinary("A"), ftBlob)) {
		t.Fatal("binary keys must distinguish case")
	}
}

func TestCompositeKeyPrefixRange(t *testing.T) {
	// Keys of (k, id): every key with k=5 sorts inside [enc(5), PrefixEnd(enc(5))).
	p := key(types.NewInt(5), ftInt)
	end := PrefixEnd(p)
	for _, id := range []int64{math.MinInt64, 0, math.MaxInt64} {
		k := AppendKey(append([]byte(nil), p...), types.NewInt(id), ftInt)
		if bytes.Compare(k, p) < 0 || bytes.Compare(k, end) >= 0 {
			t.Fatalf("composite key for id %d outside prefix range", id)
		}
	}
	next := key(types.NewInt(6), ftInt)
	if bytes.Compare(next, end) < 0 {
		t.Fatal("next prefix value inside the range")
	}
}

func TestRowRoundTrip(t *testing.T) {
	d, _, _ := types.ParseDecimal("-12345.678")
	vals := []types.Value{types.NewInt(-7), types.NewUint(math.MaxUint64), types.NewFloat(1.25), types.NewDecimal(d), types.NewString("héllo"), types.NewBinary("\x00\xff"), types.Null, types.NewDate(types.MakeTime(2024, 2, 29, 0, 0, 0, 0)), types.NewDatetime(types.MakeTime(2024, 1, 2, 3, 4, 5, 6))}
	ids := make([]uint32, len(vals))
	for i := range ids {
		ids[i] = uint32(i*3 + 1)
	}
	b := AppendRow(nil, ids, vals)
	out := make([]types.Value, len(vals))
	present := make([]bool, len(vals))
	err := DecodeRow(b, func(id uint32) (int, bool) { return int(id-1) / 3, true }, out, present)
	if err != nil {
		t.Fatal(err)
	}
	for i := range vals {
		if !present[i] || out[i].Kind() != vals[i].Kind() || out[i].String() != vals[i].String() {
			t.Errorf("column %d: got %v (%d), want %v (%d)", i, out[i], out[i].Kind(), vals[i], vals[i].Kind())
		}
	}
}

func FuzzDecodeRow(f *testing.F) {
	f.Add(AppendRow(nil, []uint32{1, 2}, []types.Value{types.NewInt(1), types.NewString("x")}))
	f.Add([]byte{1, 1, 4, 2, 0, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		out := make([]types.Value, 4)
		present := make([]bool, 4)
		_ = DecodeRow(b, func(id uint32) (int, bool) { return int(id % 4), true }, out, present)
	})
}

// FuzzKeyOrder compares the encoded order of random integers, doubles and strings with their SQL order.
func FuzzKeyOrder(f *testing.F) {
	f.Add(int64(1), int64(-1), 1.5, -2.5, "a", "B")
	f.Add(int64(0), int64(0), 0.0, 0.0, "", " ")
	f.Fuzz(func(t *testing.T, a, b int64, fa, fb float64, sa, sb string) {
		if math.IsNaN(fa) || math.IsNaN(fb) {
			return
		}
		pairs := [][2]types.Value{
			{types.NewInt(a), types.NewInt(b)},
			{types.NewFloat(fa), types.NewFloat(fb)},
			{types.NewString(sa), types.NewString(sb)},
			{types.NewBinary(sa), types.NewBinary(sb)},
		}
		fts := []*types.FieldType{ftInt, ftDouble, {Tp: mysql.TypeBlob, Coll: types.CollationGeneralCI}, ftBlob}
		for i, p := range pairs {
			ft := fts[i]
			ca, sta := types.Cast(p[0], ft)
			cb, stb := types.Cast(p[1], ft)
			if sta != types.OK || stb != types.OK {
				continue
			}
			want := types.Compare(ca, cb, ft.Coll)
			got := bytes.Compare(AppendKey(nil, ca, ft), AppendKey(nil, cb, ft))
			if want != got {
				t.Fatalf("%s: %q vs %q: key order %d, SQL order %d", ft.SQLString(), ca, cb, got, want)
			}
		}
	})
}

func TestRandomIntOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 500)
	for i := range vals {
		vals[i] = int64(r.Uint64())
	}
	keys := make([][]byte, len(vals))
	for i, v := range vals {
		keys[i] = key(types.NewInt(v), ftInt)
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for i, v := range vals {
		if !bytes.Equal(keys[i], key(types.NewInt(v), ftInt)) {
			t.Fatalf("position %d: sorted keys disagree with sorted values", i)
		}
	}
}
