package integration

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// The differential corpus is the logic-test format of node/sql/testdata
// (see node/sql/logic_test.go), so the same files grow both suites:
//
//	statement ok [affected=N] [insertid=N] [warnings=N]
//	<sql, one or more lines>
//
//	statement error <code>
//	<sql>
//
//	query [rowsort] [colnames]
//	<sql>
//	----
//	<expected rows: ignored here, the reference is MariaDB>
//
//	connection <name>
//
// Blocks are separated by blank lines; '#' starts a comment line. Files
// named *.maxnode.slt hold maxnode-only behaviour and are not replayed.
// This package's files are named it_*.slt so that a file name (which keys
// the known divergences) never collides with one of node/sql's.
var diffCorpora = []string{"testdata/node/*.slt", "../node/sql/testdata/*.slt"}

// knownDivergences lists corpus statements where maxnode is known to
// answer differently from MariaDB, each with what differs: bugs reported
// to node/ and features maxnode refuses with 1235/1305. They still run on
// both servers and the difference is logged; an entry that agrees again
// is logged as fixed so it gets removed. The corpus files stay as they
// are, so a fix is checked by the differential test at once. With
// MAXPROXY_IT_STRICT=1 a known divergence fails the test like any other.
const knownDivergences = "testdata/node/divergences.txt"

// diffCase is one block of a corpus file.
type diffCase struct {
	where string // file:line
	kind  string // statement, query or connection
	sql   string
	// wantErr is the error code a "statement error" block declares; the
	// reference server must agree, so the corpus cannot rot.
	wantErr uint16
	rowsort bool
}

// TestNodeDifferential replays every corpus statement against bin/maxnode
// and a real MariaDB 10.11 in lockstep, over the text protocol as root,
// and requires the same outcome: the same error code, or the same
// affected rows and last insert id, or the same result set (column names,
// values as text with NULL distinct from 'NULL', and row order when the
// statement has an ORDER BY; rows are compared sorted otherwise, or when
// the block says rowsort). Every single-statement SELECT runs a second
// time as a prepared statement, so its binary-protocol rows are compared
// too, and the "prepared parameters" subtest binds every Go type the
// driver sends (node_params_test.go).
func TestNodeDifferential(t *testing.T) {
	requireMaxnodeBinary(t)
	var files []string
	for _, pattern := range diffCorpora {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, ".maxnode.slt") {
				files = append(files, f)
			}
		}
	}
	var corpus [][]diffCase
	statements := 0
	for _, f := range files {
		cases, err := parseDiffFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if c.kind != "connection" {
				statements++
			}
		}
		corpus = append(corpus, cases)
	}
	if statements < 300 {
		t.Fatalf("corpus has %d statements in %d files; want at least 300", statements, len(files))
	}

	known, err := loadDivergences(knownDivergences)
	if err != nil {
		t.Fatal(err)
	}

	// The harness runs MariaDB with binlog_format=ROW for Galera; the
	// reference is a stock server, which maxnode's variables mirror.
	ref := harness.StartMariaDB(t, harness.MariaDBOptions{Name: "reference", ExtraArgs: []string{"--binlog-format=MIXED"}})
	// The session variables the corpus reads must start equal on both.
	n := startMaxnode(t, harness.TestScope(t), maxnodeOptions{Settings: []string{
		"max_allowed_packet = 16777216", "max_connections = 500",
	}})
	// The corpus runs as root, as node/sql's does: maxnode's
	// root@127.0.0.1 over TCP, MariaDB's root@localhost over its socket.
	rootCfg := mysql.NewConfig()
	rootCfg.User, rootCfg.Net, rootCfg.Addr = "root", "unix", ref.Socket()
	rootCfg.Collation = harness.Collation
	refDSN := rootCfg.FormatDSN()
	nodeDSN := harness.TCPDSN(n.addr, "root", "", "")

	mismatches := 0
	for i, cases := range corpus {
		t.Run(filepath.Base(files[i]), func(t *testing.T) {
			mismatches += replayDiff(t, nodeDSN, refDSN, cases, known)
		})
	}
	t.Run("prepared parameters", func(t *testing.T) { diffParams(t, nodeDSN, refDSN, known) })
	t.Logf("%d statements from %d files replayed, %d mismatches failed the test (%s lists %d known divergences)",
		statements, len(files), mismatches, knownDivergences, len(known))
}

