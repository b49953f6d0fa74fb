package node

import (
	"testing"

	"github.com/maxproxy/maxproxy/monitor/galera"
)

// TestClusterDesyncAndFlowControlStatus: SET GLOBAL wsrep_desync takes a node to Donor/Desynced (state 2)
// and back, as monitors read it; the flow-control status rows are present with the interval that
// gcs.fc_limit / gcs.fc_factor give a 3-node cluster.
func TestClusterDesyncAndFlowControlStatus(t *testing.T) {
	nodes := startCluster(t, 3)
	db := openDB(t, nodes[1], "root", "", "", "")
	st := wsrepStatus(t, db)
	for name, want := range map[string]string{
		"wsrep_flow_control_interval": "[ 28, 28 ]", // fc_limit 16 × √3, fc_factor 1.0
		"wsrep_flow_control_sent":     "0",
		"wsrep_flow_control_recv":     "0",
		"wsrep_flow_control_paused":   "0.000000",
		"wsrep_flow_control_active":   "false",
		"wsrep_local_send_queue":      "0",
		"wsrep_desync_count":          "0",
	} {
		if st[name] != want {
			t.Errorf("%s = %q, want %q", name, st[name], want)
		}
	}

	mustExec(t, db, "SET GLOBAL wsrep_desync = ON")
	vars := wsrepRows(t, db, "SHOW VARIABLES LIKE 'wsrep%'", wsrepStatus(t, db))
	if ps := galera.ParseStatus(vars); ps.LocalState != 2 || !ps.Desync || !ps.Ready || ps.ClusterStatus != "Primary" {
		t.Errorf("desynced node as the monitor sees it: %+v", ps)
	}
	if vars["wsrep_local_state_comment"] != "Donor/Desynced" || vars["wsrep_desync_count"] != "1" || vars["wsrep_desync"] != "ON" {
		t.Errorf("desynced node: %v", vars)
	}
	// A desynced node serves queries normally.
	mustExec(t, db, "CREATE DATABASE d")
	mustExec(t, db, "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))")
	mustExec(t, db, "INSERT INTO d.t VALUES (1, 'desynced')")

	mustExec(t, db, "SET GLOBAL wsrep_desync = OFF")
	vars = wsrepRows(t, db, "SHOW VARIABLES LIKE 'wsrep%'", wsrepStatus(t, db))
	if ps := galera.ParseStatus(vars); ps.LocalState != 4 || ps.Desync {
		t.Errorf("node after desync OFF: %+v", ps)
	}
}
