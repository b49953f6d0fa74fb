package node

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/node/config"
)

// stopWithoutLeave stops a member without leaving the cluster: the others keep counting it in their view
// and quorum, as after a crash.
func stopWithoutLeave(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.close(ctx, false); err != nil {
		t.Errorf("close: %v", err)
	}
}

// startMembers starts cfgs concurrently, cfgs[0] with --bootstrap; every node is closed at the end of t.
func startMembers(t *testing.T, cfgs []config.Config) []*Node {
	t.Helper()
	nodes := make([]*Node, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Go(func() { nodes[i], errs[i] = startMember(t, cfgs[i], i == 0) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start node %d: %v", i+1, err)
		}
	}
	return nodes
}

// Galera's galera_safe_to_bootstrap scenario through SQL: two of three nodes stop cleanly and the last
// one stays Primary and writable, with a one-member view; a stopped node started again rejoins by
// itself and receives what it missed.
func TestClusterCleanStopsKeepTheLastNodePrimary(t *testing.T) {
	cfgs := clusterConfigs(t, 3)
	nodes := startMembers(t, cfgs)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				closeNode(t, n)
			}
		}
	}()
	dbs := make([]*sql.DB, 3)
	for i, n := range nodes {
		dbs[i] = openDB(t, n, "root", "", "", "")
		defer dbs[i].Close()
	}
	mustExec(t, dbs[0], "CREATE DATABASE d")
	mustExec(t, dbs[0], "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))")
	mustExec(t, dbs[0], "INSERT INTO d.t VALUES (1, 'three')")
	waitFor(t, func() bool {
		st := wsrepStatus(t, dbs[0])
		return st["wsrep_cluster_size"] == "3" && len(strings.Split(st["wsrep_incoming_addresses"], ",")) == 3
	})
	st := wsrepStatus(t, dbs[0])
	if want := strings.Join([]string{nodes[0].Addr().String(), nodes[1].Addr().String(), nodes[2].Addr().String()}, ","); st["wsrep_incoming_addresses"] != want {
		t.Errorf("wsrep_incoming_addresses %q, want %q", st["wsrep_incoming_addresses"], want)
	}
	var conf int
	fmt.Sscan(st["wsrep_cluster_conf_id"], &conf)

	for _, i := range []int{2, 1} {
		closeNode(t, nodes[i])
		nodes[i] = nil
	}
	st = wsrepStatus(t, dbs[0])
	if st["wsrep_cluster_status"] != "Primary" || st["wsrep_cluster_size"] != "1" || st["wsrep_ready"] != "ON" ||
		st["wsrep_local_state_comment"] != "Synced" || st["wsrep_cluster_conf_id"] != fmt.Sprint(conf+2) ||
		st["wsrep_incoming_addresses"] != nodes[0].Addr().String() {
		t.Fatalf("last node after two clean stops: %v", st)
	}
	mustExec(t, dbs[0], "INSERT INTO d.t VALUES (2, 'one')")

	n2, err := startMember(t, cfgs[1], false)
	if err != nil {
		t.Fatalf("restart node 2: %v", err)
	}
	nodes[1] = n2
	db2 := openDB(t, n2, "root", "", "", "")
	defer db2.Close()
	waitFor(t, func() bool {
		got, err := tableContents(db2)
		return err == nil && got == "1=three;2=one;"
	})
	waitFor(t, func() bool {
		a, b := wsrepStatus(t, dbs[0]), wsrepStatus(t, db2)
		return a["wsrep_cluster_size"] == "2" && b["wsrep_cluster_size"] == "2" && b["wsrep_local_state_comment"] == "Synced" &&
			a["wsrep_cluster_conf_id"] == fmt.Sprint(conf+3) && b["wsrep_cluster_conf_id"] == fmt.Sprint(conf+3)
	})
}

// A node that is not in the members' cluster_address (a new fourth node, listing them and itself) and
// has an empty data directory joins by itself: learner, catch-up from the log, voter; every view then
// has four members.
func TestClusterNewNodeJoinsByItself(t *testing.T) {
	cfgs := clusterConfigs(t, 4)
	first3 := "gcomm://" + strings.Join([]string{cfgs[0].NodeAddress, cfgs[1].NodeAddress, cfgs[2].NodeAddress}, ",")
	for i := range 3 {
		cfgs[i].ClusterAddress = first3
	}
	nodes := startMembers(t, cfgs[:3])
	defer func() {
		for _, n := range nodes {
			closeNode(t, n)
		}
	}()
	db1 := openDB(t, nodes[0], "root", "", "", "")
	defer db1.Close()
	mustExec(t, db1, "CREATE DATABASE d")
	mustExec(t, db1, "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))")
	for i := range 20 {
		mustExec(t, db1, "INSERT INTO d.t VALUES (?, 'before')", i)
	}
	want, err := tableContents(db1)
	if err != nil {
		t.Fatal(err)
	}
	n4, err := startMember(t, cfgs[3], false)
	if err != nil {
		t.Fatalf("start node 4: %v", err)
	}
	nodes = append(nodes, n4)
	db4 := openDB(t, n4, "root", "", "", "")
	defer db4.Close()
	if got, err := tableContents(db4); err != nil || got != want {
		t.Fatalf("joiner has %q (%v), want %q", got, err, want)
	}
	mustExec(t, db4, "INSERT INTO d.t VALUES (100, 'joiner')")
	waitFor(t, func() bool {
		var v string
		return db1.QueryRow("SELECT v FROM d.t WHERE id = 100").Scan(&v) == nil && v == "joiner"
	})
	waitFor(t, func() bool {
		a, b := wsrepStatus(t, db1), wsrepStatus(t, db4)
		return a["wsrep_cluster_size"] == "4" && b["wsrep_cluster_size"] == "4" && b["wsrep_local_index"] == "3" &&
			b["wsrep_local_state_comment"] == "Synced" && a["wsrep_cluster_conf_id"] == b["wsrep_cluster_conf_id"] &&
			len(strings.Split(a["wsrep_incoming_addresses"], ",")) == 4
	})
}
