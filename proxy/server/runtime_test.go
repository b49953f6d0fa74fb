package server

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/auth"
)

func TestStaticTopology(t *testing.T) {
	st := newStatic([]topology.Server{{Name: "a"}, {Name: "b"}, {Name: "c"}})
	snap := st.Load()
	if m := snap.Master(); m == nil || m.Name != "a" {
		t.Fatalf("master = %v, want a", m)
	}
	for _, name := range []string{"b", "c"} {
		if s := snap.Server(name); !s.State.Has(topology.Slave | topology.Running) {
			t.Errorf("%s state %v, want Slave, Running", name, s.State)
		}
	}
	if st.Changed() != nil {
		t.Error("a static topology must never announce changes")
	}
}

func TestFeedWakesWaiters(t *testing.T) {
	var h topology.Holder
	f := newFeed(&h)
	snaps := make(chan *topology.Snapshot)
	done := make(chan struct{})
	go func() { f.run(snaps); close(done) }()
	w := f.Changed()
	s := &topology.Snapshot{Generation: 1}
	h.Store(s)
	snaps <- s
	select {
	case <-w:
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not woken by a new snapshot")
	}
	if f.Load() != s {
		t.Error("Load does not return the holder's snapshot")
	}
	if next := f.Changed(); next == w {
		t.Error("Changed returned the closed channel again")
	}
	close(snaps)
	<-done
}

type loaderFunc func(context.Context) (*auth.UserData, error)

func (f loaderFunc) Load(ctx context.Context) (*auth.UserData, error) { return f(ctx) }

func TestFirstLoader(t *testing.T) {
	down := loaderFunc(func(context.Context) (*auth.UserData, error) { return nil, errors.New("node1 down") })
	up := loaderFunc(func(context.Context) (*auth.UserData, error) {
		return &auth.UserData{Databases: []string{"x"}}, nil
	})
	d, err := firstLoader{down, up}.Load(context.Background())
	if err != nil || len(d.Databases) != 1 {
		t.Errorf("first answering loader: %v, %v", d, err)
	}
	_, err = firstLoader{down, down}.Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), "node1 down") {
		t.Errorf("all down: %v", err)
	}
}

func TestNewRefusesBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := config.Default()
	cfg.Proxy.DataDir = t.TempDir()
	cfg.Metrics.Enabled = false
	s := config.DefaultServer()
	s.Name, s.Address = "db", "127.0.0.1"
	cfg.Servers = []config.Server{s}
	svc := config.DefaultService(config.ReadConnRoute)
	svc.Name, svc.Servers, svc.User = "svc", []string{"db"}, "u"
	cfg.Services = []config.Service{svc}
	l := config.DefaultListener()
	l.Name, l.Service, l.Address, l.Port = "port", "svc", "127.0.0.1", port
	cfg.Listeners = []config.Listener{l}
	_, err = New(cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), `listener "port"`) || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("New on a busy port: %v; want an error naming the listener and port", err)
	}
	// Nothing New took may leak: the same registry can be used again.
	l.Port = 0
	cfg.Listeners = []config.Listener{l}
	srv, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}

func TestServiceFollowsOneMonitor(t *testing.T) {
	base := func() *config.Config {
		cfg := config.Default()
		cfg.Proxy.DataDir = t.TempDir()
		cfg.Metrics.Enabled = false
		for _, n := range []string{"a", "b", "c"} {
			s := config.DefaultServer()
			s.Name, s.Address = n, "127.0.0.1"
			cfg.Servers = append(cfg.Servers, s)
		}
		for _, m := range []struct{ name, server string }{{"m1", "a"}, {"m2", "b"}} {
			mc := config.DefaultMonitor()
			mc.Name, mc.Type, mc.Servers, mc.User = m.name, "galera", []string{m.server}, "mon"
			cfg.Monitors = append(cfg.Monitors, mc)
		}
		return cfg
	}
	for _, tc := range []struct {
		servers []string
		want    string
	}{
		{[]string{"a", "b"}, "several monitors"},
		{[]string{"a", "c"}, "mixes monitored and unmonitored"},
	} {
		cfg := base()
		svc := config.DefaultService(config.ReadWriteSplit)
		svc.Name, svc.Servers, svc.User = "svc", tc.servers, "u"
		cfg.Services = []config.Service{svc}
		srv, err := New(cfg, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("servers %v: %v; want an error saying %q", tc.servers, err, tc.want)
		}
		if err == nil {
			srv.Close()
		}
	}
}
