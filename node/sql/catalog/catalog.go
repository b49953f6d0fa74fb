// Package catalog holds maxnode's schema: databases, tables, columns, indexes and accounts. Definitions
// are persisted as JSON rows in storage space 0 through ordinary transactions (so they replicate like data)
// and loaded into an immutable Schema snapshot; a DDL statement builds a new snapshot and publishes it
// atomically after its transaction commits, so a statement always sees one consistent schema.
package catalog

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/maxproxy/maxproxy/node/sql/types"
	"github.com/maxproxy/maxproxy/node/storage"
)

// Space is the storage space that holds the catalog.
const Space storage.SpaceID = 0

// Key prefixes inside the catalog space.
const (
	prefixDB    = "d\x00"
	prefixTable = "t\x00"
	prefixUser  = "u\x00"
)

// Database is a schema.
type Database struct {
	Name      string `json:"name"`
	Charset   string `json:"charset"`
	Collation string `json:"collation"`
}

// Column is a table column.
type Column struct {
	ID      uint32          `json:"id"`
	Name    string          `json:"name"`
	Type    types.FieldType `json:"type"`
	NotNull bool            `json:"not_null"`
	AutoInc bool            `json:"auto_inc,omitempty"`
	Comment string          `json:"comment,omitempty"`
	// Default: HasDefault with DefaultNull, DefaultText (a literal already valid for the type) or DefaultNow.
	HasDefault  bool   `json:"has_default"`
	DefaultNull bool   `json:"default_null,omitempty"`
	DefaultText string `json:"default_text,omitempty"`
	DefaultNow  bool   `json:"default_now,omitempty"`
	OnUpdateNow bool   `json:"on_update_now,omitempty"`

	Offset       int         `json:"-"` // position in Table.Columns
	DefaultValue types.Value `json:"-"` // DefaultText cast to Type
}

// IndexColumn is one key part.
type IndexColumn struct {
	ColumnID uint32 `json:"col"`
	Length   int    `json:"len,omitempty"` // prefix length in characters; 0 = whole value
}

// Index is a primary, unique or plain secondary index.
type Index struct {
	ID      uint32          `json:"id"`
	Name    string          `json:"name"`
	Primary bool            `json:"primary,omitempty"`
	Unique  bool            `json:"unique,omitempty"`
	Columns []IndexColumn   `json:"columns"`
	Space   storage.SpaceID `json:"space"`
	Cols    []*Column       `json:"-"` // resolved Columns
}

// Table is a base table. Rows live in Space keyed by the primary key (or a hidden row id when the table has
// none); every secondary index has its own space.
type Table struct {
	DB          string          `json:"db"`
	Name        string          `json:"name"`
	Space       storage.SpaceID `json:"space"`
	Columns     []*Column       `json:"columns"`
	Indexes     []*Index        `json:"indexes"` // primary first when present
	NextColID   uint32          `json:"next_col_id"`
	NextIdxID   uint32          `json:"next_idx_id"`
	AutoIncBase uint64          `json:"auto_inc_base,omitempty"` // AUTO_INCREMENT=n table option
	Comment     string          `json:"comment,omitempty"`
	Collation   string          `json:"collation,omitempty"`
	// Generation changes on TRUNCATE so AUTO_INCREMENT restarts with a fresh counter.
	Generation uint64 `json:"generation,omitempty"`

	byName map[string]*Column
	byID   map[uint32]*Column
}

// Prepare resolves derived fields after decoding or building a table.
func (t *Table) Prepare() error {
	t.byName = make(map[string]*Column, len(t.Columns))
	t.byID = make(map[uint32]*Column, len(t.Columns))
	for i, c := range t.Columns {
		c.Offset = i
		t.byName[strings.ToLower(c.Name)] = c
		t.byID[c.ID] = c
		c.DefaultValue = types.Null
		if c.HasDefault && !c.DefaultNull && !c.DefaultNow {
			v, st := types.Cast(types.NewString(c.DefaultText), &c.Type)
			if st != types.OK && st != types.Rounded {
				return fmt.Errorf("column %s: invalid default %q", c.Name, c.DefaultText)
			}
			c.DefaultValue = v
		}
	}
	for _, ix := range t.Indexes {
		ix.Cols = ix.Cols[:0]
		for _, ic := range ix.Columns {
			c, ok := t.byID[ic.ColumnID]
			if !ok {
				return fmt.Errorf("index %s: unknown column id %d", ix.Name, ic.ColumnID)
			}
			ix.Cols = append(ix.Cols, c)
		}
	}
	return nil
}

