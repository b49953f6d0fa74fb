package sql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

// TestLogicAgainstMariaDB replays the logic corpus against a real MariaDB (MAXNODE_DIFF_DSN, e.g.
// "root@unix(/tmp/mariadb.sock)/") so the expected results are checked against the reference server.
func TestLogicAgainstMariaDB(t *testing.T) {
	dsn := os.Getenv("MAXNODE_DIFF_DSN")
	if dsn == "" {
		t.Skip("MAXNODE_DIFF_DSN not set: no reference MariaDB to compare with")
	}
	files, _ := filepath.Glob("testdata/*.slt")
	for _, path := range files {
		if strings.HasSuffix(path, ".maxnode.slt") {
			continue // maxnode-specific behaviour (documented differences such as 1235 answers)
		}
		if head, _ := os.ReadFile(path); strings.HasPrefix(string(head), "# replay: cli-only") {
			continue // fixed-scale DOUBLE text that go-sql-driver cannot return unchanged
		}
		cases := parseLogicFile(t, path)
		t.Run(filepath.Base(path), func(t *testing.T) {
			db, err := sql.Open("mysql", dsn+"?interpolateParams=false")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			conns := map[string]*sql.Conn{}
			get := func(name string) *sql.Conn {
				if c := conns[name]; c != nil {
					return c
				}
				c, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				conns[name] = c
				return c
			}
			conn := get("default")
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for _, c := range cases {
				where := fmt.Sprintf("%s:%d", c.file, c.line)
				if c.kind == "connection" {
					conn = get(c.sql)
					continue
				}
				if c.kind == "query" {
					rows, err := conn.QueryContext(ctx, c.sql)
					if err != nil {
						t.Errorf("%s: %s: %v", where, c.sql, err)
						continue
					}
					cols, _ := rows.Columns()
					ctypes, _ := rows.ColumnTypes()
					var got, lines []string
					if c.flags["colnames"] {
						got = append(got, strings.Join(cols, "\t"))
					}
					for rows.Next() {
						vals := make([]sql.RawBytes, len(cols))
						ptrs := make([]any, len(cols))
						for i := range vals {
							ptrs[i] = &vals[i]
						}
						if err := rows.Scan(ptrs...); err != nil {
							t.Fatal(err)
						}
						parts := make([]string, len(cols))
						for i, v := range vals {
							switch {
							case v == nil:
								parts[i] = "NULL"
							case ctypes[i].DatabaseTypeName() == "DOUBLE" || ctypes[i].DatabaseTypeName() == "FLOAT":
								// go-sql-driver re-formats floats it parsed from the text protocol; print them back
								// the way the server does.
								f, err := strconv.ParseFloat(string(v), 64)
								if err != nil {
									t.Fatal(err)
								}
								bits := 64
								if ctypes[i].DatabaseTypeName() == "FLOAT" {
									bits = 32
								}
								parts[i] = string(types.AppendFloat(nil, f, bits))
							default:
								parts[i] = string(v)
							}
						}
						lines = append(lines, strings.Join(parts, "\t"))
					}
					if err := rows.Err(); err != nil {
						t.Errorf("%s: %s: %v", where, c.sql, err)
					}
					rows.Close()
					if c.flags["rowsort"] {
						sort.Strings(lines)
					}
					got = append(got, lines...)
					if strings.Join(got, "\n") != strings.Join(c.expect, "\n") {
						t.Errorf("%s: %s:\n got:\n%s\nwant:\n%s", where, c.sql, strings.Join(got, "\n"), strings.Join(c.expect, "\n"))
					}
					continue
				}
				res, err := conn.ExecContext(ctx, c.sql)
				if c.kind == "error" {
					var me *mysql.MySQLError
					if err == nil || !errors.As(err, &me) || me.Number != c.errCode {
						t.Errorf("%s: %s: expected error %d, got %v", where, c.sql, c.errCode, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %s: %v", where, c.sql, err)
					continue
				}
				if v, ok := c.opts["affected"]; ok {
					n, _ := res.RowsAffected()
					if strconv.FormatInt(n, 10) != v {
						t.Errorf("%s: %s: affected rows %d, want %s", where, c.sql, n, v)
					}
				}
				if v, ok := c.opts["insertid"]; ok {
					n, _ := res.LastInsertId()
					if strconv.FormatInt(n, 10) != v {
						t.Errorf("%s: %s: insert id %d, want %s", where, c.sql, n, v)
					}
				}
			}
		})
	}
}
