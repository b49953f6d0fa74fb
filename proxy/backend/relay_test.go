package backend_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cli runs the mariadb command-line client against addr as the app user.
func cli(t *testing.T, addr string, stdin string, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--no-defaults", "-h", host, "-P", port, "-u", appUser, "-p" + appPass, "-N", "-B", testDB}
	cmd := exec.CommandContext(ctx, "mariadb", append(base, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mariadb %v: %v\n%s", args, err, stderr.String())
	}
	return out.String()
}

func TestCLIThroughRelay(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	got := cli(t, p.addr(), "", "--default-character-set=utf8mb4", "-e", "SELECT 1; SELECT CONCAT('a','b'); SHOW DATABASES LIKE 'proxytest'; SELECT @@collation_connection")
	want := "1\nab\nproxytest\nutf8mb4_general_ci\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestCLIMultiStatementInOneQuery(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	// With a custom delimiter the CLI sends both statements in one
	// COM_QUERY, so the reply carries two result sets.
	script := "DELIMITER //\nSELECT 1 AS a; SELECT 2 AS b; DO 1//\nSELECT 3//\n"
	if got, want := cli(t, p.addr(), script), "1\n2\n3\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestCLILoadDataLocalInfile(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	var file strings.Builder
	for i := 1; i <= 5000; i++ {
		file.WriteString(strings.Repeat("x", i%50))
		file.WriteString(",")
		file.WriteString(strings.TrimSpace(strings.Repeat(" ", 0)))
		file.WriteString("1\n")
	}
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte(file.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sql := "CREATE TABLE infile_t (s VARCHAR(64), n INT);" +
		"LOAD DATA LOCAL INFILE '" + path + "' INTO TABLE infile_t FIELDS TERMINATED BY ',';" +
		"SELECT COUNT(*), SUM(n), SUM(LENGTH(s)) FROM infile_t; DROP TABLE infile_t;"
	got := cli(t, p.addr(), "", "--local-infile=1", "-e", sql)
	sumLen := 0
	for i := 1; i <= 5000; i++ {
		sumLen += i % 50
	}
	if want := "5000\t5000\t" + itoa(sumLen) + "\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestCLITLSOnBothSides(t *testing.T) {
	p := startProxy(t, proxyOpts{serverTLS: true, backendTLS: true})
	got := cli(t, p.addr(), "", "--ssl", "--ssl-ca="+certs.caFile,
		"-e", "SHOW SESSION STATUS LIKE 'Ssl_version'")
	if !strings.HasPrefix(got, "Ssl_version\tTLSv1.") {
		t.Fatalf("backend leg is not TLS: %q", got)
	}
	if n := p.tlsClients.Load(); n != 1 {
		t.Fatalf("client leg TLS sessions = %d, want 1", n)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
