package session_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/proxy/protocol"
	"github.com/maxproxy/maxproxy/proxy/session"
	"github.com/maxproxy/maxproxy/router/classify"
)

var mariadb = harness.NewShared("mariadb", func(ctx context.Context, s *harness.Scope) (*harness.Server, error) {
	return harness.NewMariaDB(ctx, s, harness.MariaDBOptions{})
})

func TestMain(m *testing.M) { os.Exit(harness.Main(m, mariadb, mariadb2)) }

// fakeTopology is a topology the test publishes by hand.
type fakeTopology struct {
	h       topology.Holder
	mu      sync.Mutex
	changed chan struct{}
}

func newFakeTopology(s *topology.Snapshot) *fakeTopology {
	f := &fakeTopology{changed: make(chan struct{})}
	f.h.Store(s)
	return f
}

func (f *fakeTopology) Load() *topology.Snapshot { return f.h.Load() }

func (f *fakeTopology) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakeTopology) publish(s *topology.Snapshot) {
	f.h.Store(s)
	f.mu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// appAuth accepts app/app.
type appAuth struct{}

func (appAuth) Admit(context.Context, netip.Addr) error { return nil }

func (appAuth) Authenticate(_ context.Context, req *protocol.AuthRequest) ([]byte, error) {
	if stage1, ok := protocol.VerifyNative(req.Salt, req.AuthResponse, protocol.NativeStage2(protocol.NativeStage1("app"))); ok && req.User == "app" {
		return stage1, nil
	}
	return nil, protocol.ErrAccessDenied(req.User, req.IP.String(), true)
}

// serve runs svc on a loopback listener until the test ends and returns a
// connection of a client pool to it.
func serve(t *testing.T, svc *session.Service) *sql.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { svc.Serve(ctx, nc, nil) })
		}
	})
	db, err := sql.Open("mysql", harness.TCPDSN(ln.Addr().String(), "app", "app", ""))
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		db.Close()
		ln.Close()
		cancel()
		wg.Wait()
	})
	return c
}

func newService(t *testing.T, topo session.Topology, mutate func(*config.Service)) *session.Service {
	t.Helper()
	db := mariadb.Get(t)
	m, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultService(config.ReadWriteSplit)
	cfg.Name = "rw"
	mutate(&cfg)
	svc, err := session.NewService(session.ServiceOptions{
		Config: cfg,
		Servers: []*session.Server{
			{Name: "writer", Address: db.Addr()},
			{Name: "reader", Address: db.Addr()},
		},
		Topology:   topo,
		Auth:       appAuth{},
		Classifier: classify.New(100),
		Metrics:    m,
		Registry:   session.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func snapshot(writerState topology.State) *topology.Snapshot {
	return &topology.Snapshot{Servers: []topology.Server{
		{Name: "writer", State: writerState},
		{Name: "reader", State: topology.Running | topology.Synced | topology.Slave},
	}}
}

// TestDelayedRetry: with delayed_retry a write waits for a master to
// appear; without one in time it fails with 2003 saying how long it
// waited. Reads are not held up meanwhile.
func TestDelayedRetry(t *testing.T) {
	topo := newFakeTopology(snapshot(topology.Running | topology.Synced))
	svc := newService(t, topo, func(c *config.Service) {
		c.DelayedRetry, c.DelayedRetryTimeout = true, 300*time.Millisecond
	})
	c := serve(t, svc)
	ctx := context.Background()

	var one int
	if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("read without a master: %v", err)
	}
	start := time.Now()
	// Named-lock functions only make sense on the writer: the router sends
	// these statements there.
	_, err := c.ExecContext(ctx, "DO 1 FROM DUAL WHERE GET_LOCK('x', 0) IS NOT NULL")
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 2003 || !strings.Contains(me.Message, "waited") {
		t.Fatalf("write with no master: %v; want 2003 saying it waited", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("failed after %v, before delayed_retry_timeout", d)
	}

	// A master elected while the statement waits takes it.
	done := make(chan error, 1)
	go func() {
		_, err := c.ExecContext(ctx, "DO RELEASE_ALL_LOCKS()")
		done <- err
	}()
	time.AfterFunc(100*time.Millisecond, func() {
		topo.publish(snapshot(topology.Running | topology.Synced | topology.Master))
	})
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("write once a master appeared: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write still waiting after the master appeared")
	}
}

var mariadb2 = harness.NewShared("mariadb2", func(ctx context.Context, s *harness.Scope) (*harness.Server, error) {
	return harness.NewMariaDB(ctx, s, harness.MariaDBOptions{Name: "mariadb2"})
})

// TestSessionCommandFailsOnReader: a session command that fails on a
// reader but succeeds on the writer drops the reader connection (the
// client gets the writer's OK); the reader's replacement cannot replay the
// history either, so reads go to the writer, which has the session's state.
func TestSessionCommandFailsOnReader(t *testing.T) {
	w, r := mariadb.Get(t), mariadb2.Get(t)
	ctx := context.Background()
	if err := w.Exec(ctx, "CREATE DATABASE IF NOT EXISTS onlyonwriter"); err != nil {
		t.Fatal(err)
	}
	defer w.Exec(ctx, "DROP DATABASE onlyonwriter")
	m, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultService(config.ReadWriteSplit)
	cfg.Name = "rw"
	svc, err := session.NewService(session.ServiceOptions{
		Config:     cfg,
		Servers:    []*session.Server{{Name: "writer", Address: w.Addr()}, {Name: "reader", Address: r.Addr()}},
		Topology:   newFakeTopology(snapshot(topology.Running | topology.Synced | topology.Master)),
		Auth:       appAuth{},
		Classifier: classify.New(100),
		Metrics:    m,
		Registry:   session.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, svc)
	var port string
	// Open both backends: a read on the reader, a write on the writer.
	if err := c.QueryRowContext(ctx, "SELECT @@port").Scan(&port); err != nil || !strings.HasSuffix(r.Addr(), ":"+port) {
		t.Fatalf("read went to port %s (%v), want the reader %s", port, err, r.Addr())
	}
	if _, err := c.ExecContext(ctx, "DO RELEASE_ALL_LOCKS()"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, "USE onlyonwriter"); err != nil {
		t.Fatalf("USE answered from the writer: %v", err)
	}
	if err := c.QueryRowContext(ctx, "SELECT @@port").Scan(&port); err != nil || !strings.HasSuffix(w.Addr(), ":"+port) {
		t.Errorf("read after the reader failed the session command went to port %s (%v), want the writer %s", port, err, w.Addr())
	}
	var dbName string
	if err := c.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName); err != nil || dbName != "onlyonwriter" {
		t.Errorf("DATABASE() = %q, %v", dbName, err)
	}
}
