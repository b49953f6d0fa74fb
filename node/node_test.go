package node

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	gomysql "github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/maxproxy/maxproxy/node/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.NodeName = "test1"
	return cfg
}

// startNode starts an in-process node, closed at the end of the test.
func startNode(t *testing.T, cfg config.Config) *Node {
	t.Helper()
	n, err := Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeNode(t, n) })
	return n
}

func closeNode(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

func openDB(t *testing.T, n *Node, user, pass, db, params string) *sql.DB {
	t.Helper()
	d, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/%s?%s", user, pass, n.Addr(), db, params))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func mustExec(t *testing.T, db interface {
	Exec(string, ...any) (sql.Result, error)
}, q string, args ...any) sql.Result {
	t.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res
}

func TestFirstStartAccountsAndRestart(t *testing.T) {
	cfg := testConfig(t)
	cfg.Users = []config.User{
		{Name: "app", Host: "%", Password: "app's pw", Grants: []string{"ALL PRIVILEGES ON shop.*"}},
		{Name: "mon", Host: "127.0.0.1", PasswordHash: gomysqlHash("monpw"), Grants: []string{"PROCESS ON *.*"}},
	}
	cfg.LockWaitTimeout = 7
	cfg.MaxConnections = 42
	n := startNode(t, cfg)

	// The built-in root accounts, plus the configured ones.
	root0 := openDB(t, n, "root", "", "", "")
	var accounts []string
	rows, err := root0.Query("SELECT CONCAT(user, '@', host) FROM mysql.user")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, a)
	}
	rows.Close()
	for _, want := range []string{"app@%", "mon@127.0.0.1", "root@127.0.0.1", "root@localhost"} {
		if !slices.Contains(accounts, want) {
			t.Errorf("mysql.user lacks %s: %v", want, accounts)
		}
	}
	if err := openDB(t, n, "mon", "monpw", "", "").Ping(); err != nil {
		t.Errorf("account from password_hash: %v", err)
	}

	// Settings from node.toml show as the global variables of the same names.
	var lockWait, maxConns int
	if err := root0.QueryRow("SELECT @@global.innodb_lock_wait_timeout, @@global.max_connections").Scan(&lockWait, &maxConns); err != nil {
		t.Fatal(err)
	}
	if lockWait != 7 || maxConns != 42 {
		t.Errorf("innodb_lock_wait_timeout %d, max_connections %d; want 7, 42", lockWait, maxConns)
	}

	root := openDB(t, n, "root", "", "", "")
	mustExec(t, root, "CREATE DATABASE shop")
	mustExec(t, root, "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))")

	app := openDB(t, n, "app", "app's pw", "shop", "")
	mustExec(t, app, "INSERT INTO items VALUES (1, 'one')")
	if _, err := app.Exec("CREATE DATABASE other"); err == nil {
		t.Error("app may create databases outside its grant")
	}
	bad := openDB(t, n, "app", "wrong", "", "")
	var me *gomysql.MySQLError
	if err := bad.Ping(); !errors.As(err, &me) || me.Number != 1045 {
		t.Errorf("wrong password: %v", err)
	}

	// Restart on the same data directory: accounts and data survive, the config is applied again.
	app.Close()
	root.Close()
	n2cfg := cfg
	closeNode(t, n)
	n2, err := Start(n2cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeNode(t, n2)
	app2 := openDB(t, n2, "app", "app's pw", "shop", "")
	var name string
	if err := app2.QueryRow("SELECT name FROM items WHERE id = ?", 1).Scan(&name); err != nil || name != "one" {
		t.Fatalf("after restart: %q %v", name, err)
	}
	app2.Close()
}

func TestCRUDWithGoDriver(t *testing.T) {
	n := startNode(t, testConfig(t))
	db := openDB(t, n, "root", "", "", "parseTime=true")
	mustExec(t, db, "CREATE DATABASE app")
	mustExec(t, db, "CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(50), price DOUBLE, created DATETIME(6), note TEXT NULL, qty BIGINT UNSIGNED)")

	when := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	res := mustExec(t, db, "INSERT INTO app.t (name, price, created, note, qty) VALUES (?, ?, ?, ?, ?)", "wörld", 9.75, when, nil, uint64(1)<<63)
	id, err := res.LastInsertId()
	if err != nil || id == 0 {
		t.Fatalf("LastInsertId %d %v", id, err)
	}
	check := func(q string, args ...any) {
		t.Helper()
		var (
			name    string
			price   float64
			created time.Time
			note    sql.NullString
			qty     uint64
		)
		if err := db.QueryRow(q, args...).Scan(&name, &price, &created, &note, &qty); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if name != "wörld" || price != 9.75 || !created.Equal(when) || note.Valid || qty != 1<<63 {
			t.Errorf("%s: got %q %v %v %v %d", q, name, price, created, note, qty)
		}
	}
	// Binary protocol (prepared) and text protocol must agree.
	check("SELECT name, price, created, note, qty FROM app.t WHERE id = ?", id)
	check(fmt.Sprintf("SELECT name, price, created, note, qty FROM app.t WHERE id = %d", id))

	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "UPDATE app.t SET name = ? WHERE id = ?", "gone", id)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	check("SELECT name, price, created, note, qty FROM app.t WHERE id = ?", id)

	res = mustExec(t, db, "DELETE FROM app.t WHERE id = ?", id)
	if n, _ := res.RowsAffected(); n != 1 {
		t.Errorf("DELETE affected %d rows", n)
	}
}

