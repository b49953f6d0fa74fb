package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/maxproxy/maxproxy/proxy/server"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckConfigAcceptsTheShippedExample(t *testing.T) {
	code, out, errs := run(t, "check-config", "-c", filepath.Join("..", "..", "maxproxy.toml.example"))
	if code != 0 || out != "OK\n" {
		t.Fatalf("check-config on the example: exit %d, stdout %q, stderr %q; want exit 0 and OK", code, out, errs)
	}
}

func TestCheckConfigReportsEveryProblemWithFileAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	src := `[[server]]
name = "db1"
address = "127.0.0.1"
port = 70000

[[listener]]
name = "rw"
service = "missing"
port = 4006
colour = "blue"
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, "check-config", "-c", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 {
		t.Fatalf("want at least 3 problems (port range, dangling service, unknown key), got:\n%s", out)
	}
	for _, want := range []string{path + ":4:", path + ":8:", path + ":10:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks a problem at %s:\n%s", want, out)
		}
	}
}

func TestCheckConfigMissingFile(t *testing.T) {
	code, out, _ := run(t, "check-config", "-c", filepath.Join(t.TempDir(), "nope.toml"))
	if code != 1 || !strings.Contains(out, "nope.toml") {
		t.Fatalf("exit %d, output %q; want exit 1 naming the file", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"check-config", "-x"}, {"version", "extra"}} {
		if code, _, _ := run(t, args...); code != 2 {
			t.Errorf("maxproxy %q: exit %d, want 2", args, code)
		}
	}
	if code, out, _ := run(t, "help"); code != 0 || !strings.Contains(out, "check-config") {
		t.Errorf("help: exit %d, output %q", code, out)
	}
}

func TestVersion(t *testing.T) {
	old := Version
	Version = "v9.9.9-test"
	defer func() { Version = old }()
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "maxproxy v9.9.9-test ") {
		t.Fatalf("version: exit %d, output %q", code, out)
	}
}

func TestCtlIsDispatched(t *testing.T) {
	// Nothing listens on this port: ctl must get as far as dialing and fail
	// with its own request error (exit 1), not a dispatcher usage error (2).
	code, out, errs := run(t, "ctl", "--hosts", "127.0.0.1:1", "list", "servers")
	if code != 1 {
		t.Fatalf("ctl list servers against a closed port: exit %d, stdout %q, stderr %q; want 1", code, out, errs)
	}
}

func TestNoCommandServesTheDefaultConfig(t *testing.T) {
	old := DefaultConfigPath
	DefaultConfigPath = filepath.Join(t.TempDir(), "maxproxy.toml")
	defer func() { DefaultConfigPath = old }()
	code, _, errs := run(t)
	if code != 1 || !strings.Contains(errs, DefaultConfigPath) {
		t.Fatalf("maxproxy with no arguments and no config file: exit %d, stderr %q; want exit 1 naming %s", code, errs, DefaultConfigPath)
	}
}

// Each SIGHUP reloads once; a failed reload is logged and the loop goes
// on; the loop ends with its context.
func TestReloadOnSignal(t *testing.T) {
	sig := make(chan os.Signal)
	calls := make(chan struct{})
	reload := func(context.Context) (server.ReloadResult, error) {
		calls <- struct{}{}
		return server.ReloadResult{}, errors.New("maxproxy.toml:3: bad")
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { reloadOnSignal(ctx, sig, reload, log); close(done) }()
	for range 2 {
		sig <- syscall.SIGHUP
		<-calls
	}
	cancel()
	<-done
	if n := strings.Count(logs.String(), "reload on signal failed"); n != 2 {
		t.Errorf("logged %d failures, want 2:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "maxproxy.toml:3: bad") {
		t.Errorf("the failure's reason is not logged:\n%s", logs.String())
	}
}
