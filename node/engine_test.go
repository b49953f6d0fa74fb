package node

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/maxproxy/maxproxy/node/replicator"
	"github.com/maxproxy/maxproxy/node/server"
	"github.com/maxproxy/maxproxy/node/sql"
	"github.com/maxproxy/maxproxy/node/storage"
)

// The adapter hands the server the sentinel that makes it drop the connection for an unknown commit
// outcome, and a MySQL error for everything else (a certification failure stays a 1213 rollback).
func TestClientErrorUnknownOutcome(t *testing.T) {
	unknown := clientError(fmt.Errorf("commit: %w", fmt.Errorf("%w: leader lost", replicator.ErrUnknownOutcome)))
	if !errors.Is(unknown, server.ErrOutcomeUnknown) {
		t.Fatalf("unknown outcome became %v, want server.ErrOutcomeUnknown", unknown)
	}
	for _, err := range []error{
		&sql.Error{Code: 1213, State: "40001", Msg: "Deadlock found when trying to get lock; try restarting transaction"},
		replicator.ErrNotPrimary,
		storage.ErrCertification,
	} {
		got := clientError(err)
		if errors.Is(got, server.ErrOutcomeUnknown) {
			t.Errorf("%v reported as an unknown outcome", err)
		}
		var me *mysql.MyError
		if _, isSQL := err.(*sql.Error); isSQL && !errors.As(got, &me) {
			t.Errorf("%v did not become a MySQL error: %v", err, got)
		}
	}
}
