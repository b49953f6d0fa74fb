package integration

import (
	"context"
	"database/sql"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestNodeMariaDBClient drives bin/maxnode with the mariadb command-line
// client the way a person would: the status command, SHOW DATABASES, the
// client's use command, DDL, DML and queries in table output, and errors
// printed with their code and SQLSTATE while --force carries on.
func TestNodeMariaDBClient(t *testing.T) {
	requireMaxnodeBinary(t)
	tools := harness.RequireTools(t, harness.Client)
	client, err := tools.Path(harness.Client)
	if err != nil {
		t.Fatal(err)
	}
	n := startMaxnode(t, harness.TestScope(t), maxnodeOptions{})
	host, port, _ := strings.Cut(n.addr, ":")
	cli := func(t *testing.T, script string, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		argv := append([]string{"--no-defaults", "-h" + host, "-P" + port, "--protocol=TCP",
			"-u" + harness.AppAccount.User, "-p" + harness.AppAccount.Password}, args...)
		cmd := exec.CommandContext(ctx, client, argv...)
		cmd.Stdin = strings.NewReader(script)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	t.Run("status", func(t *testing.T) {
		out, err := cli(t, "status\n")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, want := range []string{
			"Current user:\t\tapp@127.0.0.1",
			"Server version:\t\t10.11.",
			"Protocol version:\t10",
			"Connection:\t\t127.0.0.1 via TCP/IP",
			"TCP port:\t\t" + port,
			"Uptime:",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("session", func(t *testing.T) {
		script := strings.Join([]string{
			"CREATE DATABASE itcli;",
			"SHOW DATABASES;",
			"use itcli",
			"SELECT DATABASE();",
			"CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(10), note TEXT);",
			"INSERT INTO t VALUES (1, 'one', NULL), (2, 'two', 'x\\ty');",
			"SELECT id, name, note FROM t ORDER BY id;",
			"SHOW TABLES;",
			"status",
		}, "\n") + "\n"
		out, err := cli(t, script, "--table")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, want := range []string{
			"| information_schema |", "| itcli              |", // SHOW DATABASES
			"| DATABASE() |", "| itcli      |", // after use
			"|  1 | one  | NULL |", // NULL printed as NULL
			"|  2 | two  | x\ty  |",
			"| Tables_in_itcli |", "| t               |",
			"Current database:\titcli",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		script := strings.Join([]string{
			"use itcli",
			"SELECT * FROM nosuch;",
			"SELEC 1;",
			"INSERT INTO t VALUES (1, 'dup', NULL);",
			"SELECT nosuchcol FROM t;",
			"SELECT COUNT(*) AS rows_left FROM t;",
		}, "\n") + "\n"
		out, err := cli(t, script, "--force", "--batch")
		if err != nil {
			t.Errorf("with --force: %v\n%s", err, out)
		}
		for _, want := range []string{
			"ERROR 1146 (42S02) at line 2: Table 'itcli.nosuch' doesn't exist",
			"ERROR 1064 (42000) at line 3: You have an error in your SQL syntax",
			"ERROR 1062 (23000) at line 4: Duplicate entry '1' for key 'PRIMARY'",
			"ERROR 1054 (42S22) at line 5: Unknown column 'nosuchcol' in 'SELECT'", // MariaDB 10.11.19's wording
			"rows_left\n2\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("stop at first error", func(t *testing.T) {
		// Without --force the client stops at the first error and exits 1.
		out, err := cli(t, "use itcli\nSELECT * FROM nosuch;\nSELECT 'not reached';\n", "--batch")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("exit: %v, want status 1\n%s", err, out)
		}
		if !strings.Contains(out, "ERROR 1146 (42S02) at line 2") || strings.Contains(out, "not reached") {
			t.Errorf("output:\n%s", out)
		}
	})

	t.Run("bad password", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, client, "--no-defaults", "-h"+host, "-P"+port, "--protocol=TCP",
			"-uapp", "-pwrong", "-e", "SELECT 1").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "ERROR 1045 (28000): Access denied for user 'app'@'127.0.0.1'") {
			t.Errorf("wrong password: %v\n%s", err, out)
		}
	})
}

// TestNodeGoDriver uses go-sql-driver/mysql against bin/maxnode as an
// application would, over the text protocol (interpolated parameters) and
// the binary protocol (server-side prepared statements).
func TestNodeGoDriver(t *testing.T) {
	requireMaxnodeBinary(t)
	n := startMaxnode(t, harness.TestScope(t), maxnodeOptions{})
	setup := nodeDB(t, n.dsn(""))
	nodeExec(t, setup, "CREATE DATABASE itgo")

	for _, proto := range []struct {
		name        string
		interpolate bool
	}{{"text", true}, {"binary", false}} {
		t.Run(proto.name, func(t *testing.T) {
			cfg := mysql.NewConfig()
			cfg.Net, cfg.Addr = "tcp", n.addr
			cfg.User, cfg.Passwd = harness.AppAccount.User, harness.AppAccount.Password
			cfg.DBName = "itgo"
			cfg.Collation = harness.Collation
			cfg.ParseTime = true
			cfg.Loc = time.UTC
			cfg.InterpolateParams = proto.interpolate
			cfg.Timeout = 5 * time.Second
			db := nodeDB(t, cfg.FormatDSN())
			table := "t_" + proto.name
			nodeExec(t, db, "CREATE TABLE "+table+` (
				id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
				name VARCHAR(20) NOT NULL,
				qty INT NULL,
				price DECIMAL(10,2) NULL,
				ratio DOUBLE NULL,
				born DATE NULL,
				seen DATETIME(6) NULL,
				stamp TIMESTAMP NULL,
				blob_col VARBINARY(16) NULL,
				UNIQUE KEY uk_name (name))`)
			testDriverCRUD(t, db, table)
			testDriverTypes(t, db, table)
			testDriverTransactions(t, db, table)
			testDriverPrepared(t, db, table)
		})
	}
}

func testDriverCRUD(t *testing.T, db *sql.DB, table string) {
	t.Helper()
	res := nodeExec(t, db, "INSERT INTO "+table+" (name, qty) VALUES (?, ?), (?, ?), (?, ?)", "a", 1, "b", 2, "c", nil)
	if n, _ := res.RowsAffected(); n != 3 {
		t.Errorf("multi-row insert: %d rows affected, want 3", n)
	}
	if id, _ := res.LastInsertId(); id != 1 {
		t.Errorf("multi-row insert: last insert id %d, want 1 (the first row's)", id)
	}
	res = nodeExec(t, db, "INSERT INTO "+table+" (id, name) VALUES (?, ?)", 10, "d")
	if id, _ := res.LastInsertId(); id != 10 {
		t.Errorf("explicit id: last insert id %d, want 10", id)
	}
	res = nodeExec(t, db, "INSERT INTO "+table+" (name) VALUES (?)", "e")
	if id, _ := res.LastInsertId(); id != 11 {
		t.Errorf("after explicit id 10: last insert id %d, want 11", id)
	}
	res = nodeExec(t, db, "UPDATE "+table+" SET qty = qty + ? WHERE qty IS NOT NULL", 10)
	if n, _ := res.RowsAffected(); n != 2 {
		t.Errorf("update: %d rows affected, want 2", n)
	}
	// A row set to the value it has is found but not changed.
	res = nodeExec(t, db, "UPDATE "+table+" SET qty = ? WHERE name = ?", 11, "a")
	if n, _ := res.RowsAffected(); n != 0 {
		t.Errorf("no-op update: %d rows affected, want 0", n)
	}
	var qty sql.NullInt64
	if err := db.QueryRowContext(t.Context(), "SELECT qty FROM "+table+" WHERE name = ?", "b").Scan(&qty); err != nil || !qty.Valid || qty.Int64 != 12 {
		t.Errorf("qty of b: %v %v, want 12", qty, err)
	}
	if err := db.QueryRowContext(t.Context(), "SELECT qty FROM "+table+" WHERE name = ?", "c").Scan(&qty); err != nil || qty.Valid {
		t.Errorf("qty of c: %v %v, want NULL", qty, err)
	}
	if err := db.QueryRowContext(t.Context(), "SELECT qty FROM "+table+" WHERE name = ?", "zzz").Scan(&qty); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("missing row: %v, want sql.ErrNoRows", err)
	}
	_, err := db.ExecContext(t.Context(), "INSERT INTO "+table+" (name) VALUES (?)", "a")
	if code := mysqlCode(err); code != 1062 {
		t.Errorf("duplicate insert: %v, want error 1062", err)
	}
	_, err = db.ExecContext(t.Context(), "INSERT INTO "+table+" (name) VALUES (?)", nil)
	if code := mysqlCode(err); code != 1048 {
		t.Errorf("NULL into NOT NULL: %v, want error 1048", err)
	}
	res = nodeExec(t, db, "DELETE FROM "+table+" WHERE id >= ?", 10)
	if n, _ := res.RowsAffected(); n != 2 {
		t.Errorf("delete: %d rows affected, want 2", n)
	}
	rows := nodeQuery(t, db, "SELECT id, name, qty FROM "+table+" ORDER BY id")
	if got := joinRows(rows); got != "1 a 11|2 b 12|3 c NULL" {
		t.Errorf("rows: %s", got)
	}
}

func testDriverTypes(t *testing.T, db *sql.DB, table string) {
	t.Helper()
	born := time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)
	seen := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	stamp := time.Date(2021, 6, 1, 8, 30, 0, 0, time.UTC)
	res := nodeExec(t, db, "INSERT INTO "+table+" (name, price, ratio, born, seen, stamp, blob_col) VALUES (?, ?, ?, ?, ?, ?, ?)",
		"typed", "12.34", 0.25, born, seen, stamp, []byte{0, 1, 0xff})
	id, _ := res.LastInsertId()
	nodeExec(t, db, "INSERT INTO "+table+" (name) VALUES (?)", "nulls")

	var (
		price            string
		ratio            float64
		gotBorn, gotSeen time.Time
		gotStamp         time.Time
		blob             []byte
		nBorn, nSeen     sql.NullTime
		nPrice, nBlob    sql.NullString
		nRatio           sql.NullFloat64
	)
	err := db.QueryRowContext(t.Context(), "SELECT price, ratio, born, seen, stamp, blob_col FROM "+table+" WHERE id = ?", id).
		Scan(&price, &ratio, &gotBorn, &gotSeen, &gotStamp, &blob)
	if err != nil {
		t.Fatal(err)
	}
	if price != "12.34" || ratio != 0.25 || string(blob) != "\x00\x01\xff" {
		t.Errorf("price %q ratio %v blob %x", price, ratio, blob)
	}
	if !gotBorn.Equal(born) || !gotSeen.Equal(seen) || !gotStamp.Equal(stamp) {
		t.Errorf("DATE %v DATETIME(6) %v TIMESTAMP %v; want %v %v %v", gotBorn, gotSeen, gotStamp, born, seen, stamp)
	}
	err = db.QueryRowContext(t.Context(), "SELECT price, ratio, born, seen, blob_col FROM "+table+" WHERE name = ?", "nulls").
		Scan(&nPrice, &nRatio, &nBorn, &nSeen, &nBlob)
	if err != nil {
		t.Fatal(err)
	}
	if nPrice.Valid || nRatio.Valid || nBorn.Valid || nSeen.Valid || nBlob.Valid {
		t.Errorf("NULL columns scanned as values: %v %v %v %v %v", nPrice, nRatio, nBorn, nSeen, nBlob)
	}
	// Time values are compared and computed server-side too.
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table+" WHERE seen > ? AND born < ?", seen.Add(-time.Second), born.AddDate(0, 0, 1)).Scan(&n); err != nil || n != 1 {
		t.Errorf("time comparison: %d rows, %v; want 1", n, err)
	}
	var day time.Time
	if err := db.QueryRowContext(t.Context(), "SELECT DATE(seen) FROM "+table+" WHERE id = ?", id).Scan(&day); err != nil || !day.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("DATE(seen) = %v, %v", day, err)
	}
	nodeExec(t, db, "DELETE FROM "+table+" WHERE name IN ('typed', 'nulls')")
}

