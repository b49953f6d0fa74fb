package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// base is a valid file that tests append keys to.
const base = `
[[server]]
name = "node1"
address = "127.0.0.1"

[[monitor]]
name = "cluster"
type = "galera"
servers = ["node1"]
user = "monitor"

[[listener]]
name = "port"
service = "rw"
port = 4006

[[service]]
name = "rw"
router = "%s"
cluster = "cluster"
user = "service"
`

func parseService(t *testing.T, router, extra string) (*Service, error) {
	t.Helper()
	src := strings.Replace(base, "%s", router, 1) + extra
	cfg, err := Parse("t.toml", []byte(src))
	if err != nil {
		return nil, err
	}
	return &cfg.Services[0], nil
}

func TestDurations(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration
		err   string
	}{
		{`"500ms"`, 500 * time.Millisecond, ""},
		{`"2m"`, 2 * time.Minute, ""},
		{`"1h30m"`, 90 * time.Minute, ""},
		{`"0s"`, 0, ""},
		{`30`, 0, `a bare number has no unit: write a string such as "30ms" or "30s"`},
		{`1.5`, 0, `expected a duration, got the number 1.5: write a string with a unit`},
		{`"30"`, 0, `invalid duration "30": write a string with a unit, e.g. "500ms", "1s", "2m" or "1h"`},
		{`"soon"`, 0, `invalid duration "soon"`},
		{`"-1s"`, 0, `must not be negative, got -1s`},
		{`"off"`, 0, `invalid duration "off"`},
	} {
		svc, err := parseService(t, "readwritesplit", "wait_timeout = "+tc.value+"\n")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), "wait_timeout: "+tc.err) {
				t.Errorf("wait_timeout = %s: error %v, want one containing %q", tc.value, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("wait_timeout = %s: %v", tc.value, err)
		} else if svc.WaitTimeout != tc.want {
			t.Errorf("wait_timeout = %s: got %v, want %v", tc.value, svc.WaitTimeout, tc.want)
		}
	}
}

// TestConnectionKeepalive: MaxScale's default of 300 s when absent, "0s"
// turns it off, and there is no "off" spelling or negative value.
func TestConnectionKeepalive(t *testing.T) {
	svc, err := parseService(t, "readwritesplit", "")
	if err != nil || svc.ConnectionKeepalive != 300*time.Second {
		t.Fatalf("default connection_keepalive: %v, %v; want 5m0s", svc, err)
	}
	for value, want := range map[string]time.Duration{`"0s"`: 0, `"30s"`: 30 * time.Second, `"500ms"`: 500 * time.Millisecond} {
		svc, err := parseService(t, "readconnroute", "connection_keepalive = "+value+"\n")
		if err != nil || svc.ConnectionKeepalive != want {
			t.Errorf("connection_keepalive = %s: got %v, %v; want %v", value, svc, err, want)
		}
	}
	for value, msg := range map[string]string{`"-1s"`: "must not be negative", `"off"`: `invalid duration "off"`, `300`: "a bare number has no unit"} {
		_, err := parseService(t, "readwritesplit", "connection_keepalive = "+value+"\n")
		if err == nil || !strings.Contains(err.Error(), "connection_keepalive: "+msg) {
			t.Errorf("connection_keepalive = %s: error %v, want one containing %q", value, err, msg)
		}
	}
}

func TestIdleSessionPoolTime(t *testing.T) {
	for value, want := range map[string]time.Duration{`"off"`: Off, `"0s"`: 0, `"10s"`: 10 * time.Second} {
		svc, err := parseService(t, "readwritesplit", "idle_session_pool_time = "+value+"\n")
		if err != nil || svc.IdleSessionPoolTime != want {
			t.Errorf("idle_session_pool_time = %s: got %v, %v; want %v", value, svc, err, want)
		}
	}
	_, err := parseService(t, "readwritesplit", "idle_session_pool_time = \"-1s\"\n")
	if err == nil || !strings.Contains(err.Error(), "must not be negative") {
		t.Errorf("a negative idle_session_pool_time: error %v, want \"must not be negative\" (only \"off\" turns it off)", err)
	}
}

