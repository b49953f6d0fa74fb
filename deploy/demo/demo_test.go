package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	proxyconfig "github.com/maxproxy/maxproxy/config"
	nodeconfig "github.com/maxproxy/maxproxy/node/config"
)

func noEnv(string) string { return "" }

func TestParseFlagsDefaults(t *testing.T) {
	s, err := parseFlags(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.rwPort != 4006 || s.roPort != 4008 || s.adminPort != 8989 || s.metricsPort != 9195 {
		t.Errorf("ports rw %d ro %d admin %d metrics %d, want 4006 4008 8989 9195", s.rwPort, s.roPort, s.adminPort, s.metricsPort)
	}
	if filepath.Base(s.dir) != "demo-data" || !filepath.IsAbs(s.dir) {
		t.Errorf("dir = %q, want an absolute .../demo-data", s.dir)
	}
}

func TestParseFlagsEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{"MAXPROXY_DEMO_DIR": "/tmp/d", "MAXPROXY_DEMO_RW_PORT": "5006"}
	s, err := parseFlags([]string{"-ro-port", "5008"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.dir != "/tmp/d" || s.rwPort != 5006 || s.roPort != 5008 {
		t.Errorf("dir %q rw %d ro %d, want /tmp/d 5006 5008", s.dir, s.rwPort, s.roPort)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-rw-port", "0"}, "-rw-port: want a port number"},
		{[]string{"-admin-port", "x"}, "-admin-port: want a port number"},
		{[]string{"-node-ports", "1,2"}, "-node-ports: want 3 comma-separated ports"},
		{[]string{"-ro-port", "4006"}, "port 4006 is used twice"},
		{[]string{"-timeout", "0s"}, "-timeout must be positive"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		_, err := parseFlags(tc.args, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

func TestReadGrastate(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          grastate
	}{
		{"missing", "", grastate{}},
		{"clean", "# GALERA saved state\nversion: 2.1\nuuid:    5f3e...\nseqno:   13\nsafe_to_bootstrap: 0\n", grastate{exists: true}},
		{"safe", "version: 2.1\nseqno: 4\nsafe_to_bootstrap: 1\n", grastate{exists: true, safeToBootstrap: true}},
	} {
		p := filepath.Join(dir, tc.name)
		if tc.content != "" {
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := readGrastate(p)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// The generated files must pass the same validation the binaries apply,
// so a schema change in either product breaks this test, not the demo.
func TestGeneratedConfigsAreValid(t *testing.T) {
	s, err := parseFlags([]string{"-dir", t.TempDir()}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	d := &demo{s: s}
	if _, err := proxyconfig.Parse("maxproxy.toml", d.proxyConfig()); err != nil {
		t.Errorf("maxproxy.toml: %v\n%s", err, d.proxyConfig())
	}
	for i := range clusterSize {
		cfg, err := nodeconfig.Parse("node.toml", d.nodeConfig(i))
		if err != nil {
			t.Fatalf("node%d.toml: %v", i+1, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("node%d.toml: %v", i+1, err)
		}
		if _, self, err := cfg.ClusterMembers(); err != nil || self != i {
			t.Errorf("node%d.toml: member index %d (%v), want %d", i+1, self, err, i)
		}
	}
}
