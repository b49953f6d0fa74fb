package sql

import (
	"testing"

	"github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/codec"
	"github.com/maxproxy/maxproxy/node/sql/types"
)

// A pruned decode places wanted columns by id, leaves the others NULL and fills a wanted column missing
// from the image (added after the row was written) with its default, whether the id index is dense or
// the ids grew past it.
func TestRowDecoderMask(t *testing.T) {
	for _, base := range []uint32{1, maxDenseColumnID + 10} {
		intType := types.FieldType{Tp: mysql.TypeLong}
		tbl := &catalog.Table{DB: "d", Name: "t", Columns: []*catalog.Column{
			{ID: base, Name: "a", Type: intType},
			{ID: base + 1, Name: "b", Type: intType},
			{ID: base + 2, Name: "c", Type: intType, HasDefault: true, DefaultText: "7"},
		}}
		if err := tbl.Prepare(); err != nil {
			t.Fatal(err)
		}
		img := codec.AppendRow(nil, []uint32{base, base + 1}, []types.Value{types.NewInt(1), types.NewInt(2)})
		d := newRowDecoder(tbl, newColMask(tbl, []bool{false, true, true}))
		row, err := d.decode(img)
		if err != nil {
			t.Fatal(err)
		}
		if !row[0].IsNull() || row[1].String() != "2" || row[2].String() != "7" {
			t.Errorf("ids from %d: got %v, want [NULL 2 7]", base, row)
		}
	}
}
