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
// The release version is the package variable Version, stamped by the build with
// -ldflags "-X github.com/maxproxy/maxproxy/node.Version=...".
package node
