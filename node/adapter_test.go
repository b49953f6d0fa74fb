package node

import (
	"os/exec"
	"strings"
	"testing"
)

// The text protocol renders values by their result column, as MariaDB does: DOUBLE(M,D) and FLOAT(M,D)
// with exactly D decimals, DATETIME(n)/TIMESTAMP(n) with n fractional digits. want is MariaDB 10.11's
// output for the same statements through the same client.
func TestColumnRenderingMatchesMariaDB(t *testing.T) {
	cli, err := exec.LookPath("mariadb")
	if err != nil {
		t.Skip("mariadb client not installed")
	}
	n := startNode(t, testConfig(t))
	host, port, _ := strings.Cut(n.Addr().String(), ":")
	cmd := exec.Command(cli, "--no-defaults", "-h", host, "-P", port, "-u", "root", "--batch", "-e",
		"CREATE DATABASE x; CREATE TABLE x.t (id INT PRIMARY KEY, d DOUBLE(10,3), f FLOAT(7,2), dt DATETIME(3), "+
			"ts TIMESTAMP(2) NULL, v INT); "+
			"INSERT INTO x.t VALUES (1, 1.5, 2.25, '2024-02-29 13:14:15.1', '2024-02-29 13:14:15.129', 0), "+
			"(2, 2, 3, '2024-01-01 00:00:00', NULL, 0); "+
			"SELECT d, f, dt, ts, d*2, d+0.5, f/1 FROM x.t ORDER BY id")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
	want := "d\tf\tdt\tts\td*2\td+0.5\tf/1\n" +
		"1.500\t2.25\t2024-02-29 13:14:15.100\t2024-02-29 13:14:15.12\t3.000\t2.000\t2.250000\n" +
		"2.000\t3.00\t2024-01-01 00:00:00.000\tNULL\t4.000\t2.500\t3.000000\n"
	if string(out) != want {
		t.Errorf("output:\n%s\nwant (MariaDB):\n%s", out, want)
	}
}

// CLIENT_FOUND_ROWS (go-sql-driver's clientFoundRows) makes UPDATE report matched rows, as MariaDB does;
// without it, changed rows.
func TestClientFoundRows(t *testing.T) {
	n := startNode(t, testConfig(t))
	db := openDB(t, n, "root", "", "", "")
	mustExec(t, db, "CREATE DATABASE x")
	mustExec(t, db, "CREATE TABLE x.t (id INT PRIMARY KEY, v INT)")
	mustExec(t, db, "INSERT INTO x.t VALUES (1, 1), (2, 0)")
	for _, tc := range []struct {
		params string
		want   int64
	}{{"", 1}, {"clientFoundRows=true", 2}} {
		mustExec(t, db, "UPDATE x.t SET v = 0 WHERE id = 2")
		conn := openDB(t, n, "root", "", "", tc.params)
		got, err := mustExec(t, conn, "UPDATE x.t SET v = 1").RowsAffected()
		if err != nil || got != tc.want {
			t.Errorf("%q: UPDATE affected %d rows (%v), want %d", tc.params, got, err, tc.want)
		}
	}
}
