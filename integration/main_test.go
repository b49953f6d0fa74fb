package integration

import (
	"context"
	"os"
	"testing"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// galera3 is the package's one real Galera cluster, started by the first
// test that needs it and stopped after the last. Tests that stop, kill or
// pause a node restart it before they return.
var galera3 = harness.NewShared("galera3", func(ctx context.Context, s *harness.Scope) (*harness.Galera, error) {
	return harness.NewGalera(ctx, s, 3, harness.GaleraOptions{})
})

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, galera3))
}
