package integration

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestNodeConfigUsers checks the accounts of bin/maxnode as a client sees
// them: root@127.0.0.1 without a password on a fresh data directory, the
// [[user]] accounts of node.toml with their passwords (cleartext or
// mysql_native_password hash), host patterns and grants, and that a
// restart with an edited file brings an account up to date. The restart is
// a graceful one (SIGTERM), which must exit 0 and keep the data.
func TestNodeConfigUsers(t *testing.T) {
	requireMaxnodeBinary(t)
	users := func(readerPassword string) []string {
		return []string{
			// *48F8... is the native hash of "readerpw".
			"[[user]]\nname = \"reader\"\n" + readerPassword + "\ngrants = [\"SELECT ON shop.*\"]",
			"[[user]]\nname = \"remote\"\nhost = \"10.1.2.3\"\npassword = \"remote\"\ngrants = [\"ALL PRIVILEGES ON *.*\"]",
			"[[user]]\nname = \"nopw\"\ngrants = [\"SELECT ON shop.*\"]",
		}
	}
	opts := maxnodeOptions{Tables: users(`password_hash = "*48F8E1714C4A8C91C1E8FED410BDA189F63DA8C8"`)}
	n := startMaxnode(t, harness.TestScope(t), opts)

	root := nodeDB(t, harness.TCPDSN(n.addr, "root", "", ""))
	nodeExec(t, root, "CREATE DATABASE shop")
	nodeExec(t, root, "CREATE DATABASE private")
	nodeExec(t, root, "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(10))")
	nodeExec(t, root, "CREATE TABLE private.secrets (id INT PRIMARY KEY)")
	nodeExec(t, root, "INSERT INTO shop.items VALUES (1, 'pen'), (2, 'ink')")

	login := func(user, password, db string) (*sql.DB, error) {
		d, err := sql.Open("mysql", harness.TCPDSN(n.addr, user, password, db))
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { d.Close() })
		return d, d.PingContext(t.Context())
	}
	wantLogin := func(user, password, db string) *sql.DB {
		t.Helper()
		d, err := login(user, password, db)
		if err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
		return d
	}
	wantDenied := func(user, password, db string, code uint16) {
		t.Helper()
		if _, err := login(user, password, db); mysqlCode(err) != code {
			t.Errorf("login %s with password %q to %q: %v, want error %d", user, password, db, err, code)
		}
	}

	reader := wantLogin("reader", "readerpw", "shop")
	if got := joinRows(nodeQuery(t, reader, "SELECT id, name FROM items ORDER BY id")); got != "1 pen|2 ink" {
		t.Errorf("reader sees %s", got)
	}
	if _, err := reader.ExecContext(t.Context(), "INSERT INTO items VALUES (3, 'cap')"); mysqlCode(err) != 1142 {
		t.Errorf("reader INSERT: %v, want 1142", err)
	}
	if _, err := reader.ExecContext(t.Context(), "SELECT * FROM private.secrets"); mysqlCode(err) != 1142 {
		t.Errorf("reader SELECT on another database: %v, want 1142", err)
	}
	if _, err := reader.ExecContext(t.Context(), "CREATE DATABASE mine"); mysqlCode(err) != 1044 {
		t.Errorf("reader CREATE DATABASE: %v, want 1044", err)
	}
	wantDenied("reader", "readerpw", "private", 1044)
	wantDenied("reader", "wrong", "", 1045)
	wantDenied("reader", "", "", 1045)
	wantDenied("remote", "remote", "", 1045) // only from 10.1.2.3
	wantDenied("nosuchuser", "", "", 1045)
	nopw := wantLogin("nopw", "", "")
	if got := nodeQuery(t, nopw, "SELECT CURRENT_USER()"); got[0][0] != "nopw@%" {
		t.Errorf("CURRENT_USER() = %v", got)
	}
	wantDenied("nopw", "something", "", 1045)
	if got := joinRows(nodeQuery(t, root, "SELECT user, host FROM mysql.user WHERE user IN ('app', 'reader', 'remote', 'nopw') ORDER BY user")); got != "app %|nopw %|reader %|remote 10.1.2.3" {
		t.Errorf("mysql.user: %s", got)
	}

	// A graceful stop, an edited node.toml, and a start on the same data.
	if err := n.proc.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.proc.Exited(); err != nil {
		t.Errorf("maxnode exit after SIGTERM: %v, want status 0\n%s", err, n.proc.Tail(10))
	}
	n.config = maxnodeConfig(n.datadir, n.addr, n.name, nil, users(`password = "newpw"`))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := n.start(ctx); err != nil {
		t.Fatal(err)
	}
	wantDenied("reader", "readerpw", "", 1045)
	reader = wantLogin("reader", "newpw", "shop")
	if got := joinRows(nodeQuery(t, reader, "SELECT id, name FROM items ORDER BY id")); got != "1 pen|2 ink" {
		t.Errorf("after restart reader sees %s", got)
	}
}

// TestNodeMaxConnections checks max_connections as MariaDB applies it: a
// connection beyond the limit is refused with 1040, one more is kept for a
// SUPER user, and a freed slot can be used again.
func TestNodeMaxConnections(t *testing.T) {
	requireMaxnodeBinary(t)
	const limit = 3
	n := startMaxnode(t, harness.TestScope(t), maxnodeOptions{
		Settings: []string{"max_connections = 3"},
		Tables:   []string{"[[user]]\nname = \"plain\"\npassword = \"plain\"\ngrants = [\"SELECT ON *.*\"]"},
	})
	ctx := t.Context()
	plain := nodeDB(t, harness.TCPDSN(n.addr, "plain", "plain", ""))
	// A released connection is closed, not kept idle: its slot must free.
	plain.SetMaxIdleConns(0)
	var held []*sql.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range limit {
		// The harness's readiness probe may not have been closed on the server's side yet: its slot
		// frees within milliseconds.
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := harness.Poll(pctx, "a free connection slot", 20*time.Millisecond, func(ctx context.Context) error {
			c, err := plain.Conn(ctx)
			if err == nil {
				held = append(held, c)
			}
			return err
		})
		cancel()
		if err != nil {
			t.Fatalf("connection %d of %d: %v", len(held)+1, limit, err)
		}
	}
	if _, err := plain.Conn(ctx); mysqlCode(err) != 1040 {
		t.Fatalf("connection beyond max_connections: %v, want 1040", err)
	}
	root := nodeDB(t, harness.TCPDSN(n.addr, "root", "", ""))
	// Every open connection counts, SUPER or not: root's must really close.
	root.SetMaxIdleConns(0)
	rc, err := root.Conn(ctx)
	if err != nil {
		t.Fatalf("the extra connection for SUPER: %v", err)
	}
	rc.Close()
	held[0].Close()
	held = held[1:]
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = harness.Poll(pctx, "a freed connection slot", 20*time.Millisecond, func(ctx context.Context) error {
		c, err := plain.Conn(ctx)
		if err != nil {
			return err
		}
		held = append(held, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
