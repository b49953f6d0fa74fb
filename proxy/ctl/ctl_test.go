package ctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/proxy/admin/admintest"
	"github.com/maxproxy/maxproxy/proxy/ctl"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type result struct {
	code           int
	stdout, stderr string
}

// run runs ctl with HOME pointing at an empty directory, so that no real
// defaults file is read.
func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := ctl.Main(context.Background(), args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func creds(addr string) []string {
	return []string{"-h", addr, "-u", admintest.User, "-p", admintest.Password}
}

// TestGolden runs each command line against a fresh fake runtime and
// compares exit status, stdout and stderr with testdata/NAME.golden.
func TestGolden(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	cases := []struct {
		name  string
		args  string
		calls []string
		setup func(*admintest.Runtime)
	}{
		{name: "list_servers", args: "list servers"},
		{name: "list_services", args: "list services"},
		{name: "list_listeners", args: "list listeners"},
		{name: "list_monitors", args: "list monitors"},
		{name: "list_sessions", args: "list sessions"},
		{name: "show_server", args: "show server db3"},
		{name: "show_server_down", args: "show server db4"},
		{name: "show_service", args: "show service rw-service"},
		{name: "show_listener", args: "show listener ro-listener"},
		{name: "show_monitor", args: "show monitor galera-monitor"},
		{name: "show_session", args: "show session 7"},
		{name: "show_maxproxy", args: "show maxproxy"},
		{name: "set_maintenance", args: "set server db2 maintenance", calls: []string{"set db2 maintenance"}},
		{name: "set_maintenance_force", args: "set server db1 maintenance --force", calls: []string{"set db1 maintenance force"}},
		{name: "clear_drain", args: "clear server db3 drain", calls: []string{"clear db3 drain"}},
		{name: "stop_monitor", args: "stop monitor galera-monitor", calls: []string{"monitor galera-monitor Stopped"}},
		{name: "start_monitor", args: "start monitor galera-monitor", calls: []string{"monitor galera-monitor Running"}},
		{name: "kill_session", args: "kill session 12", calls: []string{"kill 12"}},
		{name: "reload", args: "reload", calls: []string{"reload"}},
		{name: "reload_changes", args: "reload", calls: []string{"reload"}, setup: func(rt *admintest.Runtime) { rt.Reloaded = admintest.Reloaded }},
		{name: "json_reload_changes", args: "--json reload", calls: []string{"reload"}, setup: func(rt *admintest.Runtime) { rt.Reloaded = admintest.Reloaded }},
		{name: "err_reload_invalid", args: "reload", calls: []string{"reload"}, setup: func(rt *admintest.Runtime) { rt.ReloadErr = admintest.ErrReloadInvalid }},
		{name: "json_show_listener", args: "--json show listener rw-listener"},

		{name: "err_show_unknown", args: "show server nope"},
		{name: "err_drain_writer", args: "set server db1 drain"},
		{name: "err_bad_state", args: "set server db2 master"},
		{name: "err_kill_unknown", args: "kill session 99"},
		{name: "err_stop_unknown", args: "stop monitor nope"},
		{name: "usage_no_command", args: ""},
		{name: "usage_unknown_command", args: "frobnicate"},
		{name: "usage_list_nothing", args: "list"},
		{name: "usage_list_unknown", args: "list filters"},
		{name: "usage_missing_state", args: "set server db2"},
		{name: "usage_clear_force", args: "clear server db2 maintenance --force"},
		{name: "usage_bad_flag", args: "list servers --colour"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := admintest.New()
			if tc.setup != nil {
				tc.setup(rt)
			}
			_, addr := admintest.Serve(t, rt, config.Admin{})
			r := run(t, append(creds(addr), strings.Fields(tc.args)...)...)
			golden(t, tc.name, fmt.Sprintf("$ maxproxy ctl %s\nexit %d\n--- stdout\n%s--- stderr\n%s", tc.args, r.code, r.stdout, r.stderr))
			if calls := rt.Calls(); !slices.Equal(calls, tc.calls) {
				t.Errorf("runtime calls %q, want %q", calls, tc.calls)
			}
		})
	}
}

// TestStateChangeShows: a change made with ctl shows in the next list.
func TestStateChangeShows(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	_, addr := admintest.Serve(t, admintest.New(), config.Admin{})
	if r := run(t, append(creds(addr), "set", "server", "db3", "drain")...); r.code != 0 {
		t.Fatalf("set: %+v", r)
	}
	r := run(t, append(creds(addr), "list", "servers")...)
	if !strings.Contains(r.stdout, "Draining, Slave, Synced, Lagging, Running") {
		t.Errorf("list after drain:\n%s", r.stdout)
	}
	if r := run(t, append(creds(addr), "clear", "server", "db3", "drain")...); r.code != 0 {
		t.Fatalf("clear: %+v", r)
	}
	r = run(t, append(creds(addr), "show", "server", "db3")...)
	if strings.Contains(r.stdout, "Draining") {
		t.Errorf("show after clear:\n%s", r.stdout)
	}
}