func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  Size
		ok    bool
	}{
		{`1048576`, 1 << 20, true},
		{`"1Mi"`, 1 << 20, true},
		{`"1M"`, 1_000_000, true},
		{`"64ki"`, 64 << 10, true},
		{`"2G"`, 2e9, true},
		{`"3Gi"`, 3 << 30, true},
		{`"512"`, 512, true},
		{`"1MB"`, 0, false},
		{`"1.5Mi"`, 0, false},
		{`"Mi"`, 0, false},
		{`"-1K"`, 0, false},
		{`"+1K"`, 0, false},
		{`"99999999999Gi"`, 0, false},
		{`-1`, 0, false},
		{`1.5`, 0, false},
	} {
		svc, err := parseService(t, "readwritesplit", "transaction_replay_max_size = "+tc.value+"\n")
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.value, err)
		case tc.ok && svc.TransactionReplayMaxSize != tc.want:
			t.Errorf("%s: got %d, want %d", tc.value, svc.TransactionReplayMaxSize, tc.want)
		case !tc.ok && err == nil:
			t.Errorf("%s: accepted as %d", tc.value, svc.TransactionReplayMaxSize)
		}
	}
}

func TestThreads(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  Threads
		err   string
	}{
		{``, ThreadsAuto, ""},
		{`"auto"`, ThreadsAuto, ""},
		{`1`, 1, ""},
		{`16`, 16, ""},
		{`0`, 0, `invalid thread count 0: write "auto" or a number of at least 1`},
		{`-2`, 0, `invalid thread count -2: write "auto" or a number of at least 1`},
		{`"4"`, 0, `invalid thread count "4": write "auto" or a number of at least 1`},
		{`"Auto"`, 0, `invalid thread count "Auto"`},
		{`1.5`, 0, `expected a thread count, got`},
	} {
		src := "[proxy]\n"
		if tc.value != "" {
			src += "threads = " + tc.value + "\n"
		}
		cfg, err := Parse("t.toml", []byte(src))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("threads = %s: %v", tc.value, err)
		case tc.err == "" && cfg.Proxy.Threads != tc.want:
			t.Errorf("threads = %s: got %v, want %v", tc.value, cfg.Proxy.Threads, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("threads = %s: error %v, want %q", tc.value, err, tc.err)
		}
	}
	if got := Threads(3).String(); got != "3" {
		t.Errorf("Threads(3).String() = %q", got)
	}
	cfg := Default()
	cfg.Proxy.Threads = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `must be "auto" or at least 1`) {
		t.Errorf("Validate with threads -1: %v", err)
	}
}

func TestSizeString(t *testing.T) {
	for size, want := range map[Size]string{0: "0", 1000: "1000", 1536: "1536", 1024: "1Ki", 1 << 20: "1Mi", 3 << 30: "3Gi"} {
		if got := size.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(size), got, want)
		}
	}
}

// MaxScale's implied settings apply to keys the file leaves out.
func TestServiceNormalisation(t *testing.T) {
	svc, err := parseService(t, "readwritesplit", "transaction_replay = true\n")
	if err != nil {
		t.Fatal(err)
	}
	if !svc.DelayedRetry || !svc.MasterReconnection || svc.MasterFailureMode != "fail_on_write" {
		t.Errorf("transaction_replay did not imply delayed_retry, master_reconnection and fail_on_write: %+v", svc)
	}

	svc, err = parseService(t, "readwritesplit", "disable_sescmd_history = true\n")
	if err != nil {
		t.Fatal(err)
	}
	if svc.MasterReconnection {
		t.Error("disable_sescmd_history = true left master_reconnection on")
	}

	_, err = parseService(t, "readwritesplit", "disable_sescmd_history = true\ntransaction_replay = true\n")
	if err == nil || !strings.Contains(err.Error(), "disable_sescmd_history: cannot be true while master_reconnection is on") {
		t.Errorf("transaction_replay with disable_sescmd_history: got %v", err)
	}

	_, err = parseService(t, "readwritesplit", "transaction_replay_commit_check = true\n")
	if err == nil || !strings.Contains(err.Error(), "transaction_replay_commit_check: needs transaction_replay = true") {
		t.Errorf("transaction_replay_commit_check without transaction_replay: got %v", err)
	}
	svc, err = parseService(t, "readwritesplit", "transaction_replay = true\ntransaction_replay_commit_check = true\n")
	if err != nil || !svc.TransactionReplayCommitCheck {
		t.Errorf("transaction_replay_commit_check with transaction_replay: %v, %+v", err, svc)
	}

	svc, err = parseService(t, "readconnroute", "")
	if err != nil {
		t.Fatal(err)
	}
	if !svc.MasterAcceptReads || !slices.Equal(svc.RouterOptions, []string{"running"}) {
		t.Errorf("readconnroute defaults: master_accept_reads %v, router_options %q", svc.MasterAcceptReads, svc.RouterOptions)
	}
	svc, err = parseService(t, "readconnroute", "master_accept_reads = false\n")
	if err != nil || svc.MasterAcceptReads {
		t.Errorf("readconnroute with master_accept_reads = false: %v, %v", svc, err)
	}
}

