package sql

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestAdhocCompare(t *testing.T) {
	db, err := sql.Open("mysql", "root@unix(/tmp/sqlref/sock)/")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, _ := db.Conn(t.Context())
	e := testEngine(t)
	c := newTestConn(e, 1)
	data, _ := os.ReadFile("/tmp/adhoc.sql")
	gen, _ := os.Create("/tmp/gen.test")
	defer gen.Close()
	for _, q := range strings.Split(string(data), "\n") {
		q = strings.TrimSpace(q)
		if q == "" {
			continue
		}
		// engine
		var mine string
		res, err := c.exec(q)
		if err != nil {
			mine = fmt.Sprintf("ERR %d", errCode(err))
		} else if res.Columns != nil {
			var rows []string
			for _, r := range res.Rows {
				rows = append(rows, formatRow(res.Columns, r))
			}
			mine = strings.Join(rows, "|")
		} else {
			mine = fmt.Sprintf("OK %d %d", res.AffectedRows, res.LastInsertID)
		}
		switch {
		case err != nil:
			fmt.Fprintf(gen, "statement error %d\n%s\n\n", errCode(err), q)
		case res.Columns != nil:
			fmt.Fprintf(gen, "query\n%s\n----\n", q)
			for _, r := range res.Rows {
				fmt.Fprintf(gen, "%s\n", formatRow(res.Columns, r))
			}
			fmt.Fprintf(gen, "\n")
		default:
			fmt.Fprintf(gen, "statement ok affected=%d\n%s\n\n", res.AffectedRows, q)
		}
		var theirs string
		rows, err := conn.QueryContext(t.Context(), q)
		if err != nil {
			if me, ok := err.(interface{ Error() string }); ok {
				theirs = "ERR " + me.Error()
			}
		} else {
			cols, _ := rows.Columns()
			var out []string
			for rows.Next() {
				vals := make([]sql.RawBytes, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				rows.Scan(ptrs...)
				parts := make([]string, len(cols))
				for i, v := range vals {
					if v == nil {
						parts[i] = "NULL"
					} else {
						parts[i] = string(v)
					}
				}
				out = append(out, strings.Join(parts, "\t"))
			}
			rows.Close()
			if len(cols) == 0 {
				theirs = "OK"
			} else {
				theirs = strings.Join(out, "|")
			}
		}
		if mine != theirs && !(strings.HasPrefix(mine, "OK") && theirs == "OK") && !(strings.HasPrefix(mine, "ERR") && strings.Contains(theirs, strings.TrimPrefix(mine, "ERR "))) {
			t.Logf("\nQ: %s\n mine:   %s\n theirs: %s", q, mine, theirs)
		}
	}
}
