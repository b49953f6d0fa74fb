package sql

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/codec"
	"github.com/maxproxy/maxproxy/node/sql/types"
	"github.com/maxproxy/maxproxy/node/storage"
)

// lockMode selects snapshot or locking (current) reads.
type lockMode uint8

const (
	lockNone lockMode = iota
	lockShared
	lockExclusive
)

// encodeRow encodes a full row of t.
func encodeRow(t *catalog.Table, row []types.Value) []byte {
	ids := make([]uint32, len(t.Columns))
	for i, c := range t.Columns {
		ids[i] = c.ID
	}
	return codec.AppendRow(make([]byte, 0, 64), ids, row)
}

// decodeRow decodes a stored row; columns added after the row was written get their defaults.
func decodeRow(t *catalog.Table, b []byte) ([]types.Value, error) {
	row := make([]types.Value, len(t.Columns))
	present := make([]bool, len(t.Columns))
	err := codec.DecodeRow(b, func(id uint32) (int, bool) {
		c := t.ColumnByID(id)
		if c == nil {
			return 0, false
		}
		return c.Offset, true
	}, row, present)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", t.DB, t.Name, err)
	}
	for i, ok := range present {
		if !ok {
			row[i] = t.Columns[i].DefaultValue
		}
	}
	return row, nil
}

// appendIndexValues appends the memcomparable encoding of ix's columns taken from row.
func appendIndexValues(dst []byte, ix *catalog.Index, row []types.Value) []byte {
	for i, c := range ix.Cols {
		v := row[c.Offset]
		if l := ix.Columns[i].Length; l > 0 && v.IsStringish() {
			v = prefixValue(v, l, &c.Type)
		}
		dst = codec.AppendKey(dst, v, &c.Type)
	}
	return dst
}

func prefixValue(v types.Value, chars int, ft *types.FieldType) types.Value {
	s := v.Str()
	if ft.Coll == types.CollationBinary {
		if len(s) > chars {
			return types.NewBinary(s[:chars])
		}
		return v
	}
	n := 0
	for i := range s {
		if n == chars {
			return types.NewString(s[:i])
		}
		n++
	}
	return v
}

// primaryKey encodes the row key; tables without a primary key use a hidden row id.
func primaryKey(t *catalog.Table, row []types.Value) []byte {
	pk := t.Primary()
	if pk == nil {
		return nil
	}
	return appendIndexValues(make([]byte, 0, 16), pk, row)
}

func hiddenRowKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// secondaryKey returns ix's entry key for row. Unique entries without NULLs are keyed by the index values
// alone (so a duplicate collides); others append the row key to stay distinct.
func secondaryKey(ix *catalog.Index, row []types.Value, rowKey []byte) (key []byte, unique bool) {
	k := appendIndexValues(make([]byte, 0, 32), ix, row)
	if ix.Unique {
		hasNull := false
		for _, c := range ix.Cols {
			if row[c.Offset].IsNull() {
				hasNull = true
			}
		}
		if !hasNull {
			return k, true
		}
	}
	return append(k, rowKey...), false
}

// dupEntryError formats 1062 as MariaDB: the index column values joined by '-'.
func dupEntryError(ix *catalog.Index, row []types.Value) *Error {
	parts := make([]string, len(ix.Cols))
	for i, c := range ix.Cols {
		v := row[c.Offset]
		if v.IsNull() {
			parts[i] = "NULL"
		} else {
			parts[i] = v.String()
		}
	}
	name := ix.Name
	if ix.Primary {
		name = "PRIMARY"
	}
	entry := strings.Join(parts, "-")
	if r := []rune(entry); len(r) > 64 {
		entry = string(r[:64])
	}
	return newErr(ErDupEntry, "Duplicate entry '%s' for key '%s'", entry, name)
}

// getRow reads a row by key, locking it when asked.
func getRow(ctx context.Context, t *storage.Txn, tbl *catalog.Table, key []byte, lock lockMode) ([]byte, bool, error) {
	if lock == lockNone {
		return t.Get(tbl.Space, key)
	}
	return t.GetForUpdate(ctx, tbl.Space, key, lock == lockExclusive)
}

// conflict describes an existing row that blocks an insert.
type conflict struct {
	ix     *catalog.Index
	rowKey []byte
}

