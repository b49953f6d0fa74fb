package integration

import (
	"database/sql"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// paramCase is a prepared statement run with one set of arguments.
type paramCase struct {
	sql  string
	args []any
}

// paramCases bind every Go type go-sql-driver sends in COM_STMT_EXECUTE
// (integers, unsigned, floats, strings, bytes, time.Time, bool, NULL) in
// expressions, comparisons and typed columns.
func paramCases() []paramCase {
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	day := time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)
	values := []any{
		int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64), uint64(math.MaxUint64),
		1.5, -0.25, 1e300, float32(0.1), "", "abc", "42", "  7x", "1e3", "2024-02-29 13:14:15.5",
		[]byte{0, 'a', 0xff}, ts, day, true, false, nil, "ÄÖü😀",
	}
	// Rows get explicit ids, so a value one server refuses does not shift
	// the AUTO_INCREMENT ids of the rows after it.
	var cases []paramCase
	id := 0
	for _, v := range values {
		id++
		cases = append(cases,
			paramCase{"SELECT ?", []any{v}},
			paramCase{"SELECT ? + 0, CONCAT(?, ''), ? IS NULL, ? = 1, LENGTH(?)", []any{v, v, v, v, v}},
			paramCase{"SELECT COUNT(*) FROM itp.t WHERE i = ? OR s = ? OR d = ? OR dt = ?", []any{v, v, v, v}},
			paramCase{"INSERT INTO itp.w (id, v) VALUES (?, ?)", []any{id, v}},
		)
	}
	for _, col := range []string{"i", "u", "s", "d", "f", "dt", "dd", "b"} {
		first := id + 1
		for _, v := range values {
			id++
			cases = append(cases, paramCase{fmt.Sprintf("INSERT INTO itp.typed (id, %s) VALUES (?, ?)", col), []any{id, v}})
		}
		// What each column stored, read back as text.
		expr := col
		if col == "b" {
			expr = "HEX(b)"
		}
		cases = append(cases, paramCase{fmt.Sprintf("SELECT id, %s FROM itp.typed WHERE id BETWEEN ? AND ? ORDER BY id", expr), []any{first, id}})
	}
	cases = append(cases,
		paramCase{"SELECT id, v FROM itp.w ORDER BY id", nil},
		paramCase{"SELECT ? BETWEEN ? AND ?", []any{5, "1", 10.5}},
		paramCase{"SELECT * FROM itp.t WHERE i IN (?, ?, ?) ORDER BY i", []any{1, "2", 3.0}},
		paramCase{"SELECT ?, ?, ?", []any{"a", int64(2), nil}},
	)
	return cases
}

// diffParams runs paramCases on maxnode and MariaDB through the binary
// protocol and compares each outcome (error code, affected rows and
// insert id, or result rows as text).
// Known divergences are listed in knownDivergences under the file name
// "params", keyed by the statement followed by its arguments as %v
// prints them.
func diffParams(t *testing.T, nodeDSN, refDSN string, known map[string]string) {
	setup := []string{
		"DROP DATABASE IF EXISTS itp",
		"CREATE DATABASE itp",
		"CREATE TABLE itp.t (i INT, s VARCHAR(10), d DECIMAL(10,2), dt DATETIME(6))",
		"INSERT INTO itp.t VALUES (1, 'abc', 1.50, '2024-02-29 13:14:15.123456'), (2, '42', 0, NULL), (3, '', -0.25, '1999-12-31 00:00:00')",
		"CREATE TABLE itp.w (id INT AUTO_INCREMENT PRIMARY KEY, v VARBINARY(64))",
		"CREATE TABLE itp.typed (id INT AUTO_INCREMENT PRIMARY KEY, i BIGINT, u BIGINT UNSIGNED, s VARCHAR(40), d DECIMAL(30,6), f DOUBLE, dt DATETIME(6), dd DATE, b VARBINARY(40))",
	}
	node, ref := nodeDB(t, nodeDSN), nodeDB(t, refDSN)
	for _, q := range setup {
		nodeExec(t, node, q)
		nodeExec(t, ref, q)
	}
	t.Cleanup(func() {
		node.Exec("DROP DATABASE IF EXISTS itp")
		ref.Exec("DROP DATABASE IF EXISTS itp")
	})
	strict := os.Getenv("MAXPROXY_IT_STRICT") == "1"
	for _, c := range paramCases() {
		got, want := runParamCase(t, node, c), runParamCase(t, ref, c)
		key := "params\t" + strings.Join(strings.Fields(fmt.Sprintf("%s %v", c.sql, c.args)), " ")
		reason, isKnown := known[key]
		switch {
		case got == want && isKnown:
			t.Logf("fixed: %q agrees with MariaDB now; remove it from %s", key, knownDivergences)
		case got == want:
		case isKnown && !strict:
			t.Logf("known divergence (%s): %s with %#v\nmaxnode: %s\nmariadb: %s", reason, c.sql, c.args, got, want)
		default:
			t.Errorf("%s with %#v\nmaxnode: %s\nmariadb: %s", c.sql, c.args, got, want)
		}
	}
}

func runParamCase(t *testing.T, db *sql.DB, c paramCase) string {
	t.Helper()
	ctx := t.Context()
	stmt, err := db.PrepareContext(ctx, c.sql)
	if err != nil {
		return errOutcome(err).String()
	}
	defer stmt.Close()
	if !isSelect.MatchString(c.sql) {
		res, err := stmt.ExecContext(ctx, c.args...)
		if err != nil {
			return errOutcome(err).String()
		}
		var o diffOutcome
		o.affected, _ = res.RowsAffected()
		o.insertID, _ = res.LastInsertId()
		return o.String()
	}
	rows, err := stmt.QueryContext(ctx, c.args...)
	if err != nil {
		return errOutcome(err).String()
	}
	defer rows.Close()
	rs, err := readResultSet(rows)
	if err != nil {
		return errOutcome(err).String()
	}
	return diffOutcome{isQuery: true, sets: []resultSet{rs}}.String()
}
