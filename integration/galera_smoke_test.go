package integration

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/integration/harness"
)

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestGaleraSmoke(t *testing.T) {
	c := galera3.Get(t)
	t.Logf("3-node cluster came up in %v", c.StartupTime.Round(time.Millisecond))

	t.Run("every node Synced in one cluster of 3", func(t *testing.T) {
		ctx := testContext(t, 30*time.Second)
		var uuid string
		for _, n := range c.Nodes() {
			for name, want := range map[string]string{
				"wsrep_cluster_size":        "3",
				"wsrep_local_state_comment": "Synced",
				"wsrep_cluster_status":      "Primary",
			} {
				got, err := n.Status(ctx, name)
				if err != nil || got != want {
					t.Errorf("%s: %s = %q, %v; want %q", n.Name(), name, got, err, want)
				}
			}
			u, err := n.Status(ctx, "wsrep_cluster_state_uuid")
			if err != nil {
				t.Fatal(err)
			}
			if uuid == "" {
				uuid = u
			} else if u != uuid {
				t.Errorf("%s: cluster state uuid %s, node1 has %s", n.Name(), u, uuid)
			}
		}
	})

	t.Run("write on node1 is read on node3 with wsrep_sync_wait", func(t *testing.T) {
		ctx := testContext(t, 30*time.Second)
		w := openDB(t, c.Node(1).DSN("app", "app", ""))
		for _, q := range []string{
			"CREATE DATABASE smoke",
			"CREATE TABLE smoke.t (id INT PRIMARY KEY, v VARCHAR(20))",
			"INSERT INTO smoke.t VALUES (1, 'from node1')",
		} {
			if _, err := w.ExecContext(ctx, q); err != nil {
				t.Fatalf("node1: %s: %v", q, err)
			}
		}
		t.Cleanup(func() {
			if _, err := w.ExecContext(context.Background(), "DROP DATABASE smoke"); err != nil {
				t.Error(err)
			}
		})
		conn, err := openDB(t, c.Node(3).DSN("app", "app", "")).Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SET SESSION wsrep_sync_wait=1"); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := conn.QueryRowContext(ctx, "SELECT v FROM smoke.t WHERE id = 1").Scan(&v); err != nil {
			t.Fatalf("node3: %v", err)
		}
		if v != "from node1" {
			t.Fatalf("node3 read %q, want %q", v, "from node1")
		}
	})

	t.Run("no anonymous users and every account logs in over TCP", func(t *testing.T) {
		ctx := testContext(t, 30*time.Second)
		for _, n := range c.Nodes() {
			anon, err := n.QueryString(ctx, "SELECT COUNT(*) FROM mysql.user WHERE user = ''")
			if err != nil || anon != "0" {
				t.Errorf("%s: %s anonymous users (%v)", n.Name(), anon, err)
			}
			for _, a := range harness.DefaultAccounts {
				var who string
				err := openDB(t, n.DSN(a.User, a.Password, "")).QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&who)
				// An anonymous ''@localhost would match before 'app'@'%'.
				if err != nil || who != a.User+"@%" {
					t.Errorf("%s: %s logs in as %q (%v), want %s@%%", n.Name(), a.User, who, err, a.User)
				}
			}
			err = openDB(t, n.DSN("app", "wrong", "")).PingContext(ctx)
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1045 {
				t.Errorf("%s: wrong password gave %v, want error 1045", n.Name(), err)
			}
		}
	})

	t.Run("monitor and service accounts can do their jobs", func(t *testing.T) {
		ctx := testContext(t, 30*time.Second)
		n := c.Node(2)
		mon := openDB(t, n.DSN("maxmon", "maxmon", ""))
		var name, state string
		if err := mon.QueryRowContext(ctx, "SHOW STATUS LIKE 'wsrep_local_state'").Scan(&name, &state); err != nil || state != "4" {
			t.Errorf("monitor: wsrep_local_state = %q, %v; want 4", state, err)
		}
		svc := openDB(t, n.DSN("maxuser", "maxpwd", ""))
		var users int
		if err := svc.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE user IN ('app', 'maxmon', 'maxuser')").Scan(&users); err != nil || users != 3 {
			t.Errorf("service: %d accounts visible (%v), want 3", users, err)
		}
		rows, err := svc.QueryContext(ctx, "SHOW DATABASES")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var dbs []string
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				t.Fatal(err)
			}
			dbs = append(dbs, d)
		}
		if !strings.Contains(strings.Join(dbs, ","), "mysql") {
			t.Errorf("service: SHOW DATABASES = %v, want mysql listed", dbs)
		}
	})
}
