package node

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/monitor/galera"
)

// startCluster starts n in-process nodes forming one cluster over TCP on 127.0.0.1; node 0 bootstraps it.
// Start returns only in the primary component, so the nodes start concurrently.
func startCluster(t *testing.T, n int) []*Node {
	t.Helper()
	lns := make([]net.Listener, n)
	addrs := make([]string, n)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i], addrs[i] = ln, ln.Addr().String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := make([]*Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range nodes {
		cfg := testConfig(t)
		cfg.NodeName = fmt.Sprintf("node%d", i+1)
		cfg.ClusterName = "test_cluster"
		cfg.ClusterAddress = "gcomm://" + strings.Join(addrs, ",")
		cfg.NodeAddress = addrs[i]
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			nodes[i], errs[i] = start(cfg, slog.New(slog.DiscardHandler),
				startOptions{bootstrap: i == 0, replListener: lns[i], ctx: ctx})
		})
	}
	wg.Wait()
	for i, n := range nodes {
		if n != nil {
			t.Cleanup(func() { closeNode(t, n) })
		}
		if errs[i] != nil {
			t.Fatalf("start node %d: %v", i+1, errs[i])
		}
	}
	return nodes
}

func wsrepStatus(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	return wsrepRows(t, db, "SHOW STATUS LIKE 'wsrep%'", map[string]string{})
}

func wsrepRows(t *testing.T, db *sql.DB, query string, out map[string]string) map[string]string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func tableContents(db *sql.DB) (string, error) {
	rows, err := db.Query("SELECT id, v FROM d.t ORDER BY id")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id int
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d=%s;", id, v)
	}
	return b.String(), rows.Err()
}