func testDriverTransactions(t *testing.T, db *sql.DB, table string) {
	t.Helper()
	ctx := t.Context()
	count := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (name) VALUES (?)", "rolled-back"); err != nil {
		t.Fatal(err)
	}
	var inside int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&inside); err != nil || inside != before+1 {
		t.Errorf("inside the transaction: %d rows, %v; want %d", inside, err, before+1)
	}
	if got := count(); got != before {
		t.Errorf("another session sees %d rows of an uncommitted transaction, want %d", got, before)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != before {
		t.Errorf("after rollback: %d rows, want %d", got, before)
	}

	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (name, qty) VALUES (?, ?)", "committed", 5)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET qty = qty * 2 WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var qty int
	if err := db.QueryRowContext(ctx, "SELECT qty FROM "+table+" WHERE id = ?", id).Scan(&qty); err != nil || qty != 10 {
		t.Errorf("after commit: qty %d, %v; want 10", qty, err)
	}
	// A failed statement inside a transaction leaves the transaction open
	// with its earlier work, as InnoDB does.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET qty = 1 WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (name) VALUES (?)", "committed"); mysqlCode(err) != 1062 {
		t.Errorf("duplicate in transaction: %v, want 1062", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT qty FROM "+table+" WHERE id = ?", id).Scan(&qty); err != nil || qty != 1 {
		t.Errorf("statement before the failed one: qty %d, %v; want 1", qty, err)
	}
	nodeExec(t, db, "DELETE FROM "+table+" WHERE id = ?", id)
}

