package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/proxy/admin/api"
	"github.com/maxproxy/maxproxy/proxy/admin/client"
)

// TestOperatorStateSurvivesRestart: maintenance and an operator's monitor
// stop, made through the admin API, are still in force in the next proxy
// process on the same data directory; the stopped monitor's last states
// are what that process routes by until it is started.
func TestOperatorStateSurvivesRestart(t *testing.T) {
	datadir := t.TempDir()
	start := func() (*testProxy, *client.Client) {
		p := startProxyWith(t, func(cfg *config.Config) {
			cfg.Proxy.DataDir = datadir
			cfg.Admin.Enabled, cfg.Admin.Listen = true, "127.0.0.1:0"
			cfg.Admin.User, cfg.Admin.Password = "ops", adminPasswordHash
			probe := cfg.Servers[0]
			probe.Name = "probe"
			cfg.Servers = append(cfg.Servers, probe)
			mon := config.DefaultMonitor()
			mon.Name, mon.Servers = "mon", []string{"probe"}
			mon.User, mon.Password = harness.MonitorAccount.User, harness.MonitorAccount.Password
			mon.MonitorInterval = 100 * time.Millisecond
			cfg.Monitors = []config.Monitor{mon}
		}, Options{})
		return p, adminClient(t, p, adminPassword)
	}
	ctx := ctxFor(t, time.Minute)
	monitorState := func(c *client.Client) (string, uint64) {
		t.Helper()
		m, err := c.Monitor(ctx, "mon")
		if err != nil {
			t.Fatal(err)
		}
		return m.Attributes.State, m.Attributes.Generation
	}
	waitGeneration := func(c *client.Client, after uint64) {
		t.Helper()
		err := harness.Poll(ctx, "monitor publishing", 20*time.Millisecond, func(context.Context) error {
			if _, g := monitorState(c); g <= after {
				return errors.New("no new round yet")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	probeState := func(c *client.Client) string {
		t.Helper()
		s, err := c.Server(ctx, "probe")
		if err != nil {
			t.Fatal(err)
		}
		return s.Attributes.State
	}

	p1, c1 := start()
	waitGeneration(c1, 0)
	if err := c1.SetServerState(ctx, "probe", api.StateMaintenance, false); err != nil {
		t.Fatal(err)
	}
	waitGeneration(c1, 1) // a round that shows the maintenance
	if err := c1.StopMonitor(ctx, "mon"); err != nil {
		t.Fatal(err)
	}
	_, frozen := monitorState(c1)
	frozenState := probeState(c1)
	if !strings.Contains(frozenState, "Maintenance") {
		t.Fatalf("probe before the restart: %q", frozenState)
	}
	p1.stop(t)

	// The restart: still stopped, the frozen states published.
	p2, c2 := start()
	if st, g := monitorState(c2); st != "Stopped" || g != frozen {
		t.Errorf("after the restart the monitor is %s at generation %d; want Stopped at %d", st, g, frozen)
	}
	if got := probeState(c2); got != frozenState {
		t.Errorf("probe after the restart: %q, want %q", got, frozenState)
	}
	if err := c2.StartMonitor(ctx, "mon"); err != nil {
		t.Fatal(err)
	}
	waitGeneration(c2, frozen)
	if st, _ := monitorState(c2); st != "Running" {
		t.Errorf("started monitor is %s", st)
	}
	if got := probeState(c2); !strings.Contains(got, "Maintenance") {
		t.Errorf("maintenance lost: %q", got)
	}
	p2.stop(t)

	// Started before this restart: running again, maintenance kept.
	_, c3 := start()
	waitGeneration(c3, 0)
	if st, _ := monitorState(c3); st != "Running" {
		t.Errorf("a started monitor came back %s", st)
	}
	if got := probeState(c3); !strings.Contains(got, "Maintenance") {
		t.Errorf("maintenance lost across the second restart: %q", got)
	}
}