// Column finds a column by name (case-insensitive).
func (t *Table) Column(name string) *Column { return t.byName[strings.ToLower(name)] }

// ColumnByID finds a column by id.
func (t *Table) ColumnByID(id uint32) *Column { return t.byID[id] }

// Primary returns the primary key or nil.
func (t *Table) Primary() *Index {
	if len(t.Indexes) > 0 && t.Indexes[0].Primary {
		return t.Indexes[0]
	}
	return nil
}

// Index finds an index by name (case-insensitive).
func (t *Table) Index(name string) *Index {
	for _, ix := range t.Indexes {
		if strings.EqualFold(ix.Name, name) {
			return ix
		}
	}
	return nil
}

// AutoIncColumn returns the AUTO_INCREMENT column or nil.
func (t *Table) AutoIncColumn() *Column {
	for _, c := range t.Columns {
		if c.AutoInc {
			return c
		}
	}
	return nil
}

// CounterName is the storage counter that feeds AUTO_INCREMENT (and hidden row ids) for this table.
func (t *Table) CounterName(kind string) []byte {
	return fmt.Appendf(nil, "%s:%d:%d", kind, t.Space, t.Generation)
}

// Clone deep-copies a table for DDL.
func (t *Table) Clone() *Table {
	b, _ := json.Marshal(t)
	var c Table
	_ = json.Unmarshal(b, &c)
	_ = c.Prepare()
	return &c
}

// Privileges is a bit set of grantable privileges.
type Privileges uint32

const (
	PrivSelect Privileges = 1 << iota
	PrivInsert
	PrivUpdate
	PrivDelete
	PrivCreate
	PrivDrop
	PrivReload
	PrivShutdown
	PrivProcess
	PrivFile
	PrivGrant
	PrivReferences
	PrivIndex
	PrivAlter
	PrivShowDB
	PrivSuper
	PrivCreateTmpTable
	PrivLockTables
	PrivExecute
	PrivReplSlave
	PrivReplClient
	PrivCreateView
	PrivShowView
	PrivCreateRoutine
	PrivAlterRoutine
	PrivCreateUser
	PrivEvent
	PrivTrigger
	PrivCreateTablespace
	PrivDeleteHistory
	PrivAll = PrivDeleteHistory<<1 - 1 - PrivGrant
)

// PrivNames lists privileges in MariaDB's SHOW GRANTS order.
var PrivNames = []struct {
	P    Privileges
	Name string
}{
	{PrivSelect, "SELECT"}, {PrivInsert, "INSERT"}, {PrivUpdate, "UPDATE"}, {PrivDelete, "DELETE"},
	{PrivCreate, "CREATE"}, {PrivDrop, "DROP"}, {PrivReload, "RELOAD"}, {PrivShutdown, "SHUTDOWN"},
	{PrivProcess, "PROCESS"}, {PrivFile, "FILE"}, {PrivReferences, "REFERENCES"}, {PrivIndex, "INDEX"},
	{PrivAlter, "ALTER"}, {PrivShowDB, "SHOW DATABASES"}, {PrivSuper, "SUPER"},
	{PrivCreateTmpTable, "CREATE TEMPORARY TABLES"}, {PrivLockTables, "LOCK TABLES"}, {PrivExecute, "EXECUTE"},
	{PrivReplSlave, "REPLICATION SLAVE"}, {PrivReplClient, "BINLOG MONITOR"}, {PrivCreateView, "CREATE VIEW"},
	{PrivShowView, "SHOW VIEW"}, {PrivCreateRoutine, "CREATE ROUTINE"}, {PrivAlterRoutine, "ALTER ROUTINE"},
	{PrivCreateUser, "CREATE USER"}, {PrivEvent, "EVENT"}, {PrivTrigger, "TRIGGER"},
	{PrivCreateTablespace, "CREATE TABLESPACE"}, {PrivDeleteHistory, "DELETE HISTORY"},
}

// User is an account with its grants.
type User struct {
	User              string                `json:"user"`
	Host              string                `json:"host"`
	AuthString        string                `json:"auth"` // "*" + 40 hex (mysql_native_password) or "" (no password)
	Global            Privileges            `json:"global"`
	GlobalGrantOption bool                  `json:"global_grant,omitempty"`
	DBs               map[string]Privileges `json:"dbs,omitempty"`
	DBGrantOption     map[string]bool       `json:"db_grant,omitempty"`
	Locked            bool                  `json:"locked,omitempty"`
}

