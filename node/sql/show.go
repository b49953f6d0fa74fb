package sql

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/types"
)

func sortStrings(s []string) { sort.Strings(s) }

// showResult builds a result from virtual columns and rows, applying SHOW ... LIKE / WHERE.
func (s *Session) showResult(cols []virtCol, rows [][]types.Value, x *ast.ShowStmt, params []Value) (*Result, error) {
	if x != nil && x.Pattern != nil {
		cp := &compiler{s: s, sc: &scope{}, params: params}
		pe, err := cp.compile(x.Pattern.Pattern)
		if err != nil {
			return nil, err
		}
		pv, err := pe.eval(&evalCtx{s: s})
		if err != nil {
			return nil, err
		}
		pat := types.ToText(pv)
		var kept [][]types.Value
		for _, r := range rows {
			if types.CollationGeneralCI.LikeMatch(types.ToText(r[0]), pat, '\\') {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	if x != nil && x.Where != nil {
		sc := &scope{}
		for i, c := range cols {
			sc.add(scopeCol{name: c.name, et: c.et, idx: i})
		}
		cp := &compiler{s: s, sc: sc, params: params, clause: "WHERE"}
		w, err := cp.compile(x.Where)
		if err != nil {
			return nil, err
		}
		var kept [][]types.Value
		for _, r := range rows {
			v, err := w.eval(&evalCtx{s: s, row: r})
			if err != nil {
				return nil, err
			}
			if ok, _ := types.Truth(v); ok {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	res := &Result{Rows: rows}
	for _, c := range cols {
		res.Columns = append(res.Columns, s.columnMeta(&c.et, c.name, nil))
	}
	if res.Columns == nil {
		res.Columns = []Column{}
	}
	return res, nil
}

// likeColumnName is the first column's name of SHOW DATABASES / SHOW TABLES: MariaDB appends a LIKE
// pattern in parentheses ("Database (sess)").
func (s *Session) likeColumnName(base string, x *ast.ShowStmt, params []Value) (string, error) {
	if x.Pattern == nil {
		return base, nil
	}
	cp := &compiler{s: s, sc: &scope{}, params: params}
	pe, err := cp.compile(x.Pattern.Pattern)
	if err != nil {
		return "", err
	}
	pv, err := pe.eval(&evalCtx{s: s})
	if err != nil {
		return "", err
	}
	return base + " (" + types.ToText(pv) + ")", nil
}

func (s *Session) execShow(ctx context.Context, x *ast.ShowStmt, params []Value) (*Result, error) {
	s.e.status.incCom("Com_show")
	switch x.Tp {
	case ast.ShowDatabases:
		var rows [][]types.Value
		for _, d := range s.visibleDBs() {
			rows = append(rows, []types.Value{str(d)})
		}
		name, err := s.likeColumnName("Database", x, params)
		if err != nil {
			return nil, err
		}
		return s.showResult([]virtCol{vstrNN(name, 64)}, rows, x, params)
	case ast.ShowTables:
		db, err := s.dbOrCurrent(x.DBName)
		if err != nil {
			return nil, err
		}
		sch := s.e.schema.Load()
		if _, ok := sch.DBs[db]; !ok && !isVirtualDB(db) {
			return nil, newErr(ErBadDB, "Unknown database '%s'", db)
		}
		if !s.hasDBAccess(db) {
			return nil, s.errDBDenied(db)
		}
		var rows [][]types.Value
		names := sch.TableNames(db)
		if strings.EqualFold(db, "mysql") {
			names = []string{"db", "user"}
		} else if strings.EqualFold(db, "information_schema") {
			names = []string{"CHARACTER_SETS", "COLLATIONS", "COLUMNS", "ENGINES", "FILES", "GLOBAL_STATUS", "GLOBAL_VARIABLES",
				"KEY_COLUMN_USAGE", "PARTITIONS", "PROCESSLIST", "REFERENTIAL_CONSTRAINTS", "ROUTINES", "SCHEMATA", "SESSION_STATUS",
				"SESSION_VARIABLES", "STATISTICS", "TABLES", "TABLE_CONSTRAINTS", "TRIGGERS", "VIEWS"}
		}
		for _, n := range names {
			r := []types.Value{str(n)}
			if x.Full {
				tt := "BASE TABLE"
				if isVirtualDB(db) {
					tt = "SYSTEM VIEW"
				}
				r = append(r, str(tt))
			}
			rows = append(rows, r)
		}
		name, err := s.likeColumnName("Tables_in_"+db, x, params)
		if err != nil {
			return nil, err
		}
		cols := []virtCol{vstrNN(name, 64)}
		if x.Full {
			cols = append(cols, vstrNN("Table_type", 64))
		}
		return s.showResult(cols, rows, x, params)
	case ast.ShowColumns:
		tbl, err := s.showTarget(x)
		if err != nil {
			return nil, err
		}
		var rows [][]types.Value
		for _, c := range tbl.Columns {
			null := "YES"
			if c.NotNull {
				null = "NO"
			}
			// Unlike information_schema.COLUMNS ('NULL'), SHOW COLUMNS sends a NULL default as SQL NULL.
			d, ok := columnDefaultText(c)
			def := strOrNull(d, ok)
			if x.Full {
				coll := types.Null
				if c.Type.Class() == types.ClassString && c.Type.Coll != types.CollationBinary {
					coll = str(c.Type.Coll.Name())
				}
				rows = append(rows, []types.Value{str(c.Name), str(c.Type.SQLString()), coll, str(null), str(columnKey(tbl, c)),
					def, str(columnExtra(c)), str("select,insert,update,references"), str(c.Comment)})
			} else {
				rows = append(rows, []types.Value{str(c.Name), str(c.Type.SQLString()), str(null), str(columnKey(tbl, c)), def, str(columnExtra(c))})
			}
		}
		cols := []virtCol{vstrNN("Field", 64), vtext("Type", true), vstrNN("Null", 3), vstrNN("Key", 3), vtext("Default", false), vstrNN("Extra", 80)}
		if x.Full {
			cols = []virtCol{vstrNN("Field", 64), vtext("Type", true), vstr("Collation", 64), vstrNN("Null", 3), vstrNN("Key", 3),
				vtext("Default", false), vstrNN("Extra", 80), vstrNN("Privileges", 80), vstrNN("Comment", 1024)}
		}
		return s.showResult(cols, rows, x, params)
	case ast.ShowIndex:
		tbl, err := s.showTarget(x)
		if err != nil {
			return nil, err
		}
		rows := indexRows(tbl)
		for i := range rows {
			rows[i] = append(rows[i], str("NO"))
		}
		cols := []virtCol{vstrNN("Table", 64), vsint("Non_unique"), vstr("Key_name", 64), vuint32("Seq_in_index"), vstr("Column_name", 64),
			vstr("Collation", 1), vsint("Cardinality"), vsint("Sub_part"), vstr("Packed", 10), vstrNN("Null", 3), vstrNN("Index_type", 16),
			vstr("Comment", 16), vstrNN("Index_comment", 1024), vstrNN("Ignored", 3)}
		return s.showResult(cols, rows, x, params)
	case ast.ShowCreateTable:
		tbl, err := s.showTarget(x)
		if err != nil {
			return nil, err
		}
		return s.showResult([]virtCol{vstrNN("Table", 64), vstrNN("Create Table", 1024)},
			[][]types.Value{{str(tbl.Name), str(s.showCreateTable(tbl))}}, nil, nil)
	case ast.ShowCreateDatabase:
		name := x.DBName
		sch := s.e.schema.Load()
		d, ok := sch.DBs[name]
		if !ok {
			return nil, newErr(ErBadDB, "Unknown database '%s'", name)
		}
		text := fmt.Sprintf("CREATE DATABASE `%s` /*!40100 DEFAULT CHARACTER SET %s COLLATE %s */", name, d.Charset, d.Collation)
		return s.showResult([]virtCol{vstrNN("Database", 64), vstrNN("Create Database", 1024)}, [][]types.Value{{str(name), str(text)}}, nil, nil)
	case ast.ShowVariables:
		var rows [][]types.Value
		for _, nv := range s.variableRows(x.GlobalScope) {
			rows = append(rows, []types.Value{str(nv.Name), str(nv.Value)})
		}
		return s.showResult([]virtCol{vstrNN("Variable_name", 64), vstrNN("Value", 2048)}, rows, x, params)
	case ast.ShowStatus:
		var rows [][]types.Value
		for _, nv := range s.statusRows() {
			rows = append(rows, []types.Value{str(nv.Name), str(nv.Value)})
		}
		return s.showResult([]virtCol{vstrNN("Variable_name", 64), vstrNN("Value", 2048)}, rows, x, params)
	case ast.ShowProcessList:
		cols := []virtCol{vint("Id"), vstrNN("User", 128), vstrNN("Host", 64), vstr("db", 64), vstrNN("Command", 16),
			vint("Time"), vstr("State", 64), vstr("Info", 100),
			{name: "Progress", et: exprType{ft: types.FieldType{Tp: mysql.TypeNewDecimal, Flen: 7, Decimals: 3, Coll: types.CollationBinary}, notNull: true}}}
		return s.showResult(cols, s.processRows(x.Full), nil, nil)
	case ast.ShowWarnings, ast.ShowErrors:
		if x.CountWarningsOrErrors {
			// MariaDB answers SHOW COUNT(*) WARNINGS as SELECT @@session.warning_count.
			name := "warning_count"
			if x.Tp == ast.ShowErrors {
				name = "error_count"
			}
			v, err := s.getSysVar(name, scopeSession)
			if err != nil {
				return nil, err
			}
			et := varType(v, true)
			et.ft.Unsigned = true
			return s.showResult([]virtCol{{name: "@@session." + name, et: et}}, [][]types.Value{{v}}, nil, nil)
		}
		var rows [][]types.Value
		for _, w := range s.warnings {
			if x.Tp == ast.ShowErrors && w.Level != "Error" {
				continue
			}
			rows = append(rows, []types.Value{str(w.Level), uintv(uint64(w.Code)), str(w.Msg)})
		}
		cols := []virtCol{vstrNN("Level", 7), {name: "Code", et: exprType{ft: types.FieldType{Tp: mysql.TypeLong, Flen: 4, Unsigned: true, Coll: types.CollationBinary}, notNull: true}}, vstrNN("Message", 512)}
		return s.showResult(cols, rows, nil, nil)
	case ast.ShowGrants:
		user, host := s.authUser, s.authHost
		if x.User != nil && !x.User.CurrentUser {
			user, host = userHost(x.User)
			if (user != s.authUser || host != s.authHost) && !s.hasPriv("mysql", catalog.PrivSelect) {
				return nil, s.errDBDenied("mysql")
			}
		}
		u := s.findUser(s.e.schema.Load(), user, host)
		if u == nil {
			return nil, newErr(ErNonExistingGrant, "There is no such grant defined for user '%s' on host '%s'", user, host)
		}
		var rows [][]types.Value
		for _, g := range showGrants(u) {
			rows = append(rows, []types.Value{str(g)})
		}
		return s.showResult([]virtCol{vstrNN("Grants for "+user+"@"+host, 1024)}, rows, nil, nil)
	case ast.ShowEngines:
		vt := s.infoSchemaTable("engines")
		rows, _ := vt.rows(s)
		cols := []virtCol{vstrNN("Engine", 64), vstrNN("Support", 8), vstrNN("Comment", 160), vstr("Transactions", 3), vstr("XA", 3), vstr("Savepoints", 3)}
		return s.showResult(cols, rows, x, params)
	case ast.ShowCharset:
		vt := s.infoSchemaTable("character_sets")
		rows, _ := vt.rows(s)
		cols := []virtCol{vstrNN("Charset", 32), vstrNN("Description", 60), vstrNN("Default collation", 64), vint("Maxlen")}
		for i, r := range rows {
			rows[i] = []types.Value{r[0], r[2], r[1], r[3]}
		}
		return s.showResult(cols, rows, x, params)
	case ast.ShowCollation:
		vt := s.infoSchemaTable("collations")
		rows, _ := vt.rows(s)
		cols := []virtCol{vstrNN("Collation", 64), vstr("Charset", 32), vint("Id"), vstr("Default", 3), vstrNN("Compiled", 3), vint("Sortlen")}
		return s.showResult(cols, rows, x, params)
	case ast.ShowTableStatus:
		db, err := s.dbOrCurrent(x.DBName)
		if err != nil {
			return nil, err
		}
		if !s.hasDBAccess(db) {
			return nil, s.errDBDenied(db)
		}
		sch := s.e.schema.Load()
		if _, ok := sch.DBs[db]; !ok {
			return nil, newErr(ErBadDB, "Unknown database '%s'", db)
		}
		vt := s.infoSchemaTable("tables")
		all, err := vt.rows(s)
		if err != nil {
			return nil, err
		}
		var rows [][]types.Value
		for _, r := range all {
			if r[1].Str() != db {
				continue
			}
			// Name, Engine, Version, Row_format, Rows, Avg_row_length, Data_length, Max_data_length,
			// Index_length, Data_free, Auto_increment, Create_time, Update_time, Check_time, Collation,
			// Checksum, Create_options, Comment, Max_index_length, Temporary
			rows = append(rows, append(append([]types.Value{r[2]}, r[4:]...), uintv(0), str("N")))
		}
		cols := []virtCol{vstrNN("Name", 64), vstr("Engine", 64), vint("Version"), vstr("Row_format", 10), vint("Rows"),
			vint("Avg_row_length"), vint("Data_length"), vint("Max_data_length"), vint("Index_length"), vint("Data_free"),
			vint("Auto_increment"), vdt("Create_time"), vdt("Update_time"), vdt("Check_time"), vstr("Collation", 64),
			vint("Checksum"), vstr("Create_options", 2048), vstrNN("Comment", 2048), vint("Max_index_length"), vstr("Temporary", 1)}
		return s.showResult(cols, rows, x, params)
	case ast.ShowReplicaStatus:
		// maxnode nodes replicate through the cluster layer, never as an asynchronous replica: an empty set
		// is what a MariaDB server that is not a replica answers.
		return s.showResult([]virtCol{vstrNN("Slave_IO_State", 64), vstrNN("Master_Host", 255), vint("Master_Port"),
			vstrNN("Slave_IO_Running", 3), vstrNN("Slave_SQL_Running", 3), vint("Seconds_Behind_Master")}, nil, nil, nil)
	case ast.ShowProcedureStatus, ast.ShowFunctionStatus:
		cols := []virtCol{vstrNN("Db", 64), vstrNN("Name", 64), vstrNN("Type", 9), vstrNN("Definer", 141), vdt("Modified"),
			vdt("Created"), vstrNN("Security_type", 7), vstrNN("Comment", 64), vstrNN("character_set_client", 32),
			vstrNN("collation_connection", 64), vstrNN("Database Collation", 64)}
		return s.showResult(cols, nil, x, params)
	case ast.ShowMasterStatus, ast.ShowBinlogStatus:
		return s.showResult([]virtCol{vstrNN("File", 512), vint("Position"), vstrNN("Binlog_Do_DB", 255), vstrNN("Binlog_Ignore_DB", 255)}, nil, nil, nil)
	}
	name := restoreText(x)
	if i := strings.IndexAny(name, "`'("); i > 0 {
		name = strings.TrimSpace(name[:i])
	}
	return nil, errNotSupported(name)
}

func (s *Session) showTarget(x *ast.ShowStmt) (*catalog.Table, error) {
	db := x.DBName
	if db == "" {
		db = x.Table.Schema.O
	}
	db, err := s.dbOrCurrent(db)
	if err != nil {
		return nil, err
	}
	if !s.hasDBAccess(db) {
		return nil, s.errTableDenied("SELECT", db, x.Table.Name.O)
	}
	tbl := s.e.schema.Load().Table(db, x.Table.Name.O)
	if tbl == nil {
		return nil, errNoSuchTable(db, x.Table.Name.O)
	}
	return tbl, nil
}

// variableRows lists SHOW VARIABLES (session values unless global).
func (s *Session) variableRows(global bool) []NameValue {
	var out []NameValue
	sc := scopeDefault
	if global {
		sc = scopeGlobal
	}
	extra := map[string]bool{}
	if s.e.opts.ExtraVariables != nil {
		for _, nv := range s.e.opts.ExtraVariables() {
			extra[strings.ToLower(nv.Name)] = true
		}
	}
	for _, name := range sortedVarNames() {
		v := sysVars[name]
		if extra[name] {
			continue // listed from ExtraVariables below
		}
		if global && v.flags&flagGlobal == 0 {
			continue
		}
		if !global && v.flags&flagSession == 0 && v.flags&flagGlobal == 0 {
			continue
		}
		val, err := s.getSysVar(name, sc)
		if err != nil {
			continue
		}
		out = append(out, NameValue{Name: name, Value: showValue(v, val)})
	}
	if s.e.opts.ExtraVariables != nil {
		out = append(out, s.e.opts.ExtraVariables()...)
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	}
	return out
}

// statusRows lists SHOW STATUS.
func (s *Session) statusRows() []NameValue {
	st := &s.e.status
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	uptime := int64(time.Since(s.e.started).Seconds())
	out := []NameValue{
		{"Aborted_connects", n(st.abortedConnects.Load())},
		{"Connections", n(st.connections.Load())},
		{"Innodb_rows_deleted", n(st.rowsDeleted.Load())},
		{"Innodb_rows_inserted", n(st.rowsInserted.Load())},
		{"Innodb_rows_read", n(st.rowsRead.Load())},
		{"Innodb_rows_updated", n(st.rowsUpdated.Load())},
		{"Queries", n(st.queries.Load())},
		{"Questions", n(st.questions.Load())},
		{"Threads_connected", n(st.threadsConnected.Load())},
		{"Threads_running", n(s.e.runningStatements())},
		{"Uptime", n(uptime)},
		{"Uptime_since_flush_status", n(uptime)},
	}
	for _, c := range []string{"Com_alter_table", "Com_begin", "Com_change_db", "Com_commit", "Com_create_db", "Com_create_index",
		"Com_create_table", "Com_create_user", "Com_delete", "Com_drop_db", "Com_drop_index", "Com_drop_table", "Com_drop_user",
		"Com_grant", "Com_insert", "Com_rename_table", "Com_replace", "Com_revoke", "Com_rollback", "Com_select",
		"Com_set_option", "Com_show", "Com_truncate", "Com_update"} {
		var v int64
		if p, ok := st.com.Load(c); ok {
			v = p.(interface{ Load() int64 }).Load()
		}
		out = append(out, NameValue{c, n(v)})
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	if s.e.opts.ExtraStatus != nil {
		// MariaDB sorts its status variables by name but lists the wsrep provider's as one block, in the
		// provider's order, where the block's first name sorts (tools read Galera's order). ExtraStatus
		// gives the rows in the order to show.
		extra := s.e.opts.ExtraStatus()
		if len(extra) > 0 {
			first := strings.ToLower(extra[0].Name)
			at := sort.Search(len(out), func(i int) bool { return strings.ToLower(out[i].Name) >= first })
			out = slices.Insert(out, at, extra...)
		}
	}
	return out
}

// execKill implements KILL [CONNECTION|QUERY] id.
func (s *Session) execKill(x *ast.KillStmt) (*Result, error) {
	o, ok := s.e.Session(uint32(x.ConnectionID))
	if !ok {
		return nil, newErr(1094, "Unknown thread id: %d", x.ConnectionID)
	}
	if o.user != s.user && !s.hasGlobalPriv(catalog.PrivSuper) {
		return nil, newErr(1095, "You are not owner of thread %d", x.ConnectionID)
	}
	o.Kill()
	if !x.Query {
		o.markKilled()
	}
	return &Result{}, nil
}

func (s *Session) markKilled() { s.killOnce.Do(func() { close(s.killed) }) }

// Killed is closed when KILL CONNECTION targeted this session; the server then closes the connection.
func (s *Session) Killed() <-chan struct{} { return s.killed }