func TestParseFillsDefaults(t *testing.T) {
	cfg, err := Load("testdata/good/minimal.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	if !reflect.DeepEqual(cfg.Proxy, want.Proxy) || cfg.Log != want.Log || cfg.Admin != want.Admin || cfg.Metrics != want.Metrics {
		t.Errorf("global sections differ from Default():\n%+v", cfg)
	}
	srv := DefaultServer()
	srv.Name, srv.Address = "db", "127.0.0.1"
	if !reflect.DeepEqual(cfg.Servers, []Server{srv}) {
		t.Errorf("server: got %+v, want %+v", cfg.Servers[0], srv)
	}
	if got := cfg.ServiceServers(&cfg.Services[0]); !slices.Equal(got, []string{"db"}) {
		t.Errorf("ServiceServers of a cluster service = %q, want [db]", got)
	}
	if l := cfg.Listeners[0]; l.Address != "0.0.0.0" || l.Protocol != "mariadb" || l.Port != 4006 {
		t.Errorf("listener: %+v", l)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		err  Error
		want string
	}{
		{Error{File: "a.toml", Line: 3, Key: "proxy.datadir", Msg: "m"}, "a.toml:3: proxy.datadir: m"},
		{Error{File: "a.toml", Line: 3, Msg: "m"}, "a.toml:3: m"},
		{Error{File: "a.toml", Key: "k", Msg: "m"}, "a.toml: k: m"},
		{Error{Key: "k", Msg: "m"}, "k: m"},
		{Error{Line: 2, Key: "k", Msg: "m"}, "line 2: k: m"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestErrorTypes(t *testing.T) {
	_, err := Parse("one.toml", []byte("[proxy]\nbogus = 1\n"))
	var one *Error
	if !errors.As(err, &one) || one.Line != 2 || one.Key != "proxy.bogus" {
		t.Fatalf("one problem: got %#v, want a *Error for line 2", err)
	}
	var list ErrorList
	if errors.As(err, &list) {
		t.Error("one problem came back as an ErrorList")
	}

	_, err = Parse("two.toml", []byte("[log]\nlevel = \"loud\"\n\n[proxy]\nbogus = 1\n"))
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("two problems: got %#v, want an ErrorList of 2", err)
	}
	if list[0].Line != 2 || list[1].Line != 5 {
		t.Errorf("not sorted by line: %v", list)
	}
	if !errors.As(err, &one) || one != list[0] {
		t.Error("errors.As does not reach the *Error items of an ErrorList")
	}
	if got := err.Error(); got != list[0].Error()+"\n"+list[1].Error() {
		t.Errorf("ErrorList.Error() = %q", got)
	}
}

func TestCheck(t *testing.T) {
	if got := Check("testdata/good/minimal.toml"); got != nil {
		t.Errorf("Check(valid file) = %q, want nil", got)
	}
	missing := filepath.Join(t.TempDir(), "nope.toml")
	got := Check(missing)
	if len(got) != 1 || !strings.Contains(got[0], "nope.toml") {
		t.Errorf("Check(missing file) = %q, want one line naming the file", got)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("[log]\nlevel = 1\nformat = \"xml\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{
		bad + `:2: log.level: expected a string, got the number 1`,
		bad + `:3: log.format: must be "text" or "json", got "xml"`,
	}
	if got := Check(bad); !slices.Equal(got, want) {
		t.Errorf("Check(bad file) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Validate covers configurations built in code, without file or line.
func TestValidateBuiltInCode(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Default() is invalid: %v", err)
	}
	srv := DefaultServer()
	srv.Name, srv.Address = "a", "10.0.0.1"
	mon := DefaultMonitor()
	mon.Name, mon.Type, mon.User, mon.Servers = "m", "galera", "mon", []string{"a"}
	svc := DefaultService(ReadWriteSplit)
	svc.Name, svc.User, svc.Cluster = "s", "svc", "m"
	lst := DefaultListener()
	lst.Name, lst.Service, lst.Port = "l", "s", 4006
	cfg.Servers, cfg.Monitors, cfg.Services, cfg.Listeners = []Server{srv}, []Monitor{mon}, []Service{svc}, []Listener{lst}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}

	cfg.Listeners[0].Port = 9000
	cfg.Listeners[0].Address = "127.0.0.1"
	cfg.Monitors[0].MonitorInterval = time.Millisecond
	cfg.Admin.Listen = "0.0.0.0:9000"
	want := []string{
		`monitor "m".monitor_interval: must be at least 100ms, got 1ms`,
		`admin.password: the default password "mariadb" is refused on a non-loopback address (listen = "0.0.0.0:9000"): set a password of your own`,
		`admin.listen: 0.0.0.0:9000 listens on every address, including 127.0.0.1:9000, already used by listener "l".port`,
	}
	if got := ErrorLines(cfg.Validate()); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The schema tags are the single source of truth; a typo in one would
// silently change behaviour.
func TestSchemaTags(t *testing.T) {
	seen := map[string]bool{}
	for _, sec := range sections() {
		if sec.key == "" || seen[sec.key] {
			t.Errorf("section %v: empty or duplicate key", sec.typ)
		}
		seen[sec.key] = true
		keys := map[string]bool{}
		for _, f := range sec.fields {
			name := sec.typ.Field(f.index).Name
			if f.key == "" || keys[f.key] {
				t.Errorf("%s.%s: empty or duplicate toml key %q", sec.key, name, f.key)
			}
			keys[f.key] = true
			if f.reload != "hot" && f.reload != "restart" {
				t.Errorf("%s.%s: reload tag %q, want hot or restart", sec.key, name, f.reload)
			}
			if f.router != "" && f.router != ReadWriteSplit && f.router != ReadConnRoute {
				t.Errorf("%s.%s: unknown router %q", sec.key, name, f.router)
			}
		}
		if sec.many && sec.fieldByKey("name") == nil {
			t.Errorf("[[%s]] has no name key", sec.key)
		}
	}
}

// Every default must itself pass validation, router by router.
func TestDefaultsAreValid(t *testing.T) {
	for _, router := range []string{ReadWriteSplit, ReadConnRoute} {
		cfg := Default()
		srv := DefaultServer()
		srv.Name, srv.Address = "a", "h"
		mon := DefaultMonitor()
		mon.Name, mon.Type, mon.User, mon.Servers = "m", "galera", "u", []string{"a"}
		svc := DefaultService(router)
		svc.Name, svc.User, svc.Servers = "s", "u", []string{"a"}
		lst := DefaultListener()
		lst.Name, lst.Service, lst.Port = "l", "s", 1
		cfg.Servers, cfg.Monitors, cfg.Services, cfg.Listeners = []Server{srv}, []Monitor{mon}, []Service{svc}, []Listener{lst}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", router, err)
		}
	}
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[string]string{"debug": "DEBUG", "info": "INFO", "warn": "WARN", "error": "ERROR"} {
		if got := (Log{Level: level}).SlogLevel().String(); got != want {
			t.Errorf("%s: got %s", level, got)
		}
	}
}

func TestAdminDefaultPasswordNeedsLoopback(t *testing.T) {
	for listen, loopback := range map[string]bool{
		"127.0.0.1:8989":        true,
		"127.0.0.2:8989":        true,
		"localhost:8989":        true,
		"[::1]:8989":            true,
		"0.0.0.0:8989":          false,
		"[::]:8989":             false,
		":8989":                 false,
		"10.1.2.3:8989":         false,
		"admin.example.com:80":  false,
		"[::ffff:10.0.0.1]:123": false,
	} {
		_, err := Parse("a.toml", []byte("[admin]\nlisten = \""+listen+"\"\n"))
		refused := err != nil && strings.Contains(err.Error(), `admin.password: the default password "mariadb" is refused`)
		if refused == loopback || (err != nil && !refused) {
			t.Errorf("listen = %q: got %v, want refused = %v", listen, err, !loopback)
		}
		// A password of one's own is accepted anywhere.
		if _, err := Parse("a.toml", []byte("[admin]\npassword = \"x\"\nlisten = \""+listen+"\"\n")); err != nil {
			t.Errorf("listen = %q with a password: %v", listen, err)
		}
	}
}

// BenchmarkParseExample measures a reload's parsing cost on the example.
func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("example", data); err != nil {
			b.Fatal(err)
		}
	}
}
