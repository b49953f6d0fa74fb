package sql

import (
	"context"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Savepoints, as InnoDB's: SAVEPOINT records the position in the transaction's undo list (the previous
// images of everything it wrote), ROLLBACK TO SAVEPOINT writes those images back down to it and drops
// the later savepoints, RELEASE SAVEPOINT drops the savepoint and the later ones. Row locks taken after
// a savepoint stay held until the transaction ends, as in InnoDB. Outside a transaction SAVEPOINT does
// nothing, so a later ROLLBACK TO finds no savepoint (1305), as in MariaDB.

type savepoint struct {
	name string
	undo int // len(s.undo) when it was set
}

func (s *Session) execSavepoint(x *ast.SavepointStmt) (*Result, error) {
	if !s.inTxn && !s.autocommit() {
		s.inTxn, s.txnReadOnly = true, false
	}
	if !s.inTxn {
		return &Result{}, nil
	}
	if i := s.findSavepoint(x.Name); i >= 0 {
		s.savepoints = append(s.savepoints[:i], s.savepoints[i+1:]...)
	}
	s.savepoints = append(s.savepoints, savepoint{name: x.Name, undo: len(s.undo)})
	return &Result{}, nil
}

func (s *Session) execRollbackToSavepoint(ctx context.Context, name string) (*Result, error) {
	i := s.findSavepoint(name)
	if i < 0 {
		return nil, errNoSavepoint(name)
	}
	sp := s.savepoints[i]
	if s.txn != nil {
		for j := len(s.undo) - 1; j >= sp.undo; j-- {
			u := s.undo[j]
			var err error
			if u.existed {
				err = s.txn.Put(ctx, u.space, u.key, u.old)
			} else {
				err = s.txn.Delete(ctx, u.space, u.key)
			}
			if err != nil {
				// The keys are ours already, so this only fails when the transaction was aborted.
				s.rollbackTxn()
				return nil, err
			}
		}
	}
	s.undo = s.undo[:min(sp.undo, len(s.undo))]
	s.savepoints = s.savepoints[:i+1]
	return &Result{}, nil
}

func (s *Session) execReleaseSavepoint(x *ast.ReleaseSavepointStmt) (*Result, error) {
	i := s.findSavepoint(x.Name)
	if i < 0 {
		return nil, errNoSavepoint(x.Name)
	}
	s.savepoints = s.savepoints[:i]
	return &Result{}, nil
}

// findSavepoint finds a savepoint by name (case-insensitive, as identifiers are).
func (s *Session) findSavepoint(name string) int {
	for i := len(s.savepoints) - 1; i >= 0; i-- {
		if strings.EqualFold(s.savepoints[i].name, name) {
			return i
		}
	}
	return -1
}

func errNoSavepoint(name string) *Error {
	return newErr(ErSpDoesNotExist, "SAVEPOINT %s does not exist", name)
}
