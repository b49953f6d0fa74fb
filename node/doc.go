// Package node is maxnode as a library: Main parses the command line and node.toml, and Start wires
// node/storage, node/sql and node/server into a running Node.
//
// First start of an empty data directory creates root@localhost and root@127.0.0.1 (and root@::1) with
// an empty password, as mariadb-install-db does. At every start the [[user]] accounts of node.toml are
// created or brought up to date, and the settings that have a MariaDB variable (innodb_lock_wait_timeout,
// innodb_flush_log_at_trx_commit, max_connections, max_allowed_packet, wait_timeout, net_write_timeout)
// are set as its global value. The
// protocol server's connection and packet limits come from the file; SET GLOBAL changes only the
// variable. Main runs until its context is cancelled (SIGINT/SIGTERM in the
// maxnode binary), then shuts down gracefully: the listener closes, running statements get a short
// grace period, every session is rolled back and closed, and storage is closed durably.
//
// # Cluster mode
//
// With cluster_address = "gcomm://h1:4567,h2:4567,..." (or --cluster-address) the node is a member of a
// Galera-like cluster: node/replicator orders every commit through node/consensus (etcd raft), certifies it
// on every node and applies remote write-sets, and SHOW STATUS answers the wsrep_* variables a proxy's
// monitor reads. One node founds the cluster with --bootstrap (refused, with Galera's message, when its
// grastate.dat says safe_to_bootstrap: 0); the others join by themselves. Start waits until the node is in
// the primary component. Outside it, every statement but SET, SHOW, table-less SELECT and ROLLBACK
// answers 1047 (ROLLBACK runs so that a client can discard a transaction a refused statement left open).
// What is not built yet is listed in node/replicator's doc. Without cluster_address the node is standalone.
//
// Cluster nodes also follow Galera in: wsrep_auto_increment_control (auto_increment_increment and
// auto_increment_offset follow every view: members and index + 1, autoinc.go); SET GLOBAL
// wsrep_max_ws_rows / wsrep_max_ws_size (a transaction over a limit is rolled back with 1180 / 1105,
// wslimits.go); wsrep_reject_queries (reject.go). maxnode --arbitrator runs a member as Galera's garbd: it
// votes and counts in wsrep_cluster_size, never leads and serves no clients (arbitrator.go). The
// addresses in cluster_address win over the ones members announce, so links can run through proxies.
//
// The release version is the package variable Version, stamped by the build with
// -ldflags "-X github.com/maxproxy/maxproxy/node.Version=...".
package node
