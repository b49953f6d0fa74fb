package integration

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestProxyBinary runs the built bin/maxproxy as `maxproxy -c FILE` (serve
// is the default command), queries the cluster through it with the mariadb
// client, and stops it with SIGTERM: it must shut down cleanly (exit 0)
// and log that it stopped.
func TestProxyBinary(t *testing.T) {
	if os.Getenv("MAXPROXY_BIN") == "" {
		if _, err := harness.RepoBinary("maxproxy"); err != nil {
			t.Skipf("bin/maxproxy not built (make build, or make test-integration, builds it): %v", err)
		}
	}
	g := galera3.Get(t)
	ports, err := harness.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	scope := harness.TestScope(t)
	proc, err := scope.StartBinary(harness.BinarySpec{
		Name:   "maxproxy",
		Binary: "maxproxy",
		Config: []byte(proxyConfig(t, g.Nodes(), ports[0], ports[1], "", "")),
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + itoa(ports[0])
	if err := harness.WaitTCP(ctxFor(t, 30*time.Second), addr); err != nil {
		t.Fatalf("%v\n%s", err, proc.Tail(40))
	}
	var out string
	err = harness.Poll(ctxFor(t, 30*time.Second), "a query through bin/maxproxy", 100*time.Millisecond, func(ctx context.Context) error {
		var qerr error
		out, qerr = mariadbCLI(t, addr, "app", "app", "-e", "SELECT @@wsrep_on")
		return qerr
	})
	if err != nil || strings.TrimSpace(out) != "1" {
		t.Fatalf("query through the binary: %q, %v\n%s", out, err, proc.Tail(40))
	}
	if err := proc.Stop(); err != nil {
		t.Fatal(err)
	}
	if exited, err := proc.Exited(); !exited || err != nil {
		t.Errorf("maxproxy after SIGTERM: exited=%v, %v\n%s", exited, err, proc.Tail(40))
	}
	if tail := proc.Tail(5); !strings.Contains(tail, "maxproxy stopped") {
		t.Errorf("log does not end with the shutdown message:\n%s", tail)
	}
}
