package sql

import (
	"strings"
	"time"

	"github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/types"
)

// virtualTable is a read-only table computed on demand (information_schema, mysql.user, ...).
type virtualTable struct {
	cols []virtCol
	rows func(s *Session) ([][]types.Value, error)
	// view: MariaDB implements the table as a view, whose result columns carry the view's column names
	// whatever the query spells (SELECT user FROM mysql.user names its column User).
	view bool
}

type virtCol struct {
	name string
	et   exprType
}

func vstr(name string, n int) virtCol {
	return virtCol{name: name, et: exprType{ft: types.FieldType{Tp: mysql.TypeVarchar, Flen: n, Coll: types.CollationGeneralCI}}}
}

func vstrNN(name string, n int) virtCol {
	c := vstr(name, n)
	c.et.notNull = true
	return c
}

func vint(name string) virtCol {
	return virtCol{name: name, et: exprType{ft: types.FieldType{Tp: mysql.TypeLonglong, Flen: 21, Unsigned: true, Coll: types.CollationBinary}}}
}

// vsint is a signed BIGINT column, vuint32 an INT UNSIGNED one.
func vsint(name string) virtCol {
	return virtCol{name: name, et: exprType{ft: types.FieldType{Tp: mysql.TypeLonglong, Flen: 21, Coll: types.CollationBinary}}}
}

func vuint32(name string) virtCol {
	return virtCol{name: name, et: exprType{ft: types.FieldType{Tp: mysql.TypeLong, Flen: 10, Unsigned: true, Coll: types.CollationBinary}}}
}

// vtext is a LONGTEXT column (sent as TEXT, as MariaDB's information_schema does); vchar a CHAR(n).
func vtext(name string, notNull bool) virtCol {
	return virtCol{name: name, et: exprType{ft: types.FieldType{Tp: mysql.TypeBlob, Flen: 65535, Coll: types.CollationGeneralCI}, notNull: notNull}}
}

func vchar(name string, n int) virtCol {
	return virtCol{name: name, et: exprType{ft: types.FieldType{Tp: mysql.TypeString, Flen: n, Coll: types.CollationGeneralCI}, notNull: true}}
}

func vdt(name string) virtCol {
	return virtCol{name: name, et: exprType{ft: types.FieldType{Tp: mysql.TypeDatetime, Flen: 19, Coll: types.CollationBinary}}}
}

var virtualDBs = []string{"information_schema", "mysql", "performance_schema"}

func isVirtualDB(name string) bool {
	for _, d := range virtualDBs {
		if strings.EqualFold(d, name) {
			return true
		}
	}
	return false
}

func str(s string) types.Value { return types.NewString(s) }
func strOrNull(s string, ok bool) types.Value {
	if !ok {
		return types.Null
	}
	return types.NewString(s)
}
func uintv(u uint64) types.Value { return types.NewUint(u) }

// visibleDBs lists databases the session may see.
func (s *Session) visibleDBs() []string {
	sch := s.e.schema.Load()
	out := []string{"information_schema"}
	showAll := s.hasGlobalPriv(catalog.PrivShowDB)
	for _, d := range []string{"mysql", "performance_schema"} {
		if showAll || s.hasDBAccess(d) {
			out = append(out, d)
		}
	}
	for _, d := range sch.DBNames() {
		if showAll || s.hasDBAccess(d) {
			out = append(out, d)
		}
	}
	sortStrings(out)
	return out
}

func (s *Session) virtualTable(db, name string) *virtualTable {
	switch strings.ToLower(db) {
	case "information_schema":
		return s.infoSchemaTable(strings.ToLower(name))
	case "mysql":
		switch name {
		case "user":
			return s.mysqlUserTable()
		case "db":
			return s.mysqlDBTable()
		}
	}
	return nil
}

