package monitortest_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/maxproxy/maxproxy/monitor"
	"github.com/maxproxy/maxproxy/monitor/monitortest"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// next waits for a snapshot satisfying cond; the monitor publishes every
// interval, so this bounds the wait in rounds of a fast interval.
func next(t *testing.T, snaps <-chan *topology.Snapshot, what string, cond func(*topology.Snapshot) bool) *topology.Snapshot {
	t.Helper()
	for range 200 {
		select {
		case s := <-snaps:
			if cond(s) {
				return s
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no snapshot while waiting for %s", what)
		}
	}
	t.Fatalf("no %s within 200 rounds", what)
	return nil
}

func TestScriptedClusterDrivesARealMonitor(t *testing.T) {
	c := monitortest.NewCluster("s1", "s2", "s3")
	m, err := monitor.New(monitor.Options{Name: "test", MonitorInterval: 100 * time.Millisecond},
		c.Servers(), nil, nil, monitor.WithProberFactory(c.Probers()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	snaps, _ := m.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)

	master := func(name string) func(*topology.Snapshot) bool {
		return func(s *topology.Snapshot) bool { w := s.Master(); return w != nil && w.Name == name }
	}
	next(t, snaps, "s1 as writer", master("s1"))

	c.Node("s1").SetState(monitortest.Donor)
	s := next(t, snaps, "s2 as writer", master("s2"))
	if got := s.Server("s1").State; got != topology.Donor|topology.Running {
		t.Errorf("donor s1 = %s", got)
	}
	c.Node("s1").SetState(monitortest.Synced)
	next(t, snaps, "s1 back as writer", master("s1"))

	c.Node("s2").SetState(monitortest.Joiner)
	s = next(t, snaps, "s2 out", func(s *topology.Snapshot) bool { return s.Server("s2").State == topology.Running })
	if s.Server("s2").Galera.ClusterStatus != "non-Primary" {
		t.Errorf("joiner cluster status %q", s.Server("s2").Galera.ClusterStatus)
	}
	c.Node("s3").SetDown(true)
	next(t, snaps, "s3 down", func(s *topology.Snapshot) bool { return !s.Server("s3").State.Up() })
	c.Node("s3").SetDown(false)
	c.Node("s3").SetAuthError(true)
	next(t, snaps, "s3 auth error", func(s *topology.Snapshot) bool { return s.Server("s3").State == topology.AuthError })
}
