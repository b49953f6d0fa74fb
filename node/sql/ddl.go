package sql

import (
	"context"
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	ptypes "github.com/pingcap/tidb/pkg/parser/types"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/types"
	"github.com/maxproxy/maxproxy/node/storage"
)

const maxKeyBytes = 3072

// ddlTxn runs fn in a fresh storage transaction under the DDL lock, holding exclusive metadata locks on
// the tables it changes (keys), and publishes the new catalog.
func (s *Session) ddlTxn(ctx context.Context, keys []string, fn func(t *storage.Txn) error) error {
	// Implicit commit, as MySQL does before DDL.
	if err := s.commitTxn(ctx); err != nil {
		return err
	}
	switch {
	case s.toiApply:
		return s.ddlTxnApply(ctx, fn)
	case s.toiStmt && s.e.opts.TOI != nil:
		return s.ddlTOI(ctx, keys, fn)
	}
	if len(keys) > 0 {
		return s.exclusiveTables(ctx, keys, func() error { return s.ddlTxnLocked(ctx, fn) })
	}
	return s.ddlTxnLocked(ctx, fn)
}

func (s *Session) ddlTxnLocked(ctx context.Context, fn func(t *storage.Txn) error) error {
	s.e.ddlMu.Lock()
	defer s.e.ddlMu.Unlock()
	t := s.e.db.Begin(storage.TxOptions{})
	t.SetLockWaitTimeout(s.lockWaitTimeout())
	if err := fn(t); err != nil {
		t.Rollback()
		return err
	}
	if err := t.Commit(ctx); err != nil {
		t.Rollback()
		return err
	}
	return s.e.reloadSchema()
}

// tableKey is the metadata-lock key of a table name as written in a statement.
func (s *Session) tableKey(tn *ast.TableName) []string {
	db := tn.Schema.O
	if db == "" {
		db = s.db
	}
	return []string{mdlKey(db, tn.Name.O)}
}

func putDef(ctx context.Context, t *storage.Txn, key []byte, v any) error {
	b, err := catalog.Marshal(v)
	if err != nil {
		return err
	}
	return t.Put(ctx, catalog.Space, key, b)
}

func (s *Session) execDDL(ctx context.Context, stmt ast.StmtNode) (*Result, error) {
	s.toiStmt = true // in a cluster, ddlTxn orders the statement (toi.go)
	defer func() { s.toiStmt = false }()
	switch x := stmt.(type) {
	case *ast.CreateDatabaseStmt:
		s.e.status.incCom("Com_create_db")
		if err := s.refuseUnderLockTables(); err != nil {
			return nil, err
		}
		return s.createDatabase(ctx, x)
	case *ast.DropDatabaseStmt:
		s.e.status.incCom("Com_drop_db")
		if err := s.refuseUnderLockTables(); err != nil {
			return nil, err
		}
		return s.dropDatabase(ctx, x)
	case *ast.CreateTableStmt:
		s.e.status.incCom("Com_create_table")
		return s.createTable(ctx, x)
	case *ast.DropTableStmt:
		s.e.status.incCom("Com_drop_table")
		return s.dropTable(ctx, x)
	case *ast.CreateIndexStmt:
		s.e.status.incCom("Com_create_index")
		return s.createIndex(ctx, x)
	case *ast.DropIndexStmt:
		s.e.status.incCom("Com_drop_index")
		return s.dropIndex(ctx, x)
	case *ast.TruncateTableStmt:
		s.e.status.incCom("Com_truncate")
		return s.truncateTable(ctx, x)
	case *ast.AlterTableStmt:
		s.e.status.incCom("Com_alter_table")
		return s.alterTable(ctx, x)
	case *ast.RenameTableStmt:
		s.e.status.incCom("Com_rename_table")
		return s.renameTable(ctx, x)
	}
	return nil, errNotSupported(stmtName(stmt))
}

func (s *Session) dbOrCurrent(name string) (string, error) {
	if name != "" {
		return name, nil
	}
	if s.db == "" {
		return "", newErr(ErNoDB, "No database selected")
	}
	return s.db, nil
}

func (s *Session) createDatabase(ctx context.Context, x *ast.CreateDatabaseStmt) (*Result, error) {
	name := x.Name.O
	if !s.hasPriv(name, catalog.PrivCreate) {
		return nil, s.errDBDenied(name)
	}
	if err := checkIdent(name, ErWrongDBName, "Incorrect database name '%s'"); err != nil {
		return nil, err
	}
	if isVirtualDB(name) {
		return nil, newErr(ErDBCreateExists, "Can't create database '%s'; database exists", name)
	}
	d := &catalog.Database{Name: name, Charset: "utf8mb4", Collation: "utf8mb4_general_ci"}
	for _, o := range x.Options {
		switch o.Tp {
		case ast.DatabaseOptionCharset:
			if _, ok := types.CollationByName(o.Value); !ok {
				return nil, newErr(ErUnknownCharset, "Unknown character set: '%s'", o.Value)
			}
			d.Charset = strings.ToLower(o.Value)
			d.Collation = defaultCollation(d.Charset)
		case ast.DatabaseOptionCollate:
			if _, ok := types.CollationByName(o.Value); !ok {
				return nil, newErr(ErUnknownCollation, "Unknown collation: '%s'", o.Value)
			}
			d.Collation = strings.ToLower(o.Value)
		}
	}
	exists := false
	err := s.ddlTxn(ctx, nil, func(t *storage.Txn) error {
		if _, ok := s.e.schema.Load().DBs[name]; ok {
			if x.IfNotExists {
				exists = true
				return nil
			}
			return newErr(ErDBCreateExists, "Can't create database '%s'; database exists", name)
		}
		return putDef(ctx, t, catalog.DBKey(name), d)
	})
	if err != nil {
		return nil, err
	}
	if exists {
		s.warn("Note", ErDBCreateExists, "Can't create database '%s'; database exists", name)
		return &Result{}, nil
	}
	return &Result{AffectedRows: 1}, nil
}

