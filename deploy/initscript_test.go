package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// proxyBinary is the maxproxy the Makefile built (MAXPROXY_BIN, else bin/).
func proxyBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("MAXPROXY_BIN"); dir != "" {
		return filepath.Join(dir, "maxproxy")
	}
	p, err := harness.RepoBinary("maxproxy")
	if err != nil {
		t.Skipf("the init script test runs the built proxy (make build): %v", err)
	}
	return p
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := harness.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// TestInitScriptRunsTheProxy drives init.d/maxproxy as an administrator
// would: start runs the built proxy as an unprivileged user with a PID
// file, status reports it, a second start leaves it alone, stop ends it and
// removes the PID file. Only the paths (via the defaults file) and the
// account (nobody, since no maxproxy account exists here) differ from an
// installation.
func TestInitScriptRunsTheProxy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("start-stop-daemon --chuid and install -o need root; this check did not run")
	}
	lookTool(t, "start-stop-daemon", "dpkg")
	if _, err := os.Stat("/lib/lsb/init-functions"); err != nil {
		t.Skipf("no /lib/lsb/init-functions (Debian: apt-get install lsb-base): %v; this check did not run", err)
	}
	bin := proxyBinary(t)

	// The daemon runs as nobody and must reach its files below dir, which
	// t.TempDir's private parent would hide.
	dir, err := os.MkdirTemp("", "maxproxy-init-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	cfg := fmt.Sprintf(`[proxy]
datadir = %[1]q

[admin]
enabled = false

[metrics]
listen = %[2]q

[[server]]
name = "node1"
address = "127.0.0.1"
port = %[3]d

[[monitor]]
name = "galera"
type = "galera"
servers = ["node1"]
user = "monitor"
password = "pw"

[[service]]
name = "rw"
router = "readwritesplit"
cluster = "galera"
user = "app"
password = "pw"

[[listener]]
name = "rw-port"
service = "rw"
address = "127.0.0.1"
port = %[4]d
`, filepath.Join(dir, "data"), metricsAddr, ports[2], ports[0])
	configPath := filepath.Join(dir, "maxproxy.toml")
	pidFile := filepath.Join(dir, "run", "maxproxy.pid")
	logFile := filepath.Join(dir, "log", "maxproxy.log")
	// MAXFILES: the default may exceed what this machine allows.
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		t.Fatal(err)
	}
	defaults := fmt.Sprintf("DAEMON=%q\nCONFIG=%q\nRUNAS=nobody\nRUNGROUP=nogroup\nPIDFILE=%q\nLOGFILE=%q\nDATADIR=%q\nSTOP_TIMEOUT=10\nMAXFILES=%d\n",
		bin, configPath, pidFile, logFile, filepath.Join(dir, "data"), nofile.Max)
	defaultsPath := filepath.Join(dir, "default")
	script := strings.ReplaceAll(readFile(t, "init.d/maxproxy"), "/etc/default/maxproxy", defaultsPath)
	if !strings.Contains(script, fmt.Sprintf("[ -r %[1]s ] && . %[1]s\n", defaultsPath)) {
		t.Fatal("init.d/maxproxy no longer reads /etc/default/maxproxy")
	}
	scriptPath := filepath.Join(dir, "maxproxy.init")
	for path, text := range map[string]string{configPath: cfg, defaultsPath: defaults, scriptPath: script} {
		if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	action := func(verb string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, scriptPath, verb)
		// Where systemd is PID 1, init-functions would hand the action to
		// systemctl; the script itself is under test.
		cmd.Env = append(os.Environ(), "_SYSTEMCTL_SKIP_REDIRECT=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			if exit, ok := err.(*exec.ExitError); ok {
				return exit.ExitCode(), string(out)
			}
			t.Fatalf("%s %s: %v\n%s", scriptPath, verb, err, out)
		}
		return 0, string(out)
	}
	expect := func(verb string, want int) {
		t.Helper()
		if code, out := action(verb); code != want {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited %d, want %d\n%s\nlog:\n%s", verb, code, want, out, log)
		}
	}
	t.Cleanup(func() {
		if _, err := os.Stat(pidFile); err == nil {
			action("stop")
		}
	})

	expect("status", 3)
	expect("start", 0)
	pid := strings.TrimSpace(readFile(t, pidFile))
	expect("status", 0)
	if owner := processUser(t, pid); owner != "65534" {
		t.Errorf("proxy runs as uid %s, want nobody (65534)", owner)
	}
	// It is the proxy, serving: the monitor already reports the missing
	// backend the way MaxproxyServerUnreachable expects.
	want := `maxproxy_monitor_wsrep_local_state{monitor="galera",server="node1"} -1`
	if body := scrapeUntil(t, metricsAddr, want); !strings.Contains(body, want) {
		t.Errorf("metrics of the started proxy lack %q", want)
	}
	expect("start", 0)
	if again := strings.TrimSpace(readFile(t, pidFile)); again != pid {
		t.Errorf("a second start replaced the proxy: pid %s, then %s", pid, again)
	}
	expect("reload", 0)
	if again := strings.TrimSpace(readFile(t, pidFile)); again != pid {
		t.Errorf("reload replaced the proxy: pid %s, then %s", pid, again)
	}
	expect("status", 0) // SIGHUP reloads; it must not end the process
	expect("restart", 0)
	if after := strings.TrimSpace(readFile(t, pidFile)); after == pid {
		t.Errorf("restart kept pid %s", pid)
	}
	expect("stop", 0)
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("PID file left after stop: %v", err)
	}
	expect("status", 3)
	expect("stop", 0)
	if code, _ := action("reload"); code != 7 {
		t.Errorf("reload of a stopped proxy exited %d, want 7 (LSB: program is not running)", code)
	}
}

// processUser returns the real uid of process pid.
func processUser(t *testing.T, pid string) string {
	t.Helper()
	for _, line := range strings.Split(readFile(t, "/proc/"+pid+"/status"), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no Uid in /proc/%s/status", pid)
	return ""
}

// scrapeUntil polls the metrics endpoint until its body contains want or
// 30s pass, and returns the last body.
func scrapeUntil(t *testing.T, addr, want string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	var body string
	var err error
	for time.Now().Before(deadline) {
		var resp *http.Response
		if resp, err = client.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if body = string(b); strings.Contains(body, want) {
				return body
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	return body
}
