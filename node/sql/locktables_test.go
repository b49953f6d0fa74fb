package sql

import (
	"errors"
	"testing"
)

// TestLockTablesWakesWaiters: statements of other sessions that a LOCK TABLES lock holds back run as soon
// as the holder unlocks (or its session ends), and see what the holder wrote.
func TestLockTablesWakesWaiters(t *testing.T) {
	e := testEngine(t)
	a, b := newTestConn(e, 1), newTestConn(e, 2)
	defer b.s.Close()
	mustExec(t, a, "CREATE DATABASE lt")
	mustExec(t, a, "CREATE TABLE lt.t (id INT PRIMARY KEY, v INT)")
	mustExec(t, a, "INSERT INTO lt.t VALUES (1, 1)")

	mustExec(t, a, "LOCK TABLES lt.t WRITE")
	read := make(chan string, 1)
	go func() {
		res, err := b.exec("SELECT v FROM lt.t WHERE id = 1")
		if err != nil {
			read <- err.Error()
			return
		}
		read <- formatRow(res.Columns, res.Rows[0])
	}()
	mustExec(t, a, "UPDATE lt.t SET v = 2")
	mustExec(t, a, "UNLOCK TABLES")
	if got := <-read; got != "2" {
		t.Fatalf("read after UNLOCK TABLES: %s, want 2", got)
	}

	mustExec(t, a, "LOCK TABLES lt.t READ")
	wrote := make(chan error, 1)
	go func() {
		_, err := b.exec("INSERT INTO lt.t VALUES (2, 2)")
		wrote <- err
	}()
	// The holder reads, may not write, and its session's end releases the lock.
	if got := firstRow(t, a, "SELECT COUNT(*) FROM lt.t"); got != "1" {
		t.Fatalf("holder counts %s rows, want 1", got)
	}
	var me *Error
	if _, err := a.exec("DELETE FROM lt.t"); !errors.As(err, &me) || me.Code != ErTableNotLockedForWrite {
		t.Fatalf("DELETE under a READ lock: %v, want 1099", err)
	}
	a.s.Close()
	if err := <-wrote; err != nil {
		t.Fatalf("write after the holder's session ended: %v", err)
	}
	if got := firstRow(t, b, "SELECT COUNT(*) FROM lt.t"); got != "2" {
		t.Fatalf("%s rows after the write, want 2", got)
	}
}

func firstRow(t *testing.T, c *testConn, q string) string {
	t.Helper()
	res := mustExec(t, c, q)
	if len(res.Rows) == 0 {
		t.Fatalf("%s: no rows", q)
	}
	return formatRow(res.Columns, res.Rows[0])
}
