package codec

import (
	"testing"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

// A pruned, shared decode returns the wanted columns as a copying decode does and skips the others.
func TestDecodeRowSharedSkipsUnwanted(t *testing.T) {
	d, _, _ := types.ParseDecimal("3.50")
	vals := []types.Value{types.NewInt(1), types.NewString("kept"), types.NewString("skipped"), types.NewDecimal(d), types.NewBinary(""), types.NewString("")}
	ids := []uint32{1, 2, 3, 4, 5, 6}
	b := AppendRow(nil, ids, vals)
	want := map[uint32]bool{2: true, 5: true, 6: true}
	pos := func(id uint32) (int, bool) { return int(id - 1), want[id] }
	out := make([]types.Value, len(vals))
	present := make([]bool, len(vals))
	if err := DecodeRowShared(b, pos, out, present); err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		id := ids[i]
		if present[i] != want[id] {
			t.Errorf("column %d: present=%v, want %v", id, present[i], want[id])
		}
		if want[id] && (out[i].Kind() != v.Kind() || out[i].String() != v.String()) {
			t.Errorf("column %d: got %v, want %v", id, out[i], v)
		}
		if !want[id] && !out[i].IsNull() {
			t.Errorf("column %d: decoded %v although not wanted", id, out[i])
		}
	}
	if err := DecodeRowShared(b[:len(b)-2], pos, out, present); err == nil {
		t.Error("truncated image decoded without error")
	}
}