func (s *Session) dropDatabase(ctx context.Context, x *ast.DropDatabaseStmt) (*Result, error) {
	name := x.Name.O
	if !s.hasPriv(name, catalog.PrivDrop) {
		return nil, s.errDBDenied(name)
	}
	if isVirtualDB(name) {
		return nil, s.errDBDenied(name)
	}
	missing := false
	n := 0
	var keys []string
	for _, tn := range s.e.schema.Load().TableNames(name) {
		keys = append(keys, mdlKey(name, tn))
	}
	err := s.ddlTxn(ctx, dedupeKeys(keys), func(t *storage.Txn) error {
		sch := s.e.schema.Load()
		if _, ok := sch.DBs[name]; !ok {
			if x.IfExists {
				missing = true
				return nil
			}
			return newErr(ErDBDropExists, "Can't drop database '%s'; database doesn't exist", name)
		}
		for _, tn := range sch.TableNames(name) {
			if err := dropTableIn(ctx, t, sch.Tables[name][tn]); err != nil {
				return err
			}
			n++
		}
		return t.Delete(ctx, catalog.Space, catalog.DBKey(name))
	})
	if err != nil {
		return nil, err
	}
	if missing {
		s.warn("Note", ErDBDropExists, "Can't drop database '%s'; database doesn't exist", name)
		return &Result{}, nil
	}
	if s.db == name {
		s.setDB("")
	}
	return &Result{AffectedRows: uint64(n)}, nil
}

func dropTableIn(ctx context.Context, t *storage.Txn, tbl *catalog.Table) error {
	if err := t.DropSpace(tbl.Space); err != nil {
		return err
	}
	for _, ix := range tbl.Indexes {
		if !ix.Primary {
			if err := t.DropSpace(ix.Space); err != nil {
				return err
			}
		}
	}
	return t.Delete(ctx, catalog.Space, catalog.TableKey(tbl.DB, tbl.Name))
}

func checkIdent(name string, code uint16, format string) error {
	if name == "" || len(name) > 64 || strings.HasSuffix(name, " ") {
		return newErr(code, format, name)
	}
	return nil
}

// columnType converts a parser field type.
func columnType(name string, tp *ptypes.FieldType, tableColl types.Collation) (types.FieldType, error) {
	ft := types.FieldType{Tp: tp.GetType(), Unsigned: mysql.HasUnsignedFlag(tp.GetFlag()), Flen: tp.GetFlen(), Decimals: tp.GetDecimal(), Coll: types.CollationBinary}
	switch ft.Tp {
	case mysql.TypeTiny, mysql.TypeShort, mysql.TypeInt24, mysql.TypeLong, mysql.TypeLonglong:
		if ft.Flen > 255 {
			return ft, newErr(ErTooBigFieldLength, "Display width out of range for '%s' (max = 255)", name)
		}
		if ft.Flen <= 0 {
			ft.Flen = types.DefaultIntWidth(ft.Tp, ft.Unsigned)
		}
		ft.Decimals = 0
	case mysql.TypeYear:
		ft.Flen, ft.Decimals = 4, 0
	case mysql.TypeFloat, mysql.TypeDouble:
		if ft.Flen <= 0 || ft.Decimals < 0 {
			ft.Flen, ft.Decimals = -1, -1
		}
	case mysql.TypeNewDecimal:
		if ft.Flen <= 0 {
			ft.Flen = 10
		}
		if ft.Decimals < 0 {
			ft.Decimals = 0
		}
		if ft.Flen > types.MaxDecimalPrecision {
			return ft, newErr(ErTooBigPrecision, "Too big precision %d specified for '%s'. Maximum is %d", ft.Flen, name, types.MaxDecimalPrecision)
		}
		if ft.Decimals > types.MaxDecimalScale {
			return ft, newErr(ErTooBigScale, "Too big scale %d specified for '%s'. Maximum is %d", ft.Decimals, name, types.MaxDecimalScale)
		}
		if ft.Decimals > ft.Flen {
			return ft, newErr(ErMBiggerThanD, "For float(M,D), double(M,D) or decimal(M,D), M must be >= D (column '%s')", name)
		}
	case mysql.TypeDate:
		ft.Flen, ft.Decimals = 10, 0
	case mysql.TypeDatetime, mysql.TypeTimestamp:
		if ft.Decimals < 0 {
			ft.Decimals = 0
		}
		if ft.Decimals > 6 {
			return ft, newErr(ErTooBigPrecision, "Too big precision %d specified for '%s'. Maximum is 6", ft.Decimals, name)
		}
	case mysql.TypeString, mysql.TypeVarchar, mysql.TypeVarString, mysql.TypeBlob, mysql.TypeTinyBlob, mysql.TypeMediumBlob, mysql.TypeLongBlob:
		ft.Decimals = 0
		cs, coll := strings.ToLower(tp.GetCharset()), strings.ToLower(tp.GetCollate())
		switch {
		case cs == "binary":
			ft.Coll = types.CollationBinary
		case mysql.HasBinaryFlag(tp.GetFlag()) && coll == "":
			// CHAR(n) BINARY: the binary collation of the character set, not a binary string.
			ft.Coll = types.CollationBin
		case coll != "":
			c, ok := types.CollationByName(coll)
			if !ok {
				return ft, newErr(ErUnknownCollation, "Unknown collation: '%s'", coll)
			}
			ft.Coll = c
		case cs != "":
			c, ok := types.CollationByName(cs)
			if !ok {
				return ft, newErr(ErUnknownCharset, "Unknown character set: '%s'", cs)
			}
			ft.Coll = c
		default:
			ft.Coll = tableColl
		}
		if ft.Tp == mysql.TypeString && ft.Flen < 0 {
			ft.Flen = 1
		}
		if ft.Tp == mysql.TypeString && ft.Flen > 255 {
			return ft, newErr(ErTooBigFieldLength, "Column length too big for column '%s' (max = 255); use BLOB or TEXT instead", name)
		}
		if ft.Tp == mysql.TypeVarchar && ft.Flen > 65532/4 && ft.Coll != types.CollationBinary {
			return ft, newErr(ErTooBigFieldLength, "Column length too big for column '%s' (max = 16383); use BLOB or TEXT instead", name)
		}
		if ft.Tp == mysql.TypeBlob && ft.Flen > 0 {
			// TEXT(n)/BLOB(n) pick the smallest type that holds n.
			switch {
			case ft.Flen <= 255:
				ft.Tp = mysql.TypeTinyBlob
			case ft.Flen <= 65535:
				ft.Tp = mysql.TypeBlob
			case ft.Flen <= 16777215:
				ft.Tp = mysql.TypeMediumBlob
			default:
				ft.Tp = mysql.TypeLongBlob
			}
			ft.Flen = -1
		}
	case mysql.TypeDuration:
		return ft, errNotSupported("TIME columns")
	case mysql.TypeEnum, mysql.TypeSet:
		return ft, errNotSupported("ENUM/SET columns")
	case mysql.TypeJSON:
		return ft, errNotSupported("JSON columns")
	case mysql.TypeBit:
		return ft, errNotSupported("BIT columns")
	default:
		return ft, errNotSupported("column type " + tp.String())
	}
	return ft, nil
}

