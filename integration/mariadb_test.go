package integration

import (
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestPlainMariaDB checks the single non-Galera server used for
// differential tests and benchmarks: same accounts, no wsrep, restartable.
func TestPlainMariaDB(t *testing.T) {
	start := time.Now()
	srv := harness.StartMariaDB(t, harness.MariaDBOptions{})
	t.Logf("plain mariadb up in %v", time.Since(start).Round(time.Millisecond))
	ctx := testContext(t, time.Minute)

	// mariadb-install-db creates ''@localhost and ''@<hostname>; the
	// harness must have dropped them.
	if anon, err := srv.QueryString(ctx, "SELECT COUNT(*) FROM mysql.user WHERE user = ''"); err != nil || anon != "0" {
		t.Errorf("%s anonymous users (%v), want 0", anon, err)
	}
	var who, wsrep string
	db := openDB(t, srv.DSN("app", "app", ""))
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER(), @@wsrep_on").Scan(&who, &wsrep); err != nil {
		t.Fatal(err)
	}
	if who != "app@%" || wsrep != "0" {
		t.Errorf("logged in as %q with wsrep_on=%s, want app@%% and 0", who, wsrep)
	}

	pid := srv.PID()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscallAlive(pid); err == nil {
		t.Fatalf("pid %d alive after Stop", pid)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("app cannot log in after restart: %v", err)
	}
}