// replayDiff runs one file's cases on both servers and reports every
// disagreement; it returns their number. Each file gets pools of its own,
// closed at its end, so no session state (autocommit, an open
// transaction, variables) leaks from one file into the next.
func replayDiff(t *testing.T, nodeDSN, refDSN string, cases []diffCase, known map[string]string) int {
	ctx := t.Context()
	// Multi-statement texts are allowed so the corpus can hold what drivers
	// send in one COM_QUERY; a query block then compares every result set.
	node, err := sql.Open("mysql", nodeDSN+"&multiStatements=true")
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	ref, err := sql.Open("mysql", refDSN+"&multiStatements=true")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	type pair struct{ node, ref *sql.Conn }
	conns := map[string]pair{}
	session := func(name string) pair {
		if p, ok := conns[name]; ok {
			return p
		}
		nc, err := node.Conn(ctx)
		if err != nil {
			t.Fatalf("maxnode session %s: %v", name, err)
		}
		rc, err := ref.Conn(ctx)
		if err != nil {
			t.Fatalf("mariadb session %s: %v", name, err)
		}
		conns[name] = pair{nc, rc}
		return conns[name]
	}
	defer func() {
		for _, p := range conns {
			p.node.Close()
			p.ref.Close()
		}
	}()
	cur := session("default")
	bad := 0
	for _, c := range cases {
		if c.kind == "connection" {
			cur = session(c.sql)
			continue
		}
		got := runDiffCase(ctx, cur.node, c, false)
		want := runDiffCase(ctx, cur.ref, c, false)
		if got.fatal != nil || want.fatal != nil {
			t.Fatalf("%s: %s\nmaxnode: %v\nmariadb: %v", c.where, c.sql, got.fatal, want.fatal)
		}
		if c.wantErr != 0 && want.errCode != c.wantErr {
			t.Errorf("%s: corpus says error %d but MariaDB answers %s\n%s", c.where, c.wantErr, want, c.sql)
		}
		if c.kind == "query" && isSelect.MatchString(c.sql) && !strings.Contains(c.sql, ";") {
			// SELECTs once more as prepared statements: the binary protocol
			// encodes every value differently from the text protocol.
			gotBin := runDiffCase(ctx, cur.node, c, true)
			wantBin := runDiffCase(ctx, cur.ref, c, true)
			if gotBin.fatal != nil || wantBin.fatal != nil {
				t.Fatalf("%s (binary protocol): %s\nmaxnode: %v\nmariadb: %v", c.where, c.sql, gotBin.fatal, wantBin.fatal)
			}
			got.binary, want.binary = gotBin.String(), wantBin.String()
		}
		reason, isKnown := known[c.key()]
		switch {
		case got.String() == want.String() && isKnown:
			t.Logf("%s: fixed: %s agrees with MariaDB now; remove it from %s", c.where, c.sql, knownDivergences)
		case got.String() == want.String():
		case isKnown && os.Getenv("MAXPROXY_IT_STRICT") == "1":
			bad++
			t.Errorf("%s: known divergence (%s): %s\nmaxnode: %s\nmariadb: %s", c.where, reason, c.sql, got, want)
		case isKnown:
			t.Logf("%s: known divergence (%s): %s\nmaxnode: %s\nmariadb: %s", c.where, reason, c.sql, got, want)
		default:
			bad++
			t.Errorf("%s: %s\nmaxnode: %s\nmariadb: %s", c.where, c.sql, got, want)
		}
	}
	return bad
}

// diffOutcome is what a server answered, rendered for comparison.
type diffOutcome struct {
	errCode  uint16
	affected int64
	insertID int64
	sets     []resultSet
	isQuery  bool
	binary   string // the same SELECT as a prepared statement
	fatal    error  // not a server answer: the connection broke
}

func (o diffOutcome) String() string {
	switch {
	case o.fatal != nil:
		return fmt.Sprintf("client error %v", o.fatal)
	case o.errCode != 0:
		return fmt.Sprintf("error %d", o.errCode)
	case o.isQuery:
		var b strings.Builder
		for i, rs := range o.sets {
			if i > 0 {
				b.WriteString("; next result: ")
			}
			fmt.Fprintf(&b, "columns %q rows %q", rs.cols, rs.rows)
		}
		if o.binary != "" {
			fmt.Fprintf(&b, "; prepared: %s", o.binary)
		}
		return b.String()
	default:
		return fmt.Sprintf("ok affected=%d insertid=%d", o.affected, o.insertID)
	}
}

func runDiffCase(ctx context.Context, conn *sql.Conn, c diffCase, prepared bool) diffOutcome {
	if c.kind == "statement" {
		res, err := conn.ExecContext(ctx, c.sql)
		if err != nil {
			return errOutcome(err)
		}
		var o diffOutcome
		o.affected, _ = res.RowsAffected()
		o.insertID, _ = res.LastInsertId()
		return o
	}
	var rows *sql.Rows
	if prepared {
		stmt, err := conn.PrepareContext(ctx, c.sql)
		if err != nil {
			return errOutcome(err)
		}
		defer stmt.Close()
		if rows, err = stmt.QueryContext(ctx); err != nil {
			return errOutcome(err)
		}
	} else {
		var err error
		if rows, err = conn.QueryContext(ctx, c.sql); err != nil {
			return errOutcome(err)
		}
	}
	defer rows.Close()
	o := diffOutcome{isQuery: true}
	for {
		rs, err := readResultSet(rows)
		if err != nil {
			return errOutcome(err)
		}
		if c.rowsort || !orderBy.MatchString(c.sql) {
			slices.Sort(rs.rows)
		}
		o.sets = append(o.sets, rs)
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return errOutcome(err)
	}
	return o
}

