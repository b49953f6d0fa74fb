package integration

import (
	"strings"
	"testing"
)

// TestProxyCLI drives the proxy with the mariadb command-line client:
// DDL and writes through readwritesplit, reads back, server errors passed
// through, a wrong password refused with 1045, and readconnroute.
func TestProxyCLI(t *testing.T) {
	_, p := startProxy(t, "")

	// Galera applies writes on the other nodes asynchronously: the read
	// that follows the write runs on a reader, so the session asks for
	// causal reads (a session command, sent to every backend it opens).
	out, err := mariadbCLI(t, p.rw, "app", "app", "-e",
		"SET SESSION wsrep_sync_wait = 1; "+
			"CREATE DATABASE IF NOT EXISTS proxycli; "+
			"CREATE OR REPLACE TABLE proxycli.t (id INT PRIMARY KEY, v VARCHAR(20)); "+
			"INSERT INTO proxycli.t VALUES (1, 'one'), (2, 'two'); "+
			"SELECT v FROM proxycli.t ORDER BY id")
	if err != nil {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
	if got := strings.Fields(out); strings.Join(got, ",") != "one,two" {
		t.Errorf("select through the proxy = %q, want one and two", out)
	}

	t.Run("USE then read in the same session", func(t *testing.T) {
		out, err := mariadbCLI(t, p.rw, "app", "app", "-e", "USE proxycli; SELECT COUNT(*) FROM t; SELECT DATABASE()")
		if err != nil || strings.Join(strings.Fields(out), ",") != "2,proxycli" {
			t.Errorf("got %q, %v; want 2 and proxycli", out, err)
		}
	})

	t.Run("server error is passed through", func(t *testing.T) {
		out, err := mariadbCLI(t, p.rw, "app", "app", "-e", "SELECT * FROM proxycli.nosuch")
		if err == nil || !strings.Contains(out, "ERROR 1146") {
			t.Errorf("got %q, %v; want ERROR 1146", out, err)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		out, err := mariadbCLI(t, p.rw, "app", "wrong", "-e", "SELECT 1")
		if err == nil || !strings.Contains(out, "ERROR 1045") {
			t.Errorf("got %q, %v; want ERROR 1045", out, err)
		}
	})

	t.Run("connection id is the proxy's", func(t *testing.T) {
		// The greeting carries the proxy's id; CONNECTION_ID() is answered
		// by a backend and names its thread (documented limitation).
		out, err := mariadbCLI(t, p.rw, "app", "app", "-e", "status")
		if err != nil || !strings.Contains(out, "Connection id:") {
			t.Errorf("status: %q, %v", out, err)
		}
	})

	t.Run("readconnroute", func(t *testing.T) {
		out, err := mariadbCLI(t, p.ro, "app", "app", "-e", "SELECT COUNT(*) FROM proxycli.t; SELECT @@wsrep_on")
		if err != nil || strings.Join(strings.Fields(out), ",") != "2,1" {
			t.Errorf("got %q, %v; want 2 and 1", out, err)
		}
		// router_options = ["slave"]: the connection went to a reader.
		master, slaves := roles(t, p)
		var onSlaves float64
		for _, s := range slaves {
			onSlaves += p.routed(t, "ro", s, "connection")
		}
		if onSlaves == 0 || p.routed(t, "ro", master, "connection") != 0 {
			t.Errorf("readconnroute statements: %v on readers, %v on the writer; want all on readers",
				onSlaves, p.routed(t, "ro", master, "connection"))
		}
	})

	if _, err := mariadbCLI(t, p.rw, "app", "app", "-e", "DROP DATABASE proxycli"); err != nil {
		t.Error(err)
	}
}
