package backend_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/proxy/auth"
)

// TestAccountManagerEndToEnd puts the real pieces together: the mariadb CLI
// logs in to the test proxy, which authenticates it with accounts loaded
// from MariaDB by the service user, logs in to MariaDB with the recovered
// SHA1(password), and relays.
func TestAccountManagerEndToEnd(t *testing.T) {
	s := needServer(t)
	svc := harness.ServiceAccount
	m := auth.New(auth.DefaultConfig(), &auth.ServerLoader{Addr: s.Addr(), User: svc.User, Password: svc.Password}, nil, nil)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := startProxy(t, proxyOpts{auth: m})

	if got := cli(t, p.addr(), "", "-e", "SELECT CURRENT_USER()"); got != appUser+"@%\n" {
		t.Fatalf("got %q", got)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-u", appUser, "-pwrong"}, "ERROR 1045 (28000): Access denied for user 'app'@'localhost' (using password: YES)"},
		{[]string{"-u", appUser, "-p" + appPass, "nosuchdb"}, "ERROR 1044 (42000): Access denied for user 'app'@'localhost' to database 'nosuchdb'"},
		{[]string{"-u", "root"}, "ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: NO)"},
	}
	for _, c := range cases {
		host, port, _ := strings.Cut(p.addr(), ":")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "mariadb", append([]string{"--no-defaults", "-h", host, "-P", port, "-e", "SELECT 1"}, c.args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		if err == nil || strings.TrimSpace(stderr.String()) != c.want {
			t.Errorf("%v: %v, stderr %q, want %q", c.args, err, stderr.String(), c.want)
		}
	}
}