// buildColumn converts a column definition; it returns whether the column carries PRIMARY KEY / UNIQUE.
func (s *Session) buildColumn(def *ast.ColumnDef, id uint32, tableColl types.Collation) (*catalog.Column, bool, bool, error) {
	name := def.Name.Name.O
	if err := checkIdent(name, ErWrongColumnName, "Incorrect column name '%s'"); err != nil {
		return nil, false, false, err
	}
	ft, err := columnType(name, def.Tp, tableColl)
	if err != nil {
		return nil, false, false, err
	}
	c := &catalog.Column{ID: id, Name: name, Type: ft}
	var pk, uniq bool
	var defExpr ast.ExprNode
	explicitNull := false
	for _, o := range def.Options {
		switch o.Tp {
		case ast.ColumnOptionNotNull:
			c.NotNull = true
		case ast.ColumnOptionNull:
			explicitNull = true
		case ast.ColumnOptionPrimaryKey:
			pk = true
		case ast.ColumnOptionUniqKey:
			uniq = true
		case ast.ColumnOptionAutoIncrement:
			c.AutoInc = true
		case ast.ColumnOptionDefaultValue:
			defExpr = o.Expr
		case ast.ColumnOptionOnUpdate:
			if !isNowFunc(o.Expr) || c.Type.Class() != types.ClassDatetime {
				return nil, false, false, newErr(ErInvalidDefault, "Invalid ON UPDATE clause for '%s' column", name)
			}
			c.OnUpdateNow = true
		case ast.ColumnOptionComment:
			v, _ := (&compiler{s: s, sc: &scope{}}).compile(o.Expr)
			if v != nil {
				cv, _ := v.eval(&evalCtx{s: s})
				c.Comment = types.ToText(cv)
			}
		case ast.ColumnOptionCollate:
			coll, ok := types.CollationByName(o.StrValue)
			if !ok {
				return nil, false, false, newErr(ErUnknownCollation, "Unknown collation: '%s'", o.StrValue)
			}
			if c.Type.Class() == types.ClassString && c.Type.Coll != types.CollationBinary {
				c.Type.Coll = coll
			}
		case ast.ColumnOptionGenerated:
			return nil, false, false, errNotSupported("generated columns")
		case ast.ColumnOptionCheck, ast.ColumnOptionReference, ast.ColumnOptionFulltext:
			return nil, false, false, errNotSupported("column " + strings.ToUpper(fmt.Sprint(o.Tp)) + " constraints")
		}
	}
	if explicitNull && c.NotNull {
		c.NotNull = true
	}
	if pk {
		c.NotNull = true
	}
	if defExpr != nil {
		if c.AutoInc {
			return nil, false, false, newErr(ErInvalidDefault, "Invalid default value for '%s'", name)
		}
		if isNowFunc(defExpr) {
			if c.Type.Class() != types.ClassDatetime {
				return nil, false, false, newErr(ErInvalidDefault, "Invalid default value for '%s'", name)
			}
			c.HasDefault, c.DefaultNow = true, true
		} else {
			e, err := (&compiler{s: s, sc: &scope{}, clause: "SELECT"}).compile(defExpr)
			if err != nil {
				return nil, false, false, newErr(ErInvalidDefault, "Invalid default value for '%s'", name)
			}
			v, err := e.eval(&evalCtx{s: s})
			if err != nil {
				return nil, false, false, newErr(ErInvalidDefault, "Invalid default value for '%s'", name)
			}
			if v.IsNull() {
				if c.NotNull {
					return nil, false, false, newErr(ErInvalidDefault, "Invalid default value for '%s'", name)
				}
				c.HasDefault, c.DefaultNull = true, true
			} else {
				if c.Type.IsBlob() && false {
					return nil, false, false, newErr(1101, "BLOB/TEXT column '%s' can't have a default value", name)
				}
				cv, st := types.Cast(v, &c.Type)
				if st != types.OK && st != types.Rounded {
					return nil, false, false, newErr(ErInvalidDefault, "Invalid default value for '%s'", name)
				}
				c.HasDefault = true
				c.DefaultText = types.ToText(cv)
				if cv.Kind() == types.KindFloat {
					c.DefaultText = string(types.AppendFloat(nil, cv.Float(), 64))
				}
			}
		}
	} else if !c.NotNull && !c.AutoInc {
		c.HasDefault, c.DefaultNull = true, true
	}
	if c.AutoInc && c.Type.Class() != types.ClassInt && c.Type.Class() != types.ClassFloat {
		return nil, false, false, newErr(1063, "Incorrect column specifier for column '%s'", name)
	}
	return c, pk, uniq, nil
}

func isNowFunc(e ast.ExprNode) bool {
	f, ok := e.(*ast.FuncCallExpr)
	if !ok {
		return false
	}
	switch f.FnName.L {
	case "current_timestamp", "now", "localtime", "localtimestamp":
		return true
	}
	return false
}

// indexSpec is an index definition before column ids are resolved.
type indexSpec struct {
	name            string
	primary, unique bool
	parts           []*ast.IndexPartSpecification
}

func constraintSpec(c *ast.Constraint) (*indexSpec, error) {
	switch c.Tp {
	case ast.ConstraintPrimaryKey:
		return &indexSpec{name: "PRIMARY", primary: true, unique: true, parts: c.Keys}, nil
	case ast.ConstraintKey, ast.ConstraintIndex:
		return &indexSpec{name: c.Name, parts: c.Keys}, nil
	case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
		return &indexSpec{name: c.Name, unique: true, parts: c.Keys}, nil
	case ast.ConstraintForeignKey:
		return nil, errNotSupported("FOREIGN KEY")
	case ast.ConstraintFulltext:
		return nil, errNotSupported("FULLTEXT")
	case ast.ConstraintCheck:
		return nil, errNotSupported("CHECK constraints")
	}
	return nil, errNotSupported("this constraint")
}

