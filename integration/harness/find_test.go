package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestMissingErrorSaysHowToInstall(t *testing.T) {
	const galera = "apt-get install mariadb-server mariadb-client galera-4 galera-arbitrator-4 rsync"
	for _, tc := range []struct {
		missing []Tool
		want    string
	}{
		{[]Tool{GaleraLib}, galera},
		{[]Tool{Mariadbd, Garbd}, galera},
		{[]Tool{Sysbench}, "apt-get install sysbench"},
		{[]Tool{Sysbench, HAProxy}, "apt-get install sysbench haproxy"},
		{[]Tool{Rsync, HAProxy}, galera + " haproxy"},
	} {
		err := &MissingError{Tools: tc.missing}
		if got := err.InstallCommand(); got != tc.want {
			t.Errorf("%v: InstallCommand() = %q, want %q", tc.missing, got, tc.want)
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), string(tc.missing[0])) {
			t.Errorf("%v: Error() = %q lacks the tool or the command", tc.missing, err.Error())
		}
		if !IsMissing(err) {
			t.Errorf("IsMissing(%v) = false", err)
		}
	}
}

func TestRequireReportsOnlyMissingTools(t *testing.T) {
	tools := Tools{paths: map[Tool]string{Mariadbd: "/usr/sbin/mariadbd"}}
	if err := tools.Require(Mariadbd); err != nil {
		t.Fatalf("Require(present) = %v", err)
	}
	err := tools.Require(Mariadbd, Garbd, HAProxy)
	m, ok := err.(*MissingError)
	if !ok || len(m.Tools) != 2 || m.Tools[0] != Garbd || m.Tools[1] != HAProxy {
		t.Fatalf("Require = %#v, want garbd and haproxy missing", err)
	}
	if _, err := tools.Path(Garbd); !IsMissing(err) {
		t.Fatalf("Path(missing) = %v", err)
	}
}

func TestReadGrastate(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, uuid string
		seqno               int64
		bad                 bool
	}{
		{"crashed", "# GALERA saved state\nversion: 2.1\nuuid:    4fbbe5b7-e617-11f1-aaa0-fb7db8223e62\nseqno:   -1\nsafe_to_bootstrap: 0\n", "4fbbe5b7-e617-11f1-aaa0-fb7db8223e62", -1, false},
		{"clean", "uuid: 4fbbe5b7-e617-11f1-aaa0-fb7db8223e62\nseqno: 11\n", "4fbbe5b7-e617-11f1-aaa0-fb7db8223e62", 11, false},
		{"garbage seqno", "uuid: x\nseqno: many\n", "", 0, true},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		uuid, seqno, err := readGrastate(p)
		if (err != nil) != tc.bad || uuid != tc.uuid || seqno != tc.seqno {
			t.Errorf("%s: readGrastate = %q, %d, %v", tc.name, uuid, seqno, err)
		}
	}
	if uuid, _, err := readGrastate(filepath.Join(dir, "absent")); err != nil || uuid != "" {
		t.Errorf("absent grastate: %q, %v; want no state and no error", uuid, err)
	}
}

func TestQuoteEscapes(t *testing.T) {
	for in, want := range map[string]string{"app": "'app'", "o'neil": "'o''neil'", `a\b`: `'a\\b'`} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestDSNNeverAsksForCollation255(t *testing.T) {
	dsn := TCPDSN("127.0.0.1:3306", "app", "p@ss:w/rd", "db")
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if c.Collation != "utf8mb4_general_ci" || c.Passwd != "p@ss:w/rd" || c.Addr != "127.0.0.1:3306" || c.DBName != "db" {
		t.Fatalf("DSN %q parses to collation %q, password %q, addr %q, db %q", dsn, c.Collation, c.Passwd, c.Addr, c.DBName)
	}
}

func TestRequireSkipsOnlyWhenMissing(t *testing.T) {
	present := Tools{paths: map[Tool]string{Garbd: "/usr/bin/garbd"}}
	for _, tc := range []struct {
		tools    Tools
		wantSkip bool
	}{
		{present, false},
		{Tools{}, true},
	} {
		var skipped bool
		t.Run("", func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			requireFrom(t, tc.tools, Garbd)
		})
		if skipped != tc.wantSkip {
			t.Errorf("tools %v: skipped = %v, want %v", tc.tools.paths, skipped, tc.wantSkip)
		}
	}
}
