package integration

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// dumpSchema is the database TestNodeDump copies: every column type maxnode
// stores, values that need escaping in a dump (quotes, backslashes, control
// bytes, 4-byte UTF-8, binary zero bytes), NULLs, extreme numbers, zero
// dates, a table without a primary key, an empty table, a composite key and
// a table large enough to be written as many extended INSERTs.
var dumpSchema = []string{
	`CREATE DATABASE dumpsrc`,
	`CREATE TABLE dumpsrc.kinds (
		id INT AUTO_INCREMENT PRIMARY KEY,
		ti TINYINT, si SMALLINT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
		de DECIMAL(20,6), fl FLOAT, db DOUBLE,
		vc VARCHAR(40) DEFAULT 'd''flt', ch CHAR(5), tx TEXT, vb VARBINARY(16), bl BLOB,
		d DATE, dt DATETIME(6), ts TIMESTAMP NULL DEFAULT NULL,
		UNIQUE KEY uvc (vc), KEY kd (d, id)) COMMENT 'all the kinds'`,
	`INSERT INTO dumpsrc.kinds VALUES
		(1, -128, 65535, -9223372036854775808, 18446744073709551615, -12345678901234.123456, 0.1, 1e300,
		 'it''s "quoted" \\ back', 'ab', 'line1\nline2\ttab\r', x'00ff27225c0a', x'0001020304fffefd',
		 '2024-02-29', '2024-02-29 23:59:59.999999', '2024-01-01 00:00:01'),
		(2, 127, 0, 9223372036854775807, 0, 0.000001, -3.5e-10, -2.2250738585072014e-308,
		 '😀 emoji é ü', '', '', x'', x'',
		 '0000-00-00', '0000-00-00 00:00:00.000000', NULL),
		(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		(10, 0, 1, 2, 3, 4.5, 6.25, 7.125, 'ten', 'x', REPEAT('long text ', 200), x'61', REPEAT(x'ab', 3000),
		 '1000-01-01', '9999-12-31 23:59:59', '2038-01-19 03:14:07')`,
	`CREATE TABLE dumpsrc.nopk (a INT, b VARCHAR(10))`,
	`INSERT INTO dumpsrc.nopk VALUES (1, 'x'), (1, 'x'), (NULL, NULL), (2, 'y')`,
	`CREATE TABLE dumpsrc.empty (id INT PRIMARY KEY)`,
	`CREATE TABLE dumpsrc.composite (a INT, b VARCHAR(10), c INT NOT NULL DEFAULT 7, PRIMARY KEY (a, b))`,
	`INSERT INTO dumpsrc.composite (a, b) VALUES (1, 'a'), (1, 'b'), (2, 'a')`,
	`CREATE TABLE dumpsrc.big (id INT PRIMARY KEY, n INT, payload VARCHAR(200), KEY kn (n))`,
}

// dumpTables and the ORDER BY that makes each one's rows comparable.
var dumpTables = []struct{ name, order string }{
	{"kinds", "id"}, {"nopk", "a, b"}, {"empty", "id"}, {"composite", "a, b"}, {"big", "id"},
}