// addIndex validates spec against tbl and appends the index (space allocated by the caller via alloc).
func addIndex(tbl *catalog.Table, spec *indexSpec, alloc func() (storage.SpaceID, error), warn func(code uint16, format string, args ...any)) (*catalog.Index, error) {
	if spec.primary && tbl.Primary() != nil {
		return nil, newErr(ErMultiplePriKey, "Multiple primary key defined")
	}
	ix := &catalog.Index{Primary: spec.primary, Unique: spec.unique}
	keyBytes := 0
	for _, p := range spec.parts {
		if p.Expr != nil {
			return nil, errNotSupported("functional index parts")
		}
		c := tbl.Column(p.Column.Name.O)
		if c == nil {
			return nil, newErr(ErKeyColumnDoesNotExist, "Key column '%s' doesn't exist in table", p.Column.Name.O)
		}
		for _, ic := range ix.Columns {
			if ic.ColumnID == c.ID {
				return nil, newErr(ErDupFieldName, "Duplicate column name '%s'", c.Name)
			}
		}
		l := max(p.Length, 0) // the parser reports an unspecified length as -1
		if l > 0 && c.Type.Class() != types.ClassString {
			return nil, newErr(1089, "Incorrect prefix key; the used key part isn't a string, the used length is longer than the key part, or the storage engine doesn't support unique prefix keys")
		}
		if c.Type.IsBlob() && l <= 0 {
			if spec.primary || spec.unique {
				return nil, newErr(ErBlobKeyWithoutLength, "BLOB/TEXT column '%s' used in key specification without a key length", c.Name)
			}
			// MariaDB indexes a prefix of a BLOB/TEXT in a plain key, with a note.
			l = maxKeyBytes
			if c.Type.Coll != types.CollationBinary {
				l /= 4
			}
			if warn != nil {
				warn(ErTooLongKey, "Specified key was too long; max key length is %d bytes", maxKeyBytes)
			}
		}
		if !spec.primary && !spec.unique && keyPartBytes(c, l) > maxKeyBytes && c.Type.Class() == types.ClassString {
			l = maxKeyBytes
			if c.Type.Coll != types.CollationBinary {
				l /= 4
			}
			if warn != nil {
				warn(ErTooLongKey, "Specified key was too long; max key length is %d bytes", maxKeyBytes)
			}
		}
		if l > 0 && !c.Type.IsBlob() && l >= c.Type.MaxChars() {
			if l > c.Type.MaxChars() {
				return nil, newErr(1089, "Incorrect prefix key; the used key part isn't a string, the used length is longer than the key part, or the storage engine doesn't support unique prefix keys")
			}
			l = 0
		}
		ix.Columns = append(ix.Columns, catalog.IndexColumn{ColumnID: c.ID, Length: l})
		keyBytes += keyPartBytes(c, l)
		if spec.primary {
			c.NotNull = true
			if c.HasDefault && c.DefaultNull {
				c.HasDefault, c.DefaultNull = false, false
			}
		}
	}
	if keyBytes > maxKeyBytes {
		return nil, newErr(ErTooLongKey, "Specified key was too long; max key length is %d bytes", maxKeyBytes)
	}
	name := spec.name
	if spec.primary {
		name = "PRIMARY"
	} else if name == "" {
		base := tbl.ColumnByID(ix.Columns[0].ColumnID).Name
		name = base
		for n := 2; tbl.Index(name) != nil; n++ {
			name = fmt.Sprintf("%s_%d", base, n)
		}
	} else if strings.EqualFold(name, "PRIMARY") {
		return nil, newErr(1280, "Incorrect index name '%s'", name)
	}
	if tbl.Index(name) != nil {
		return nil, newErr(ErDupKeyName, "Duplicate key name '%s'", name)
	}
	ix.Name = name
	ix.ID = tbl.NextIdxID
	tbl.NextIdxID++
	if spec.primary {
		ix.Space = tbl.Space
		tbl.Indexes = append([]*catalog.Index{ix}, tbl.Indexes...)
	} else {
		sp, err := alloc()
		if err != nil {
			return nil, err
		}
		ix.Space = sp
		tbl.Indexes = append(tbl.Indexes, ix)
	}
	return ix, tbl.Prepare()
}

func keyPartBytes(c *catalog.Column, prefix int) int {
	switch c.Type.Class() {
	case types.ClassString:
		n := c.Type.MaxChars()
		if prefix > 0 {
			n = prefix
		}
		if c.Type.Coll != types.CollationBinary {
			n *= 4
		}
		return n
	case types.ClassDecimal:
		return (c.Type.Flen + 1) / 2
	}
	return 8
}

func checkAutoInc(tbl *catalog.Table) error {
	n := 0
	for _, c := range tbl.Columns {
		if !c.AutoInc {
			continue
		}
		n++
		keyed := false
		for _, ix := range tbl.Indexes {
			if len(ix.Cols) > 0 && ix.Cols[0] == c {
				keyed = true
			}
		}
		if !keyed || n > 1 {
			return newErr(ErWrongAutoKey, "Incorrect table definition; there can be only one auto column and it must be defined as a key")
		}
	}
	return nil
}