func (s *Session) infoSchemaTable(name string) *virtualTable {
	switch name {
	case "schemata":
		return &virtualTable{
			cols: []virtCol{vstrNN("CATALOG_NAME", 512), vstrNN("SCHEMA_NAME", 64), vstrNN("DEFAULT_CHARACTER_SET_NAME", 32),
				vstrNN("DEFAULT_COLLATION_NAME", 64), vstr("SQL_PATH", 512), vstrNN("SCHEMA_COMMENT", 1024)},
			rows: func(s *Session) ([][]types.Value, error) {
				var out [][]types.Value
				sch := s.e.schema.Load()
				for _, d := range s.visibleDBs() {
					cs, coll := "utf8mb4", "utf8mb4_general_ci"
					if db := sch.DBs[d]; db != nil {
						cs, coll = db.Charset, db.Collation
					} else if d == "information_schema" {
						cs, coll = "utf8mb3", "utf8mb3_general_ci"
					}
					out = append(out, []types.Value{str("def"), str(d), str(cs), str(coll), types.Null, str("")})
				}
				return out, nil
			},
		}
	case "tables":
		return &virtualTable{
			cols: []virtCol{vstrNN("TABLE_CATALOG", 512), vstrNN("TABLE_SCHEMA", 64), vstrNN("TABLE_NAME", 64), vstrNN("TABLE_TYPE", 64),
				vstr("ENGINE", 64), vint("VERSION"), vstr("ROW_FORMAT", 10), vint("TABLE_ROWS"), vint("AVG_ROW_LENGTH"),
				vint("DATA_LENGTH"), vint("MAX_DATA_LENGTH"), vint("INDEX_LENGTH"), vint("DATA_FREE"), vint("AUTO_INCREMENT"),
				vdt("CREATE_TIME"), vdt("UPDATE_TIME"), vdt("CHECK_TIME"), vstr("TABLE_COLLATION", 64), vint("CHECKSUM"),
				vstr("CREATE_OPTIONS", 2048), vstrNN("TABLE_COMMENT", 2048)},
			rows: func(s *Session) ([][]types.Value, error) {
				var out [][]types.Value
				sch := s.e.schema.Load()
				for _, d := range s.visibleDBs() {
					for _, tn := range sch.TableNames(d) {
						t := sch.Tables[d][tn]
						ai := types.Null
						if t.AutoIncColumn() != nil {
							if next, err := s.e.db.NextCounter(t.CounterName("ai"), 0, 0); err == nil {
								ai = uintv(max(next, t.AutoIncBase, 1))
							}
						}
						out = append(out, []types.Value{str("def"), str(d), str(tn), str("BASE TABLE"), str("InnoDB"), uintv(10),
							str("Dynamic"), uintv(0), uintv(0), uintv(16384), uintv(0), uintv(0), uintv(0), ai,
							types.Null, types.Null, types.Null, str(t.Collation), types.Null, str(""), str(t.Comment)})
					}
				}
				return out, nil
			},
		}
	case "columns":
		return &virtualTable{
			cols: []virtCol{vstrNN("TABLE_CATALOG", 512), vstrNN("TABLE_SCHEMA", 64), vstrNN("TABLE_NAME", 64), vstrNN("COLUMN_NAME", 64),
				vint("ORDINAL_POSITION"), vtext("COLUMN_DEFAULT", false), vstrNN("IS_NULLABLE", 3), vstrNN("DATA_TYPE", 64),
				vint("CHARACTER_MAXIMUM_LENGTH"), vint("CHARACTER_OCTET_LENGTH"), vint("NUMERIC_PRECISION"), vint("NUMERIC_SCALE"),
				vint("DATETIME_PRECISION"), vstr("CHARACTER_SET_NAME", 32), vstr("COLLATION_NAME", 64), vtext("COLUMN_TYPE", true),
				vstrNN("COLUMN_KEY", 3), vstrNN("EXTRA", 80), vstrNN("PRIVILEGES", 80), vstrNN("COLUMN_COMMENT", 1024),
				vstrNN("IS_GENERATED", 6), vtext("GENERATION_EXPRESSION", false)},
			rows: func(s *Session) ([][]types.Value, error) {
				var out [][]types.Value
				sch := s.e.schema.Load()
				for _, d := range s.visibleDBs() {
					for _, tn := range sch.TableNames(d) {
						t := sch.Tables[d][tn]
						for i, c := range t.Columns {
							out = append(out, columnInfoRow(t, c, i))
						}
					}
				}
				return out, nil
			},
		}
	case "statistics":
		return &virtualTable{
			cols: []virtCol{vstrNN("TABLE_CATALOG", 512), vstrNN("TABLE_SCHEMA", 64), vstrNN("TABLE_NAME", 64), vsint("NON_UNIQUE"),
				vstrNN("INDEX_SCHEMA", 64), vstrNN("INDEX_NAME", 64), vuint32("SEQ_IN_INDEX"), vstrNN("COLUMN_NAME", 64),
				vstr("COLLATION", 1), vsint("CARDINALITY"), vsint("SUB_PART"), vstr("PACKED", 10), vstrNN("NULLABLE", 3),
				vstrNN("INDEX_TYPE", 16), vstr("COMMENT", 16), vstrNN("INDEX_COMMENT", 1024)},
			rows: func(s *Session) ([][]types.Value, error) {
				var out [][]types.Value
				sch := s.e.schema.Load()
				for _, d := range s.visibleDBs() {
					for _, tn := range sch.TableNames(d) {
						for _, r := range indexRows(sch.Tables[d][tn]) {
							out = append(out, append([]types.Value{str("def"), str(d), r[0], r[1], str(d)}, r[2:]...))
						}
					}
				}
				return out, nil
			},
		}
	case "processlist":
		return &virtualTable{
			cols: []virtCol{vint("ID"), vstrNN("USER", 128), vstrNN("HOST", 64), vstr("DB", 64), vstrNN("COMMAND", 16),
				vint("TIME"), vstr("STATE", 64), vstr("INFO", 65535)},
			rows: func(s *Session) ([][]types.Value, error) {
				var out [][]types.Value
				for _, r := range s.processRows(true) {
					out = append(out, r[:8])
				}
				return out, nil
			},
		}
	case "global_status", "session_status":
		return &virtualTable{
			cols: []virtCol{vstrNN("VARIABLE_NAME", 64), vstrNN("VARIABLE_VALUE", 2048)},
			rows: func(s *Session) ([][]types.Value, error) {
				var out [][]types.Value
				for _, nv := range s.statusRows() {
					out = append(out, []types.Value{str(strings.ToUpper(nv.Name)), str(nv.Value)})
				}
				return out, nil
			},
		}
	case "global_variables", "session_variables":
		global := name == "global_variables"
		return &virtualTable{
			cols: []virtCol{vstrNN("VARIABLE_NAME", 64), vstrNN("VARIABLE_VALUE", 2048)},
			rows: func(s *Session) ([][]types.Value, error) {
				var out [][]types.Value
				for _, nv := range s.variableRows(global) {
					out = append(out, []types.Value{str(strings.ToUpper(nv.Name)), str(nv.Value)})
				}
				return out, nil
			},
		}
	case "key_column_usage":
		return &virtualTable{
			cols: []virtCol{vstrNN("CONSTRAINT_CATALOG", 512), vstrNN("CONSTRAINT_SCHEMA", 64), vstrNN("CONSTRAINT_NAME", 64),
				vstrNN("TABLE_CATALOG", 512), vstrNN("TABLE_SCHEMA", 64), vstrNN("TABLE_NAME", 64), vstrNN("COLUMN_NAME", 64),
				vsint("ORDINAL_POSITION"), vsint("POSITION_IN_UNIQUE_CONSTRAINT"), vstr("REFERENCED_TABLE_SCHEMA", 64),
				vstr("REFERENCED_TABLE_NAME", 64), vstr("REFERENCED_COLUMN_NAME", 64)},
			rows: func(s *Session) ([][]types.Value, error) {
				var out [][]types.Value
				sch := s.e.schema.Load()
				for _, d := range s.visibleDBs() {
					for _, tn := range sch.TableNames(d) {
						for _, ix := range sch.Tables[d][tn].Indexes {
							if !ix.Unique && !ix.Primary {
								continue
							}
							for i, c := range ix.Cols {
								out = append(out, []types.Value{str("def"), str(d), str(ix.Name), str("def"), str(d), str(tn), str(c.Name),
									uintv(uint64(i + 1)), types.Null, types.Null, types.Null, types.Null})
							}
						}
					}
				}
				return out, nil
			},
		}
	case "table_constraints":
		return &virtualTable{
			cols: []virtCol{vstrNN("CONSTRAINT_CATALOG", 512), vstrNN("CONSTRAINT_SCHEMA", 64), vstrNN("CONSTRAINT_NAME", 64),
				vstrNN("TABLE_SCHEMA", 64), vstrNN("TABLE_NAME", 64), vstrNN("CONSTRAINT_TYPE", 64)},
			rows: func(s *Session) ([][]types.Value, error) {
				var out [][]types.Value
				sch := s.e.schema.Load()
				for _, d := range s.visibleDBs() {
					for _, tn := range sch.TableNames(d) {
						for _, ix := range sch.Tables[d][tn].Indexes {
							switch {
							case ix.Primary:
								out = append(out, []types.Value{str("def"), str(d), str("PRIMARY"), str(d), str(tn), str("PRIMARY KEY")})
							case ix.Unique:
								out = append(out, []types.Value{str("def"), str(d), str(ix.Name), str(d), str(tn), str("UNIQUE")})
							}
						}
					}
				}
				return out, nil
			},
		}
	case "partitions":
		// No table is partitioned: MariaDB lists each table once with NULL partition attributes.
		names := []string{"PARTITION_NAME", "SUBPARTITION_NAME", "PARTITION_ORDINAL_POSITION", "SUBPARTITION_ORDINAL_POSITION",
			"PARTITION_METHOD", "SUBPARTITION_METHOD", "PARTITION_EXPRESSION", "SUBPARTITION_EXPRESSION", "PARTITION_DESCRIPTION",
			"TABLE_ROWS", "AVG_ROW_LENGTH", "DATA_LENGTH", "MAX_DATA_LENGTH", "INDEX_LENGTH", "DATA_FREE", "CREATE_TIME",
			"UPDATE_TIME", "CHECK_TIME", "CHECKSUM", "PARTITION_COMMENT", "NODEGROUP", "TABLESPACE_NAME"}
		vt := &virtualTable{cols: []virtCol{vstrNN("TABLE_CATALOG", 512), vstrNN("TABLE_SCHEMA", 64), vstrNN("TABLE_NAME", 64)}}
		for _, n := range names {
			vt.cols = append(vt.cols, vstr(n, 64))
		}
		vt.rows = func(s *Session) ([][]types.Value, error) {
			var out [][]types.Value
			sch := s.e.schema.Load()
			for _, d := range s.visibleDBs() {
				for _, tn := range sch.TableNames(d) {
					r := []types.Value{str("def"), str(d), str(tn)}
					for range names {
						r = append(r, types.Null)
					}
					out = append(out, r)
				}
			}
			return out, nil
		}
		return vt
	case "files":
		// Tablespace files: MariaDB lists none for InnoDB tables either.
		vt := &virtualTable{rows: func(*Session) ([][]types.Value, error) { return nil, nil }}
		for _, n := range []string{"FILE_ID", "FILE_NAME", "FILE_TYPE", "TABLESPACE_NAME", "TABLE_CATALOG", "TABLE_SCHEMA",
			"TABLE_NAME", "LOGFILE_GROUP_NAME", "LOGFILE_GROUP_NUMBER", "ENGINE", "FULLTEXT_KEYS", "DELETED_ROWS", "UPDATE_COUNT",
			"FREE_EXTENTS", "TOTAL_EXTENTS", "EXTENT_SIZE", "INITIAL_SIZE", "MAXIMUM_SIZE", "AUTOEXTEND_SIZE", "CREATION_TIME",
			"LAST_UPDATE_TIME", "LAST_ACCESS_TIME", "RECOVER_TIME", "TRANSACTION_COUNTER", "VERSION", "ROW_FORMAT", "TABLE_ROWS",
			"AVG_ROW_LENGTH", "DATA_LENGTH", "MAX_DATA_LENGTH", "INDEX_LENGTH", "DATA_FREE", "CREATE_TIME", "UPDATE_TIME",
			"CHECK_TIME", "CHECKSUM", "STATUS", "EXTRA"} {
			vt.cols = append(vt.cols, vstr(n, 64))
		}
		return vt
	case "referential_constraints", "routines", "views", "triggers":
		// maxnode has none of these objects; the tables exist, empty, so that tools can ask.
		var names []string
		switch name {
		case "referential_constraints":
			names = []string{"CONSTRAINT_CATALOG", "CONSTRAINT_SCHEMA", "CONSTRAINT_NAME", "UNIQUE_CONSTRAINT_CATALOG",
				"UNIQUE_CONSTRAINT_SCHEMA", "UNIQUE_CONSTRAINT_NAME", "MATCH_OPTION", "UPDATE_RULE", "DELETE_RULE", "TABLE_NAME",
				"REFERENCED_TABLE_NAME"}
		case "routines":
			names = []string{"SPECIFIC_NAME", "ROUTINE_CATALOG", "ROUTINE_SCHEMA", "ROUTINE_NAME", "ROUTINE_TYPE", "DATA_TYPE",
				"ROUTINE_BODY", "ROUTINE_DEFINITION", "EXTERNAL_NAME", "IS_DETERMINISTIC", "SQL_DATA_ACCESS", "SECURITY_TYPE",
				"SQL_MODE", "ROUTINE_COMMENT", "DEFINER"}
		case "views":
			names = []string{"TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "VIEW_DEFINITION", "CHECK_OPTION", "IS_UPDATABLE",
				"DEFINER", "SECURITY_TYPE", "CHARACTER_SET_CLIENT", "COLLATION_CONNECTION", "ALGORITHM"}
		default:
			names = []string{"TRIGGER_CATALOG", "TRIGGER_SCHEMA", "TRIGGER_NAME", "EVENT_MANIPULATION", "EVENT_OBJECT_SCHEMA",
				"EVENT_OBJECT_TABLE", "ACTION_STATEMENT", "ACTION_TIMING", "DEFINER"}
		}
		vt := &virtualTable{rows: func(*Session) ([][]types.Value, error) { return nil, nil }}
		for _, n := range names {
			vt.cols = append(vt.cols, vstrNN(n, 64))
		}
		return vt
	case "engines":
		return &virtualTable{
			cols: []virtCol{vstrNN("ENGINE", 64), vstrNN("SUPPORT", 8), vstrNN("COMMENT", 160), vstr("TRANSACTIONS", 3), vstr("XA", 3), vstr("SAVEPOINTS", 3)},
			rows: func(s *Session) ([][]types.Value, error) {
				return [][]types.Value{{str("InnoDB"), str("DEFAULT"), str("Supports transactions, row-level locking and foreign keys"), str("YES"), str("NO"), str("NO")}}, nil
			},
		}
	case "character_sets":
		return &virtualTable{
			cols: []virtCol{vstrNN("CHARACTER_SET_NAME", 32), vstrNN("DEFAULT_COLLATE_NAME", 64), vstrNN("DESCRIPTION", 60), vint("MAXLEN")},
			rows: func(s *Session) ([][]types.Value, error) {
				return [][]types.Value{{str("binary"), str("binary"), str("Binary pseudo charset"), uintv(1)},
					{str("utf8mb4"), str("utf8mb4_general_ci"), str("UTF-8 Unicode"), uintv(4)}}, nil
			},
		}
	case "collations":
		return &virtualTable{
			cols: []virtCol{vstrNN("COLLATION_NAME", 64), vstr("CHARACTER_SET_NAME", 32), vint("ID"), vstr("IS_DEFAULT", 3), vstrNN("IS_COMPILED", 3), vint("SORTLEN")},
			rows: func(s *Session) ([][]types.Value, error) {
				return [][]types.Value{{str("utf8mb4_general_ci"), str("utf8mb4"), uintv(45), str("Yes"), str("Yes"), uintv(1)},
					{str("utf8mb4_bin"), str("utf8mb4"), uintv(46), str(""), str("Yes"), uintv(1)},
					{str("binary"), str("binary"), uintv(63), str("Yes"), str("Yes"), uintv(1)}}, nil
			},
		}
	}
	return nil
}