// Schema is an immutable snapshot of the catalog.
type Schema struct {
	Version uint64
	DBs     map[string]*Database
	Tables  map[string]map[string]*Table // db → table
	Users   []*User                      // sorted as MariaDB matches accounts (most specific host first)
}

// Table looks a table up (names are case-sensitive, as MariaDB with lower_case_table_names=0).
func (s *Schema) Table(db, name string) *Table { return s.Tables[db][name] }

// DBNames returns database names in order.
func (s *Schema) DBNames() []string {
	names := make([]string, 0, len(s.DBs))
	for n := range s.DBs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TableNames returns the tables of db in order.
func (s *Schema) TableNames(db string) []string {
	names := make([]string, 0, len(s.Tables[db]))
	for n := range s.Tables[db] {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DBKey, TableKey and UserKey are the catalog-space keys of definitions.
func DBKey(name string) []byte         { return []byte(prefixDB + name) }
func TableKey(db, name string) []byte  { return []byte(prefixTable + db + "\x00" + name) }
func UserKey(user, host string) []byte { return []byte(prefixUser + user + "\x00" + host) }
func prefixEnd(p string) []byte        { b := []byte(p); b[len(b)-1]++; return b }

// Reader is the part of a storage transaction Load needs.
type Reader interface {
	Scan(space storage.SpaceID, start, end []byte, reverse bool) storage.Iterator
}

// Load reads the whole catalog.
func Load(r Reader, version uint64) (*Schema, error) {
	s := &Schema{Version: version, DBs: map[string]*Database{}, Tables: map[string]map[string]*Table{}}
	it := r.Scan(Space, []byte(prefixDB), prefixEnd(prefixDB), false)
	for it.Next() {
		var d Database
		if err := json.Unmarshal(it.Value(), &d); err != nil {
			it.Close()
			return nil, fmt.Errorf("catalog: database %q: %w", it.Key(), err)
		}
		s.DBs[d.Name] = &d
		s.Tables[d.Name] = map[string]*Table{}
	}
	if err := closeIter(it); err != nil {
		return nil, err
	}
	it = r.Scan(Space, []byte(prefixTable), prefixEnd(prefixTable), false)
	for it.Next() {
		var t Table
		if err := json.Unmarshal(it.Value(), &t); err != nil {
			it.Close()
			return nil, fmt.Errorf("catalog: table %q: %w", it.Key(), err)
		}
		if err := t.Prepare(); err != nil {
			it.Close()
			return nil, fmt.Errorf("catalog: table %s.%s: %w", t.DB, t.Name, err)
		}
		if s.Tables[t.DB] == nil {
			s.Tables[t.DB] = map[string]*Table{}
		}
		s.Tables[t.DB][t.Name] = &t
	}
	if err := closeIter(it); err != nil {
		return nil, err
	}
	it = r.Scan(Space, []byte(prefixUser), prefixEnd(prefixUser), false)
	for it.Next() {
		var u User
		if err := json.Unmarshal(it.Value(), &u); err != nil {
			it.Close()
			return nil, fmt.Errorf("catalog: user %q: %w", it.Key(), err)
		}
		s.Users = append(s.Users, &u)
	}
	if err := closeIter(it); err != nil {
		return nil, err
	}
	SortUsers(s.Users)
	return s, nil
}

func closeIter(it storage.Iterator) error {
	err := it.Err()
	it.Close()
	if err != nil {
		return fmt.Errorf("catalog: scan: %w", err)
	}
	return nil
}

// SortUsers orders accounts as MariaDB's acl_users: exact hosts before patterns, then by user (non-anonymous
// first), so the first match wins.
func SortUsers(us []*User) {
	sort.SliceStable(us, func(i, j int) bool {
		hi, hj := hostSpecificity(us[i].Host), hostSpecificity(us[j].Host)
		if hi != hj {
			return hi > hj
		}
		if (us[i].User == "") != (us[j].User == "") {
			return us[i].User != ""
		}
		if us[i].Host != us[j].Host {
			return us[i].Host < us[j].Host
		}
		return us[i].User < us[j].User
	})
}

func hostSpecificity(h string) int {
	switch {
	case h == "%" || h == "":
		return 0
	case strings.ContainsAny(h, "%_"):
		return 1
	}
	return 2
}

// MatchHost reports whether host matches an account host pattern (% and _ wildcards, case-insensitive).
func MatchHost(pattern, host string) bool {
	if pattern == "" {
		pattern = "%"
	}
	return types.CollationGeneralCI.LikeMatch(host, pattern, -1)
}

// Marshal encodes a definition for the catalog space.
func Marshal(v any) ([]byte, error) { return json.Marshal(v) }
