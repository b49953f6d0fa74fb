//go:build integration

// These tests run the monitor against a real MariaDB Galera cluster started
// by the integration harness: go test -tags integration ./monitor/
// They skip (naming the packages to install) when MariaDB Galera is absent.

package monitor

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

const realInterval = 200 * time.Millisecond

func startRealMonitor(t *testing.T, g *harness.Galera, opts Options) (*Monitor, <-chan *topology.Snapshot) {
	t.Helper()
	var servers []Server
	for _, n := range g.Nodes() {
		servers = append(servers, Server{Name: n.Name(), Address: n.Addr()})
	}
	if opts.User == "" {
		opts.User, opts.Password = harness.MonitorAccount.User, harness.MonitorAccount.Password
	}
	opts.Name = "galera"
	opts.MonitorInterval = realInterval
	opts.BackendConnectTimeout = time.Second
	opts.BackendReadTimeout = time.Second
	m, err := New(opts, servers, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	snaps, _ := m.Subscribe()
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return m, snaps
}

// waitFor reads snapshots until cond holds, failing after maxRounds
// snapshots: conditions are stated in probe rounds, not wall time.
func waitFor(t *testing.T, snaps <-chan *topology.Snapshot, maxRounds uint64, what string, cond func(*topology.Snapshot) bool) *topology.Snapshot {
	t.Helper()
	var first, last *topology.Snapshot
	for {
		select {
		case s, ok := <-snaps:
			if !ok {
				t.Fatalf("monitor closed while waiting for %s", what)
			}
			if first == nil {
				first = s
			}
			last = s
			if cond(s) {
				return s
			}
			if s.Generation-first.Generation >= maxRounds {
				t.Fatalf("no %s within %d rounds; last: %s", what, maxRounds, describe(last))
			}
		case <-time.After(time.Duration(maxRounds+5) * 5 * realInterval):
			t.Fatalf("no snapshot while waiting for %s", what)
		}
	}
}

func describe(s *topology.Snapshot) string {
	var b strings.Builder
	for _, srv := range s.Servers {
		fmt.Fprintf(&b, "%s=[%s] (state %d %q) %s; ", srv.Name, srv.State, srv.Galera.LocalState,
			srv.Galera.LocalStateComment, srv.Err)
	}
	return b.String()
}

func healthy(s *topology.Snapshot) bool {
	masters := 0
	for _, srv := range s.Servers {
		switch {
		case srv.State.Has(topology.Master | topology.Synced | topology.Running):
			masters++
		case srv.State.Has(topology.Slave | topology.Synced | topology.Running):
		default:
			return false
		}
	}
	return masters == 1
}

func TestRealGalera(t *testing.T) {
	g := harness.StartGalera(t, 3, harness.GaleraOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("a synced cluster has one writer with the lowest index", func(t *testing.T) {
		_, snaps := startRealMonitor(t, g, Options{})
		s := waitFor(t, snaps, 10, "a healthy cluster", healthy)
		w := s.Master()
		for _, srv := range s.Servers {
			if srv.Galera.ClusterSize != 3 || srv.Galera.ClusterStatus != "Primary" || !srv.Galera.Ready {
				t.Errorf("%s: %+v", srv.Name, srv.Galera)
			}
			if srv.Galera.LocalIndex < w.Galera.LocalIndex {
				t.Errorf("writer %s has index %d but %s has %d", w.Name, w.Galera.LocalIndex, srv.Name, srv.Galera.LocalIndex)
			}
		}
	})

	t.Run("wsrep_desync takes a node out within two rounds and back after OFF", func(t *testing.T) {
		m, snaps := startRealMonitor(t, g, Options{})
		s := waitFor(t, snaps, 10, "a healthy cluster", healthy)
		var node harness.Node
		for _, n := range g.Nodes() {
			if srv := s.Server(n.Name()); srv.State.Has(topology.Slave) {
				node = n
				break
			}
		}
		if err := node.Exec(ctx, "SET GLOBAL wsrep_desync = ON"); err != nil {
			t.Fatal(err)
		}
		restored := false
		defer func() {
			if !restored {
				node.Exec(context.Background(), "SET GLOBAL wsrep_desync = OFF")
			}
		}()
		gen := m.Snapshot().Generation
		s = waitFor(t, snaps, 10, node.Name()+" out of the read set", func(s *topology.Snapshot) bool {
			return !s.Server(node.Name()).State.Has(topology.Slave)
		})
		if s.Generation > gen+2 {
			t.Errorf("%s left Slave only in generation %d, %d rounds after the SET", node.Name(), s.Generation, s.Generation-gen)
		}
		if got := s.Server(node.Name()).State; got != topology.Running|topology.Donor {
			t.Errorf("desynced node is %q, want Donor, Running", got)
		}
		if err := node.Exec(ctx, "SET GLOBAL wsrep_desync = OFF"); err != nil {
			t.Fatal(err)
		}
		restored = true
		waitFor(t, snaps, 25, node.Name()+" back as Slave", func(s *topology.Snapshot) bool {
			return s.Server(node.Name()).State.Has(topology.Slave | topology.Synced)
		})
	})

	t.Run("wsrep_reject_queries=ALL takes a node out", func(t *testing.T) {
		_, snaps := startRealMonitor(t, g, Options{})
		waitFor(t, snaps, 10, "a healthy cluster", healthy)
		node := g.Node(3)
		if err := node.Exec(ctx, "SET GLOBAL wsrep_reject_queries = ALL"); err != nil {
			t.Fatal(err)
		}
		defer node.Exec(context.Background(), "SET GLOBAL wsrep_reject_queries = NONE")
		waitFor(t, snaps, 5, "node3 reduced to Running", func(s *topology.Snapshot) bool {
			return s.Server(node.Name()).State == topology.Running
		})
		if err := node.Exec(ctx, "SET GLOBAL wsrep_reject_queries = NONE"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, snaps, 5, "a healthy cluster again", healthy)
	})

	t.Run("wrong credentials are an auth error", func(t *testing.T) {
		_, snaps := startRealMonitor(t, g, Options{User: "maxmon", Password: "wrong"})
		s := waitFor(t, snaps, 3, "auth errors", func(s *topology.Snapshot) bool {
			for _, srv := range s.Servers {
				if srv.State != topology.AuthError || !strings.Contains(srv.Err, "1045") {
					return false
				}
			}
			return true
		})
		_ = s
	})

	t.Run("set_donor_nodes writes wsrep_sst_donor on the replicas", func(t *testing.T) {
		_, snaps := startRealMonitor(t, g, Options{SetDonorNodes: true})
		s := waitFor(t, snaps, 10, "a healthy cluster", healthy)
		defer func() {
			for _, n := range g.Nodes() {
				n.Exec(context.Background(), "SET GLOBAL wsrep_sst_donor = ''")
			}
		}()
		// Replicas by descending index: the writer's likeliest successor last.
		type rep struct {
			name string
			idx  int
		}
		var reps []rep
		for _, srv := range s.Servers {
			if srv.State.Has(topology.Slave) {
				reps = append(reps, rep{srv.Name, srv.Galera.LocalIndex})
			}
		}
		if reps[0].idx < reps[1].idx {
			reps[0], reps[1] = reps[1], reps[0]
		}
		want := reps[0].name + "," + reps[1].name
		waitFor(t, snaps, 5, "wsrep_sst_donor set", func(*topology.Snapshot) bool {
			for _, r := range reps {
				got, err := g.Server(int(r.name[len(r.name)-1]-'0')).QueryString(ctx, "SELECT @@GLOBAL.wsrep_sst_donor")
				if err != nil || got != want {
					return false
				}
			}
			return true
		})
	})

	t.Run("stopping the writer moves it; with failback disabled it stays moved", func(t *testing.T) {
		m, snaps := startRealMonitor(t, g, Options{DisableMasterFailback: true})
		s := waitFor(t, snaps, 10, "a healthy cluster", healthy)
		old := s.Master().Name
		var node harness.Node
		for _, n := range g.Nodes() {
			if n.Name() == old {
				node = n
			}
		}
		if err := node.Stop(); err != nil {
			t.Fatal(err)
		}
		s = waitFor(t, snaps, 50, "a new writer", func(s *topology.Snapshot) bool {
			w := s.Master()
			return w != nil && w.Name != old && !s.Server(old).State.Up()
		})
		moved := s.Master().Name
		startCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := node.Start(startCtx); err != nil {
			t.Fatal(err)
		}
		s = waitFor(t, snaps, 100, old+" back as a replica", func(s *topology.Snapshot) bool {
			return s.Server(old).State.Has(topology.Slave | topology.Synced)
		})
		if w := s.Master(); w == nil || w.Name != moved {
			t.Fatalf("writer after %s returned: %s", old, describe(s))
		}
		// The returning node gets a new wsrep_local_index; only when it
		// is the lower one did stickiness have to override the rules.
		if s.Server(old).Galera.LocalIndex < s.Server(moved).Galera.LocalIndex {
			if !s.Master().State.Has(topology.Sticky) {
				t.Errorf("writer kept against the index rule but not marked sticky: %s", describe(s))
			}
		} else {
			t.Logf("%s returned with a higher index; stickiness was not needed", old)
		}
		if got := m.metrics.events.WithLabelValues("master_down"); testutil.ToFloat64(got) != 1 {
			t.Errorf("master_down counted %v times", testutil.ToFloat64(got))
		}
		if got := m.metrics.events.WithLabelValues("new_master"); testutil.ToFloat64(got) != 1 {
			t.Errorf("new_master counted %v times", testutil.ToFloat64(got))
		}
	})

	t.Run("sticky_writer: two instances follow the marker", func(t *testing.T) {
		admin := g.Node(1)
		if err := admin.Exec(ctx, "GRANT CREATE, SELECT, INSERT, UPDATE ON maxproxy.* TO 'maxmon'@'%'"); err != nil {
			t.Fatal(err)
		}
		defer admin.Exec(context.Background(), "DROP DATABASE IF EXISTS maxproxy")
		a, snapsA := startRealMonitor(t, g, Options{StickyWriter: true})
		_, snapsB := startRealMonitor(t, g, Options{StickyWriter: true})
		s := waitFor(t, snapsA, 10, "a healthy cluster", healthy)
		first := s.Master().Name
		waitFor(t, snapsB, 10, "b on the same writer", func(s *topology.Snapshot) bool {
			return s.Master() != nil && s.Master().Name == first
		})
		marked := func(want string) func(*topology.Snapshot) bool {
			return func(*topology.Snapshot) bool {
				got, err := admin.QueryString(ctx, "SELECT node FROM maxproxy.writer WHERE id = 1")
				return err == nil && got == want
			}
		}
		waitFor(t, snapsA, 10, "the marker naming "+first, marked(first))

		// Only instance a puts the writer into maintenance; b follows the
		// marker a moves, although for b the old writer is still fine.
		if err := a.SetMaintenance(first); err != nil {
			t.Fatal(err)
		}
		s = waitFor(t, snapsA, 10, "a new writer on a", func(s *topology.Snapshot) bool {
			return s.Master() != nil && s.Master().Name != first
		})
		second := s.Master().Name
		waitFor(t, snapsA, 10, "the marker naming "+second, marked(second))
		s = waitFor(t, snapsB, 10, "b following to "+second, func(s *topology.Snapshot) bool {
			return s.Master() != nil && s.Master().Name == second
		})
		if !s.Master().State.Has(topology.Sticky) && s.Server(first).Galera.LocalIndex < s.Master().Galera.LocalIndex {
			t.Errorf("b keeps %s against the index rule but does not show stickiness", second)
		}
		// Maintenance ends: nobody fails back.
		if err := a.ClearMaintenance(first); err != nil {
			t.Fatal(err)
		}
		for _, snaps := range []<-chan *topology.Snapshot{snapsA, snapsB} {
			for range 5 {
				if w := (<-snaps).Master(); w == nil || w.Name != second {
					t.Fatalf("writer moved to %v after maintenance ended", w)
				}
			}
		}
	})

	t.Run("a node whose applier is blocked is marked Lagging, alone, and recovers", func(t *testing.T) {
		_, snaps := startRealMonitor(t, g, Options{LagFCSentThreshold: 1, LagRecvQueueThreshold: 10, LagHysteresis: 3})
		waitFor(t, snaps, 10, "a healthy cluster", healthy)
		slow := g.Node(2)
		writes, err := sql.Open("mysql", g.Node(1).DSN("app", "app", ""))
		if err != nil {
			t.Fatal(err)
		}
		defer writes.Close()
		for _, q := range []string{"CREATE DATABASE lag", "CREATE TABLE lag.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"} {
			if _, err := writes.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		defer writes.ExecContext(context.Background(), "DROP DATABASE lag")
		waitFor(t, snaps, 20, "lag.t on "+slow.Name(), func(*topology.Snapshot) bool {
			n, err := slow.QueryString(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'lag'")
			return err == nil && n == "1"
		})
		// A local read lock on node2 blocks its applier: its receive
		// queue grows past the flow-control limit, it sends flow control
		// and the whole cluster pauses, the writer's commits included.
		local, err := sql.Open("mysql", slow.DSN("app", "app", ""))
		if err != nil {
			t.Fatal(err)
		}
		defer local.Close()
		lock, err := local.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		if _, err := lock.ExecContext(ctx, "LOCK TABLES lag.t READ"); err != nil {
			t.Fatal(err)
		}
		unlocked := false
		defer func() {
			if !unlocked {
				lock.ExecContext(context.Background(), "UNLOCK TABLES")
			}
		}()
		inserted := make(chan error, 1)
		go func() {
			for range 60 {
				if _, err := writes.ExecContext(context.Background(), "INSERT INTO lag.t (v) VALUES (1)"); err != nil {
					inserted <- err
					return
				}
			}
			inserted <- nil
		}()
		s := waitFor(t, snaps, 25, slow.Name()+" lagging", func(s *topology.Snapshot) bool {
			return s.Server(slow.Name()).State.Has(topology.Lagging)
		})
		for _, srv := range s.Servers {
			if srv.Name != slow.Name() && srv.State.Has(topology.Lagging) {
				t.Errorf("%s marked lagging too: %s", srv.Name, describe(s))
			}
			if !srv.State.Has(topology.Synced | topology.Running) {
				t.Errorf("%s lost its state: %s", srv.Name, describe(s))
			}
		}
		if _, err := lock.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
			t.Fatal(err)
		}
		unlocked = true
		if err := <-inserted; err != nil {
			t.Fatal(err)
		}
		waitFor(t, snaps, 30, slow.Name()+" no longer lagging", func(s *topology.Snapshot) bool {
			return !s.Server(slow.Name()).State.Has(topology.Lagging)
		})
	})

	// Last: freezing a node disturbs the cluster for the tests after it.
	t.Run("a frozen node is down after the read timeout; the others stay published", func(t *testing.T) {
		_, snaps := startRealMonitor(t, g, Options{})
		waitFor(t, snaps, 10, "a healthy cluster", healthy)
		node := g.Node(3)
		if err := node.Pause(); err != nil {
			t.Fatal(err)
		}
		resumed := false
		defer func() {
			if !resumed {
				node.Resume()
			}
		}()
		// The read timeout is 1s, five rounds: allow twice that plus the
		// reconnect attempt.
		s := waitFor(t, snaps, 20, node.Name()+" down", func(s *topology.Snapshot) bool {
			for _, srv := range s.Servers {
				if srv.Name != node.Name() && !srv.State.Has(topology.Synced|topology.Running) {
					t.Fatalf("%s lost its state while %s was frozen: %s", srv.Name, node.Name(), describe(s))
				}
			}
			return !s.Server(node.Name()).State.Up()
		})
		if s.Master() == nil {
			t.Fatalf("no writer while one node was frozen: %s", describe(s))
		}
		if err := node.Resume(); err != nil {
			t.Fatal(err)
		}
		resumed = true
		waitFor(t, snaps, 50, "a healthy cluster after resuming", healthy)
	})

	// A partition as Galera sees it: node 1's two peers stop answering, so
	// it is alone in a component of 1 of 3 members, without quorum.
	t.Run("a node whose peers are frozen is non-Primary and has no role", func(t *testing.T) {
		_, snaps := startRealMonitor(t, g, Options{})
		waitFor(t, snaps, 50, "a healthy cluster", healthy)
		survivor := g.Node(1)
		peers := []harness.Node{g.Node(2), g.Node(3)}
		for _, n := range peers {
			if err := n.Pause(); err != nil {
				t.Fatal(err)
			}
		}
		resumed := false
		resume := func() {
			if resumed {
				return
			}
			resumed = true
			for _, n := range peers {
				if err := n.Resume(); err != nil {
					t.Error(err)
				}
			}
		}
		defer resume()
		// evs.suspect_timeout (5 s by default) passes before the survivor
		// drops its peers; a round lasts up to the 1 s read timeout while
		// they are frozen.
		s := waitFor(t, snaps, 100, survivor.Name()+" non-Primary", func(s *topology.Snapshot) bool {
			return s.Server(survivor.Name()).Galera.ClusterStatus == "non-Primary"
		})
		got := s.Server(survivor.Name())
		if got.State != topology.Running || got.Galera.Ready || got.Galera.LocalState != 0 {
			t.Errorf("non-Primary %s: state %q, wsrep_ready %v, wsrep_local_state %d; want only Running, OFF, 0",
				survivor.Name(), got.State, got.Galera.Ready, got.Galera.LocalState)
		}
		if m := s.Master(); m != nil {
			t.Errorf("writer %s while no node is in a primary component: %s", m.Name, describe(s))
		}
		resume()
		waitFor(t, snaps, 150, "a healthy cluster after the peers return", healthy)
		wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
		defer wcancel()
		if err := g.WaitSynced(wctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRealPlainMariaDB(t *testing.T) {
	srv := harness.StartMariaDB(t, harness.MariaDBOptions{})
	m, err := New(Options{Name: "plain", User: harness.MonitorAccount.User, Password: harness.MonitorAccount.Password,
		MonitorInterval: realInterval}, []Server{{Name: "db", Address: srv.Addr()}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	snaps, _ := m.Subscribe()
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	defer func() {
		m.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	s := <-snaps
	if got := s.Server("db"); got.State != topology.Running || got.Err != "" || s.Master() != nil {
		t.Fatalf("plain MariaDB: %s", describe(s))
	}
}