func columnKey(t *catalog.Table, c *catalog.Column) string {
	for _, ix := range t.Indexes {
		if len(ix.Cols) == 0 || ix.Cols[0] != c {
			continue
		}
		if ix.Primary {
			return "PRI"
		}
		if ix.Unique && len(ix.Cols) == 1 {
			return "UNI"
		}
	}
	for _, ix := range t.Indexes {
		if len(ix.Cols) > 0 && ix.Cols[0] == c {
			return "MUL"
		}
	}
	return ""
}

func columnDefaultText(c *catalog.Column) (string, bool) {
	switch {
	case c.DefaultNow:
		return nowText(c), true
	case !c.HasDefault || c.DefaultNull:
		return "", false
	}
	return types.ToText(c.DefaultValue), true
}

func columnExtra(c *catalog.Column) string {
	var parts []string
	if c.AutoInc {
		parts = append(parts, "auto_increment")
	}
	if c.OnUpdateNow {
		parts = append(parts, "on update "+nowText(c))
	}
	return strings.Join(parts, " ")
}

func columnInfoRow(t *catalog.Table, c *catalog.Column, i int) []types.Value {
	ft := &c.Type
	nullable := "YES"
	if c.NotNull {
		nullable = "NO"
	}
	def := types.Null
	if d, ok := columnDefaultText(c); ok {
		if c.Type.Class() == types.ClassString || c.Type.Class() == types.ClassDate || (c.Type.Class() == types.ClassDatetime && !c.DefaultNow) {
			d = "'" + strings.ReplaceAll(d, "'", "''") + "'"
		}
		def = str(d)
	} else if c.HasDefault && c.DefaultNull {
		def = str("NULL")
	}
	var charLen, octLen, numPrec, numScale, dtPrec = types.Null, types.Null, types.Null, types.Null, types.Null
	var cs, coll = types.Null, types.Null
	switch ft.Class() {
	case types.ClassString:
		charLen = uintv(uint64(ft.MaxChars()))
		if ft.Coll == types.CollationBinary {
			octLen = charLen
		} else {
			octLen = uintv(uint64(ft.MaxChars()) * 4)
			cs, coll = str("utf8mb4"), str(ft.Coll.Name())
		}
	case types.ClassInt:
		if ft.Tp == mysql.TypeYear {
			break
		}
		p := map[byte]uint64{mysql.TypeTiny: 3, mysql.TypeShort: 5, mysql.TypeInt24: 7, mysql.TypeLong: 10, mysql.TypeLonglong: 19}[ft.Tp]
		if ft.Unsigned && ft.Tp == mysql.TypeLonglong {
			p = 20
		}
		numPrec, numScale = uintv(p), uintv(0)
	case types.ClassDecimal:
		numPrec, numScale = uintv(uint64(ft.Flen)), uintv(uint64(ft.Decimals))
	case types.ClassFloat:
		switch {
		case ft.Flen > 0 && ft.Decimals >= 0:
			numPrec, numScale = uintv(uint64(ft.Flen)), uintv(uint64(ft.Decimals))
		case ft.Tp == mysql.TypeFloat:
			numPrec = uintv(12)
		default:
			numPrec = uintv(22)
		}
	case types.ClassDatetime:
		dtPrec = uintv(uint64(ft.Decimals))
	case types.ClassDate:
	}
	return []types.Value{str("def"), str(t.DB), str(t.Name), str(c.Name), uintv(uint64(i + 1)), def, str(nullable),
		str(ft.DataTypeName()), charLen, octLen, numPrec, numScale, dtPrec, cs, coll, str(ft.SQLString()),
		str(columnKey(t, c)), str(columnExtra(c)), str("select,insert,update,references"), str(c.Comment),
		str("NEVER"), types.Null} // maxnode has no generated columns
}