func mysqlCode(err error) uint16 {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func TestClusterReplicatesSQLAndGatesNonPrimary(t *testing.T) {
	nodes := startCluster(t, 3)
	dbs := make([]*sql.DB, len(nodes))
	for i, n := range nodes {
		dbs[i] = openDB(t, n, "root", "", "", "")
	}

	mustExec(t, dbs[0], "CREATE DATABASE d")
	mustExec(t, dbs[0], "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))")
	for i, db := range dbs {
		waitFor(t, func() bool { _, err := tableContents(db); return err == nil })
		mustExec(t, db, "INSERT INTO d.t VALUES (?, ?)", i+1, fmt.Sprintf("node%d", i+1))
	}
	want := "1=node1;2=node2;3=node3;"
	for _, db := range dbs {
		waitFor(t, func() bool { got, err := tableContents(db); return err == nil && got == want })
	}

	indexes := map[string]bool{}
	for i, db := range dbs {
		st := wsrepStatus(t, db)
		if st["wsrep_cluster_size"] != "3" || st["wsrep_cluster_status"] != "Primary" || st["wsrep_ready"] != "ON" ||
			st["wsrep_local_state"] != "4" || st["wsrep_local_state_comment"] != "Synced" || st["wsrep_connected"] != "ON" {
			t.Errorf("node %d status %v", i+1, st)
		}
		indexes[st["wsrep_local_index"]] = true
		var name, value string
		if err := db.QueryRow("SHOW VARIABLES LIKE 'wsrep_cluster_name'").Scan(&name, &value); err != nil || value != "test_cluster" {
			t.Errorf("node %d wsrep_cluster_name %q %v", i+1, value, err)
		}
	}
	if len(indexes) != 3 || !indexes["0"] || !indexes["1"] || !indexes["2"] {
		t.Errorf("wsrep_local_index values %v, want 0, 1 and 2", indexes)
	}
	// What maxproxy's Galera monitor reads (its two queries) makes every node a joined cluster member.
	var uuid string
	for i, db := range dbs {
		vars := wsrepRows(t, db, "SHOW VARIABLES LIKE 'wsrep%'", wsrepStatus(t, db))
		st := galera.ParseStatus(vars)
		if st.LocalState != 4 || !st.Ready || st.ClusterStatus != "Primary" || st.LocalIndex < 0 || st.ClusterSize != 3 ||
			st.Desync || st.RejectQueries != "NONE" || st.DonorRejects || st.NodeName != fmt.Sprintf("node%d", i+1) {
			t.Errorf("node %d as the monitor sees it: %+v", i+1, st)
		}
		if i == 0 {
			uuid = st.ClusterUUID
		} else if st.ClusterUUID != uuid || uuid == "" {
			t.Errorf("node %d cluster uuid %q, node 1 %q", i+1, st.ClusterUUID, uuid)
		}
	}

	// A table created on another node after one replicated here gets its own storage spaces.
	mustExec(t, dbs[1], "CREATE TABLE d.t2 (id INT PRIMARY KEY, v VARCHAR(20))")
	mustExec(t, dbs[1], "INSERT INTO d.t2 VALUES (1, 't2')")
	for _, db := range dbs {
		waitFor(t, func() bool {
			var n int
			return db.QueryRow("SELECT COUNT(*) FROM d.t2").Scan(&n) == nil && n == 1
		})
		if got, err := tableContents(db); err != nil || got != want {
			t.Errorf("d.t after creating d.t2 on another node: %q %v, want %q", got, err, want)
		}
	}

	// AUTO_INCREMENT values interleave by cluster size, so inserts on every node never collide.
	mustExec(t, dbs[0], "CREATE TABLE d.ai (id INT AUTO_INCREMENT PRIMARY KEY, node INT)")
	for _, db := range dbs {
		waitFor(t, func() bool { _, err := db.Exec("SELECT 1 FROM d.ai"); return err == nil })
	}
	for round := range 2 {
		for i, db := range dbs {
			if _, err := db.Exec("INSERT INTO d.ai (node) VALUES (?)", i+1); err != nil {
				t.Fatalf("round %d: auto-increment insert on node %d: %v", round, i+1, err)
			}
		}
	}
	for _, db := range dbs {
		waitFor(t, func() bool {
			var n, distinct int
			err := db.QueryRow("SELECT COUNT(*), COUNT(DISTINCT id) FROM d.ai").Scan(&n, &distinct)
			return err == nil && n == 6 && distinct == 6
		})
	}
	var badOffset int
	if err := dbs[0].QueryRow("SELECT COUNT(*) FROM d.ai WHERE (id - node) % 3 <> 0").Scan(&badOffset); err != nil || badOffset != 0 {
		t.Errorf("rows whose id is not node's offset modulo 3: %d (%v)", badOffset, err)
	}

	// wsrep_sync_wait = 1 through SQL: reads on node 3 run after a causal wait and see what node 1 committed
	// just before (the replicator test proves the wait itself with slowed links).
	ctx := context.Background()
	reader, err := dbs[2].Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	mustExec(t, holder2(reader), "SET SESSION wsrep_sync_wait = 1")
	for i := range 10 {
		mustExec(t, dbs[0], "INSERT INTO d.t VALUES (?, 'causal')", 100+i)
		var n int
		if err := reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM d.t WHERE v = 'causal'").Scan(&n); err != nil || n != i+1 {
			t.Fatalf("causal read %d on node 3: %d rows, %v; want %d", i, n, err, i+1)
		}
	}

	// Concurrent conflicting updates on two nodes: exactly one commits, the other gets 1213.
	var conns [2]*sql.Conn
	for i := range conns {
		c, err := dbs[i].Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		mustExec(t, holder2(c), "BEGIN")
		mustExec(t, holder2(c), "UPDATE d.t SET v = ? WHERE id = 3", fmt.Sprintf("upd%d", i+1))
	}
	var commitErrs [2]error
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { _, commitErrs[i] = c.ExecContext(ctx, "COMMIT") })
	}
	wg.Wait()
	if (commitErrs[0] == nil) == (commitErrs[1] == nil) {
		t.Fatalf("commit results %v, want exactly one success", commitErrs)
	}
	for _, err := range commitErrs {
		if err != nil && mysqlCode(err) != 1213 {
			t.Fatalf("losing commit got %v, want 1213", err)
		}
	}

	// Without its two peers node 1 leaves the primary component: 1047 for everything but SET, SHOW and
	// table-less SELECT. (Stopped without leaving: like crashes, they still count in the view's quorum.)
	stopWithoutLeave(t, nodes[1])
	stopWithoutLeave(t, nodes[2])
	waitFor(t, func() bool { return wsrepStatus(t, dbs[0])["wsrep_cluster_status"] == "non-Primary" })
	st := wsrepStatus(t, dbs[0])
	if st["wsrep_ready"] != "OFF" || st["wsrep_local_state_comment"] != "Initialized" || st["wsrep_local_state"] != "0" {
		t.Errorf("non-Primary status %v", st)
	}
	for _, q := range []string{"SELECT * FROM d.t", "INSERT INTO d.t VALUES (9, 'x')", "SELECT (SELECT COUNT(*) FROM d.t)"} {
		_, err := dbs[0].Exec(q)
		var me *gomysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1047 || string(me.SQLState[:]) != "08S01" ||
			me.Message != "WSREP has not yet prepared node for application use" {
			t.Errorf("%s on a non-Primary node: %v, want 1047 08S01", q, err)
		}
	}
	for _, q := range []string{"SELECT 1", "SET @x = 1", "SHOW VARIABLES LIKE 'wsrep_on'", "SELECT @@wsrep_on"} {
		if _, err := dbs[0].Exec(q); err != nil {
			t.Errorf("%s on a non-Primary node: %v", q, err)
		}
	}
}

