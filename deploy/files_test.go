package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/proxy/cli"
)

// unitFile reads the [Service] and [Unit] keys of a systemd unit; a key
// given several times keeps every value.
func unitFile(t *testing.T, path string) map[string][]string {
	t.Helper()
	keys := map[string][]string{}
	for n, line := range strings.Split(readFile(t, path), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: not key=value: %q", path, n+1, line)
		}
		keys[k] = append(keys[k], v)
	}
	return keys
}

// shellVars reads the VAR=value defaults at the top level of the init
// script.
func shellVars(t *testing.T, path string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	re := regexp.MustCompile(`(?m)^([A-Z_]+)=("?)([^"\n]*)("?)$`)
	for _, m := range re.FindAllStringSubmatch(readFile(t, path), -1) {
		vars[m[1]] = m[3]
	}
	return vars
}

// TestFilesFollowCodeDefaults: the service files, the scrape target and
// the lag alert use the paths, addresses and thresholds the code defaults
// to, so that an installation without overrides works.
func TestFilesFollowCodeDefaults(t *testing.T) {
	def := config.Default()
	unit := unitFile(t, "systemd/maxproxy.service")
	if got := unit["ExecStart"]; len(got) != 1 || !strings.HasSuffix(got[0], " -c "+cli.DefaultConfigPath) {
		t.Errorf("maxproxy.service ExecStart = %q, want it to read %s", got, cli.DefaultConfigPath)
	}
	if got := unit["StateDirectory"]; len(got) != 1 || "/var/lib/"+got[0] != def.Proxy.DataDir {
		t.Errorf("maxproxy.service StateDirectory = %q, want the default datadir %s", got, def.Proxy.DataDir)
	}
	if got := strings.Fields(strings.Join(unit["ReadWritePaths"], " ")); !slices.Contains(got, def.Proxy.DataDir) {
		t.Errorf("maxproxy.service ReadWritePaths = %q, want %s writable under ProtectSystem=strict", got, def.Proxy.DataDir)
	}

	vars := shellVars(t, "init.d/maxproxy")
	if vars["CONFIG"] != cli.DefaultConfigPath || vars["DATADIR"] != def.Proxy.DataDir {
		t.Errorf("init.d/maxproxy CONFIG=%q DATADIR=%q, want %s and %s", vars["CONFIG"], vars["DATADIR"], cli.DefaultConfigPath, def.Proxy.DataDir)
	}

	target := regexp.MustCompile(`(?m)^\s*- (\S+:\d+)\s*$`).FindAllStringSubmatch(readFile(t, "prometheus/prometheus.yml"), -1)
	if len(target) != 1 || target[0][1] != def.Metrics.Listen {
		t.Errorf("prometheus.yml targets = %q, want the default metrics listener %s", target, def.Metrics.Listen)
	}

	lag := fmt.Sprintf("maxproxy_monitor_wsrep_local_recv_queue >= %d", config.DefaultMonitor().LagRecvQueueThreshold)
	if !strings.Contains(readFile(t, "prometheus/maxproxy.rules.yml"), "expr: "+lag+"\n") {
		t.Errorf("maxproxy.rules.yml: MaxproxyServerLagging should alert at lag_recv_queue_threshold's default: %q", lag)
	}
}

// lookTool finds a checker or skips the check that needs it, naming the
// Debian package that provides it.
func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian: apt-get install %s); this check did not run", name, pkg)
	}
	return path
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestPromtool(t *testing.T) {
	promtool := lookTool(t, "promtool", "prometheus")
	run(t, promtool, "check", "config", "prometheus/prometheus.yml")
	out := run(t, promtool, "check", "rules", "prometheus/maxproxy.rules.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules:\n%s", out)
	}
	// The alert tests: each rule fires on the series it is meant for and
	// stays quiet on the others.
	run(t, promtool, "test", "rules", "prometheus/maxproxy.rules.test.yml")
}

// TestSystemdUnits runs systemd-analyze verify on copies of the units whose
// binaries point at an executable placeholder: verify insists that
// ExecStart exists, and the binaries are not installed here. verify exits 0
// on unknown keys and bad values, so any message about our units fails.
func TestSystemdUnits(t *testing.T) {
	analyze := lookTool(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	exe := filepath.Join(dir, "placeholder")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for unit, bin := range map[string]string{"maxproxy.service": "/usr/bin/maxproxy ", "maxnode@.service": "/usr/bin/maxnode "} {
		text := readFile(t, filepath.Join("systemd", unit))
		if !strings.Contains(text, bin) {
			t.Fatalf("%s does not run %s", unit, bin)
		}
		text = strings.ReplaceAll(text, bin, exe+" ")
		if err := os.WriteFile(filepath.Join(dir, unit), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(analyze, "verify", "--man=no",
		filepath.Join(dir, "maxproxy.service"), filepath.Join(dir, "maxnode@node1.service"))
	out, err := cmd.CombinedOutput()
	var ours []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, dir) || strings.Contains(line, "maxproxy") || strings.Contains(line, "maxnode") {
			ours = append(ours, line)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, strings.Join(ours, "\n"))
	}
}

func TestInitScript(t *testing.T) {
	const script = "init.d/maxproxy"
	info, err := os.Stat(script)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode()&0o111 == 0 {
		t.Errorf("%s is not executable", script)
	}
	// #!/bin/sh is dash on Debian: both shells must accept it.
	for _, sh := range []string{"sh", "bash"} {
		t.Run(sh, func(t *testing.T) {
			run(t, lookTool(t, sh, sh), "-n", script)
		})
	}
	t.Run("shellcheck", func(t *testing.T) {
		run(t, lookTool(t, "shellcheck", "shellcheck"), "--shell=sh", script)
	})
	text := readFile(t, script)
	for _, action := range []string{"start)", "stop)", "status)", "reload | force-reload)", "restart)"} {
		if !strings.Contains(text, "\n"+action+"\n") {
			t.Errorf("%s has no %q action", script, action)
		}
	}
}

// TestSysusers: the sysusers.d entry parses and creates the accounts the
// units run as (a dry run against an empty root).
func TestSysusers(t *testing.T) {
	sysusers := lookTool(t, "systemd-sysusers", "systemd")
	conf, err := filepath.Abs("systemd/maxproxy.sysusers.conf")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := run(t, sysusers, "--root="+root, "--dry-run", conf)
	for _, unit := range []string{"maxproxy.service", "maxnode@.service"} {
		users := unitFile(t, filepath.Join("systemd", unit))["User"]
		if len(users) != 1 {
			t.Errorf("%s: User = %q, want one unprivileged account", unit, users)
			continue
		}
		if !strings.Contains(out, fmt.Sprintf("Creating user '%s'", users[0])) {
			t.Errorf("%s runs as %s, which maxproxy.sysusers.conf does not create:\n%s", unit, users[0], out)
		}
	}
}
