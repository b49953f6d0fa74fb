//go:build integration

package integration

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestMaxnodeListsGaleraStatus compares what SHOW STATUS and SHOW VARIABLES say about wsrep on a real
// MariaDB Galera node and on a maxnode member: every status variable Galera lists is listed by maxnode
// too, in the same order (dashboards and monitors read them by name; some tools read them by position),
// and the settings tools read exist on both. The few Galera rows maxnode leaves out are named here
// with the reason.
func TestMaxnodeListsGaleraStatus(t *testing.T) {
	galera := galera3.Get(t)
	maxnode := harness.StartMaxnodeCluster(t, 1, harness.MaxnodeOptions{})
	ctx := testContext(t, time.Minute)
	a := harness.AppAccount
	gdb := nodeDB(t, harness.TCPDSN(galera.Nodes()[0].Addr(), a.User, a.Password, ""))
	mdb := nodeDB(t, maxnode.Node(1).DSN(a.User, a.Password, ""))
	// Some traffic, so that the statistics have something to show.
	nodeExec(t, mdb, "CREATE DATABASE it_status")
	nodeExec(t, mdb, "CREATE TABLE it_status.t (id INT PRIMARY KEY)")
	nodeExec(t, mdb, "INSERT INTO it_status.t VALUES (1), (2)")

	omitted := map[string]string{
		"wsrep_protocol_application": "Galera 26.4.2x's per-layer protocol versions; maxnode has one (wsrep_protocol_version)",
		"wsrep_protocol_replicator":  "as above",
		"wsrep_protocol_gcs":         "as above",
		"wsrep_checkpoint_position":  "MariaDB 10.11's storage-engine checkpoint, with binlog GTIDs maxnode does not have",
		"wsrep_se_checkpoint":        "as above",
	}
	gNames, _ := showRows(ctx, t, gdb, "SHOW GLOBAL STATUS LIKE 'wsrep%'")
	mNames, mValues := showRows(ctx, t, mdb, "SHOW GLOBAL STATUS LIKE 'wsrep%'")
	var common []string
	for _, name := range gNames {
		switch {
		case omitted[name] != "":
		case slices.Contains(mNames, name):
			common = append(common, name)
		default:
			t.Errorf("Galera lists %s in SHOW STATUS, maxnode does not", name)
		}
	}
	// The shared rows come in Galera's order.
	pos := -1
	for _, name := range common {
		i := slices.Index(mNames, name)
		if i < pos {
			t.Errorf("maxnode lists %s before %s; Galera lists it after", name, mNames[pos])
		}
		pos = max(pos, i)
	}
	for _, name := range []string{"wsrep_local_recv_queue_avg", "wsrep_local_send_queue_avg", "wsrep_cert_interval",
		"wsrep_local_cached_downto", "wsrep_open_transactions", "wsrep_local_commits"} {
		if _, err := strconv.ParseFloat(mValues[name], 64); err != nil {
			t.Errorf("maxnode %s = %q: not a number", name, mValues[name])
		}
	}
	if v := mValues["wsrep_local_commits"]; v == "0" {
		t.Errorf("wsrep_local_commits is 0 after a committed INSERT")
	}

	gVars, _ := showRows(ctx, t, gdb, "SHOW GLOBAL VARIABLES LIKE 'wsrep%'")
	mVars, _ := showRows(ctx, t, mdb, "SHOW GLOBAL VARIABLES LIKE 'wsrep%'")
	for _, name := range []string{
		"wsrep_on", "wsrep_provider", "wsrep_provider_options", "wsrep_cluster_address", "wsrep_cluster_name",
		"wsrep_node_name", "wsrep_node_address", "wsrep_node_incoming_address", "wsrep_data_home_dir",
		"wsrep_sync_wait", "wsrep_causal_reads", "wsrep_desync", "wsrep_reject_queries", "wsrep_sst_donor",
		"wsrep_sst_donor_rejects_queries", "wsrep_sst_method", "wsrep_osu_method", "wsrep_slave_threads",
		"wsrep_max_ws_rows", "wsrep_max_ws_size", "wsrep_auto_increment_control", "wsrep_retry_autocommit",
		"wsrep_certify_nonpk", "wsrep_dirty_reads", "wsrep_log_conflicts", "wsrep_gtid_mode",
		"wsrep_gtid_domain_id", "wsrep_debug", "wsrep_trx_fragment_size",
	} {
		if !slices.Contains(gVars, name) {
			t.Errorf("Galera does not list %s: this test's list is wrong", name)
		}
		if !slices.Contains(mVars, name) {
			t.Errorf("Galera lists %s in SHOW VARIABLES, maxnode does not", name)
		}
	}
	// A setting maxnode has one answer for refuses another, instead of ignoring it.
	_, err := mdb.ExecContext(ctx, "SET SESSION wsrep_osu_method = 'RSU'")
	if code := mysqlCode(err); code != 1238 {
		t.Errorf("SET wsrep_osu_method = 'RSU': %v, want error 1238", err)
	}
}

// showRows runs a SHOW … LIKE statement and returns the names in order and the values by name.
func showRows(ctx context.Context, t *testing.T, db *sql.DB, query string) ([]string, map[string]string) {
	t.Helper()
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var names []string
	values := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		values[name] = value
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names, values
}
