package monitor

import (
	"encoding/hex"
	"fmt"

	"github.com/maxproxy/maxproxy/monitor/galera"
)

// The writer marker is one row in the cluster itself, so every proxy
// instance reads the same value from whichever node it asks, and Galera's
// certification lets exactly one of two concurrent conflicting updates
// win. Each update is a compare-and-set on the version the writing monitor
// last saw: a monitor that lost the race sees the winner's row next round
// and follows it. The row is changed only when the marked node cannot be
// the writer for the monitor that changes it, so no instance fails back.
const (
	markerQuery    = "SELECT node, version FROM maxproxy.writer WHERE id = 1"
	markerSchemaDB = "CREATE DATABASE IF NOT EXISTS maxproxy"
	markerSchema   = "CREATE TABLE IF NOT EXISTS maxproxy.writer (" +
		"id TINYINT UNSIGNED NOT NULL PRIMARY KEY, " +
		"node VARCHAR(255) NOT NULL, " +
		"owner VARCHAR(255) NOT NULL, " +
		"version BIGINT NOT NULL, " +
		"updated TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)" +
		") ENGINE=InnoDB"
)

// markerStatements are the statements that move the marker as u asks,
// recording owner (which proxy instance wrote it) for operators.
func markerStatements(u galera.MarkerUpdate, owner string) []string {
	if u.Version == 0 {
		// INSERT IGNORE: when another instance created the row first,
		// this changes nothing and its choice is read next round.
		return []string{markerSchemaDB, markerSchema, fmt.Sprintf(
			"INSERT IGNORE INTO maxproxy.writer (id, node, owner, version) VALUES (1, %s, %s, 1)",
			sqlHex(u.Node), sqlHex(owner))}
	}
	return []string{fmt.Sprintf(
		"UPDATE maxproxy.writer SET node = %s, owner = %s, version = version + 1 WHERE id = 1 AND version = %d",
		sqlHex(u.Node), sqlHex(owner), u.Version)}
}

// sqlHex writes s as a hexadecimal literal, which means the same in every
// sql_mode (NO_BACKSLASH_ESCAPES changes what quoting needs).
func sqlHex(s string) string {
	if s == "" {
		return "''"
	}
	return "X'" + hex.EncodeToString([]byte(s)) + "'"
}
