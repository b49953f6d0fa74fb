package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/proxy/admin/api"
	"github.com/maxproxy/maxproxy/proxy/admin/client"
)

// adminPassword is what clients send; the configuration holds
// adminPasswordHash, its bcrypt hash at the lowest cost, which keeps wrong
// passwords cheap to refuse under the race detector.
const (
	adminPassword     = "s3cret-admin"
	adminPasswordHash = "$2a$04$y224jYQk1eznrb.Dz9X9AOqITQFCG1X1mZGTvM6t30N3hALJMqTAe"
)

// startAdminProxy runs the test proxy with the admin API on and, beside
// the static service, a monitor watching one more server ("probe").
func startAdminProxy(t *testing.T) (*testProxy, *client.Client) {
	t.Helper()
	p := startProxyWith(t, func(cfg *config.Config) {
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
	}, Options{Version: "9.9.9-test", ConfigFile: "/etc/maxproxy-test.toml"})
	c := adminClient(t, p, adminPassword)
	return p, c
}

func adminClient(t *testing.T, p *testProxy, password string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{URL: p.srv.AdminAddr().String(), User: "ops", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestAdminAPI drives the admin API of a running proxy: what it lists is
// the proxy's real state, actions reach sessions and monitors, and what
// cannot be done is refused with the status that says why.
func TestAdminAPI(t *testing.T) {
	p, c := startAdminProxy(t)
	ctx := ctxFor(t, time.Minute)

	if _, err := adminClient(t, p, "wrong").Servers(ctx); !errors.Is(err, api.ErrUnauthorized) {
		t.Fatalf("wrong password: %v, want 401", err)
	}

	info, err := c.MaxProxy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := info.Attributes; a.Version != "9.9.9-test" || a.ConfigFile != "/etc/maxproxy-test.toml" || a.StartedAt.IsZero() || a.PID == 0 {
		t.Errorf("maxproxy attributes: %+v", a)
	}

	// An open client session is listed with its backend connections and
	// counted by its service; killing it closes the client's connection.
	conn := p.conn(t, ctx)
	if got := queryString(t, ctx, conn, "SELECT 'hello'"); got != "hello" {
		t.Fatalf("query: %q", got)
	}
	sessions, err := c.Sessions(ctx)
	if err != nil || len(sessions) != 1 {
		t.Fatalf("sessions: %+v, %v", sessions, err)
	}
	sess := sessions[0]
	if sess.Attributes.User != "app" || len(sess.Attributes.Connections) == 0 || sess.Relationships[api.TypeServices].Names()[0] != "rw" {
		t.Errorf("session: %+v", sess)
	}
	svc, err := c.Service(ctx, "rw")
	if err != nil || svc.Attributes.Statistics.Connections != 1 || svc.Attributes.Router != "readwritesplit" ||
		strings.Join(svc.Relationships[api.TypeListeners].Names(), ",") != "rw-port" {
		t.Errorf("service rw: %+v, %v", svc, err)
	}
	writer, err := c.Server(ctx, "writer")
	if err != nil || !strings.Contains(writer.Attributes.State, "Master") {
		t.Errorf("server writer: %+v, %v", writer, err)
	}
	if len(sess.Attributes.Connections) > 0 {
		used, err := c.Server(ctx, sess.Attributes.Connections[0].Server)
		if err != nil || used.Attributes.Statistics.Connections != 1 || used.Attributes.Statistics.TotalConnections == 0 {
			t.Errorf("statistics of the session's server: %+v, %v", used.Attributes.Statistics, err)
		}
	}
	if err := c.KillSession(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if err := conn.PingContext(ctx); err == nil {
		t.Error("the killed session's connection still answers")
	}
	// The session leaves the registry once its goroutine has unwound.
	err = harness.Poll(ctx, "the killed session to end", 10*time.Millisecond, func(ctx context.Context) error {
		if s, err := c.Sessions(ctx); err != nil || len(s) != 0 {
			return fmt.Errorf("sessions: %+v, %v", s, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.KillSession(ctx, sess.ID); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("killing a gone session: %v, want 404", err)
	}

	// A server no monitor watches cannot take operator states; an unknown
	// one is not found.
	if err := c.SetServerState(ctx, "reader", api.StateMaintenance, false); !errors.Is(err, api.ErrConflict) ||
		!strings.Contains(err.Error(), "not watched by a monitor") {
		t.Errorf("maintenance on a static server: %v, want 409", err)
	}
	if err := c.SetServerState(ctx, "nosuch", api.StateMaintenance, false); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown server: %v, want 404", err)
	}

	// The configuration file is gone: the reload is refused and says why.
	if _, err := c.Reload(ctx); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "/etc/maxproxy-test.toml") {
		t.Errorf("reload of a missing file: %v, want 400 naming the file", err)
	}

	listeners, err := c.Listeners(ctx)
	if err != nil || len(listeners) != 1 || strconv.Itoa(listeners[0].Attributes.Port) != p.addr[strings.LastIndex(p.addr, ":")+1:] {
		t.Errorf("listeners: %+v, %v", listeners, err)
	}
}

// TestAdminMonitorStopStart: a stopped monitor publishes nothing new but
// its last snapshot stays; started again it probes and publishes on the
// same topology. Operator state set before the stop survives it.
func TestAdminMonitorStopStart(t *testing.T) {
	p, c := startAdminProxy(t)
	ctx := ctxFor(t, time.Minute)
	generation := func() uint64 {
		m, err := c.Monitor(ctx, "mon")
		if err != nil {
			t.Fatal(err)
		}
		return m.Attributes.Generation
	}
	waitGeneration := func(after uint64) {
		t.Helper()
		err := harness.Poll(ctx, "monitor publishing", 20*time.Millisecond, func(context.Context) error {
			if g := generation(); g <= after {
				return errors.New("generation " + strconv.FormatUint(g, 10))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitGeneration(0)
	if err := c.SetServerState(ctx, "probe", api.StateMaintenance, false); err != nil {
		t.Fatal(err)
	}
	if err := c.StopMonitor(ctx, "mon"); err != nil {
		t.Fatal(err)
	}
	m, err := c.Monitor(ctx, "mon")
	if err != nil || m.Attributes.State != "Stopped" {
		t.Fatalf("stopped monitor: %+v, %v", m, err)
	}
	if snap := p.srv.monitors[0].holder.Load(); snap == nil || snap.Generation != m.Attributes.Generation {
		t.Fatalf("the stopped monitor's last snapshot is not published: %+v", snap)
	}
	if err := c.ClearServerState(ctx, "probe", api.StateMaintenance); !errors.Is(err, api.ErrConflict) {
		t.Errorf("state change under a stopped monitor: %v, want 409", err)
	}
	if err := c.StopMonitor(ctx, "nosuch"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown monitor: %v, want 404", err)
	}

	if err := c.StartMonitor(ctx, "mon"); err != nil {
		t.Fatal(err)
	}
	waitGeneration(m.Attributes.Generation)
	if m, err := c.Monitor(ctx, "mon"); err != nil || m.Attributes.State != "Running" {
		t.Fatalf("restarted monitor: %+v, %v", m, err)
	}
	srv, err := c.Server(ctx, "probe")
	if err != nil || !strings.Contains(srv.Attributes.State, "Maintenance") {
		t.Errorf("maintenance lost across the restart: %+v, %v", srv, err)
	}
}

// TestAdminDisabled: with [admin] off nothing listens for the API.
func TestAdminDisabled(t *testing.T) {
	p := startProxy(t, func(cfg *config.Config) { cfg.Admin.Enabled = false })
	if addr := p.srv.AdminAddr(); addr != nil {
		t.Errorf("admin API listening on %v while disabled", addr)
	}
}
