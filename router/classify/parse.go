package classify

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// parseClass parses text with p and derives its Class. ok is false when
// the parser rejects the text (the caller then uses the token fallback).
// p must not be used by another goroutine meanwhile.
func parseClass(p *parser.Parser, text string) (c Class, ok bool) {
	defer func() {
		// The parser is third-party code fed with client input: a panic in it
		// must cost one statement its precise class, never the proxy.
		if r := recover(); r != nil {
			p.Reset() // its scratch state is suspect after a panic
			c, ok = Class{}, false
		}
	}()
	stmts, _, err := p.Parse(mariaExecComments(text), "", "")
	if err != nil || len(stmts) == 0 {
		return Class{}, false
	}
	var col collector
	for i, s := range stmts {
		k := col.stmt(s)
		if i == 0 {
			col.class.Kind = k
		}
		s.Accept(&col)
	}
	col.class.Tables = strings.Join(col.tables, "\x00")
	if len(stmts) > 1 {
		// A multi-statement goes to the master as a whole; of its names
		// only the temporary tables it creates stay meaningful, because
		// the session must route later reads of them to the master.
		col.class.Flags |= FlagMultiStmt
		col.class.Flags &^= FlagDropTable | FlagRenameTable
		col.class.Name = strings.Join(col.temps, "\x00")
		return col.class, true
	}
	col.class.Name = strings.Join(col.names, "\x00")
	if col.prepText != nil {
		// Parsed after the outer statements are done with: the parser reuses
		// its result slice on every call.
		inner, ok := parseClass(p, *col.prepText)
		if !ok {
			canon, _ := Canonicalize(nil, []byte(*col.prepText))
			inner = fallback(canon)
		}
		col.class.PrepKind, col.class.PrepFlags = inner.Kind, inner.Flags
	}
	return col.class, true
}

// mariaExecComments rewrites MariaDB's /*M!NNNNNN … */ executable comments
// into /*! … */, which the TiDB parser executes; it otherwise ignores them
// while MariaDB runs their content.
func mariaExecComments(s string) string {
	if !strings.Contains(s, "/*M!") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "/*M!")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString("/*! ")
		s = s[i+4:]
		for len(s) > 0 && isDigit(s[0]) {
			s = s[1:]
		}
	}
}

// collector walks the statements' ASTs and accumulates flags and names.
type collector struct {
	class    Class
	tables   []string
	names    []string
	temps    []string // temporary tables created
	prepText *string
}

func (col *collector) addTable(name string) {
	if name != "" && !slices.Contains(col.tables, name) {
		col.tables = append(col.tables, name)
	}
}

// stmt returns the kind of one top-level statement and records the
// statement-level flags and names.
func (col *collector) stmt(s ast.StmtNode) Kind {
	switch x := s.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt, *ast.DoStmt:
		return KindRead
	case *ast.ExplainStmt:
		if x.Analyze && x.Stmt != nil {
			// EXPLAIN ANALYZE runs the statement.
			return col.stmt(x.Stmt)
		}
		return KindRead
	case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt:
		return KindWrite
	case *ast.LoadDataStmt:
		return KindLoadData
	case *ast.CallStmt:
		return KindCall
	case *ast.BeginStmt:
		if x.ReadOnly {
			col.class.Flags |= FlagReadOnly
		}
		return KindBegin
	case *ast.CommitStmt:
		return KindCommit
	case *ast.RollbackStmt:
		if x.SavepointName != "" {
			return KindOther
		}
		return KindRollback
	case *ast.SetStmt:
		col.set(x)
		return KindSet
	case *ast.SetRoleStmt:
		return KindSet
	case *ast.UseStmt:
		return KindUse
	case *ast.PrepareStmt:
		col.names = append(col.names, strings.ToLower(x.Name))
		if x.SQLVar == nil {
			t := x.SQLText
			col.prepText = &t
		}
		return KindPrepare
	case *ast.ExecuteStmt:
		col.names = append(col.names, strings.ToLower(x.Name))
		return KindExecute
	case *ast.DeallocateStmt:
		col.names = append(col.names, strings.ToLower(x.Name))
		return KindDeallocate
	case *ast.ShowStmt:
		switch x.Tp {
		case ast.ShowMasterStatus, ast.ShowBinlogStatus:
			col.class.Flags |= FlagMasterOnly
		case ast.ShowWarnings, ast.ShowErrors:
			col.class.Flags |= FlagPrevious
		}
		return KindShow
	case *ast.LockTablesStmt:
		return KindLockTables
	case *ast.UnlockTablesStmt:
		return KindUnlockTables
	case *ast.KillStmt:
		return KindKill
	case *ast.CreateTableStmt:
		if x.TemporaryKeyword != ast.TemporaryNone && x.Table != nil {
			col.class.Flags |= FlagTempCreate
			col.names = append(col.names, x.Table.Name.L)
			col.temps = append(col.temps, x.Table.Name.L)
		}
		return KindDDL
	case *ast.DropTableStmt:
		if !x.IsView {
			col.class.Flags |= FlagDropTable
			for _, t := range x.Tables {
				col.names = append(col.names, t.Name.L)
			}
		}
		return KindDDL
	case *ast.RenameTableStmt:
		for _, tt := range x.TableToTables {
			col.rename(tt.OldTable, tt.NewTable)
		}
		return KindDDL
	case *ast.AlterTableStmt:
		for _, spec := range x.Specs {
			if spec.Tp == ast.AlterTableRenameTable {
				col.rename(x.Table, spec.NewTable)
			}
		}
		return KindDDL
	case ast.DDLNode:
		return KindDDL
	}
	return KindOther
}

