package sql

import (
	"github.com/maxproxy/maxproxy/node/sql/types"

	"context"
	"sync"
	"sync/atomic"
	"time"
)

// metadataLocks keep DDL and open transactions apart, as MariaDB's metadata locks do: a transaction that
// wrote to a table holds a shared lock on it until it ends, and DDL that changes or removes the table
// (CREATE/DROP INDEX, ALTER, TRUNCATE, RENAME, DROP) takes the lock exclusively. Without it an index could
// be built from a snapshot that misses rows a still-open transaction commits later.
//
// LOCK TABLES locks (locktables.go) live in the same state: a READ lock keeps writers and DDL of other
// sessions out, a WRITE lock keeps every other session out, and both wait for open writing transactions.
type metadataLocks struct {
	mu     sync.Mutex
	tables map[string]*mdlState
	// owned is each session's LOCK TABLES set; lockers counts its entries, read without mu so that
	// statements skip the LOCK TABLES checks while nobody locks tables.
	owned   map[*Session]map[string]tableLockMode
	lockers atomic.Int32
}

type mdlState struct {
	shared    int
	exclusive bool
	waitingX  int           // exclusive requests waiting: new shared requests queue behind them
	changed   chan struct{} // closed and replaced whenever the state loosens
	// readLocks counts sessions holding LOCK TABLES ... READ; writeOwner holds LOCK TABLES ... WRITE.
	readLocks  int
	writeOwner *Session
}

// blocksOthers reports a LOCK TABLES lock that keeps session s from writing (READ or WRITE held by
// another session) or, with reads, from reading (WRITE held by another session).
func (st *mdlState) blocksOthers(s *Session, reads bool) bool {
	if st.writeOwner != nil && st.writeOwner != s {
		return true
	}
	return !reads && st.readLocks > 0
}

func mdlKey(db, table string) string { return db + "\x00" + table }

func (m *metadataLocks) state(key string) *mdlState {
	if m.tables == nil {
		m.tables = map[string]*mdlState{}
	}
	st := m.tables[key]
	if st == nil {
		st = &mdlState{changed: make(chan struct{})}
		m.tables[key] = st
	}
	return st
}

func (m *metadataLocks) wake(key string, st *mdlState) {
	close(st.changed)
	st.changed = make(chan struct{})
	if st.shared == 0 && !st.exclusive && st.waitingX == 0 && st.readLocks == 0 && st.writeOwner == nil {
		delete(m.tables, key)
	}
}

var errMDLTimeout = newErr(ErLockWaitTimeout, "Lock wait timeout exceeded; try restarting transaction")

// wait blocks until ch closes, the context ends or the deadline passes.
func waitChange(ctx context.Context, ch <-chan struct{}, deadline *time.Timer) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return errInterrupted
	case <-deadline.C:
		return errMDLTimeout
	}
}

func (m *metadataLocks) acquireShared(ctx context.Context, s *Session, key string, timeout time.Duration) error {
	var deadline *time.Timer
	m.mu.Lock()
	for {
		st := m.state(key)
		if !st.exclusive && st.waitingX == 0 && !st.blocksOthers(s, false) {
			st.shared++
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

func (m *metadataLocks) releaseShared(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(key)
	st.shared--
	m.wake(key, st)
}

func (m *metadataLocks) acquireExclusive(ctx context.Context, s *Session, key string, timeout time.Duration) error {
	var deadline *time.Timer
	m.mu.Lock()
	st := m.state(key)
	st.waitingX++
	for {
		if !st.exclusive && st.shared == 0 && !st.blocksOthers(s, false) {
			st.waitingX--
			st.exclusive = true
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
			m.mu.Lock()
			st.waitingX--
			m.wake(key, st)
			m.mu.Unlock()
			return err
		}
		m.mu.Lock()
		st = m.state(key)
	}
}

func (m *metadataLocks) releaseExclusive(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(key)
	st.exclusive = false
	m.wake(key, st)
}

func (s *Session) mdlTimeout() time.Duration {
	v, _ := s.getSysVar("lock_wait_timeout", scopeSession)
	i, _ := types.ToInt(v)
	return time.Duration(i) * time.Second
}

// lockTableForWrite takes the shared metadata lock on a table the transaction writes, once per transaction.
func (s *Session) lockTableForWrite(ctx context.Context, db, table string) error {
	key := mdlKey(db, table)
	if err := s.checkTableLock(key, lockWrite); err != nil {
		return err
	}
	if s.mdlHeld[key] {
		return nil
	}
	if err := s.e.mdl.acquireShared(ctx, s, key, s.mdlTimeout()); err != nil {
		return err
	}
	if s.mdlHeld == nil {
		s.mdlHeld = map[string]bool{}
	}
	s.mdlHeld[key] = true
	return nil
}

// releaseTableLocks ends the transaction's metadata locks.
func (s *Session) releaseTableLocks() {
	for key := range s.mdlHeld {
		s.e.mdl.releaseShared(key)
		delete(s.mdlHeld, key)
	}
}

// exclusiveTables runs fn holding exclusive metadata locks on the given tables (after committing the
// session's own transaction, which releases its shared locks).
func (s *Session) exclusiveTables(ctx context.Context, keys []string, fn func() error) error {
	if err := s.commitTxn(ctx); err != nil {
		return err
	}
	var held []string
	defer func() {
		for _, k := range held {
			s.e.mdl.releaseExclusive(k)
		}
	}()
	for _, k := range keys {
		if err := s.checkTableLock(k, lockWrite); err != nil {
			return err
		}
		if err := s.e.mdl.acquireExclusive(ctx, s, k, s.mdlTimeout()); err != nil {
			return err
		}
		held = append(held, k)
	}
	return fn()
}
