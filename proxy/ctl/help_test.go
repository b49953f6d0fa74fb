package ctl_test

import (
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	r := run(t, "--help")
	for _, want := range []string{"maxproxy ctl", "-h, --hosts", "-u, --user", "-p, --password", "--json", "list", "show", "set", "clear", "kill", "reload"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != 0 {
		t.Errorf("exit %d", r.code)
	}
	r = run(t, "set", "server", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "maxproxy ctl set server NAME maintenance|drain") || !strings.Contains(r.stdout, "--force") {
		t.Errorf("set server --help: %+v", r)
	}
}
