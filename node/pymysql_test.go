package node

import (
	"os/exec"
	"strings"
	"testing"
)

// pymysqlScript exercises PyMySQL (a pure-Python client on the text protocol) against the node:
// login, DDL, parameterised DML, NULLs, dates, transactions and an error.
const pymysqlScript = `
import datetime, sys, pymysql
host, port = sys.argv[1], int(sys.argv[2])
c = pymysql.connect(host=host, port=port, user="root", password="", autocommit=True)
cur = c.cursor()
cur.execute("CREATE DATABASE py")
cur.execute("CREATE TABLE py.t (id INT PRIMARY KEY, name VARCHAR(20), at DATETIME, n INT NULL)")
cur.executemany("INSERT INTO py.t VALUES (%s, %s, %s, %s)",
    [(1, "a'b", datetime.datetime(2024, 2, 29, 13, 14, 15), None), (2, "ü", datetime.datetime(2000, 1, 1), 7)])
c.begin()
cur.execute("UPDATE py.t SET n = 99 WHERE id = 2")
c.rollback()
cur.execute("SELECT id, name, at, n FROM py.t ORDER BY id")
for row in cur.fetchall():
    print(row)
try:
    cur.execute("SELECT * FROM py.nope")
except pymysql.err.ProgrammingError as e:
    print("error", e.args[0])
print("conn", c.thread_id() > 0)
`

func TestPyMySQL(t *testing.T) {
	var python string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import pymysql").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("python3 with PyMySQL not installed (apt-get install python3-pymysql)")
	}
	n := startNode(t, testConfig(t))
	host, port, _ := strings.Cut(n.Addr().String(), ":")
	out, err := exec.Command(python, "-c", pymysqlScript, host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("pymysql: %v\n%s", err, out)
	}
	want := `(1, "a'b", datetime.datetime(2024, 2, 29, 13, 14, 15), None)
(2, 'ü', datetime.datetime(2000, 1, 1, 0, 0), 7)
error 1146
conn True
`
	if string(out) != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}
