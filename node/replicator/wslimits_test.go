package replicator

import (
	"errors"
	"testing"

	"github.com/maxproxy/maxproxy/node/storage"
)

func TestWriteSetLimits(t *testing.T) {
	const rowSpace, indexSpace storage.SpaceID = 10, 11
	isRow := func(sp storage.SpaceID) bool { return sp != indexSpace }
	ops := func(rows, index int, drop bool) []storage.Op {
		var out []storage.Op
		for range rows {
			out = append(out, storage.Op{Space: rowSpace})
		}
		for range index {
			out = append(out, storage.Op{Space: indexSpace})
		}
		if drop {
			out = append(out, storage.Op{Space: rowSpace, DropSpace: true})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		limit   int64
		rowsFn  func(storage.SpaceID) bool
		ops     []storage.Op
		wantErr bool
	}{
		{"unlimited", 0, isRow, ops(100, 100, false), false},
		{"negative is unlimited", -5, isRow, ops(100, 0, false), false},
		{"at the limit", 3, isRow, ops(3, 0, false), false},
		{"over the limit", 3, isRow, ops(4, 0, false), true},
		{"index entries are not rows", 3, isRow, ops(3, 6, false), false},
		{"without row spaces every op counts", 3, nil, ops(3, 1, false), true},
		{"a dropped space is no row", 1, isRow, ops(1, 0, true), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Replicator{}
			r.SetMaxWSRows(tc.limit)
			r.SetRowSpaces(tc.rowsFn)
			err := r.limits.checkRows(tc.ops)
			if got := errors.Is(err, ErrMaxWSRows); got != tc.wantErr || (err != nil && !got) {
				t.Fatalf("checkRows: %v, want error %v", err, tc.wantErr)
			}
		})
	}

	r := &Replicator{}
	for _, tc := range []struct {
		set     int64 // 0: never set
		size    int
		wantErr bool
	}{
		{0, DefaultMaxWSSize, false},
		{0, DefaultMaxWSSize + 1, true},
		{1024, 1024, false},
		{1024, 1025, true},
		{1, 1024, false}, // clamped up to MariaDB's minimum
		{1, 1025, true},
		{1 << 40, DefaultMaxWSSize + 1, true}, // clamped down to the maximum
	} {
		if tc.set != 0 {
			r.SetMaxWSSize(tc.set)
		}
		if err := r.limits.checkSize(tc.size); errors.Is(err, ErrMaxWSSize) != tc.wantErr {
			t.Errorf("max %d, size %d: %v, want error %v", tc.set, tc.size, err, tc.wantErr)
		}
	}
}

// BenchmarkCheckRows measures the per-commit cost of wsrep_max_ws_rows on a write-set of 10 rows with
// two index entries each, with a limit set (unlimited costs one atomic load).
func BenchmarkCheckRows(b *testing.B) {
	r := &Replicator{}
	r.SetMaxWSRows(20)
	index := map[storage.SpaceID]bool{2: true, 3: true}
	r.SetRowSpaces(func(sp storage.SpaceID) bool { return !index[sp] })
	var ops []storage.Op
	for range 10 {
		ops = append(ops, storage.Op{Space: 1}, storage.Op{Space: 2}, storage.Op{Space: 3})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.limits.checkRows(ops); err != nil {
			b.Fatal(err)
		}
	}
}
