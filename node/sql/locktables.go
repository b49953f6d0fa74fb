package sql

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
)

// LOCK TABLES, as MariaDB, for what dump and restore tools need:
//
//   - LOCK TABLES commits the open transaction and releases the session's previous table locks, then
//     takes every listed lock (in name order, so two sessions cannot deadlock on them), waiting up to
//     lock_wait_timeout (1205) for conflicting locks and for other sessions' open transactions that
//     wrote the tables.
//   - READ [LOCAL]: other sessions may read the table; their writes and DDL wait. The holder may only
//     read it (1099).
//   - WRITE: other sessions' reads, writes and DDL of the table wait; the holder may read, write and
//     alter it.
//   - While a session holds table locks it may only use the tables it locked (1100); information_schema
//     and mysql are always readable.
//   - UNLOCK TABLES, BEGIN / START TRANSACTION and the end of the session release them.
//
// Simplified: locks are per table name, not per alias (LOCK TABLES t AS a READ locks t under any alias),
// READ LOCAL is READ, and a session's own snapshot reads are not serialised with its locks beyond that.

type tableLockMode uint8

const (
	lockRead tableLockMode = iota + 1
	lockWrite
)

// execLockTables runs LOCK TABLES.
func (s *Session) execLockTables(ctx context.Context, x *ast.LockTablesStmt) (*Result, error) {
	want := map[string]tableLockMode{}
	sch := s.e.schema.Load()
	for _, tl := range x.TableLocks {
		db := tl.Table.Schema.O
		if db == "" {
			if db = s.db; db == "" {
				return nil, newErr(ErNoDB, "No database selected")
			}
		}
		name := tl.Table.Name.O
		if !s.hasPriv(db, catalog.PrivLockTables) || !s.hasPriv(db, catalog.PrivSelect) {
			return nil, s.errDBDenied(db)
		}
		if isVirtualDB(db) {
			return nil, s.errDBDenied(db)
		}
		if sch.Table(db, name) == nil {
			return nil, errNoSuchTable(db, name)
		}
		mode := lockRead
		switch tl.Type {
		case ast.TableLockRead, ast.TableLockReadLocal:
		case ast.TableLockWrite, ast.TableLockWriteLocal:
			mode = lockWrite
		default:
			return nil, errNotSupported("LOCK TABLES ... " + strings.ToUpper(tl.Type.String()))
		}
		key := mdlKey(db, name)
		if _, dup := want[key]; dup {
			return nil, newErr(ErNonUniqTable, "Not unique table/alias: '%s'", name)
		}
		want[key] = mode
	}
	if err := s.commitTxn(ctx); err != nil {
		return nil, err
	}
	s.e.mdl.unlockTables(s)
	if err := s.e.mdl.lockTables(ctx, s, want, s.mdlTimeout()); err != nil {
		return nil, err
	}
	return &Result{}, nil
}

// execUnlockTables runs UNLOCK TABLES: it commits the open transaction when the session held table
// locks, as MariaDB does, and releases them.
func (s *Session) execUnlockTables(ctx context.Context) (*Result, error) {
	if s.e.mdl.hasTableLocks(s) {
		if err := s.commitTxn(ctx); err != nil {
			return nil, err
		}
	}
	s.e.mdl.unlockTables(s)
	return &Result{}, nil
}

// checkTableLock enforces the session's own LOCK TABLES set on a table it is about to use.
func (s *Session) checkTableLock(key string, need tableLockMode) error {
	mode, locking := s.e.mdl.ownLock(s, key)
	if !locking {
		return nil
	}
	_, table, _ := strings.Cut(key, "\x00")
	switch {
	case mode == 0:
		return newErr(ErTableNotLocked, "Table '%s' was not locked with LOCK TABLES", table)
	case need == lockWrite && mode == lockRead:
		return newErr(ErTableNotLockedForWrite, "Table '%s' was locked with a READ lock and can't be updated", table)
	}
	return nil
}