func (s *Session) createTable(ctx context.Context, x *ast.CreateTableStmt) (*Result, error) {
	if x.TemporaryKeyword != ast.TemporaryNone {
		return nil, errNotSupported("CREATE TEMPORARY TABLE")
	}
	if x.ReferTable != nil {
		return nil, errNotSupported("CREATE TABLE ... LIKE")
	}
	if x.Select != nil {
		return nil, errNotSupported("CREATE TABLE ... SELECT")
	}
	if x.Partition != nil {
		return nil, errNotSupported("PARTITION BY")
	}
	db, err := s.dbOrCurrent(x.Table.Schema.O)
	if err != nil {
		return nil, err
	}
	name := x.Table.Name.O
	if !s.hasPriv(db, catalog.PrivCreate) {
		return nil, s.errTableDenied("CREATE", db, name)
	}
	if err := checkIdent(name, ErWrongTableName, "Incorrect table name '%s'"); err != nil {
		return nil, err
	}
	if isVirtualDB(db) {
		return nil, s.errDBDenied(db)
	}
	sch := s.e.schema.Load()
	if _, ok := sch.DBs[db]; !ok {
		return nil, newErr(ErBadDB, "Unknown database '%s'", db)
	}
	if sch.Table(db, name) != nil {
		if x.IfNotExists {
			s.warn("Note", ErTableExists, "Table '%s' already exists", name)
			return &Result{}, s.commitTxn(ctx)
		}
		return nil, newErr(ErTableExists, "Table '%s' already exists", name)
	}
	tbl := &catalog.Table{DB: db, Name: name, NextColID: 1, NextIdxID: 1, Collation: "utf8mb4_general_ci"}
	tableColl := types.CollationGeneralCI
	if d := sch.DBs[db]; d != nil {
		if c, ok := types.CollationByName(d.Collation); ok {
			tableColl = c
			tbl.Collation = d.Collation
		}
	}
	for _, o := range x.Options {
		switch o.Tp {
		case ast.TableOptionCharset:
			c, ok := types.CollationByName(o.StrValue)
			if !ok {
				return nil, newErr(ErUnknownCharset, "Unknown character set: '%s'", o.StrValue)
			}
			tableColl = c
			tbl.Collation = defaultCollation(strings.ToLower(o.StrValue))
		case ast.TableOptionCollate:
			c, ok := types.CollationByName(o.StrValue)
			if !ok {
				return nil, newErr(ErUnknownCollation, "Unknown collation: '%s'", o.StrValue)
			}
			tableColl = c
			tbl.Collation = strings.ToLower(o.StrValue)
		case ast.TableOptionAutoIncrement:
			tbl.AutoIncBase = o.UintValue
		case ast.TableOptionComment:
			tbl.Comment = o.StrValue
		}
	}
	var specs []*indexSpec
	for _, def := range x.Cols {
		if tbl.Column(def.Name.Name.O) != nil {
			return nil, newErr(ErDupFieldName, "Duplicate column name '%s'", def.Name.Name.O)
		}
		c, pk, uniq, err := s.buildColumn(def, tbl.NextColID, tableColl)
		if err != nil {
			return nil, err
		}
		tbl.NextColID++
		tbl.Columns = append(tbl.Columns, c)
		if err := tbl.Prepare(); err != nil {
			return nil, err
		}
		part := &ast.IndexPartSpecification{Column: def.Name}
		if pk {
			specs = append(specs, &indexSpec{name: "PRIMARY", primary: true, unique: true, parts: []*ast.IndexPartSpecification{part}})
		}
		if uniq {
			specs = append(specs, &indexSpec{unique: true, parts: []*ast.IndexPartSpecification{part}})
		}
	}
	if len(tbl.Columns) == 0 {
		return nil, newErr(1113, "A table must have at least 1 column")
	}
	for _, c := range x.Constraints {
		spec, err := constraintSpec(c)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	err = s.ddlTxn(ctx, nil, func(t *storage.Txn) error {
		if s.e.schema.Load().Table(db, name) != nil {
			return newErr(ErTableExists, "Table '%s' already exists", name)
		}
		sp, err := s.allocSpace()
		if err != nil {
			return err
		}
		tbl.Space = sp
		for _, spec := range specs {
			if _, err := addIndex(tbl, spec, s.allocSpace, s.noteWarn); err != nil {
				return err
			}
		}
		if err := checkAutoInc(tbl); err != nil {
			return err
		}
		return putDef(ctx, t, catalog.TableKey(db, name), tbl)
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

func (s *Session) dropTable(ctx context.Context, x *ast.DropTableStmt) (*Result, error) {
	if x.TemporaryKeyword != ast.TemporaryNone {
		return nil, errNotSupported("DROP TEMPORARY TABLE")
	}
	if x.IsView {
		return nil, errNotSupported("DROP VIEW")
	}
	var missing []string
	var keys []string
	for _, tn := range x.Tables {
		keys = append(keys, s.tableKey(tn)...)
	}
	err := s.ddlTxn(ctx, dedupeKeys(keys), func(t *storage.Txn) error {
		sch := s.e.schema.Load()
		for _, tn := range x.Tables {
			db, err := s.dbOrCurrent(tn.Schema.O)
			if err != nil {
				return err
			}
			if !s.hasPriv(db, catalog.PrivDrop) {
				return s.errTableDenied("DROP", db, tn.Name.O)
			}
			tbl := sch.Table(db, tn.Name.O)
			if tbl == nil {
				missing = append(missing, db+"."+tn.Name.O)
				continue
			}
			if err := dropTableIn(ctx, t, tbl); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 && !x.IfExists {
		// As MariaDB: the tables that exist are dropped, the statement still fails for the others.
		return nil, newErr(ErBadTable, "Unknown table '%s'", strings.Join(missing, ","))
	}
	for _, m := range missing {
		s.warn("Note", ErBadTable, "Unknown table '%s'", m)
	}
	return &Result{}, nil
}

func (s *Session) tableForDDL(tn *ast.TableName, priv catalog.Privileges, verb string) (*catalog.Table, error) {
	db, err := s.dbOrCurrent(tn.Schema.O)
	if err != nil {
		return nil, err
	}
	if !s.hasPriv(db, priv) {
		return nil, s.errTableDenied(verb, db, tn.Name.O)
	}
	tbl := s.e.schema.Load().Table(db, tn.Name.O)
	if tbl == nil {
		return nil, errNoSuchTable(db, tn.Name.O)
	}
	return tbl, nil
}

// backfillIndex writes ix's entries for every existing row, enforcing uniqueness.
func (s *Session) backfillIndex(ctx context.Context, t *storage.Txn, tbl *catalog.Table, ix *catalog.Index) error {
	it := t.Scan(tbl.Space, nil, nil, false)
	defer it.Close()
	for it.Next() {
		row, err := decodeRow(tbl, it.Value())
		if err != nil {
			return err
		}
		k, unique := secondaryKey(ix, row, it.Key())
		if unique {
			if _, exists, err := t.Get(ix.Space, k); err != nil {
				return err
			} else if exists {
				return dupEntryError(ix, row)
			}
		}
		if err := t.Put(ctx, ix.Space, k, it.Key()); err != nil {
			return err
		}
	}
	return it.Err()
}

func (s *Session) createIndex(ctx context.Context, x *ast.CreateIndexStmt) (*Result, error) {
	spec := &indexSpec{name: x.IndexName, parts: x.IndexPartSpecifications}
	switch x.KeyType {
	case ast.IndexKeyTypeUnique:
		spec.unique = true
	case ast.IndexKeyTypeNone:
	default:
		return nil, errNotSupported("this index type")
	}
	err := s.ddlTxn(ctx, s.tableKey(x.Table), func(t *storage.Txn) error {
		tbl, err := s.tableForDDL(x.Table, catalog.PrivIndex, "INDEX")
		if err != nil {
			return err
		}
		if tbl.Index(x.IndexName) != nil {
			if x.IfNotExists {
				s.warn("Note", ErDupKeyName, "Duplicate key name '%s'", x.IndexName)
				return nil
			}
			return newErr(ErDupKeyName, "Duplicate key name '%s'", x.IndexName)
		}
		nt := tbl.Clone()
		ix, err := addIndex(nt, spec, s.allocSpace, s.noteWarn)
		if err != nil {
			return err
		}
		if err := s.backfillIndex(ctx, t, nt, ix); err != nil {
			return err
		}
		return putDef(ctx, t, catalog.TableKey(nt.DB, nt.Name), nt)
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

func (s *Session) dropIndex(ctx context.Context, x *ast.DropIndexStmt) (*Result, error) {
	err := s.ddlTxn(ctx, s.tableKey(x.Table), func(t *storage.Txn) error {
		tbl, err := s.tableForDDL(x.Table, catalog.PrivIndex, "INDEX")
		if err != nil {
			return err
		}
		nt := tbl.Clone()
		if err := dropIndexFrom(t, nt, x.IndexName, x.IfExists, s); err != nil {
			return err
		}
		return putDef(ctx, t, catalog.TableKey(nt.DB, nt.Name), nt)
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

func dropIndexFrom(t *storage.Txn, tbl *catalog.Table, name string, ifExists bool, s *Session) error {
	for i, ix := range tbl.Indexes {
		if !strings.EqualFold(ix.Name, name) {
			continue
		}
		if ix.Primary {
			return errNotSupported("dropping the PRIMARY KEY")
		}
		if c := tbl.AutoIncColumn(); c != nil && len(ix.Cols) > 0 && ix.Cols[0] == c {
			keyed := 0
			for _, o := range tbl.Indexes {
				if len(o.Cols) > 0 && o.Cols[0] == c {
					keyed++
				}
			}
			if keyed == 1 {
				return newErr(ErWrongAutoKey, "Incorrect table definition; there can be only one auto column and it must be defined as a key")
			}
		}
		if err := t.DropSpace(ix.Space); err != nil {
			return err
		}
		tbl.Indexes = append(tbl.Indexes[:i], tbl.Indexes[i+1:]...)
		return tbl.Prepare()
	}
	if ifExists {
		s.warn("Note", ErCantDropFieldOrKey, "Can't DROP INDEX `%s`; check that it exists", name)
		return nil
	}
	return newErr(ErCantDropFieldOrKey, "Can't DROP INDEX `%s`; check that it exists", name)
}

func (s *Session) truncateTable(ctx context.Context, x *ast.TruncateTableStmt) (*Result, error) {
	err := s.ddlTxn(ctx, s.tableKey(x.Table), func(t *storage.Txn) error {
		tbl, err := s.tableForDDL(x.Table, catalog.PrivDrop, "DROP")
		if err != nil {
			return err
		}
		nt := tbl.Clone()
		if err := t.DropSpace(nt.Space); err != nil {
			return err
		}
		for _, ix := range nt.Indexes {
			if !ix.Primary {
				if err := t.DropSpace(ix.Space); err != nil {
					return err
				}
			}
		}
		// TRUNCATE restarts AUTO_INCREMENT at 1, whatever AUTO_INCREMENT= said (as MariaDB).
		nt.Generation++
		nt.AutoIncBase = 0
		return putDef(ctx, t, catalog.TableKey(nt.DB, nt.Name), nt)
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

func (s *Session) renameTable(ctx context.Context, x *ast.RenameTableStmt) (*Result, error) {
	var keys []string
	for _, tt := range x.TableToTables {
		keys = append(keys, s.tableKey(tt.OldTable)...)
		keys = append(keys, s.tableKey(tt.NewTable)...)
	}
	err := s.ddlTxn(ctx, dedupeKeys(keys), func(t *storage.Txn) error {
		// Renames apply in order and may chain (a→tmp, b→a, tmp→b): track the evolving name set.
		cur := map[string]*catalog.Table{}
		gone := map[string]bool{}
		lookup := func(db, name string) *catalog.Table {
			k := db + "\x00" + name
			if tbl, ok := cur[k]; ok {
				return tbl
			}
			if gone[k] {
				return nil
			}
			return s.e.schema.Load().Table(db, name)
		}
		for _, tt := range x.TableToTables {
			odb, err := s.dbOrCurrent(tt.OldTable.Schema.O)
			if err != nil {
				return err
			}
			ndb, err := s.dbOrCurrent(tt.NewTable.Schema.O)
			if err != nil {
				return err
			}
			if !s.hasPriv(odb, catalog.PrivAlter|catalog.PrivDrop) || !s.hasPriv(ndb, catalog.PrivCreate|catalog.PrivInsert) {
				return s.errTableDenied("ALTER", odb, tt.OldTable.Name.O)
			}
			tbl := lookup(odb, tt.OldTable.Name.O)
			if tbl == nil {
				return errNoSuchTable(odb, tt.OldTable.Name.O)
			}
			if _, ok := s.e.schema.Load().DBs[ndb]; !ok {
				return newErr(ErBadDB, "Unknown database '%s'", ndb)
			}
			if lookup(ndb, tt.NewTable.Name.O) != nil {
				return newErr(ErTableExists, "Table '%s' already exists", tt.NewTable.Name.O)
			}
			nt := tbl.Clone()
			nt.DB, nt.Name = ndb, tt.NewTable.Name.O
			if err := t.Delete(ctx, catalog.Space, catalog.TableKey(odb, tbl.Name)); err != nil {
				return err
			}
			if err := putDef(ctx, t, catalog.TableKey(ndb, nt.Name), nt); err != nil {
				return err
			}
			ok := odb + "\x00" + tbl.Name
			delete(cur, ok)
			gone[ok] = true
			nk := ndb + "\x00" + nt.Name
			cur[nk] = nt
			delete(gone, nk)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

func (s *Session) alterTable(ctx context.Context, x *ast.AlterTableStmt) (*Result, error) {
	if keysOnly(x) {
		// DISABLE/ENABLE KEYS (mariadb-dump wraps every table's rows in them) mean nothing to InnoDB:
		// MariaDB only notes that, and changes nothing.
		tbl, err := s.tableForDDL(x.Table, catalog.PrivAlter, "ALTER")
		if err != nil {
			return nil, err
		}
		if err := s.checkTableLock(mdlKey(tbl.DB, tbl.Name), lockWrite); err != nil {
			return nil, err
		}
		s.warn("Note", ErIllegalHaFunc, "Storage engine InnoDB of the table `%s`.`%s` doesn't have this option", tbl.DB, tbl.Name)
		return &Result{}, nil
	}
	keys := s.tableKey(x.Table)
	for _, spec := range x.Specs {
		if spec.Tp == ast.AlterTableRenameTable {
			keys = append(keys, s.tableKey(spec.NewTable)...)
		}
	}
	err := s.ddlTxn(ctx, dedupeKeys(keys), func(t *storage.Txn) error {
		tbl, err := s.tableForDDL(x.Table, catalog.PrivAlter, "ALTER")
		if err != nil {
			return err
		}
		nt := tbl.Clone()
		rewrite := false
		var newIndexes []*catalog.Index
		renameTo := ""
		renameDB := ""
		for _, spec := range x.Specs {
			switch spec.Tp {
			case ast.AlterTableAddColumns:
				if spec.Position != nil && spec.Position.Tp != ast.ColumnPositionNone {
					return errNotSupported("ADD COLUMN FIRST/AFTER")
				}
				for _, def := range spec.NewColumns {
					if nt.Column(def.Name.Name.O) != nil {
						if spec.IfNotExists {
							s.warn("Note", ErDupFieldName, "Duplicate column name '%s'", def.Name.Name.O)
							continue
						}
						return newErr(ErDupFieldName, "Duplicate column name '%s'", def.Name.Name.O)
					}
					tableColl, _ := types.CollationByName(nt.Collation)
					c, pk, uniq, err := s.buildColumn(def, nt.NextColID, tableColl)
					if err != nil {
						return err
					}
					if pk {
						return errNotSupported("ADD COLUMN ... PRIMARY KEY")
					}
					if c.AutoInc {
						return errNotSupported("ADD COLUMN ... AUTO_INCREMENT")
					}
					nt.NextColID++
					nt.Columns = append(nt.Columns, c)
					if err := nt.Prepare(); err != nil {
						return err
					}
					if uniq {
						ix, err := addIndex(nt, &indexSpec{unique: true, parts: []*ast.IndexPartSpecification{{Column: def.Name}}}, s.allocSpace, s.noteWarn)
						if err != nil {
							return err
						}
						newIndexes = append(newIndexes, ix)
					}
					rewrite = true
				}
			case ast.AlterTableDropColumn:
				name := spec.OldColumnName.Name.O
				c := nt.Column(name)
				if c == nil {
					if spec.IfExists {
						s.warn("Note", ErCantDropFieldOrKey, "Can't DROP COLUMN `%s`; check that it exists", name)
						continue
					}
					return newErr(ErCantDropFieldOrKey, "Can't DROP COLUMN `%s`; check that it exists", name)
				}
				if len(nt.Columns) == 1 {
					return newErr(ErCantRemoveAllFields, "You can't delete all columns with ALTER TABLE; use DROP TABLE instead")
				}
				for _, ix := range nt.Indexes {
					for _, ic := range ix.Columns {
						if ic.ColumnID == c.ID {
							if len(ix.Columns) > 1 || ix.Primary {
								return errNotSupported("dropping a column that is part of a multi-column or primary key")
							}
							if err := dropIndexFrom(t, nt, ix.Name, false, s); err != nil {
								return err
							}
						}
					}
				}
				for i, cc := range nt.Columns {
					if cc == c {
						nt.Columns = append(nt.Columns[:i], nt.Columns[i+1:]...)
						break
					}
				}
				if err := nt.Prepare(); err != nil {
					return err
				}
				rewrite = true
			case ast.AlterTableAddConstraint:
				is, err := constraintSpec(spec.Constraint)
				if err != nil {
					return err
				}
				if is.primary {
					return errNotSupported("ADD PRIMARY KEY")
				}
				ix, err := addIndex(nt, is, s.allocSpace, s.noteWarn)
				if err != nil {
					return err
				}
				newIndexes = append(newIndexes, ix)
			case ast.AlterTableDropIndex:
				if err := dropIndexFrom(t, nt, spec.Name, spec.IfExists, s); err != nil {
					return err
				}
			case ast.AlterTableDropPrimaryKey:
				return errNotSupported("DROP PRIMARY KEY")
			case ast.AlterTableRenameTable:
				renameTo = spec.NewTable.Name.O
				renameDB = spec.NewTable.Schema.O
			case ast.AlterTableRenameColumn:
				c := nt.Column(spec.OldColumnName.Name.O)
				if c == nil {
					return newErr(ErBadField, "Unknown column '%s' in '%s'", spec.OldColumnName.Name.O, nt.Name)
				}
				if o := nt.Column(spec.NewColumnName.Name.O); o != nil && o != c {
					return newErr(ErDupFieldName, "Duplicate column name '%s'", spec.NewColumnName.Name.O)
				}
				c.Name = spec.NewColumnName.Name.O
				if err := nt.Prepare(); err != nil {
					return err
				}
			case ast.AlterTableRenameIndex:
				ix := nt.Index(spec.FromKey.O)
				if ix == nil || ix.Primary {
					return newErr(ErKeyDoesNotExist, "Key '%s' doesn't exist in table '%s'", spec.FromKey.O, nt.Name)
				}
				if nt.Index(spec.ToKey.O) != nil {
					return newErr(ErDupKeyName, "Duplicate key name '%s'", spec.ToKey.O)
				}
				ix.Name = spec.ToKey.O
			case ast.AlterTableOption:
				for _, o := range spec.Options {
					switch o.Tp {
					case ast.TableOptionAutoIncrement:
						if _, err := s.e.db.NextCounter(nt.CounterName("ai"), 0, o.UintValue); err != nil {
							return err
						}
						nt.AutoIncBase = o.UintValue
					case ast.TableOptionComment:
						nt.Comment = o.StrValue
					case ast.TableOptionEngine, ast.TableOptionCharset, ast.TableOptionCollate, ast.TableOptionRowFormat:
					default:
						return errNotSupported("this ALTER TABLE option")
					}
				}
			case ast.AlterTableAlgorithm, ast.AlterTableLock, ast.AlterTableForce:
			case ast.AlterTableDisableKeys, ast.AlterTableEnableKeys:
				s.warn("Note", ErIllegalHaFunc, "Storage engine InnoDB of the table `%s`.`%s` doesn't have this option", tbl.DB, tbl.Name)
			default:
				return errNotSupported("this ALTER TABLE operation")
			}
		}
		if rewrite {
			// Rewrite rows so added columns hold their (implicit) defaults and dropped ones vanish.
			it := t.Scan(nt.Space, nil, nil, false)
			for it.Next() {
				row, err := decodeRow(tbl, it.Value())
				if err != nil {
					it.Close()
					return err
				}
				nrow := make([]types.Value, len(nt.Columns))
				for i, c := range nt.Columns {
					if old := tbl.ColumnByID(c.ID); old != nil {
						nrow[i] = row[old.Offset]
						continue
					}
					v := s.defaultFor(c)
					if v.IsNull() && c.NotNull {
						v = implicitDefault(c)
					}
					nrow[i] = v
				}
				if err := t.Put(ctx, nt.Space, it.Key(), encodeRow(nt, nrow)); err != nil {
					it.Close()
					return err
				}
			}
			err := it.Err()
			it.Close()
			if err != nil {
				return err
			}
		}
		for _, ix := range newIndexes {
			if err := s.backfillIndex(ctx, t, nt, ix); err != nil {
				return err
			}
		}
		if err := checkAutoInc(nt); err != nil {
			return err
		}
		if renameTo != "" {
			ndb := renameDB
			if ndb == "" {
				ndb = nt.DB
			}
			if s.e.schema.Load().Table(ndb, renameTo) != nil {
				return newErr(ErTableExists, "Table '%s' already exists", renameTo)
			}
			if err := t.Delete(ctx, catalog.Space, catalog.TableKey(nt.DB, nt.Name)); err != nil {
				return err
			}
			nt.DB, nt.Name = ndb, renameTo
		}
		return putDef(ctx, t, catalog.TableKey(nt.DB, nt.Name), nt)
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

// showCreateTable renders MariaDB's SHOW CREATE TABLE text.
func (s *Session) showCreateTable(tbl *catalog.Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE `%s` (\n", tbl.Name)
	var lines []string
	for _, c := range tbl.Columns {
		var l strings.Builder
		fmt.Fprintf(&l, "  `%s` %s", c.Name, c.Type.SQLString())
		if c.Type.Class() == types.ClassString && c.Type.Coll != types.CollationBinary {
			tc, _ := types.CollationByName(tbl.Collation)
			if c.Type.Coll != tc {
				fmt.Fprintf(&l, " CHARACTER SET utf8mb4 COLLATE %s", c.Type.Coll.Name())
			}
		}
		if c.NotNull {
			l.WriteString(" NOT NULL")
		} else if c.Type.Tp == mysql.TypeTimestamp {
			l.WriteString(" NULL")
		}
		switch {
		case c.AutoInc:
			l.WriteString(" AUTO_INCREMENT")
		case c.DefaultNow:
			l.WriteString(" DEFAULT " + nowText(c))
		case c.HasDefault && c.DefaultNull:
			l.WriteString(" DEFAULT NULL")
		case c.HasDefault:
			switch c.Type.Class() {
			case types.ClassInt, types.ClassFloat, types.ClassDecimal:
				fmt.Fprintf(&l, " DEFAULT %s", c.DefaultValue.String())
			default:
				fmt.Fprintf(&l, " DEFAULT '%s'", strings.ReplaceAll(types.ToText(c.DefaultValue), "'", "''"))
			}
		}
		if c.OnUpdateNow {
			l.WriteString(" ON UPDATE " + nowText(c))
		}
		if c.Comment != "" {
			fmt.Fprintf(&l, " COMMENT '%s'", strings.ReplaceAll(c.Comment, "'", "''"))
		}
		lines = append(lines, l.String())
	}
	for _, ix := range displayIndexes(tbl) {
		var parts []string
		for i, c := range ix.Cols {
			p := "`" + c.Name + "`"
			if ix.Columns[i].Length > 0 {
				p += fmt.Sprintf("(%d)", ix.Columns[i].Length)
			}
			parts = append(parts, p)
		}
		cols := strings.Join(parts, ",")
		switch {
		case ix.Primary:
			lines = append(lines, fmt.Sprintf("  PRIMARY KEY (%s)", cols))
		case ix.Unique:
			lines = append(lines, fmt.Sprintf("  UNIQUE KEY `%s` (%s)", ix.Name, cols))
		default:
			lines = append(lines, fmt.Sprintf("  KEY `%s` (%s)", ix.Name, cols))
		}
	}
	b.WriteString(strings.Join(lines, ",\n"))
	b.WriteString("\n) ENGINE=InnoDB")
	if c := tbl.AutoIncColumn(); c != nil {
		if next, err := s.e.db.NextCounter(tbl.CounterName("ai"), 0, 0); err == nil && max(next, tbl.AutoIncBase) > 1 {
			fmt.Fprintf(&b, " AUTO_INCREMENT=%d", max(next, tbl.AutoIncBase))
		}
	}
	cs := "utf8mb4"
	if i := strings.Index(tbl.Collation, "_"); i > 0 {
		cs = tbl.Collation[:i]
	}
	fmt.Fprintf(&b, " DEFAULT CHARSET=%s COLLATE=%s", cs, tbl.Collation)
	if tbl.Comment != "" {
		fmt.Fprintf(&b, " COMMENT='%s'", strings.ReplaceAll(tbl.Comment, "'", "''"))
	}
	return b.String()
}

func (s *Session) noteWarn(code uint16, format string, args ...any) {
	s.warn("Note", code, format, args...)
}

func dedupeKeys(keys []string) []string {
	seen := map[string]bool{}
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	// A fixed order avoids deadlocks between two DDL statements locking the same tables.
	sortStrings(out)
	return out
}

// nowText is how MariaDB prints CURRENT_TIMESTAMP for a column's precision.
func nowText(c *catalog.Column) string {
	if c.Type.Decimals > 0 {
		return fmt.Sprintf("current_timestamp(%d)", c.Type.Decimals)
	}
	return "current_timestamp()"
}

// displayIndexes orders indexes as MariaDB lists them: PRIMARY, then unique keys, then the others, each
// group in creation order.
func displayIndexes(tbl *catalog.Table) []*catalog.Index {
	var out []*catalog.Index
	for pass := 0; pass < 3; pass++ {
		for _, ix := range tbl.Indexes {
			switch {
			case pass == 0 && ix.Primary, pass == 1 && ix.Unique && !ix.Primary, pass == 2 && !ix.Unique && !ix.Primary:
				out = append(out, ix)
			}
		}
	}
	return out
}

// keysOnly reports an ALTER TABLE that only disables or enables keys.
func keysOnly(x *ast.AlterTableStmt) bool {
	for _, spec := range x.Specs {
		if spec.Tp != ast.AlterTableDisableKeys && spec.Tp != ast.AlterTableEnableKeys {
			return false
		}
	}
	return len(x.Specs) > 0
}