// indexRows are SHOW INDEX rows: Table, Non_unique, Key_name, Seq_in_index, Column_name, Collation,
// Cardinality, Sub_part, Packed, Null, Index_type, Comment, Index_comment.
func indexRows(t *catalog.Table) [][]types.Value {
	var out [][]types.Value
	for _, ix := range displayIndexes(t) {
		nonUnique := uint64(1)
		if ix.Unique || ix.Primary {
			nonUnique = 0
		}
		for i, c := range ix.Cols {
			sub := types.Null
			if ix.Columns[i].Length > 0 {
				sub = uintv(uint64(ix.Columns[i].Length))
			}
			null := ""
			if !c.NotNull {
				null = "YES"
			}
			out = append(out, []types.Value{str(t.Name), uintv(nonUnique), str(ix.Name), uintv(uint64(i + 1)), str(c.Name),
				str("A"), uintv(0), sub, types.Null, str(null), str("BTREE"), str(""), str("")})
		}
	}
	return out
}

func (s *Session) mysqlUserTable() *virtualTable {
	pw := vtext("Password", true)
	pw.et.ft.Tp = mysql.TypeLongBlob
	cols := []virtCol{vchar("Host", 255), vchar("User", 128), pw}
	for _, pn := range []string{"Select_priv", "Insert_priv", "Update_priv", "Delete_priv", "Create_priv", "Drop_priv",
		"Reload_priv", "Shutdown_priv", "Process_priv", "File_priv", "Grant_priv", "References_priv", "Index_priv",
		"Alter_priv", "Show_db_priv", "Super_priv", "Create_tmp_table_priv", "Lock_tables_priv", "Execute_priv",
		"Repl_slave_priv", "Repl_client_priv", "Create_view_priv", "Show_view_priv", "Create_routine_priv",
		"Alter_routine_priv", "Create_user_priv", "Event_priv", "Trigger_priv", "Create_tablespace_priv", "Delete_history_priv"} {
		cols = append(cols, vstrNN(pn, 1))
	}
	cols = append(cols, vstrNN("plugin", 64), vstrNN("authentication_string", 4096), vstrNN("account_locked", 1),
		vstrNN("is_role", 1), vstrNN("default_role", 80), vint("max_user_connections"))
	order := []catalog.Privileges{catalog.PrivSelect, catalog.PrivInsert, catalog.PrivUpdate, catalog.PrivDelete, catalog.PrivCreate,
		catalog.PrivDrop, catalog.PrivReload, catalog.PrivShutdown, catalog.PrivProcess, catalog.PrivFile, catalog.PrivGrant,
		catalog.PrivReferences, catalog.PrivIndex, catalog.PrivAlter, catalog.PrivShowDB, catalog.PrivSuper,
		catalog.PrivCreateTmpTable, catalog.PrivLockTables, catalog.PrivExecute, catalog.PrivReplSlave, catalog.PrivReplClient,
		catalog.PrivCreateView, catalog.PrivShowView, catalog.PrivCreateRoutine, catalog.PrivAlterRoutine,
		catalog.PrivCreateUser, catalog.PrivEvent, catalog.PrivTrigger, catalog.PrivCreateTablespace, catalog.PrivDeleteHistory}
	return &virtualTable{cols: cols, view: true, rows: func(s *Session) ([][]types.Value, error) {
		var out [][]types.Value
		for _, u := range s.e.schema.Load().Users {
			r := []types.Value{str(u.Host), str(u.User), str(u.AuthString)}
			for _, p := range order {
				has := u.Global&p != 0
				if p == catalog.PrivGrant {
					has = u.GlobalGrantOption
				}
				r = append(r, yn(has))
			}
			plugin := "mysql_native_password"
			locked := yn(u.Locked)
			r = append(r, str(plugin), str(u.AuthString), locked, str("N"), str(""), uintv(0))
			out = append(out, r)
		}
		return out, nil
	}}
}

