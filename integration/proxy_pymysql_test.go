package integration

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// pymysqlReport is what testdata/pymysql/client.py prints.
type pymysqlReport struct {
	Version            string       `json:"pymysql"`
	Error              string       `json:"error"`
	ExecutemanyRows    int          `json:"executemany_rows"`
	Rows               []pymysqlRow `json:"rows"`
	UnicodeLookup      []int        `json:"unicode_lookup"`
	DuplicateError     int          `json:"duplicate_error"`
	CountInTransaction int          `json:"count_in_transaction"`
	RolledBackRows     int          `json:"rolled_back_rows"`
	AutocommitReads    [][2]int     `json:"autocommit_reads"`
	BadPasswordError   int          `json:"bad_password_error"`
	BadPasswordMessage string       `json:"bad_password_message"`
}

type pymysqlRow struct {
	ID      int     `json:"id"`
	Name    string  `json:"name"`
	Note    *string `json:"note"`
	Amount  *string `json:"amount"`
	Raw     *string `json:"raw"`
	Created *string `json:"created"`
}

// TestProxyPyMySQL runs PyMySQL, a second client library with its own
// protocol habits (client-side parameter interpolation, autocommit off at
// connect, executemany rewritten into one multi-row INSERT), through
// readwritesplit: the rows must come back byte for byte, NULLs and
// unicode included; a rollback must discard its insert; autocommit reads
// must reach the readers; and a wrong password must fail with 1045 as
// the server's own error.
func TestProxyPyMySQL(t *testing.T) {
	python := findPyMySQL(t)
	// causal_reads covers reads after a write within one session; the
	// script's second, fresh session asks for wsrep_sync_wait itself, since
	// no session history ties it to the first one's writes.
	_, p := startProxy(t, `causal_reads = "local"`)
	db := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	mustExec(t, db, "CREATE DATABASE IF NOT EXISTS proxypy")
	t.Cleanup(func() { mustExec(t, db, "DROP DATABASE IF EXISTS proxypy") })

	_, slaves := roles(t, p)
	readerQueries := func() float64 {
		var n float64
		for _, s := range slaves {
			n += p.routed(t, "rw", s, "slave")
		}
		return n
	}
	before := readerQueries()

	host, port, _ := strings.Cut(p.rw, ":")
	cmd := exec.CommandContext(ctxFor(t, 2*time.Minute), python, filepath.Join("testdata", "pymysql", "client.py"),
		host, port, "app", "app", "proxypy")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client.py: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	var got pymysqlReport
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("client.py printed %q: %v\nstderr: %s", out, err, stderr.String())
	}
	t.Logf("PyMySQL %s", got.Version)
	if got.Error != "" {
		t.Fatalf("client.py failed: %s", got.Error)
	}

	str := func(s string) *string { return &s }
	wantRows := []pymysqlRow{
		{ID: 1, Name: "Grüße 日本語 🐬", Amount: str("12.50"), Raw: str("0001275c"), Created: str("2024-02-29 23:59:58")},
		{ID: 2, Name: `O'Reilly \ "quoted"`, Note: str("note; DROP TABLE t; --")},
		{ID: 3, Name: "", Note: str(""), Amount: str("-0.01"), Raw: str(""), Created: str("1970-01-01 00:00:01")},
		{ID: 4, Name: "%s %%s ?", Amount: str("99999999.99"), Raw: str(strings.Repeat("ff", 16))},
	}
	if !reflect.DeepEqual(got.Rows, wantRows) {
		t.Errorf("rows read back:\n got %s\nwant %s", jsonText(got.Rows), jsonText(wantRows))
	}
	if got.ExecutemanyRows != 3 {
		t.Errorf("executemany affected %d rows, want 3", got.ExecutemanyRows)
	}
	if !reflect.DeepEqual(got.UnicodeLookup, []int{1}) {
		t.Errorf("lookup by a unicode parameter found ids %v, want [1]", got.UnicodeLookup)
	}
	if got.DuplicateError != 1062 {
		t.Errorf("duplicate key insert raised %d, want IntegrityError 1062", got.DuplicateError)
	}
	if got.CountInTransaction != 5 || got.RolledBackRows != 0 {
		t.Errorf("transaction saw %d rows (want 5) and left %d rolled-back rows (want 0)", got.CountInTransaction, got.RolledBackRows)
	}
	if len(got.AutocommitReads) != 10 {
		t.Errorf("autocommit session ran %d reads, want 10", len(got.AutocommitReads))
	}
	for i, r := range got.AutocommitReads {
		if r != [2]int{4, 2} {
			t.Errorf("autocommit read %d = %v, want 4 rows of which 2 with a NULL note", i+1, r)
		}
	}
	// The default (autocommit off) session is all transaction and belongs
	// on the writer; the autocommit session's 10 reads are what readers get.
	if n := readerQueries() - before; n != 10 {
		t.Errorf("readers served %v statements, want exactly the autocommit session's 10 reads", n)
	}
	if got.BadPasswordError != 1045 || !strings.Contains(got.BadPasswordMessage, "Access denied for user 'app'") {
		t.Errorf("wrong password: error %d %q, want 1045 Access denied for user 'app'...", got.BadPasswordError, got.BadPasswordMessage)
	}
}

// findPyMySQL returns a python3 interpreter that can import pymysql: the
// one on PATH, or Debian's (python3-pymysql installs into it, and a
// pyenv or virtualenv python3 earlier on PATH does not see it).
func findPyMySQL(t *testing.T) string {
	t.Helper()
	candidates := []string{"python3", "/usr/bin/python3"}
	var tried []string
	for _, c := range candidates {
		path, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, c+": not found")
			continue
		}
		out, err := exec.CommandContext(ctxFor(t, 30*time.Second), path, "-c", "import pymysql").CombinedOutput()
		if err == nil {
			return path
		}
		tried = append(tried, path+": "+strings.TrimSpace(lastLine(string(out))))
	}
	t.Skipf("no python3 with the pymysql module (apt-get install python3-pymysql): %s", strings.Join(tried, "; "))
	return ""
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return strconv.Quote(err.Error())
	}
	return string(b)
}
