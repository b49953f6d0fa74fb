package node

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/node/config"
	"github.com/maxproxy/maxproxy/node/replicator"
)

// clusterConfigs returns the configurations of an n-node cluster on fresh 127.0.0.1 ports.
func clusterConfigs(t *testing.T, n int) []config.Config {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		ln.Close()
	}
	cfgs := make([]config.Config, n)
	for i := range cfgs {
		cfg := testConfig(t)
		cfg.NodeName = fmt.Sprintf("node%d", i+1)
		cfg.ClusterName = "crash_cluster"
		cfg.ClusterAddress = "gcomm://" + strings.Join(addrs, ",")
		cfg.NodeAddress = addrs[i]
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		cfgs[i] = cfg
	}
	return cfgs
}

// startMember starts one cluster member; the node is not closed by the test cleanup.
func startMember(t *testing.T, cfg config.Config, bootstrap bool) (*Node, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return start(cfg, slog.New(slog.DiscardHandler), startOptions{bootstrap: bootstrap, ctx: ctx})
}

// dump is every row of d.t and d.t2, in key order.
func dump(db *sql.DB) (string, error) {
	var b strings.Builder
	for _, table := range []string{"d.t", "d.t2"} {
		rows, err := db.Query("SELECT id, v FROM " + table + " ORDER BY id")
		if err != nil {
			return "", err
		}
		for rows.Next() {
			var id int
			var v string
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return "", err
			}
			fmt.Fprintf(&b, "%s:%d=%s;", table, id, v)
		}
		if err := rows.Close(); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// A member that crashed — its replication state not saved, its storage's durable position behind what
// consensus had applied (an older image of storage.db) — restarts, replays the raft log, applies exactly
// what its storage lacks (a table created meanwhile included) and ends with every table equal to the
// others', no row lost or doubled.
func TestClusterMemberCrashRestart(t *testing.T) {
	cfgs := clusterConfigs(t, 3)
	nodes := make([]*Node, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Go(func() { nodes[i], errs[i] = startMember(t, cfgs[i], i == 0) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, n := range nodes {
			if n != nil {
				closeNode(t, n)
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start node %d: %v", i+1, err)
		}
	}
	dbs := make([]*sql.DB, 3)
	for i, n := range nodes {
		dbs[i] = openDB(t, n, "root", "", "", "")
	}
	reopen := func(i int) {
		t.Helper()
		n, err := startMember(t, cfgs[i], false)
		if err != nil {
			t.Fatalf("restart node %d: %v", i+1, err)
		}
		nodes[i] = n
		dbs[i] = openDB(t, n, "root", "", "", "")
	}
	stop := func(i int) {
		t.Helper()
		closeNode(t, nodes[i])
		nodes[i] = nil
		dbs[i].Close()
	}
	rows := 0
	insert := func(on int, table string) {
		t.Helper()
		rows++
		mustExec(t, dbs[on], "INSERT INTO "+table+" VALUES (?, ?)", rows, fmt.Sprintf("n%d", on+1))
	}
	converged := func(want int) string {
		t.Helper()
		var top string
		waitFor(t, func() bool {
			s, err := dump(dbs[0])
			top = s
			return err == nil && strings.Count(s, ";") == want
		})
		for _, db := range dbs[1:] {
			waitFor(t, func() bool { s, err := dump(db); return err == nil && s == top })
		}
		return top
	}

	mustExec(t, dbs[0], "CREATE DATABASE d")
	mustExec(t, dbs[0], "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))")
	mustExec(t, dbs[0], "CREATE TABLE d.t2 (id INT PRIMARY KEY, v VARCHAR(20))")
	for _, db := range dbs {
		waitFor(t, func() bool { _, err := dump(db); return err == nil })
	}
	for i := range 6 {
		insert(i%3, "d.t")
	}
	converged(6)

	// The image of node 3's storage the "crash" will leave behind.
	stop(2)
	data := filepath.Join(cfgs[2].DataDir, "storage.db")
	image, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	reopen(2)
	mustExec(t, dbs[1], "CREATE TABLE d.t3 (id INT PRIMARY KEY)")
	for i := range 6 {
		insert(i%3, "d.t2")
		insert(i%3, "d.t")
	}
	converged(18)

	// Crash: storage.db back to the older image, replicator.state still marked running.
	stop(2)
	if err := os.WriteFile(data, image, 0o600); err != nil {
		t.Fatal(err)
	}
	markRunning(t, filepath.Join(cfgs[2].DataDir, replicator.StateFileName))
	for range 3 {
		insert(0, "d.t2")
	}
	reopen(2)
	insert(2, "d.t")
	converged(22)
	if _, err := dbs[2].Exec("INSERT INTO d.t3 VALUES (1)"); err != nil {
		t.Errorf("table created while the crashed node's storage lacked it: %v", err)
	}
}

// markRunning rewrites the replicator's saved state as a process that never stopped cleanly leaves it.
func markRunning(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st["running"] != false {
		t.Fatalf("state after a clean stop: %s", b)
	}
	st["running"] = true
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
