package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/proxy/admin/admintest"
	"github.com/maxproxy/maxproxy/proxy/admin/api"
	"github.com/maxproxy/maxproxy/proxy/admin/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T, o client.Options) *client.Client {
	t.Helper()
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func serve(t *testing.T) (*admintest.Runtime, *client.Client) {
	t.Helper()
	rt := admintest.New()
	_, addr := admintest.Serve(t, rt, config.Admin{})
	return rt, newClient(t, client.Options{URL: addr, User: admintest.User, Password: admintest.Password})
}

func TestReads(t *testing.T) {
	_, c := serve(t)
	ctx := context.Background()

	servers, err := c.Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, s := range servers {
		states = append(states, s.ID+"="+s.Attributes.State)
	}
	want := []string{"db1=Master, Synced, Running", "db2=Slave, Synced, Running", "db3=Slave, Synced, Lagging, Running", "db4=Down"}
	if !slices.Equal(states, want) {
		t.Errorf("servers %q, want %q", states, want)
	}
	db3, err := c.Server(ctx, "db3")
	if err != nil {
		t.Fatal(err)
	}
	if g := db3.Attributes.Galera; g.LocalStateComment != "Synced" || g.LocalRecvQueue != 37 || g.FlowControlSent != 12 || !g.Lagging || g.ClusterSize != 3 {
		t.Errorf("db3 galera %+v", g)
	}
	if got := db3.Relationships[api.TypeServices].Names(); !slices.Equal(got, []string{"ro-service", "rw-service"}) {
		t.Errorf("db3 services %q", got)
	}

	svc, err := c.Service(ctx, "rw-service")
	if err != nil || svc.Attributes.Router != "readwritesplit" || svc.Attributes.Statistics.Connections != 1 {
		t.Errorf("service %+v, %v", svc, err)
	}
	if l, err := c.Listeners(ctx); err != nil || len(l) != 2 || l[0].Attributes.Port != 4006 {
		t.Errorf("listeners %+v, %v", l, err)
	}
	if l, err := c.Listener(ctx, "ro-listener"); err != nil || l.Relationships[api.TypeServices].Names()[0] != "ro-service" {
		t.Errorf("listener %+v, %v", l, err)
	}
	if m, err := c.Monitor(ctx, "galera-monitor"); err != nil || m.Attributes.Writer != "db1" || m.Attributes.Interval != api.Duration(time.Second) {
		t.Errorf("monitor %+v, %v", m, err)
	}
	if ss, err := c.Sessions(ctx); err != nil || len(ss) != 2 {
		t.Errorf("sessions %+v, %v", ss, err)
	}
	if s, err := c.Session(ctx, "7"); err != nil || s.Attributes.User != "app" || len(s.Attributes.Connections) != 2 {
		t.Errorf("session %+v, %v", s, err)
	}
	if mp, err := c.MaxProxy(ctx); err != nil || mp.Attributes.Version != "1.0.0-test" || mp.Attributes.Uptime != api.Duration(time.Hour) {
		t.Errorf("maxproxy %+v, %v", mp, err)
	}
	if err := c.Health(ctx); err != nil {
		t.Errorf("health: %v", err)
	}
}

func TestActions(t *testing.T) {
	rt, c := serve(t)
	ctx := context.Background()
	steps := []func() error{
		func() error { return c.SetServerState(ctx, "db2", api.StateMaintenance, true) },
		func() error { return c.ClearServerState(ctx, "db2", api.StateMaintenance) },
		func() error { return c.SetServerState(ctx, "db3", api.StateDrain, false) },
		func() error { return c.StopMonitor(ctx, "galera-monitor") },
		func() error { return c.StartMonitor(ctx, "galera-monitor") },
		func() error { return c.KillSession(ctx, "12") },
		func() error { _, err := c.Reload(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []string{"set db2 maintenance force", "clear db2 maintenance", "set db3 drain",
		"monitor galera-monitor Stopped", "monitor galera-monitor Running", "kill 12", "reload"}
	if got := rt.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if s, err := c.Server(ctx, "db3"); err != nil || s.Attributes.State != "Draining, Slave, Synced, Lagging, Running" {
		t.Errorf("db3 after drain: %q, %v", s.Attributes.State, err)
	}
}

func TestErrorsCarryStatusAndDetail(t *testing.T) {
	_, c := serve(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		do     func() error
		status int
		is     error
		detail string
	}{
		{"unknown server", func() error { _, err := c.Server(ctx, "nope"); return err }, 404, api.ErrNotFound, `server "nope" not found`},
		{"name needing escapes", func() error { _, err := c.Server(ctx, "a b/c"); return err }, 404, api.ErrNotFound, `server "a b/c" not found`},
		{"bad state", func() error { return c.SetServerState(ctx, "db2", "master", false) }, 400, api.ErrInvalid, `invalid state "master"`},
		{"drain writer", func() error { return c.SetServerState(ctx, "db1", api.StateDrain, false) }, 409, api.ErrConflict, "it is the writer"},
		{"unknown session", func() error { return c.KillSession(ctx, "404") }, 404, api.ErrNotFound, "session 404"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			var ae *client.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want *client.Error", err, err)
			}
			if ae.Status != tc.status || !errors.Is(err, tc.is) || !strings.Contains(ae.Detail, tc.detail) {
				t.Errorf("got status %d detail %q; want %d, %v, %q", ae.Status, ae.Detail, tc.status, tc.is, tc.detail)
			}
		})
	}
}

func TestWrongCredentials(t *testing.T) {
	rt := admintest.New()
	_, addr := admintest.Serve(t, rt, config.Admin{})
	c := newClient(t, client.Options{URL: "http://" + addr, User: admintest.User, Password: "guess"})
	if err := c.SetServerState(context.Background(), "db2", api.StateMaintenance, false); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("got %v, want ErrUnauthorized", err)
	}
	if len(rt.Calls()) != 0 {
		t.Error("action ran with wrong credentials")
	}
}

func TestTLS(t *testing.T) {
	certFile, keyFile, certPEM := admintest.SelfSignedCert(t, t.TempDir())
	_, addr := admintest.Serve(t, admintest.New(), config.Admin{TLSCert: certFile, TLSKey: keyFile})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	c := newClient(t, client.Options{URL: addr, User: admintest.User, Password: admintest.Password, TLS: &tls.Config{RootCAs: pool}})
	if _, err := c.Server(context.Background(), "db1"); err != nil {
		t.Errorf("over TLS: %v", err)
	}
	untrusted := newClient(t, client.Options{URL: "https://" + addr, User: admintest.User, Password: admintest.Password})
	if _, err := untrusted.Servers(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func TestForeignErrorBody(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream went away", http.StatusBadGateway)
	}))
	defer ts.Close()
	c := newClient(t, client.Options{URL: ts.URL, User: "u", Password: "p"})
	_, err := c.Servers(context.Background())
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != 502 || !strings.Contains(ae.Detail, "upstream went away") {
		t.Errorf("got %v", err)
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"ftp://host:1", "http://", "://x"} {
		if _, err := client.New(client.Options{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
}