func TestKillQueryInterruptsLockWait(t *testing.T) {
	n := startNode(t, testConfig(t))
	db := openDB(t, n, "root", "", "", "")
	mustExec(t, db, "CREATE DATABASE k")
	mustExec(t, db, "CREATE TABLE k.t (id INT PRIMARY KEY, v INT)")
	mustExec(t, db, "INSERT INTO k.t VALUES (1, 0)")
	ctx := context.Background()

	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	mustExec(t, holder2(holder), "BEGIN")
	mustExec(t, holder2(holder), "UPDATE k.t SET v = 1 WHERE id = 1")

	waiter, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	var waiterID int64
	if err := waiter.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&waiterID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := waiter.ExecContext(ctx, "UPDATE k.t SET v = 2 WHERE id = 1")
		done <- err
	}()
	// Wait until the waiter is blocked in its statement, as the process list shows it.
	waitFor(t, func() bool {
		var cnt int
		err := db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND COMMAND = 'Query'", waiterID).Scan(&cnt)
		return err == nil && cnt == 1
	})
	mustExec(t, db, fmt.Sprintf("KILL QUERY %d", waiterID))
	err = <-done
	var me *gomysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1317 {
		t.Fatalf("waiter got %v, want 1317", err)
	}
	mustExec(t, holder2(holder), "ROLLBACK")
}

type connExec struct{ c *sql.Conn }

func (c connExec) Exec(q string, args ...any) (sql.Result, error) {
	return c.c.ExecContext(context.Background(), q, args...)
}

func holder2(c *sql.Conn) connExec { return connExec{c} }

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer collects Main's log output while Main runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var readyAddr = regexp.MustCompile(`ready for connections.*addr=(127\.0\.0\.1:\d+)`)

// runMain starts Main in the background and returns the address it listens on and a stop function
// that returns Main's exit code.
func runMain(t *testing.T, args ...string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	code := make(chan int, 1)
	go func() { code <- Main(ctx, args, io.Discard, &out) }()
	var addr string
	waitFor(t, func() bool {
		select {
		case c := <-code:
			code <- c
			t.Fatalf("Main exited with %d: %s", c, out.String())
		default:
		}
		if m := readyAddr.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			return true
		}
		return false
	})
	return addr, func() int {
		cancel()
		return <-code
	}
}