// compareColumnTypes (MAXPROXY_IT_COLTYPES=1) adds each column's type from
// its column definition to the comparison. It is off by default because
// maxnode's result types still differ from MariaDB's in about twenty corpus
// statements (TIME arithmetic typed BIGINT, FLOOR of a long DECIMAL typed
// BIGINT, mysql.db's ENUM privilege columns typed VARCHAR, string parameters
// typed VARCHAR where MariaDB says CHAR, ...), which the values do not.
var compareColumnTypes = os.Getenv("MAXPROXY_IT_COLTYPES") == "1"

// resultSet is one result set as text: NULL is \N, never 'NULL'.
type resultSet struct {
	cols []string
	rows []string
}

func readResultSet(rows *sql.Rows) (resultSet, error) {
	var rs resultSet
	var err error
	if rs.cols, err = rows.Columns(); err != nil {
		return rs, err
	}
	if compareColumnTypes {
		cts, err := rows.ColumnTypes()
		if err != nil {
			return rs, err
		}
		for i, ct := range cts {
			rs.cols[i] += ":" + ct.DatabaseTypeName()
		}
	}
	vals := make([]sql.RawBytes, len(rs.cols))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return rs, err
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteByte('\t')
			}
			if v == nil {
				b.WriteString(`\N`)
			} else {
				b.Write(v)
			}
		}
		rs.rows = append(rs.rows, b.String())
	}
	return rs, rows.Err()
}

// isSelect matches the statements that are also run prepared.
var isSelect = regexp.MustCompile(`(?i)^\s*select\b`)

// orderBy finds an ORDER BY that orders the result (the outermost one is
// not told apart from one in a subquery: such statements say rowsort).
var orderBy = regexp.MustCompile(`(?i)\border\s+by\b`)

func errOutcome(err error) diffOutcome {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return diffOutcome{errCode: me.Number}
	}
	return diffOutcome{fatal: err}
}

// key identifies a statement across edits of its file: the file's name
// and the statement with its white space collapsed.
func (c diffCase) key() string {
	file, _, _ := strings.Cut(c.where, ":")
	return file + "\t" + strings.Join(strings.Fields(c.sql), " ")
}

// loadDivergences reads lines of "file<TAB>statement<TAB>what differs";
// blank lines and '#' comments are skipped.
func loadDivergences(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	known := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, "\t")
		if len(parts) != 3 || parts[2] == "" {
			return nil, fmt.Errorf("%s:%d: want file<TAB>statement<TAB>what differs", path, i+1)
		}
		known[parts[0]+"\t"+strings.Join(strings.Fields(parts[1]), " ")] = parts[2]
	}
	return known, nil
}

// parseDiffFile reads one corpus file.
func parseDiffFile(path string) ([]diffCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		cases    []diffCase
		cur      *diffCase
		inResult bool
		text     []string
	)
	flush := func() {
		if cur != nil {
			cur.sql = strings.TrimSpace(strings.Join(text, "\n"))
			cases = append(cases, *cur)
		}
		cur, inResult, text = nil, false, nil
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		trimmed := strings.TrimSpace(s)
		if cur == nil {
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			fields := strings.Fields(trimmed)
			c := diffCase{where: fmt.Sprintf("%s:%d", filepath.Base(path), line), kind: fields[0]}
			switch c.kind {
			case "connection":
				if len(fields) != 2 {
					return nil, fmt.Errorf("%s: want connection <name>", c.where)
				}
				c.sql = fields[1]
				cases = append(cases, c)
				continue
			case "statement":
				if len(fields) < 2 {
					return nil, fmt.Errorf("%s: want statement ok|error <code>", c.where)
				}
				if fields[1] == "error" {
					if len(fields) < 3 {
						return nil, fmt.Errorf("%s: statement error needs a code", c.where)
					}
					code, err := strconv.ParseUint(fields[2], 10, 16)
					if err != nil {
						return nil, fmt.Errorf("%s: error code %q: %w", c.where, fields[2], err)
					}
					c.wantErr = uint16(code)
				} else if fields[1] != "ok" {
					return nil, fmt.Errorf("%s: want statement ok|error, got %q", c.where, fields[1])
				}
			case "query":
				// colnames needs nothing here: column names are always compared.
				c.rowsort = slices.Contains(fields[1:], "rowsort")
			default:
				return nil, fmt.Errorf("%s: unknown block %q", c.where, c.kind)
			}
			cur = &c
			continue
		}
		switch {
		case trimmed == "":
			flush()
		case inResult:
			// expected rows: the reference server decides here
		case trimmed == "----" && cur.kind == "query":
			inResult = true
		default:
			text = append(text, s)
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cases, nil
}