func testDriverPrepared(t *testing.T, db *sql.DB, table string) {
	t.Helper()
	ctx := t.Context()
	ins, err := db.PrepareContext(ctx, "INSERT INTO "+table+" (name, qty, price) VALUES (?, ?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	sel, err := db.PrepareContext(ctx, "SELECT name, qty, price FROM "+table+" WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close()
	for i := range 20 {
		var qty any = i
		if i%5 == 0 {
			qty = nil
		}
		res, err := ins.ExecContext(ctx, "p"+itoa(i), qty, float64(i)+0.5)
		if err != nil {
			t.Fatalf("prepared insert %d: %v", i, err)
		}
		id, _ := res.LastInsertId()
		var (
			name  string
			q     sql.NullInt64
			price string
		)
		if err := sel.QueryRowContext(ctx, id).Scan(&name, &q, &price); err != nil {
			t.Fatalf("prepared select %d: %v", id, err)
		}
		if name != "p"+itoa(i) || q.Valid != (i%5 != 0) || (q.Valid && q.Int64 != int64(i)) || price != itoa(i)+".50" {
			t.Errorf("row %d: %q %v %q", id, name, q, price)
		}
	}
	if _, err := ins.ExecContext(ctx, "p3", 1, 1); mysqlCode(err) != 1062 {
		t.Errorf("prepared duplicate: %v, want 1062", err)
	}
	_, err = db.PrepareContext(ctx, "SELECT nosuch FROM "+table+" WHERE id = ?")
	if mysqlCode(err) != 1054 {
		t.Errorf("preparing a bad statement: %v, want 1054", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE name LIKE ?", "p%").Scan(&n); err != nil || n != 20 {
		t.Errorf("%d prepared rows, %v; want 20", n, err)
	}
}

func mysqlCode(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func joinRows(rows [][]string) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = strings.Join(r, " ")
	}
	return strings.Join(parts, "|")
}

// TestNodeKill interrupts a long query from another connection, as the
// mariadb client does on Ctrl-C: KILL QUERY fails the statement with 1317
// and leaves its connection usable; KILL closes the connection.
func TestNodeKill(t *testing.T) {
	requireMaxnodeBinary(t)
	n := startMaxnode(t, harness.TestScope(t), maxnodeOptions{})
	db := nodeDB(t, n.dsn(""))
	nodeExec(t, db, "CREATE DATABASE kq")
	nodeExec(t, db, "CREATE TABLE kq.t (id INT PRIMARY KEY)")
	var values strings.Builder
	for i := range 400 {
		if i > 0 {
			values.WriteString(",")
		}
		values.WriteString("(" + itoa(i) + ")")
	}
	nodeExec(t, db, "INSERT INTO kq.t VALUES "+values.String())
	// 64 million joined rows: long enough to be caught running.
	const long = "SELECT COUNT(*) FROM kq.t a, kq.t b, kq.t c"

	for _, tc := range []struct {
		kill     string
		wantCode uint16 // 0: the connection is gone
	}{{"KILL QUERY", 1317}, {"KILL", 0}} {
		t.Run(tc.kill, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			victim, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer victim.Close()
			var id string
			if err := victim.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				var n int
				done <- victim.QueryRowContext(ctx, long).Scan(&n)
			}()
			err = harness.Poll(ctx, "the long query in the process list", 20*time.Millisecond, func(ctx context.Context) error {
				var running int
				if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND INFO = ?", id, long).Scan(&running); err != nil {
					return err
				}
				if running != 1 {
					return errors.New("not running yet")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			nodeExec(t, db, tc.kill+" "+id)
			err = <-done
			if tc.wantCode != 0 {
				if mysqlCode(err) != tc.wantCode {
					t.Fatalf("killed query: %v, want error %d", err, tc.wantCode)
				}
				var one int
				if err := victim.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
					t.Errorf("connection after KILL QUERY: %d, %v", one, err)
				}
				return
			}
			if err == nil {
				t.Fatal("killed connection's query succeeded")
			}
			if _, err := victim.ExecContext(ctx, "DO 1"); err == nil {
				t.Error("connection still usable after KILL")
			}
		})
	}
}

