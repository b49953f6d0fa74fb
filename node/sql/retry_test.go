package sql

import (
	"context"
	"sync"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"

	"github.com/maxproxy/maxproxy/node/storage"
)

// refusingReplicator orders write-sets locally but fails the next `refuse` of them certification (before
// ordering them, so no seqno is consumed).
type refusingReplicator struct {
	mu     sync.Mutex
	refuse int
	calls  int
	seqno  uint64
}

func (r *refusingReplicator) Replicate(_ context.Context, ws *storage.WriteSet) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.refuse > 0 {
		r.refuse--
		return storage.ErrCertification
	}
	r.seqno++
	ws.Seqno = r.seqno
	return nil
}

func (r *refusingReplicator) set(refuse int) (calls int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuse = refuse
	return r.calls
}

// TestRetryAutocommit: an autocommit statement that fails certification runs again up to
// wsrep_retry_autocommit times (default 1) before the client sees 1213; a transaction's COMMIT is never
// retried.
func TestRetryAutocommit(t *testing.T) {
	repl := &refusingReplicator{}
	db, err := storage.Open(t.TempDir(), storage.Options{Replicator: repl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	e, err := NewEngine(db, EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := &testConn{s: e.NewSession(1, "root", "localhost"), p: parser.New()}
	defer c.s.Close()
	mustExec(t, c, "CREATE DATABASE d")
	mustExec(t, c, "CREATE TABLE d.t (id INT PRIMARY KEY, v INT)")
	if got := rowStrings(t, c, "SELECT @@wsrep_retry_autocommit, @@global.wsrep_retry_autocommit"); got != "1\t1" {
		t.Fatalf("wsrep_retry_autocommit defaults %q", got)
	}

	for _, tc := range []struct {
		name    string
		retries string // SET SESSION wsrep_retry_autocommit; "" keeps the default
		refuse  int
		stmt    string
		wantErr bool
		calls   int
	}{
		{"one refusal retried by default", "", 1, "INSERT INTO d.t VALUES (1, 1)", false, 2},
		{"two refusals exceed the default", "", 2, "INSERT INTO d.t VALUES (2, 2)", true, 2},
		{"update retried", "", 1, "UPDATE d.t SET v = v + 10 WHERE id = 1", false, 2},
		{"three retries", "3", 3, "INSERT INTO d.t VALUES (3, 3)", false, 4},
		{"retries off", "0", 1, "INSERT INTO d.t VALUES (4, 4)", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.retries != "" {
				mustExec(t, c, "SET SESSION wsrep_retry_autocommit = "+tc.retries)
			}
			before := repl.set(tc.refuse)
			_, err := c.exec(tc.stmt)
			if tc.wantErr != (err != nil) || (err != nil && errCode(err) != ErDeadlock) {
				t.Fatalf("%s: %v", tc.stmt, err)
			}
			if calls := repl.set(0) - before; calls != tc.calls {
				t.Errorf("%d certification attempts, want %d", calls, tc.calls)
			}
		})
	}
	if got := rowStrings(t, c, "SELECT id, v FROM d.t ORDER BY id"); got != "1\t11\n3\t3" {
		t.Errorf("table:\n%s", got)
	}

	mustExec(t, c, "SET SESSION wsrep_retry_autocommit = 5")
	mustExec(t, c, "BEGIN")
	mustExec(t, c, "INSERT INTO d.t VALUES (5, 5)")
	before := repl.set(1)
	if _, err := c.exec("COMMIT"); errCode(err) != ErDeadlock {
		t.Fatalf("COMMIT of a refused transaction: %v, want 1213", err)
	}
	if calls := repl.set(0) - before; calls != 1 {
		t.Errorf("a transaction's COMMIT was certified %d times", calls)
	}
}

func rowStrings(t *testing.T, c *testConn, q string) string {
	t.Helper()
	res := mustExec(t, c, q)
	out := ""
	for i, r := range res.Rows {
		if i > 0 {
			out += "\n"
		}
		out += formatRow(res.Columns, r)
	}
	return out
}