func TestMainFlagsAndShutdown(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"--version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "maxnode dev (10.11.99-MariaDB-maxnode)") {
		t.Errorf("--version: %d %q", code, out.String())
	}
	errOut.Reset()
	if code := Main(context.Background(), []string{"--listen", "127.0.0.1:0"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "datadir is not set") {
		t.Errorf("no datadir: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := Main(context.Background(), []string{"-c", "config/testdata/nope.toml"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "nope.toml") {
		t.Errorf("missing config: %d %q", code, errOut.String())
	}

	addr, stop := runMain(t, "--datadir", t.TempDir(), "--listen", "127.0.0.1:0", "--node-name", "n9")
	db, err := sql.Open("mysql", "root@tcp("+addr+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit code %d after cancel", code)
	}
	if err := db.Ping(); err == nil {
		t.Error("server still answering after shutdown")
	}
}

func TestMariaDBCLI(t *testing.T) {
	cli, err := exec.LookPath("mariadb")
	if err != nil {
		t.Skip("mariadb client not installed")
	}
	n := startNode(t, testConfig(t))
	host, port, _ := strings.Cut(n.Addr().String(), ":")
	run := func(sqlText string) (string, error) {
		cmd := exec.Command(cli, "--no-defaults", "-h", host, "-P", port, "-u", "root", "--batch", "-e", sqlText)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("CREATE DATABASE cli; CREATE TABLE cli.t (id INT PRIMARY KEY, s VARCHAR(10)); " +
		"INSERT INTO cli.t VALUES (1, 'a'), (2, NULL); SELECT * FROM cli.t ORDER BY id; SELECT CONNECTION_ID() > 0 AS ok")
	if err != nil {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
	if want := "id\ts\n1\ta\n2\tNULL\nok\n1\n"; out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	out, err = run("SELEC 1")
	if err == nil || !strings.Contains(out, "ERROR 1064 (42000) at line 1: You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'SELEC 1' at line 1") {
		t.Errorf("syntax error output: %v %q", err, out)
	}
}

func openBenchDB(n *Node) (*sql.DB, error) {
	return sql.Open("mysql", fmt.Sprintf("root@tcp(%s)/", n.Addr()))
}

// gomysqlHash is the mysql_native_password hash of pw as mysql.user stores it.
func gomysqlHash(pw string) string {
	return mysql.EncodePasswordHex(mysql.NativePasswordHash([]byte(pw)))
}

// TestPrepareReportsColumns checks the prepare-time column count that libmariadb clients (sysbench)
// rely on, including statements node/sql cannot describe by itself.
func TestPrepareReportsColumns(t *testing.T) {
	n := startNode(t, testConfig(t))
	db := openDB(t, n, "root", "", "", "")
	mustExec(t, db, "CREATE DATABASE d")
	mustExec(t, db, "CREATE TABLE d.t (id INT PRIMARY KEY, c VARCHAR(10))")
	mustExec(t, db, "INSERT INTO d.t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	c, err := client.Connect(n.Addr().String(), "root", "", "d")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		q          string
		args       []any
		cols, rows int
	}{
		{"SELECT c FROM t WHERE id = ?", []any{1}, 1, 1},
		{"SELECT id, c FROM t WHERE id > ? LIMIT ?", []any{1, 1}, 2, 1},
		{"SELECT c FROM t WHERE id >= ? FOR UPDATE", []any{2}, 1, 2},
		{"SHOW TABLES", nil, 1, 1},
		{"INSERT INTO t VALUES (?, ?)", []any{4, "d"}, 0, 0},
	} {
		st, err := c.Prepare(tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		if st.ColumnNum() != tc.cols {
			t.Errorf("%s: %d columns at prepare, want %d", tc.q, st.ColumnNum(), tc.cols)
		}
		res, err := st.Execute(tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		if len(res.Values) != tc.rows {
			t.Errorf("%s: %d rows, want %d", tc.q, len(res.Values), tc.rows)
		}
		st.Close()
	}
	if _, err := c.Prepare("SELECT x FROM nope"); err == nil {
		t.Error("prepare of an unknown table succeeded")
	}
}

// TestKillRollsBack checks that KILL of a connection idle in a transaction rolls it back and frees
// its row locks.
func TestKillRollsBack(t *testing.T) {
	n := startNode(t, testConfig(t))
	db := openDB(t, n, "root", "", "", "")
	mustExec(t, db, "CREATE DATABASE k")
	mustExec(t, db, "CREATE TABLE k.t (id INT PRIMARY KEY, v INT)")
	mustExec(t, db, "INSERT INTO k.t VALUES (1, 0)")
	ctx := context.Background()
	victim, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	var id int64
	if err := victim.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	mustExec(t, holder2(victim), "BEGIN")
	mustExec(t, holder2(victim), "UPDATE k.t SET v = 1 WHERE id = 1")
	mustExec(t, db, fmt.Sprintf("KILL %d", id))

	// The row lock is gone (no 1205 after innodb_lock_wait_timeout) and the update was undone.
	other := openDB(t, n, "root", "", "", "")
	other.SetMaxOpenConns(1) // one session, so the setting below applies to the UPDATE
	if _, err := other.Exec("SET SESSION innodb_lock_wait_timeout = 1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		var cnt int
		err := db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&cnt)
		return err == nil && cnt == 0
	})
	var v int
	if err := db.QueryRow("SELECT v FROM k.t WHERE id = 1").Scan(&v); err != nil || v != 0 {
		t.Fatalf("v = %d (%v) after the killed transaction, want 0", v, err)
	}
	mustExec(t, other, "UPDATE k.t SET v = 2 WHERE id = 1")
	if _, err := victim.ExecContext(ctx, "SELECT 1"); err == nil {
		t.Error("killed connection still usable")
	}
}

// TestStartFailureReleasesDataDir: a node that cannot listen closes its storage, so the data
// directory can be opened again at once.
func TestStartFailureReleasesDataDir(t *testing.T) {
	first := startNode(t, testConfig(t))
	cfg := testConfig(t)
	cfg.Listen = first.Addr().String() // taken
	if _, err := Start(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Start on a busy port: %v", err)
	}
	cfg.Listen = "127.0.0.1:0"
	startNode(t, cfg)
}
