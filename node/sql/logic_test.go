package sql

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/maxproxy/maxproxy/node/storage"
)

// The logic tests replay testdata/*.slt: a data format the differential runner can also replay against
// MariaDB 10.11.
//
//	statement ok [affected=N] [insertid=N] [warnings=N]
//	<sql, one or more lines>
//
//	statement error <code>
//	<sql>
//
//	query [rowsort] [colnames]
//	<sql>
//	----
//	[column names, tab-separated, when colnames]
//	<rows, tab-separated, NULL for NULL>
//
//	connection <name>          (switches to (or creates) another session of user root@localhost)
//
// Blocks are separated by blank lines; '#' starts a comment line. A file whose first line is
// "# replay: cli-only" was checked with the mariadb CLI; the go-sql-driver replay skips it because that
// driver re-formats DOUBLE values.

type logicCase struct {
	file, kind, sql string
	line            int
	opts            map[string]string
	flags           map[string]bool
	errCode         uint16
	expect          []string
}

func parseLogicFile(t *testing.T, path string) []logicCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []logicCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lineNo := 0
	var cur *logicCase
	inResult := false
	flush := func() {
		if cur != nil {
			cur.sql = strings.TrimSpace(cur.sql)
			cases = append(cases, *cur)
		}
		cur, inResult = nil, false
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if cur == nil {
			trimmed := strings.TrimSpace(line)
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			fields := strings.Fields(trimmed)
			c := &logicCase{file: filepath.Base(path), line: lineNo, kind: fields[0], opts: map[string]string{}, flags: map[string]bool{}}
			switch fields[0] {
			case "statement":
				if len(fields) < 2 {
					t.Fatalf("%s:%d: statement needs ok or error", path, lineNo)
				}
				if fields[1] == "error" {
					if len(fields) < 3 {
						t.Fatalf("%s:%d: statement error needs a code", path, lineNo)
					}
					code, err := strconv.Atoi(fields[2])
					if err != nil {
						t.Fatalf("%s:%d: bad error code", path, lineNo)
					}
					c.errCode = uint16(code)
					c.kind = "error"
				}
				for _, f := range fields[2:] {
					if k, v, ok := strings.Cut(f, "="); ok {
						c.opts[k] = v
					}
				}
			case "query":
				for _, f := range fields[1:] {
					c.flags[f] = true
				}
			case "connection":
				if len(fields) != 2 {
					t.Fatalf("%s:%d: connection needs a name", path, lineNo)
				}
				c.sql = fields[1]
				cases = append(cases, *c)
				continue
			default:
				t.Fatalf("%s:%d: unknown directive %q", path, lineNo, fields[0])
			}
			cur = c
			continue
		}
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if cur.kind == "query" && line == "----" {
			inResult = true
			continue
		}
		if inResult {
			cur.expect = append(cur.expect, line)
		} else {
			cur.sql += line + "\n"
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// testEngine opens an engine over a fresh storage directory.
func openStorage(dir string) (*storage.DB, error) {
	return storage.Open(dir, storage.Options{FlushPolicy: 2})
}

func testEngineF(f *testing.F) *Engine { return testEngine(f) }

func testEngine(t testing.TB) *Engine {
	t.Helper()
	db, err := openStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	e, err := NewEngine(db, EngineOptions{ServerVersion: "10.11.99-MariaDB-maxnode"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type testConn struct {
	s *Session
	p *parser.Parser
}

func (c *testConn) exec(sqlText string, params ...Value) (*Result, error) {
	stmts, _, err := c.p.Parse(sqlText, "", "")
	if err != nil {
		return nil, SyntaxError(sqlText, err)
	}
	if len(stmts) != 1 {
		return nil, fmt.Errorf("expected one statement, got %d", len(stmts))
	}
	return c.s.Execute(context.Background(), stmts[0], sqlText, params)
}

func newTestConn(e *Engine, id uint32) *testConn {
	return &testConn{s: e.NewSession(id, "root", "localhost"), p: parser.New()}
}

func formatRow(cols []Column, r []Value) string {
	parts := make([]string, len(r))
	for i, v := range r {
		if v.IsNull() {
			parts[i] = "NULL"
		} else {
			parts[i] = string(cols[i].AppendText(nil, v))
		}
	}
	return strings.Join(parts, "\t")
}

func TestLogic(t *testing.T) {
	files, err := filepath.Glob("testdata/*.slt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no logic test files")
	}
	total := 0
	for _, path := range files {
		cases := parseLogicFile(t, path)
		total += len(cases)
		t.Run(filepath.Base(path), func(t *testing.T) {
			e := testEngine(t)
			conns := map[string]*testConn{"default": newTestConn(e, 1)}
			conn := conns["default"]
			defer func() {
				for _, c := range conns {
					c.s.Close()
				}
			}()
			for _, c := range cases {
				where := fmt.Sprintf("%s:%d", c.file, c.line)
				if c.kind == "connection" {
					if conns[c.sql] == nil {
						conns[c.sql] = newTestConn(e, uint32(len(conns)+1))
					}
					conn = conns[c.sql]
					continue
				}
				res, err := conn.exec(c.sql)
				switch c.kind {
				case "error":
					var me *Error
					if err == nil {
						t.Errorf("%s: %s: expected error %d, got success", where, c.sql, c.errCode)
					} else if !errors.As(err, &me) || me.Code != c.errCode {
						t.Errorf("%s: %s: expected error %d, got %v", where, c.sql, c.errCode, err)
					}
				case "statement":
					if err != nil {
						t.Errorf("%s: %s: %v", where, c.sql, err)
						continue
					}
					if v, ok := c.opts["affected"]; ok && strconv.FormatUint(res.AffectedRows, 10) != v {
						t.Errorf("%s: %s: affected rows %d, want %s", where, c.sql, res.AffectedRows, v)
					}
					if v, ok := c.opts["insertid"]; ok && strconv.FormatUint(res.LastInsertID, 10) != v {
						t.Errorf("%s: %s: insert id %d, want %s", where, c.sql, res.LastInsertID, v)
					}
					if v, ok := c.opts["warnings"]; ok && strconv.Itoa(int(res.Warnings)) != v {
						t.Errorf("%s: %s: warnings %d, want %s", where, c.sql, res.Warnings, v)
					}
				case "query":
					if err != nil {
						t.Errorf("%s: %s: %v", where, c.sql, err)
						continue
					}
					var got []string
					if c.flags["colnames"] {
						names := make([]string, len(res.Columns))
						for i, col := range res.Columns {
							names[i] = col.Name
						}
						got = append(got, strings.Join(names, "\t"))
					}
					var rows []string
					for _, r := range res.Rows {
						rows = append(rows, formatRow(res.Columns, r))
					}
					if c.flags["rowsort"] {
						sort.Strings(rows)
					}
					got = append(got, rows...)
					if strings.Join(got, "\n") != strings.Join(c.expect, "\n") {
						t.Errorf("%s: %s:\n got:\n%s\nwant:\n%s", where, c.sql, strings.Join(got, "\n"), strings.Join(c.expect, "\n"))
					}
				}
			}
		})
	}
	if total < 300 {
		t.Errorf("corpus has %d statements, want at least 300", total)
	}
}