// findConflict checks the primary key and unique indexes for an existing row with the same key, locking it.
func (s *Session) findConflict(ctx context.Context, t *storage.Txn, tbl *catalog.Table, row []types.Value, rowKey []byte) (*conflict, error) {
	for _, ix := range tbl.Indexes {
		if ix.Primary {
			_, ok, err := t.GetForUpdate(ctx, tbl.Space, rowKey, true)
			if err != nil {
				return nil, err
			}
			if ok {
				return &conflict{ix: ix, rowKey: rowKey}, nil
			}
			continue
		}
		if !ix.Unique {
			continue
		}
		k, unique := secondaryKey(ix, row, rowKey)
		if !unique {
			continue
		}
		v, ok, err := t.GetForUpdate(ctx, ix.Space, k, true)
		if err != nil {
			return nil, err
		}
		if ok {
			return &conflict{ix: ix, rowKey: append([]byte(nil), v...)}, nil
		}
	}
	return nil, nil
}

// insertRow writes a new row and its index entries; callers have checked for conflicts.
func (s *Session) insertRow(ctx context.Context, t *storage.Txn, tbl *catalog.Table, row []types.Value, rowKey []byte) error {
	if err := s.put(ctx, t, tbl.Space, rowKey, encodeRow(tbl, row), nil, false); err != nil {
		return err
	}
	for _, ix := range tbl.Indexes {
		if ix.Primary {
			continue
		}
		k, _ := secondaryKey(ix, row, rowKey)
		if err := s.put(ctx, t, ix.Space, k, rowKey, nil, false); err != nil {
			return err
		}
	}
	s.e.status.rowsInserted.Add(1)
	return nil
}

// deleteRow removes a row and its index entries.
func (s *Session) deleteRow(ctx context.Context, t *storage.Txn, tbl *catalog.Table, row []types.Value, rowKey, rowImage []byte) error {
	if err := s.del(ctx, t, tbl.Space, rowKey, rowImage); err != nil {
		return err
	}
	for _, ix := range tbl.Indexes {
		if ix.Primary {
			continue
		}
		k, _ := secondaryKey(ix, row, rowKey)
		if err := s.del(ctx, t, ix.Space, k, rowKey); err != nil {
			return err
		}
	}
	s.e.status.rowsDeleted.Add(1)
	return nil
}

// updateRow replaces old with new, maintaining indexes and checking unique keys. It returns the new row key.
func (s *Session) updateRow(ctx context.Context, t *storage.Txn, tbl *catalog.Table, oldRow, newRow []types.Value, oldKey, oldImage []byte) ([]byte, error) {
	newKey := oldKey
	if tbl.Primary() != nil {
		newKey = primaryKey(tbl, newRow)
	}
	pkChanged := string(newKey) != string(oldKey)
	if pkChanged {
		_, exists, err := t.GetForUpdate(ctx, tbl.Space, newKey, true)
		if err != nil {
			return nil, err
		}
		if exists {
			return nil, dupEntryError(tbl.Primary(), newRow)
		}
	}
	// Check unique secondary indexes before writing anything.
	type change struct {
		ix       *catalog.Index
		old, new []byte
	}
	var changes []change
	for _, ix := range tbl.Indexes {
		if ix.Primary {
			continue
		}
		ok, _ := secondaryKey(ix, oldRow, oldKey)
		nk, unique := secondaryKey(ix, newRow, newKey)
		if string(ok) == string(nk) && !pkChanged {
			continue
		}
		if string(ok) == string(nk) {
			// same entry key but it points at the new row key
			changes = append(changes, change{ix, ok, nk})
			continue
		}
		if unique {
			v, exists, err := t.GetForUpdate(ctx, ix.Space, nk, true)
			if err != nil {
				return nil, err
			}
			if exists && string(v) != string(oldKey) {
				return nil, dupEntryError(ix, newRow)
			}
		}
		changes = append(changes, change{ix, ok, nk})
	}
	img := encodeRow(tbl, newRow)
	if pkChanged {
		if err := s.del(ctx, t, tbl.Space, oldKey, oldImage); err != nil {
			return nil, err
		}
		if err := s.put(ctx, t, tbl.Space, newKey, img, nil, false); err != nil {
			return nil, err
		}
	} else if err := s.put(ctx, t, tbl.Space, newKey, img, oldImage, true); err != nil {
		return nil, err
	}
	for _, ch := range changes {
		if string(ch.old) != string(ch.new) {
			if err := s.del(ctx, t, ch.ix.Space, ch.old, oldKey); err != nil {
				return nil, err
			}
			if err := s.put(ctx, t, ch.ix.Space, ch.new, newKey, nil, false); err != nil {
				return nil, err
			}
		} else if err := s.put(ctx, t, ch.ix.Space, ch.new, newKey, oldKey, true); err != nil {
			return nil, err
		}
	}
	s.e.status.rowsUpdated.Add(1)
	return newKey, nil
}
