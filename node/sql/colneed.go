package sql

import (
	"fmt"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/codec"
	"github.com/maxproxy/maxproxy/node/sql/types"
)

// Column pruning: a SELECT decodes only the stored columns it references. Name resolution marks every
// flat-row column it hands out (scope.markUsed), so the set is a superset of what any expression of the
// query, its subqueries included, can read; a table's columns outside it are skipped by the row decoder.
// sysbench's range selects read c (or k) of a four-column row; copying the other strings (pad is 60 bytes)
// for every row read was wasted work and garbage.

// markUsed records that the flat-row column idx is read by some compiled expression.
func (sc *scope) markUsed(idx int) {
	if idx < 0 {
		return
	}
	for len(sc.used) <= idx {
		sc.used = append(sc.used, false)
	}
	sc.used[idx] = true
}

// setNeeded derives each stored table's column mask from sc once compilation is complete. A table whose
// every column is read keeps a nil mask (plain full decode).
func (qp *queryPlan) setNeeded(sc *scope) {
	for _, ft := range qp.tables {
		if ft.tbl == nil {
			continue
		}
		need := make([]bool, ft.ncols)
		all := true
		for i := range need {
			if k := ft.off + i; k < len(sc.used) && sc.used[k] {
				need[i] = true
			} else {
				all = false
			}
		}
		if !all {
			ft.need = newColMask(ft.tbl, need)
		}
	}
}

// colMask is the set of a table's columns a query reads, with a column-id index so the row decoder
// answers "is this stored column wanted, and where does it go" without a map lookup per column per row.
type colMask struct {
	need  []bool  // by column offset
	byID  []int32 // by column id: offset of a needed column, or -1
	table *catalog.Table
}

// maxDenseColumnID bounds the id index; a table whose ids grew past it (many ALTERs) uses the map.
const maxDenseColumnID = 4096

func newColMask(tbl *catalog.Table, need []bool) *colMask {
	m := &colMask{need: need, table: tbl}
	maxID := uint32(0)
	for _, c := range tbl.Columns {
		maxID = max(maxID, c.ID)
	}
	if maxID <= maxDenseColumnID {
		m.byID = make([]int32, maxID+1)
		for i := range m.byID {
			m.byID[i] = -1
		}
		for _, c := range tbl.Columns {
			if c.Offset < len(need) && need[c.Offset] {
				m.byID[c.ID] = int32(c.Offset)
			}
		}
	}
	return m
}

// pos places stored column id (codec.DecodeRow's callback).
func (m *colMask) pos(id uint32) (int, bool) {
	if m.byID != nil {
		if int(id) >= len(m.byID) || m.byID[id] < 0 {
			return 0, false
		}
		return int(m.byID[id]), true
	}
	c := m.table.ColumnByID(id)
	if c == nil || c.Offset >= len(m.need) || !m.need[c.Offset] {
		return 0, false
	}
	return c.Offset, true
}

// rowDecoder turns stored row images of one table into values. With a nil mask it returns a fresh full row
// per call (callers may keep it); otherwise it decodes only the needed columns into one reused slice, valid
// until the next call, and leaves the others NULL.
type rowDecoder struct {
	tbl     *catalog.Table
	mask    *colMask
	row     []types.Value
	present []bool
	pos     func(id uint32) (int, bool) // mask.pos, bound once rather than per row
}

func newRowDecoder(tbl *catalog.Table, mask *colMask) *rowDecoder {
	d := &rowDecoder{tbl: tbl, mask: mask}
	if mask != nil {
		d.row = make([]types.Value, len(tbl.Columns))
		d.present = make([]bool, len(tbl.Columns))
		d.pos = mask.pos
	}
	return d
}

func (d *rowDecoder) decode(b []byte) ([]types.Value, error) {
	if d.mask == nil {
		return decodeRow(d.tbl, b)
	}
	clear(d.present)
	if err := decodeRowInto(d.tbl, b, d.pos, d.row, d.present); err != nil {
		return nil, err
	}
	for i, ok := range d.present {
		if !ok && d.mask.need[i] {
			d.row[i] = d.tbl.Columns[i].DefaultValue
		}
	}
	return d.row, nil
}

func decodeRowInto(t *catalog.Table, b []byte, pos func(uint32) (int, bool), row []types.Value, present []bool) error {
	if err := codec.DecodeRowShared(b, pos, row, present); err != nil {
		return fmt.Errorf("table %s.%s: %w", t.DB, t.Name, err)
	}
	return nil
}