// TestNodeMariaDBAdmin runs the mariadb-admin commands health checks and
// operators use against bin/maxnode.
func TestNodeMariaDBAdmin(t *testing.T) {
	requireMaxnodeBinary(t)
	tools := harness.RequireTools(t, harness.Client)
	client, err := tools.Path(harness.Client)
	if err != nil {
		t.Fatal(err)
	}
	// mariadb-admin ships in the same package as the mariadb client.
	admin := filepath.Join(filepath.Dir(client), "mariadb-admin")
	n := startMaxnode(t, harness.TestScope(t), maxnodeOptions{})
	host, port, _ := strings.Cut(n.addr, ":")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		argv := append([]string{"--no-defaults", "-h" + host, "-P" + port, "--protocol=TCP", "-uroot"}, args...)
		out, err := exec.CommandContext(ctx, admin, argv...).CombinedOutput()
		if err != nil {
			t.Fatalf("mariadb-admin %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ping"}, "mysqld is alive"},
		{[]string{"status"}, "Uptime: "},
		{[]string{"processlist"}, "| Id | User | Host"},
		{[]string{"extended-status"}, "| Variable_name"},
		{[]string{"variables"}, "| max_connections"},
		{[]string{"create", "admindb"}, ""},
		{[]string{"drop", "-f", "admindb"}, `Database "admindb" dropped`},
		{[]string{"flush-privileges"}, ""},
	} {
		if out := run(tc.args...); !strings.Contains(out, tc.want) {
			t.Errorf("mariadb-admin %s: output lacks %q:\n%s", strings.Join(tc.args, " "), tc.want, out)
		}
	}
	if got := nodeQuery(t, nodeDB(t, n.dsn("")), "SHOW DATABASES LIKE 'admindb'"); len(got) != 0 {
		t.Errorf("admindb still exists: %v", got)
	}
}
