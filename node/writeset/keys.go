package writeset

import "encoding/binary"

// TableKey is a table-level key {db, table}: SHARED for a transaction that modifies rows of the table,
// EXCLUSIVE for a TOI operation on it. db and table are the names as the server normalises them.
func TableKey(typ KeyType, db, table string) Key {
	return Key{Type: typ, Parts: [][]byte{[]byte(db), []byte(table)}}
}

// RowKey is a row-level key {db, table, index ‖ value}. index identifies the primary key or the unique
// secondary index (its storage space id), so that values of different constraints never meet; value is
// the memcomparable encoding of the key columns, normalised by collation so that values the collation
// considers equal give equal bytes.
func RowKey(typ KeyType, db, table string, index uint32, value []byte) Key {
	v := make([]byte, 4, 4+len(value))
	binary.BigEndian.PutUint32(v, index)
	return Key{Type: typ, Parts: [][]byte{[]byte(db), []byte(table), append(v, value...)}}
}