// tableLockGate runs before a SELECT or DML statement while any session holds table locks: the
// session's own locks must cover every table the statement names (1100), and a table another session
// holds a WRITE lock on is waited for. Writes are checked again where they take their metadata lock.
func (s *Session) tableLockGate(ctx context.Context, stmt ast.StmtNode) error {
	if s.e.mdl.lockers.Load() == 0 {
		return nil
	}
	switch stmt.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt, *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt:
	default:
		return nil
	}
	var tc tableCollector
	stmt.Accept(&tc)
	for _, tn := range tc.names {
		db := tn.Schema.O
		if db == "" {
			db = s.db
		}
		if db == "" || isVirtualDB(db) {
			continue
		}
		key := mdlKey(db, tn.Name.O)
		if err := s.checkTableLock(key, lockRead); err != nil {
			return err
		}
		if err := s.e.mdl.waitReadable(ctx, s, key, s.mdlTimeout()); err != nil {
			return err
		}
	}
	return nil
}

// tableCollector gathers the table names of a statement.
type tableCollector struct{ names []*ast.TableName }

func (tc *tableCollector) Enter(n ast.Node) (ast.Node, bool) {
	if tn, ok := n.(*ast.TableName); ok {
		tc.names = append(tc.names, tn)
	}
	return n, false
}

func (tc *tableCollector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// ownLock is s's lock on key; locking reports whether s holds any table locks at all.
func (m *metadataLocks) ownLock(s *Session, key string) (mode tableLockMode, locking bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	set, ok := m.owned[s]
	if !ok {
		return 0, false
	}
	return set[key], true
}

func (m *metadataLocks) hasTableLocks(s *Session) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.owned[s]
	return ok
}

// lockTables takes want for s, all or nothing.
func (m *metadataLocks) lockTables(ctx context.Context, s *Session, want map[string]tableLockMode, timeout time.Duration) error {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	set := map[string]tableLockMode{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, key := range keys {
		mode := want[key]
		for {
			st := m.state(key)
			free := !st.exclusive && st.shared == 0 && st.waitingX == 0 && st.writeOwner == nil
			if mode == lockWrite {
				free = free && st.readLocks == 0
			}
			if free {
				if mode == lockWrite {
					st.writeOwner = s
				} else {
					st.readLocks++
				}
				set[key] = mode
				break
			}
			ch := st.changed
			m.mu.Unlock()
			err := waitChange(ctx, ch, deadline)
			m.mu.Lock()
			if err != nil {
				m.release(s, set)
				return err
			}
		}
	}
	if m.owned == nil {
		m.owned = map[*Session]map[string]tableLockMode{}
	}
	m.owned[s] = set
	m.lockers.Add(1)
	return nil
}

// unlockTables releases s's table locks, if any.
func (m *metadataLocks) unlockTables(s *Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if set, ok := m.owned[s]; ok {
		delete(m.owned, s)
		m.lockers.Add(-1)
		m.release(s, set)
	}
}

func (m *metadataLocks) release(s *Session, set map[string]tableLockMode) {
	for key, mode := range set {
		st := m.state(key)
		if mode == lockWrite && st.writeOwner == s {
			st.writeOwner = nil
		} else if mode == lockRead {
			st.readLocks--
		}
		m.wake(key, st)
	}
}

// errLockedTables is MariaDB's answer to statements that may not run while the session holds table locks.
var errLockedTables = newErr(ErLockOrActiveTransaction, "Can't execute the given command because you have active locked tables or an active transaction")

// refuseUnderLockTables refuses database-level DDL while the session holds table locks, as MariaDB.
func (s *Session) refuseUnderLockTables() error {
	if s.e.mdl.lockers.Load() != 0 && s.e.mdl.hasTableLocks(s) {
		return errLockedTables
	}
	return nil
}

// waitReadable waits while another session holds a WRITE table lock on key.
func (m *metadataLocks) waitReadable(ctx context.Context, s *Session, key string, timeout time.Duration) error {
	var deadline *time.Timer
	m.mu.Lock()
	for {
		st, ok := m.tables[key]
		if !ok || !st.blocksOthers(s, true) {
			m.mu.Unlock()
			if deadline != nil {
				deadline.Stop()
			}
			return nil
		}
		ch := st.changed
		m.mu.Unlock()
		if deadline == nil {
			deadline = time.NewTimer(timeout)
		}
		if err := waitChange(ctx, ch, deadline); err != nil {
			deadline.Stop()
			return err
		}
		m.mu.Lock()
	}
}
