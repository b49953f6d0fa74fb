package sql

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/types"
	"github.com/maxproxy/maxproxy/node/storage"
)

// Total order isolation (TOI, GALERA.md §4.2, §12.3): in a cluster a DDL statement is not executed where
// it is issued. The origin session validates it (privileges, names, definitions) against its own catalog
// in a transaction it rolls back, then hands the statement text to EngineOptions.TOI, which orders it in
// the cluster's total order and returns once it has been executed at its position — on every node,
// origin included, by a TOIApplier. The applier runs it against the catalog as of the position before
// it, allocates its storage spaces from the range the replication layer derived from the position (so
// concurrent CREATE TABLEs on different nodes cannot collide), and commits it at exactly that position.
// Every node therefore reaches the same verdict: a CREATE TABLE that lost a race fails with 1050 on its
// origin and changes nothing anywhere.

// TOIRequest is a DDL statement to order and execute cluster-wide.
type TOIRequest struct {
	Schema  string // default database of the statement ("" for none)
	SQL     string // the statement text, executed again on every node
	SQLMode string // the session's sql_mode, which decides how definitions are interpreted
	// Spaces are the storage spaces (tables and indexes) the statement changes or removes, as the origin
	// sees them: local transactions writing to them are BF-aborted and later write-sets that read them
	// before the DDL fail certification.
	Spaces []storage.SpaceID
}

// ddlTOI is ddlTxn in a cluster: validate fn locally, then order the statement and wait for its
// execution. keys are the metadata-lock keys of the tables it changes.
func (s *Session) ddlTOI(ctx context.Context, keys []string, fn func(t *storage.Txn) error) error {
	if err := s.validateDDL(ctx, fn); err != nil {
		return err
	}
	s.procMu.Lock()
	text := s.info
	s.procMu.Unlock()
	mode, _ := s.getSysVar("sql_mode", scopeSession)
	req := TOIRequest{Schema: s.db, SQL: text, SQLMode: types.ToText(mode), Spaces: tableSpaces(s.e.schema.Load(), keys)}
	if err := s.e.opts.TOI(ctx, req); err != nil {
		return err
	}
	return s.e.reloadSchema()
}

// validateDDL runs fn in a transaction that is rolled back: it raises every error the statement would
// raise against this node's catalog and leaves the session's warnings and results as the statement
// produces them. Space ids are placeholders that are never committed.
func (s *Session) validateDDL(ctx context.Context, fn func(t *storage.Txn) error) error {
	s.e.ddlMu.Lock()
	defer s.e.ddlMu.Unlock()
	next := toiDryRunSpace
	s.spaceAlloc = func() (storage.SpaceID, error) {
		next++
		return next, nil
	}
	defer func() { s.spaceAlloc = nil }()
	t := s.e.db.Begin(storage.TxOptions{})
	defer t.Rollback()
	t.SetLockWaitTimeout(s.lockWaitTimeout())
	return fn(t)
}

// toiDryRunSpace is where placeholder space ids of a validation run start; they never reach storage.
const toiDryRunSpace = storage.SpaceID(0xF0000000)

// tableSpaces lists the primary and index spaces of the tables named by metadata-lock keys.
func tableSpaces(sch *catalog.Schema, keys []string) []storage.SpaceID {
	var out []storage.SpaceID
	for _, k := range keys {
		db, name, ok := strings.Cut(k, "\x00")
		if !ok {
			continue
		}
		tbl := sch.Table(db, name)
		if tbl == nil {
			continue
		}
		out = append(out, tbl.Space)
		for _, ix := range tbl.Indexes {
			if ix.Space != tbl.Space {
				out = append(out, ix.Space)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// allocSpace allocates a storage space for a table or index being created: from the TOI's range on an
// applier, a placeholder while validating, the storage's own allocator otherwise (a standalone node).
func (s *Session) allocSpace() (storage.SpaceID, error) {
	if s.spaceAlloc != nil {
		return s.spaceAlloc()
	}
	return s.e.db.AllocSpaceID()
}

// ddlTxnApply is ddlTxn on a TOIApplier's session: it takes neither the engine's DDL lock
// nor metadata locks (the total order serialises DDL, and conflicting local transactions were BF-aborted
// by the replication layer) and its commit carries the context that places it at the TOI's position.
func (s *Session) ddlTxnApply(ctx context.Context, fn func(t *storage.Txn) error) error {
	t := s.e.db.Begin(storage.TxOptions{})
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

// systemUser is the account a TOIApplier runs as: the origin already checked the statement's privileges.
const systemUser = "system user"

// TOIApplier executes ordered DDL statements (TOI) on one node. It has an engine of its own over the
// node's storage, so it never waits for locks the serving engine's sessions hold while they wait for the
// total order to pass this statement.
type TOIApplier struct {
	e      *Engine
	parser *parser.Parser
}

// NewTOIApplier returns an applier over db. It writes nothing until ExecTOI.
func NewTOIApplier(db *storage.DB, log *slog.Logger) (*TOIApplier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{db: db, opts: EngineOptions{ServerVersion: DefaultServerVersion, Logger: log, Hostname: "localhost", Port: 3306},
		log: log, sessions: map[uint32]*Session{}, globals: map[string]types.Value{}}
	e.initGlobals()
	if err := e.reloadSchema(); err != nil {
		return nil, err
	}
	return &TOIApplier{e: e, parser: parser.New()}, nil
}

// ExecTOI executes one ordered DDL statement. ctx is handed to the storage commit (the replication layer
// recognises it); spaces allocates the storage spaces of new tables and indexes. The storage must hold
// every position before this one. The returned error is the statement's own (an *Error) or a failure to
// run it; either way every node returns the same one.
func (a *TOIApplier) ExecTOI(ctx context.Context, req TOIRequest, spaces func() (storage.SpaceID, error)) error {
	stmts, _, err := a.parser.Parse(req.SQL, "", "")
	if err != nil {
		return fmt.Errorf("sql: parse TOI statement: %w", err)
	}
	if len(stmts) != 1 || !isTOIStmt(stmts[0]) {
		return errNotSupported("this statement in total order isolation")
	}
	if err := a.e.reloadSchema(); err != nil {
		return err
	}
	// The applier's account exists only in its own engine's catalog snapshot.
	sch := *a.e.schema.Load()
	sch.Users = append(slices.Clone(sch.Users), &catalog.User{User: systemUser, Host: "localhost", Global: catalog.PrivAll, GlobalGrantOption: true})
	a.e.schema.Store(&sch)
	s := newSession(a.e, 0, systemUser, "localhost")
	s.authUser, s.authHost = systemUser, "localhost"
	s.db = req.Schema
	s.vars["sql_mode"] = types.NewString(req.SQLMode)
	s.toiApply = true
	s.spaceAlloc = spaces
	s.info = req.SQL
	_, err = s.execDDL(ctx, stmts[0])
	return err
}

// isTOIStmt reports whether stmt is DDL that a cluster orders with TOI.
func isTOIStmt(stmt ast.StmtNode) bool {
	switch stmt.(type) {
	case *ast.CreateDatabaseStmt, *ast.DropDatabaseStmt, *ast.CreateTableStmt, *ast.DropTableStmt,
		*ast.CreateIndexStmt, *ast.DropIndexStmt, *ast.TruncateTableStmt, *ast.AlterTableStmt, *ast.RenameTableStmt:
		return true
	}
	return false
}