// TestNodeDump dumps a database from bin/maxnode with mariadb-dump, restores
// the dump with the mariadb client into a second maxnode and into a real
// MariaDB, and requires the same rows (and, between the two maxnodes, the same
// SHOW CREATE TABLE) everywhere; the AUTO_INCREMENT position survives too.
// It runs once with mariadb-dump's default LOCK TABLES and once with
// --single-transaction (savepoints).
func TestNodeDump(t *testing.T) {
	requireMaxnodeBinary(t)
	tools := harness.RequireTools(t, harness.Client)
	client, err := tools.Path(harness.Client)
	if err != nil {
		t.Fatal(err)
	}
	// mariadb-dump ships in the same package as the mariadb client.
	dumper := filepath.Join(filepath.Dir(client), "mariadb-dump")
	ref := harness.StartMariaDB(t, harness.MariaDBOptions{Name: "dump-reference"})
	scope := harness.TestScope(t)
	src := startMaxnode(t, scope, maxnodeOptions{Name: "dump-source"})

	// Reads compare TIMESTAMPs in UTC, the zone mariadb-dump writes them in.
	utc := "&time_zone=" + url.QueryEscape("'+00:00'")
	srcDB := nodeDB(t, rootDSN(src.addr)+utc)
	for _, stmt := range dumpSchema {
		nodeExec(t, srcDB, stmt)
	}
	for i := range 3000 {
		payload := strings.Repeat(fmt.Sprintf("%d,", i), 1+i%40)
		nodeExec(t, srcDB, "INSERT INTO dumpsrc.big VALUES (?, ?, ?)", i, i%17, payload[:min(len(payload), 200)])
	}
	// The next AUTO_INCREMENT value is above every id in use, as the dump must keep it.
	nodeExec(t, srcDB, "INSERT INTO dumpsrc.kinds (id, vc) VALUES (41, 'forty-one')")
	nodeExec(t, srcDB, "DELETE FROM dumpsrc.kinds WHERE id = 41")

	refUTC := nodeDB(t, refRootDSN(ref)+utc)
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"lock-tables", nil},
		{"single-transaction", []string{"--single-transaction"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			host, port, _ := strings.Cut(src.addr, ":")
			args := append([]string{"--no-defaults", "-h" + host, "-P" + port, "--protocol=TCP", "-uroot",
				"--net-buffer-length=16384", "--databases", "dumpsrc"}, mode.args...)
			dump := runTool(t, dumper, "", args...)
			if !strings.Contains(dump, "INSERT INTO `big` VALUES") || strings.Count(dump, "INSERT INTO `big`") < 3 {
				t.Fatalf("dump lacks the big table's extended INSERTs:\n%.2000s", dump)
			}

			dst := startMaxnode(t, scope, maxnodeOptions{Name: "dump-" + mode.name})
			dhost, dport, _ := strings.Cut(dst.addr, ":")
			runTool(t, client, dump, "--no-defaults", "-h"+dhost, "-P"+dport, "--protocol=TCP", "-uroot")
			nodeExec(t, refUTC, "DROP DATABASE IF EXISTS dumpsrc")
			runTool(t, client, dump, "--no-defaults", "-S"+ref.Socket(), "-uroot")
			dstDB := nodeDB(t, rootDSN(dst.addr)+utc)

			for _, tbl := range dumpTables {
				q := fmt.Sprintf("SELECT * FROM dumpsrc.%s ORDER BY %s", tbl.name, tbl.order)
				want := nodeQuery(t, srcDB, q)
				if got := nodeQuery(t, dstDB, q); !slices.EqualFunc(got, want, slices.Equal) {
					t.Errorf("%s restored into maxnode:\n got %q\nwant %q", tbl.name, got, want)
				}
				if got := nodeQuery(t, refUTC, q); !slices.EqualFunc(got, want, slices.Equal) {
					t.Errorf("%s restored into MariaDB:\n got %q\nwant %q", tbl.name, got, want)
				}
				sc := "SHOW CREATE TABLE dumpsrc." + tbl.name
				if got, want := nodeQuery(t, dstDB, sc), nodeQuery(t, srcDB, sc); !slices.EqualFunc(got, want, slices.Equal) {
					t.Errorf("%s:\n got %q\nwant %q", sc, got, want)
				}
			}
			// The restored AUTO_INCREMENT continues where the source's does.
			for name, db := range map[string]*sql.DB{"maxnode": dstDB, "MariaDB": refUTC} {
				res := nodeExec(t, db, "INSERT INTO dumpsrc.kinds (vc) VALUES ('next')")
				if id, err := res.LastInsertId(); err != nil || id != 42 {
					t.Errorf("%s: next AUTO_INCREMENT id after restore = %d (%v), want 42", name, id, err)
				}
			}
		})
	}
}

// rootDSN is root's DSN on a maxnode (root@127.0.0.1 has no password).
func rootDSN(addr string) string { return harness.TCPDSN(addr, "root", "", "") }

// refRootDSN is root's DSN on a harness MariaDB, over its socket.
func refRootDSN(ref *harness.Server) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", ref.Socket()
	cfg.Collation = harness.Collation
	return cfg.FormatDSN()
}

// runTool runs a client program with stdin and returns its standard output; a failure fails the test.
func runTool(t *testing.T, bin, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