// rename records a table rename, so that a renamed temporary table keeps
// its reads on the master.
func (col *collector) rename(from, to *ast.TableName) {
	if from == nil || to == nil {
		return
	}
	col.class.Flags |= FlagRenameTable
	col.names = append(col.names, from.Name.L, to.Name.L)
}

func (col *collector) set(x *ast.SetStmt) {
	for _, v := range x.Variables {
		if v.Name == ast.SetNames || v.Name == ast.SetCharset {
			continue
		}
		if !v.IsSystem {
			col.class.Flags |= FlagUserVarWrite
			continue
		}
		if v.IsGlobal {
			col.class.Flags |= FlagSetGlobal
			continue
		}
		switch strings.ToLower(v.Name) {
		case "autocommit":
			switch constValue(v.Value) {
			case "1", "on", "true":
				col.class.Flags |= FlagAutocommitOn
			case "0", "off", "false":
				col.class.Flags |= FlagAutocommitOff
			}
		case "tx_isolation", "transaction_isolation":
			col.class.Flags |= FlagIsolation
			if strings.ReplaceAll(constValue(v.Value), "_", "-") == "serializable" {
				col.class.Flags |= FlagSerializable
			}
		}
	}
}

// constValue renders a constant SET value in lower case, or "" when the
// value is an expression.
func constValue(e ast.ExprNode) string {
	switch x := e.(type) {
	case ast.ValueExpr:
		return strings.ToLower(fmt.Sprint(x.GetValue()))
	case *ast.ColumnNameExpr:
		if x.Name.Table.L == "" {
			return x.Name.Name.L
		}
	}
	return ""
}

// Enter implements ast.Visitor.
func (col *collector) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.SelectStmt:
		if x.LockInfo != nil && x.LockInfo.LockType != ast.SelectLockNone {
			col.class.Flags |= FlagForUpdate
		}
		if x.SelectIntoOpt != nil {
			col.class.Flags |= FlagIntoOutfile
		}
	case *ast.FuncCallExpr:
		col.function(x)
	case *ast.VariableExpr:
		name := strings.ToLower(x.Name)
		switch {
		case x.IsSystem:
			switch name {
			case "identity", "last_insert_id":
				col.class.Flags |= FlagLastInsertID
			case "warning_count", "error_count":
				col.class.Flags |= FlagPrevious // about the previous statement's connection
			}
		case x.Value != nil:
			col.class.Flags |= FlagUserVarWrite
		default:
			col.class.Flags |= FlagUserVarRead
		}
	case *ast.ColumnNameExpr:
		// Oracle-style seq.nextval / seq.currval.
		if x.Name.Table.L != "" {
			switch x.Name.Name.L {
			case "nextval", "currval", "lastval":
				col.class.Flags |= FlagSequence
			}
		}
	case *ast.TableName:
		col.addTable(x.Name.L)
	}
	return n, false
}

// Leave implements ast.Visitor.
func (col *collector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func (col *collector) function(x *ast.FuncCallExpr) {
	if x.Schema.L != "" {
		col.class.Flags |= FlagUnknownFunc
		return
	}
	name := x.FnName.L
	switch name {
	case "last_insert_id":
		col.class.Flags |= FlagLastInsertID
	case "get_lock":
		col.class.Flags |= FlagGetLock | FlagLockAcquire
	case "release_lock", "release_all_locks":
		col.class.Flags |= FlagGetLock | FlagLockRelease
	case "is_free_lock", "is_used_lock":
		col.class.Flags |= FlagGetLock
	case "nextval", "lastval", "setval":
		col.class.Flags |= FlagSequence
	case "found_rows", "row_count":
		col.class.Flags |= FlagPrevious
	default:
		if _, ok := nonDeterministic[name]; ok {
			col.class.Flags |= FlagNonDeterministic
		}
		if _, ok := builtinFuncs[name]; !ok {
			if _, ok := tidbInternalFuncs[name]; !ok {
				col.class.Flags |= FlagUnknownFunc
			}
		}
	}
}

// tidbInternalFuncs are names the TiDB parser gives to built-ins whose SQL
// name clashes with a keyword, and to DATE '…'-style literals.
var tidbInternalFuncs = func() map[string]struct{} {
	m := makeSet(`char_func insert_func default_func getvar setvar json_memberof`)
	for _, n := range []string{ast.DateLiteral, ast.TimeLiteral, ast.TimestampLiteral} {
		m[n] = struct{}{}
	}
	return m
}()