func (s *Session) mysqlDBTable() *virtualTable {
	cols := []virtCol{vchar("Host", 255), vchar("Db", 64), vchar("User", 128)}
	names := []string{"Select_priv", "Insert_priv", "Update_priv", "Delete_priv", "Create_priv", "Drop_priv", "Grant_priv",
		"References_priv", "Index_priv", "Alter_priv"}
	privs := []catalog.Privileges{catalog.PrivSelect, catalog.PrivInsert, catalog.PrivUpdate, catalog.PrivDelete, catalog.PrivCreate,
		catalog.PrivDrop, catalog.PrivGrant, catalog.PrivReferences, catalog.PrivIndex, catalog.PrivAlter}
	for _, n := range names {
		cols = append(cols, vstrNN(n, 1))
	}
	return &virtualTable{cols: cols, rows: func(s *Session) ([][]types.Value, error) {
		var out [][]types.Value
		for _, u := range s.e.schema.Load().Users {
			dbs := make([]string, 0, len(u.DBs))
			for d := range u.DBs {
				dbs = append(dbs, d)
			}
			sortStrings(dbs)
			for _, d := range dbs {
				r := []types.Value{str(u.Host), str(d), str(u.User)}
				for _, p := range privs {
					has := u.DBs[d]&p != 0
					if p == catalog.PrivGrant {
						has = u.DBGrantOption[d]
					}
					r = append(r, yn(has))
				}
				out = append(out, r)
			}
		}
		return out, nil
	}}
}

func yn(b bool) types.Value {
	if b {
		return str("Y")
	}
	return str("N")
}

// processRows are SHOW PROCESSLIST rows (Id, User, Host, db, Command, Time, State, Info, Progress).
func (s *Session) processRows(full bool) [][]types.Value {
	var out [][]types.Value
	seeAll := s.hasGlobalPriv(catalog.PrivProcess)
	now := time.Now()
	for _, o := range s.e.sessionList() {
		if !seeAll && o.user != s.user {
			continue
		}
		o.procMu.Lock()
		cmd, info, started, odb := o.command, o.info, o.started, o.db
		o.procMu.Unlock()
		if o == s {
			cmd = "Query"
		}
		db := strOrNull(odb, odb != "")
		infoV := strOrNull(info, info != "")
		if !full && len(info) > 100 {
			infoV = str(info[:100])
		}
		state := ""
		if cmd == "Query" {
			state = "starting"
		}
		out = append(out, []types.Value{uintv(uint64(o.connID)), str(o.user), str(o.host), db, str(cmd),
			uintv(uint64(now.Sub(started).Seconds())), str(state), infoV, types.NewDecimal(types.DecimalFromInt(0).Round(3))})
	}
	return out
}
