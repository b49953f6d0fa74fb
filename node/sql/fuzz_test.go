package sql

import (
	"path/filepath"
	"testing"
	"time"
)

// FuzzExecute feeds arbitrary statements to one engine: whatever the input, the engine answers with a
// result or an *Error, and never panics or hangs.
func FuzzExecute(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.slt")
	for _, path := range files {
		for _, c := range parseLogicFile(&testing.T{}, path) {
			if c.kind != "connection" {
				f.Add(c.sql)
			}
		}
	}
	e := testEngineF(f)
	c := newTestConn(e, 1)
	for _, q := range []string{"CREATE DATABASE fz", "USE fz",
		"CREATE TABLE t (id INT PRIMARY KEY, k INT, c VARCHAR(20), d DECIMAL(6,2), f DOUBLE, dt DATETIME, KEY (k), UNIQUE KEY (c))",
		"INSERT INTO t VALUES (1, 1, 'a', 1.5, 2.5, '2024-01-01'), (2, NULL, NULL, NULL, NULL, NULL), (3, 3, 'C', -3, 1e10, '1999-12-31 23:59:59')"} {
		if _, err := c.exec(q); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, q string) {
		if len(q) > 2000 {
			return
		}
		type outcome struct {
			res *Result
			err error
		}
		done := make(chan outcome, 1)
		go func() {
			res, err := c.exec(q)
			done <- outcome{res, err}
		}()
		var o outcome
		select {
		case o = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: no answer within 10s", q)
		}
		if o.err == nil && o.res == nil {
			t.Fatalf("%q: nil result without error", q)
		}
		// Leave the session usable for the next input.
		c.s.rollbackTxn()
		if c.s.db != "fz" {
			c.s.setDB("fz")
		}
	})
}
