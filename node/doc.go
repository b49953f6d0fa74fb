// Package node is maxnode as a library: Main parses the command line and node.toml, and Start wires
// node/storage, node/sql and node/server into a running Node.
//
// First start of an empty data directory creates root@localhost and root@127.0.0.1 (and root@::1) with
// an empty password, as mariadb-install-db does; the [[user]] accounts of node.toml are then created or
// brought up to date at every start. Main runs until its context is cancelled (SIGINT/SIGTERM in the
// maxnode binary), then shuts down gracefully: the listener closes, running statements get a short
// grace period, every session is rolled back and closed, and storage is closed durably.
//
// The release version is the package variable Version, stamped by the build with
// -ldflags "-X github.com/maxproxy/maxproxy/node.Version=...".
package node
