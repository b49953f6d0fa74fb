package node

import (
	"context"
	"strings"
	"testing"
	"time"
)

// SET GLOBAL wsrep_provider_options='pc.bootstrap=YES' on the survivor of a cluster whose other members
// crashed makes it a one-member primary component again, as in Galera; other options are refused, and
// the variable reads as Galera lists its options.
func TestProviderOptionsBootstrap(t *testing.T) {
	nodes := startCluster(t, 3)
	db := openDB(t, nodes[0], "root", "", "", "")
	var opts string
	if err := db.QueryRow("SELECT @@global.wsrep_provider_options").Scan(&opts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"gcs.fc_limit = 16", "evs.inactive_timeout = PT15S", "pc.bootstrap = no", "gcache.size = 128M", "pc.weight = 1"} {
		if !strings.Contains(opts, want) {
			t.Errorf("wsrep_provider_options = %q, want it to list %q", opts, want)
		}
	}
	if _, err := db.Exec("SET GLOBAL wsrep_provider_options = 'gcs.fc_limit=100'"); err == nil {
		t.Error("a provider option maxnode cannot change at runtime was accepted")
	}
	if _, err := db.Exec("SET GLOBAL wsrep_provider_options = 'pc.weight=3'"); err == nil || !strings.Contains(err.Error(), "cannot be expressed") {
		t.Errorf("pc.weight=3: %v, want a refusal saying raft cannot express it", err)
	}
	if w := wsrepStatus(t, db)["wsrep_cluster_weight"]; w != "3" {
		t.Errorf("wsrep_cluster_weight = %q, want 3", w)
	}
	mustExec(t, db, "CREATE DATABASE d")

	// Nodes 2 and 3 stop without leaving: node 1 is alone in a view of three.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range nodes[1:] {
		if err := n.close(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return wsrepStatus(t, db)["wsrep_cluster_status"] == "non-Primary" })
	if w, ok := wsrepStatus(t, db)["wsrep_cluster_weight"]; ok {
		t.Errorf("wsrep_cluster_weight = %q outside the primary component; Galera does not list it there", w)
	}
	if _, err := db.Exec("CREATE TABLE d.t (id INT PRIMARY KEY)"); mysqlCode(err) != 1047 {
		t.Fatalf("DDL on a non-Primary node: %v, want 1047", err)
	}

	mustExec(t, db, "SET GLOBAL wsrep_provider_options = 'pc.bootstrap=YES'")
	waitFor(t, func() bool {
		st := wsrepStatus(t, db)
		return st["wsrep_cluster_status"] == "Primary" && st["wsrep_cluster_size"] == "1" && st["wsrep_ready"] == "ON"
	})
	mustExec(t, db, "CREATE TABLE d.t (id INT PRIMARY KEY)")
	mustExec(t, db, "INSERT INTO d.t VALUES (1)")
}