func TestJSONIsTheAPIsOwn(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	_, addr := admintest.Serve(t, admintest.New(), config.Admin{})
	for _, args := range [][]string{{"list", "servers"}, {"show", "server", "db1"}, {"show", "session", "7"}, {"reload"}} {
		r := run(t, append(append(creds(addr), "--json"), args...)...)
		var doc struct {
			Data json.RawMessage `json:"data"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &doc) != nil || len(doc.Data) == 0 {
			t.Errorf("%v --json: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	_, addr := admintest.Serve(t, admintest.New(), config.Admin{})
	r := run(t, "-h", addr, "-u", admintest.User, "-p", "nope", "list", "servers")
	if r.code != 1 || !strings.Contains(r.stderr, "authentication required") || r.stdout != "" {
		t.Errorf("got %+v", r)
	}
}

func TestUnreachable(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	// Port 1 (tcpmux) is privileged and not served on a test machine.
	r := run(t, "-h", "127.0.0.1:1", "list", "servers")
	if r.code != 1 || !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("got %+v", r)
	}
}

func TestManyHosts(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	rt1, rt2 := admintest.New(), admintest.New()
	_, a1 := admintest.Serve(t, rt1, config.Admin{})
	_, a2 := admintest.Serve(t, rt2, config.Admin{})
	r := run(t, "-h", a1+","+a2, "-u", admintest.User, "-p", admintest.Password, "set", "server", "db2", "maintenance")
	if r.code != 0 || r.stdout != a1+":\nOK\n"+a2+":\nOK\n" {
		t.Errorf("got %+v", r)
	}
	if len(rt1.Calls()) != 1 || len(rt2.Calls()) != 1 {
		t.Errorf("calls %q and %q, want one each", rt1.Calls(), rt2.Calls())
	}
	// One failing host does not hide the other's answer, and fails the run.
	r = run(t, "-h", "127.0.0.1:1,"+a1, "-u", admintest.User, "-p", admintest.Password, "show", "server", "db1")
	if r.code != 1 || !strings.Contains(r.stdout, "Master, Synced, Running") || !strings.Contains(r.stderr, "127.0.0.1:1: ") {
		t.Errorf("got %+v", r)
	}
}

func writeFile(t *testing.T, path, body string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
}

func TestDefaultsFile(t *testing.T) {
	_, addr := admintest.Serve(t, admintest.New(), config.Admin{})
	home := t.TempDir()
	t.Setenv("HOME", home)
	path := filepath.Join(home, ctl.ConfigFileName)
	body := fmt.Sprintf("user = %q\npassword = %q\nhosts = %q\ntimeout = \"5s\"\n", admintest.User, admintest.Password, addr)

	writeFile(t, path, body, 0o600)
	if r := run(t, "list", "monitors"); r.code != 0 || !strings.Contains(r.stdout, "galera-monitor") {
		t.Errorf("with a 0600 file: %+v", r)
	}
	writeFile(t, path, body, 0o400)
	if r := run(t, "list", "monitors"); r.code != 0 {
		t.Errorf("with a 0400 file: %+v", r)
	}
	// Flags win over the file.
	if r := run(t, "-p", "wrong", "list", "monitors"); r.code != 1 || !strings.Contains(r.stderr, "authentication required") {
		t.Errorf("-p over the file: %+v", r)
	}
	for _, perm := range []os.FileMode{0o644, 0o640, 0o604} {
		writeFile(t, path, body, perm)
		r := run(t, "list", "monitors")
		if r.code != 1 || !strings.Contains(r.stderr, "refusing to read "+path) || !strings.Contains(r.stderr, "chmod 600") {
			t.Errorf("with a %#o file: %+v", perm, r)
		}
	}
	writeFile(t, path, body+"colour = \"red\"\n", 0o600)
	if r := run(t, "list", "monitors"); r.code != 1 || !strings.Contains(r.stderr, "unknown key colour") {
		t.Errorf("unknown key: %+v", r)
	}
	writeFile(t, path, "timeout = \"soon\"\n", 0o600)
	if r := run(t, "list", "monitors"); r.code != 1 || !strings.Contains(r.stderr, "duration") {
		t.Errorf("bad duration: %+v", r)
	}

	// --config names another file, which must exist.
	other := filepath.Join(t.TempDir(), "ctl.toml")
	writeFile(t, other, body, 0o600)
	if r := run(t, "--config", other, "list", "listeners"); r.code != 0 || !strings.Contains(r.stdout, "rw-listener") {
		t.Errorf("--config: %+v", r)
	}
	if r := run(t, "--config", other+".missing", "list", "listeners"); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("--config missing: %+v", r)
	}
}

func TestTLS(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	dir := t.TempDir()
	certFile, keyFile, _ := admintest.SelfSignedCert(t, dir)
	_, addr := admintest.Serve(t, admintest.New(), config.Admin{TLSCert: certFile, TLSKey: keyFile})
	if r := run(t, append(creds(addr), "--secure", "--tls-ca-cert", certFile, "show", "server", "db1")...); r.code != 0 {
		t.Errorf("trusted CA: %+v", r)
	}
	if r := run(t, append(creds(addr), "--secure", "show", "server", "db1")...); r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("untrusted: %+v", r)
	}
	if r := run(t, append(creds(addr), "--secure", "--tls-verify-server-cert=false", "show", "server", "db1")...); r.code != 0 {
		t.Errorf("without verification: %+v", r)
	}
	if r := run(t, append(creds(addr), "--tls-cert", certFile, "show", "server", "db1")...); r.code != 2 {
		t.Errorf("--tls-cert without --tls-key: %+v", r)
	}
}