func TestClusterConfigErrors(t *testing.T) {
	cfg := testConfig(t)
	cfg.ClusterAddress = "gcomm://127.0.0.1:1,127.0.0.1:2"
	cfg.NodeAddress = "127.0.0.1:3"
	if _, err := Start(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "not one of cluster_address") {
		t.Errorf("start with a node address outside the cluster: %v", err)
	}
}

func TestMainClusterFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bootstrap"}, "--bootstrap needs cluster_address"},
		{[]string{"--cluster-address", "gcomm://127.0.0.1:1,127.0.0.1:2", "--node-address", "127.0.0.1:3"}, "127.0.0.1:3 is not one of cluster_address's members"},
		{[]string{"--cluster-address", "127.0.0.1:1"}, `cluster_address: want "gcomm://host:port,..."`},
		{[]string{"--node-address", "127.0.0.1:1"}, "node_address: needs cluster_address"},
		{[]string{"--cluster-name", "", "--cluster-address", "gcomm://127.0.0.1:1", "--node-address", "127.0.0.1:1"}, "cluster_name: must not be empty"},
	} {
		var stdout, stderr strings.Builder
		args := append([]string{"--datadir", t.TempDir(), "--listen", "127.0.0.1:0"}, tc.args...)
		if code := Main(context.Background(), args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// A one-member cluster through Main: --bootstrap founds it, grastate.dat records a clean stop with
// safe_to_bootstrap: 1 (the node was alone), and a restart without --bootstrap rejoins with its data.
func TestMainBootstrapOneNodeCluster(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	repl := ln.Addr().String()
	if err := ln.Close(); err != nil { // Main listens on node_address itself
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := []string{"--datadir", dir, "--listen", "127.0.0.1:0", "--cluster-address", "gcomm://" + repl, "--node-address", repl}

	addr, stop := runMain(t, append(args, "--bootstrap")...)
	db, err := sql.Open("mysql", "root@tcp("+addr+")/")
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "CREATE DATABASE kept")
	st := wsrepStatus(t, db)
	if st["wsrep_cluster_size"] != "1" || st["wsrep_cluster_status"] != "Primary" || st["wsrep_local_index"] != "0" {
		t.Errorf("one-node cluster status %v", st)
	}
	db.Close()
	if code := stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	g, err := os.ReadFile(filepath.Join(dir, "grastate.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(g), "# GALERA saved state\nversion: 2.1\nuuid:    "+st["wsrep_cluster_state_uuid"]+"\n") ||
		!strings.Contains(string(g), "safe_to_bootstrap: 1\n") || strings.Contains(string(g), "seqno:   -1") {
		t.Errorf("grastate.dat after a clean stop:\n%s", g)
	}

	addr, stop = runMain(t, args...)
	db, err = sql.Open("mysql", "root@tcp("+addr+")/kept")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Errorf("database created before the restart: %v", err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// A table created on one node is visible to a causal read (wsrep_sync_wait) on another right after the
// DDL returns: the read waits for the catalog reload that follows the replicated DDL, not only for the
// storage to hold its seqno.
func TestSyncWaitSeesReplicatedDDL(t *testing.T) {
	nodes := startCluster(t, 2)
	writer := openDB(t, nodes[1], "root", "", "", "")
	mustExec(t, writer, "CREATE DATABASE d")
	ctx := context.Background()
	reader, err := openDB(t, nodes[0], "root", "", "", "").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := reader.ExecContext(ctx, "SET SESSION wsrep_sync_wait = 1"); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		mustExec(t, writer, fmt.Sprintf("CREATE TABLE d.p%d (id INT PRIMARY KEY)", i))
		var n int
		if err := reader.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM d.p%d", i)).Scan(&n); err != nil {
			t.Fatalf("causal read of the table just created on the other node (round %d): %v", i, err)
		}
	}
}
