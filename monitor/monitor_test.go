package monitor

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/maxproxy/maxproxy/monitor/galera"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeProber is a scripted server: Probe returns whatever was last set,
// or waits on gate when one is set.
type fakeProber struct {
	mu     sync.Mutex
	status map[string]string // nil: down
	auth   bool
	gate   chan struct{}
	calls  int
	execs  []string
	closed bool
	// cluster holds the writer marker this server shares with the others.
	cluster *fakeCluster
}

// fakeCluster is the replicated writer marker: every fake server of a
// cluster reads and writes this one row, as Galera makes them.
type fakeCluster struct {
	mu      sync.Mutex
	node    string
	version int64
	writes  int // statements that changed the row
}

var (
	markerInsert = regexp.MustCompile(`^INSERT IGNORE INTO maxproxy\.writer \(id, node, owner, version\) VALUES \(1, X'([0-9a-f]+)', X'[0-9a-f]+', 1\)$`)
	markerUpdate = regexp.MustCompile(`^UPDATE maxproxy\.writer SET node = X'([0-9a-f]+)', owner = X'[0-9a-f]+', version = version \+ 1 WHERE id = 1 AND version = (\d+)$`)
)

func (c *fakeCluster) exec(stmt string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if stmt == markerSchemaDB || stmt == markerSchema {
		return nil
	}
	if m := markerInsert.FindStringSubmatch(stmt); m != nil {
		if c.version == 0 {
			node, _ := hex.DecodeString(m[1])
			c.node, c.version = string(node), 1
			c.writes++
		}
		return nil
	}
	if m := markerUpdate.FindStringSubmatch(stmt); m != nil {
		if v, _ := strconv.ParseInt(m[2], 10, 64); v == c.version {
			node, _ := hex.DecodeString(m[1])
			c.node, c.version = string(node), c.version+1
			c.writes++
		}
		return nil
	}
	return fmt.Errorf("fake cluster: unexpected statement %q", stmt)
}

func (c *fakeCluster) marker() galera.WriterMarker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return galera.WriterMarker{Read: true, Node: c.node, Version: c.version}
}

func (f *fakeProber) set(vars map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = vars
}

func (f *fakeProber) Probe(ctx context.Context) galera.Probe {
	f.mu.Lock()
	f.calls++
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return galera.Probe{Err: ctx.Err().Error()}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.auth {
		return galera.Probe{AuthError: true, Err: "access denied"}
	}
	if f.status == nil {
		return galera.Probe{Err: "connection refused"}
	}
	p := galera.Probe{Up: true, HasStatus: true, Status: galera.ParseStatus(f.status)}
	if f.cluster != nil {
		p.Marker = f.cluster.marker()
	}
	return p
}

func (f *fakeProber) Exec(_ context.Context, stmt string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs = append(f.execs, stmt)
	if f.cluster != nil {
		return f.cluster.exec(stmt)
	}
	return nil
}

func (f *fakeProber) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func synced(index int) map[string]string {
	return map[string]string{
		"wsrep_local_state": "4", "wsrep_local_state_comment": "Synced", "wsrep_ready": "ON",
		"wsrep_cluster_status": "Primary", "wsrep_cluster_state_uuid": "u1", "wsrep_cluster_size": "3",
		"wsrep_local_index": strconv.Itoa(index), "wsrep_node_name": "node" + strconv.Itoa(index),
	}
}

// rig runs a Monitor over fake probers with rounds driven by the test.
type rig struct {
	t        *testing.T
	m        *Monitor
	fakes    map[string]*fakeProber
	ticks    chan time.Time
	deadline chan time.Time // the round deadline; nil channel: wait for every probe
	snaps    <-chan *topology.Snapshot
	reg      *prometheus.Registry
	runErr   chan error
	now      time.Time
	// realTime keeps the monitor's own ticker and round deadline, for
	// tests that run in a synctest bubble.
	realTime bool
	// extra options for New.
	extra []Option
	logs  *syncBuffer
}

func newRig(t *testing.T, opts Options, n int, setup func(*rig)) *rig {
	t.Helper()
	h := &rig{t: t, fakes: map[string]*fakeProber{}, ticks: make(chan time.Time),
		reg: prometheus.NewRegistry(), runErr: make(chan error, 1),
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var servers []Server
	for i := 0; i < n; i++ {
		name := "s" + strconv.Itoa(i+1)
		servers = append(servers, Server{Name: name, Address: "127.0.0.1:" + strconv.Itoa(3306+i)})
		h.fakes[name] = &fakeProber{status: synced(i)}
	}
	if opts.Name == "" {
		opts.Name = "galera"
	}
	if setup != nil {
		setup(h)
	}
	options := append([]Option{
		WithProberFactory(func(s Server) Prober { return h.fakes[s.Name] }),
		func(m *Monitor) {
			m.now = func() time.Time { return h.now }
			if !h.realTime {
				m.ticks = h.ticks
				m.after = func(time.Duration) <-chan time.Time { return h.deadline }
			}
		}}, h.extra...)
	h.logs = &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(h.logs, nil))
	m, err := New(opts, servers, logger, h.reg, options...)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	h.snaps, _ = m.Subscribe()
	go func() { h.runErr <- m.Run(context.Background()) }()
	t.Cleanup(func() { h.close() })
	return h
}

func (h *rig) close() {
	h.t.Helper()
	if err := h.m.Close(); err != nil {
		h.t.Error(err)
	}
	select {
	case err := <-h.runErr:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	default:
	}
}

// next waits for the next published snapshot.
func (h *rig) next() *topology.Snapshot {
	h.t.Helper()
	select {
	case s := <-h.snaps:
		return s
	case <-time.After(10 * time.Second):
		h.t.Fatal("no snapshot published")
		return nil
	}
}

// round triggers a round and returns its snapshot.
func (h *rig) round() *topology.Snapshot {
	h.t.Helper()
	h.ticks <- h.now
	return h.next()
}

func states(s *topology.Snapshot) map[string]string {
	out := map[string]string{}
	for _, srv := range s.Servers {
		out[srv.Name] = srv.State.String()
	}
	return out
}

func TestRoundsPublishWholeSnapshotsAndCountEvents(t *testing.T) {
	h := newRig(t, Options{}, 3, nil)
	s := h.next()
	if m := s.Master(); m == nil || m.Name != "s1" || s.Generation != 1 {
		t.Fatalf("first snapshot %v gen %d", states(s), s.Generation)
	}
	if h.m.Holder().Load() != s || h.m.Snapshot() != s {
		t.Fatal("holder does not hold the published snapshot")
	}
	if got := testutil.ToFloat64(h.m.metrics.events.WithLabelValues("master_up")); got != 1 {
		t.Errorf("master_up counted %v times", got)
	}

	h.fakes["s1"].set(nil)
	s = h.round()
	want := map[string]string{"s1": "Down", "s2": "Master, Synced, Running", "s3": "Slave, Synced, Running"}
	for k, v := range want {
		if states(s)[k] != v {
			t.Errorf("%s = %q, want %q", k, states(s)[k], v)
		}
	}
	if s.Generation != 2 || s.Server("s1").Err == "" {
		t.Errorf("generation %d, s1 err %q", s.Generation, s.Server("s1").Err)
	}
	for ev, n := range map[string]float64{"master_down": 1, "new_master": 1, "slave_up": 2} {
		if got := testutil.ToFloat64(h.m.metrics.events.WithLabelValues(ev)); got != n {
			t.Errorf("%s counted %v times, want %v", ev, got, n)
		}
	}
	if got := testutil.ToFloat64(h.m.metrics.localState.WithLabelValues("s1")); got != -1 {
		t.Errorf("local state gauge of a down server = %v", got)
	}
	if got := testutil.ToFloat64(h.m.metrics.stateChanges.WithLabelValues("s2")); got != 1 {
		t.Errorf("state changes of s2 = %v", got)
	}
	const rounds = `
# HELP maxproxy_monitor_rounds_total Published topology snapshots.
# TYPE maxproxy_monitor_rounds_total counter
maxproxy_monitor_rounds_total{monitor="galera"} 2
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(rounds), "maxproxy_monitor_rounds_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(h.reg); err != nil || len(problems) > 0 {
		t.Errorf("metric lint: %v %v", problems, err)
	}
}

func TestSlowServerDoesNotHoldBackTheOthers(t *testing.T) {
	// In a synctest bubble the monitor's real ticker and round deadline
	// run on the bubble's clock, which moves only when every goroutine
	// waits: the hang below costs no wall time.
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		start := time.Now()
		h := newRig(t, Options{MonitorInterval: time.Second}, 3, func(h *rig) {
			h.fakes["s3"].gate = gate
			h.realTime = true
		})
		s := h.next()
		if got := states(s); got["s1"] != "Master, Synced, Running" || got["s2"] != "Slave, Synced, Running" || got["s3"] != "Down" {
			t.Fatalf("with s3 hanging: %v", got)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("first round published after %v, want one interval", d)
		}
		s = h.next()
		if d := time.Since(start); d != 2*time.Second || s.Generation != 2 {
			t.Fatalf("second round: generation %d after %v", s.Generation, d)
		}
		h.fakes["s3"].mu.Lock()
		calls := h.fakes["s3"].calls
		h.fakes["s3"].gate = nil
		h.fakes["s3"].mu.Unlock()
		if calls != 1 {
			t.Fatalf("s3 probed %d times while its first probe hung", calls)
		}
		// s3 answers late; the round in progress uses its answer at once.
		close(gate)
		s = h.next()
		if got := states(s); got["s3"] != "Slave, Synced, Running" {
			t.Fatalf("after s3 answered: %v", got)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("third round published after %v", d)
		}
		h.close()
	})
}

func TestSlowSubscriberSeesOnlyTheLatestSnapshot(t *testing.T) {
	h := newRig(t, Options{}, 2, nil)
	lazy, cancel := h.m.Subscribe()
	h.next()
	for i := 0; i < 5; i++ {
		h.round()
	}
	s := <-lazy
	if s.Generation != 6 {
		t.Fatalf("lazy subscriber got generation %d, want the latest (6)", s.Generation)
	}
	select {
	case s := <-lazy:
		t.Fatalf("a second, stale snapshot was queued: %d", s.Generation)
	default:
	}
	cancel()
	if _, ok := <-lazy; ok {
		t.Fatal("cancelled subscription still open")
	}
	cancel() // idempotent
}

func TestAdminAPI(t *testing.T) {
	h := newRig(t, Options{}, 3, nil)
	h.next()
	if err := h.m.SetDrain("s1"); !errors.Is(err, ErrDrainWriter) {
		t.Fatalf("draining the writer: %v", err)
	}
	if err := h.m.SetMaintenance("nope"); !errors.Is(err, ErrUnknownServer) {
		t.Fatalf("unknown server: %v", err)
	}
	if err := h.m.SetDrain("s2"); err != nil {
		t.Fatal(err)
	}
	// An admin change runs a round at once, without a tick.
	s := h.next()
	if got := states(s)["s2"]; got != "Draining, Slave, Synced, Running" {
		t.Fatalf("s2 = %q", got)
	}
	if err := h.m.SetMaintenance("s1"); err != nil {
		t.Fatal(err)
	}
	s = h.next()
	if m := s.Master(); m == nil || m.Name != "s3" {
		t.Fatalf("with s1 in maintenance and s2 draining: %v", states(s))
	}
	if got := h.m.Admin(); got["s1"] != (galera.Admin{Maintenance: true}) || got["s2"] != (galera.Admin{Drain: true}) {
		t.Fatalf("admin = %v", got)
	}
	if err := h.m.ClearMaintenance("s1"); err != nil {
		t.Fatal(err)
	}
	if err := h.m.ClearDrain("s2"); err != nil {
		t.Fatal(err)
	}
	s = h.next()
	if got := states(s); got["s1"] != "Master, Synced, Running" || got["s2"] != "Slave, Synced, Running" {
		t.Fatalf("after clearing: %v", got)
	}
	if len(h.m.Admin()) != 0 {
		t.Fatalf("admin state left: %v", h.m.Admin())
	}
}

func TestJournalKeepsAdminStateAndTheFailbackWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "monitor-galera.db")
	opts := Options{JournalPath: path, DisableMasterFailback: true}

	h := newRig(t, opts, 3, nil)
	h.next()
	h.fakes["s1"].set(nil)
	if m := h.round().Master(); m == nil || m.Name != "s2" {
		t.Fatal("s2 did not take over")
	}
	if err := h.m.SetMaintenance("s3"); err != nil {
		t.Fatal(err)
	}
	h.next()
	h.close()

	// A new monitor over the same journal: s1 is back and has the lowest
	// index, but s2 stays the writer and s3 stays in maintenance.
	h2 := newRig(t, opts, 3, func(h *rig) { h.now = h.now.Add(time.Hour) })
	s := h2.next()
	if got := states(s); got["s2"] != "Master, Synced, Master Stickiness, Running" ||
		got["s3"] != "Maintenance, Slave, Synced, Running" || got["s1"] != "Slave, Synced, Running" {
		t.Fatalf("after restart: %v", got)
	}
	h2.close()

	// Older than journal_max_age: the writer is forgotten, maintenance is not.
	h3 := newRig(t, Options{JournalPath: path, DisableMasterFailback: true, JournalMaxAge: time.Minute},
		3, func(h *rig) { h.now = h.now.Add(3 * time.Hour) })
	s = h3.next()
	if got := states(s); got["s1"] != "Master, Synced, Running" || got["s3"] != "Maintenance, Slave, Synced, Running" {
		t.Fatalf("after max age: %v", got)
	}
}

func TestSetDonorNodesRunsOnTheNextProbe(t *testing.T) {
	h := newRig(t, Options{SetDonorNodes: true}, 3, nil)
	h.next()
	h.round()
	want := "SET GLOBAL wsrep_sst_donor = 'node2,node1'"
	for _, name := range []string{"s2", "s3"} {
		f := h.fakes[name]
		f.mu.Lock()
		execs := append([]string(nil), f.execs...)
		f.mu.Unlock()
		if len(execs) != 1 || execs[0] != want {
			t.Errorf("%s ran %q, want [%q]", name, execs, want)
		}
	}
	if len(h.fakes["s1"].execs) != 0 {
		t.Errorf("the writer got %q", h.fakes["s1"].execs)
	}
}

func TestAuthErrorIsPublished(t *testing.T) {
	h := newRig(t, Options{}, 2, func(h *rig) { h.fakes["s2"].auth = true })
	if got := states(h.next())["s2"]; got != "Auth Error, Down" {
		t.Fatalf("s2 = %q", got)
	}
}

func TestLifecycle(t *testing.T) {
	h := newRig(t, Options{}, 1, nil)
	h.next()
	if err := h.m.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
	h.close()
	for _, f := range h.fakes {
		if !f.closed {
			t.Error("prober not closed")
		}
	}
	if _, ok := <-h.snaps; ok {
		t.Error("subscription not closed by Close")
	}
	if err := h.m.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	if err := h.m.SetMaintenance("s1"); !errors.Is(err, ErrClosed) {
		t.Errorf("admin after Close: %v", err)
	}
	if ch, _ := h.m.Subscribe(); ch == nil {
		t.Error("nil channel")
	} else if _, ok := <-ch; ok {
		t.Error("subscription after Close is open")
	}
	// Metrics are unregistered: a new monitor can use the same registry.
	if _, err := New(Options{Name: "galera"}, []Server{{Name: "a", Address: "127.0.0.1:1"}}, nil, h.reg); err != nil {
		t.Fatalf("re-registering after Close: %v", err)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	m, err := New(Options{Name: "g"}, []Server{{Name: "a", Address: "127.0.0.1:1"}}, nil, nil,
		WithProberFactory(func(Server) Prober { return &fakeProber{status: synced(0)} }))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	snaps, _ := m.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	<-snaps
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v on cancellation", err)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	one := []Server{{Name: "a", Address: "127.0.0.1:1"}}
	for name, c := range map[string]struct {
		opts    Options
		servers []Server
	}{
		"short interval":    {Options{MonitorInterval: time.Millisecond}, one},
		"no servers":        {Options{}, nil},
		"duplicate server":  {Options{}, []Server{one[0], one[0]}},
		"unnamed server":    {Options{}, []Server{{Address: "x:1"}}},
		"address sans port": {Options{}, []Server{{Name: "a", Address: "db1"}}},
		"unknown event":     {Options{Events: []string{"synced_up"}}, one},
		"missing script":    {Options{Script: "/nonexistent/script $EVENT"}, one},
		"unbalanced quote":  {Options{Script: `/bin/true "abc`}, one},
		"negative timeout":  {Options{BackendReadTimeout: -time.Second}, one},
		"negative lag":      {Options{LagRecvQueueThreshold: -1}, one},
		"negative attempts": {Options{BackendConnectAttempts: -1}, one},
	} {
		if _, err := New(c.opts, c.servers, nil, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestStickyWriterMakesInstancesAgree(t *testing.T) {
	cluster := &fakeCluster{}
	share := func(h *rig) {
		for _, f := range h.fakes {
			f.cluster = cluster
		}
	}
	// Instance a cannot reach s1; instance b can. Without the marker they
	// would pick different writers (s2 and s1).
	a := newRig(t, Options{StickyWriter: true}, 3, func(h *rig) {
		share(h)
		h.fakes["s1"].status = nil
	})
	b := newRig(t, Options{StickyWriter: true}, 3, share)
	if w := a.next().Master(); w == nil || w.Name != "s2" {
		t.Fatal("a did not choose s2")
	}
	if w := b.next().Master(); w == nil || w.Name != "s1" {
		t.Fatal("b did not choose s1")
	}
	// a creates the marker first; b's creation is then ignored and b
	// follows the marker.
	if w := a.round().Master(); w == nil || w.Name != "s2" {
		t.Fatal("a moved off s2")
	}
	s := b.round()
	if w := s.Master(); w == nil || w.Name != "s2" || !w.State.Has(topology.Sticky) {
		t.Fatalf("b does not follow the marker: %v", states(s))
	}
	// s1 returns for a: nobody fails back.
	a.fakes["s1"].set(synced(0))
	if w := a.round().Master(); w == nil || w.Name != "s2" {
		t.Fatal("a failed back")
	}
	if w := b.round().Master(); w == nil || w.Name != "s2" {
		t.Fatal("b failed back")
	}
	// The marked writer goes down for both: both choose s1, one update wins.
	a.fakes["s2"].set(nil)
	b.fakes["s2"].set(nil)
	a.round()
	b.round()
	if w := a.round().Master(); w == nil || w.Name != "s1" {
		t.Fatal("a did not move to s1")
	}
	if w := b.round().Master(); w == nil || w.Name != "s1" {
		t.Fatal("b did not move to s1")
	}
	cluster.mu.Lock()
	defer cluster.mu.Unlock()
	if cluster.node != "node0" || cluster.version != 2 || cluster.writes != 2 {
		t.Fatalf("marker %q v%d after %d writes; want node0 v2 after 2", cluster.node, cluster.version, cluster.writes)
	}
}

func TestMarkerStatements(t *testing.T) {
	got := markerStatements(galera.MarkerUpdate{Server: "s1", Node: "n'1", Version: 0}, "h/m/1")
	if len(got) != 3 || got[0] != markerSchemaDB || got[1] != markerSchema ||
		got[2] != "INSERT IGNORE INTO maxproxy.writer (id, node, owner, version) VALUES (1, X'6e2731', X'682f6d2f31', 1)" {
		t.Errorf("create: %q", got)
	}
	got = markerStatements(galera.MarkerUpdate{Server: "s1", Node: "n1", Version: 7}, "")
	if len(got) != 1 || got[0] != "UPDATE maxproxy.writer SET node = X'6e31', owner = '', version = version + 1 WHERE id = 1 AND version = 7" {
		t.Errorf("update: %q", got)
	}
}

func TestReplacementMonitorTakesOverTheHolder(t *testing.T) {
	h1 := newRig(t, Options{}, 3, nil)
	first := h1.next()
	h1.close()

	holder := h1.m.Holder()
	h2 := newRig(t, Options{}, 3, func(h *rig) { h.extra = append(h.extra, WithHolder(holder)) })
	// The subscription starts with the old monitor's snapshot, unless the
	// replacement's first round already took its place.
	s := h2.next()
	if s == first {
		s = h2.next()
	}
	if s.Generation != first.Generation+1 || holder.Load() != s || h2.m.Holder() != holder {
		t.Fatalf("generation %d after %d", s.Generation, first.Generation)
	}
	for _, ev := range []string{"master_up", "slave_up"} {
		if got := testutil.ToFloat64(h2.m.metrics.events.WithLabelValues(ev)); got != 0 {
			t.Errorf("%s raised %v times by a reload that changed nothing", ev, got)
		}
	}
}

func TestStateChangesAreLogged(t *testing.T) {
	h := newRig(t, Options{LagFCSentThreshold: 1, LagHysteresis: 2}, 3, nil)
	h.next()
	h.fakes["s2"].set(func() map[string]string { v := synced(1); v["wsrep_flow_control_sent"] = "5"; return v }())
	h.round()
	h.fakes["s1"].set(nil)
	h.round()
	logs := h.logs.String()
	for _, want := range []string{
		`msg="server changed state" monitor=galera server=s2 from="Slave, Synced, Running" to="Slave, Synced, Lagging, Running"` + "\n",
		`msg="server changed state" monitor=galera server=s1 from="Master, Synced, Running" to=Down event=master_down`,
		`msg="server changed state" monitor=galera server=s2 from="Slave, Synced, Lagging, Running" to="Master, Synced, Lagging, Running" event=new_master`,
		`msg="probe failed" monitor=galera server=s1`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s\n%s", want, logs)
		}
	}
}

func TestDiagnostics(t *testing.T) {
	h := newRig(t, Options{Password: "secret", Events: []string{"master_down"}}, 3, func(h *rig) {
		h.fakes["s3"].status["wsrep_cluster_state_uuid"] = "other"
	})
	h.next()
	d := h.m.Diagnostics()
	if !d.Running || d.Name != "galera" || d.Generation != 1 || d.Writer != "s1" ||
		d.ClusterUUID != "u1" || d.ClusterSize != 2 || d.Options.Password != "" || d.Options.MonitorInterval != time.Second {
		t.Fatalf("diagnostics %+v", d)
	}
	d.Options.Events[0] = "changed"
	if h.m.Diagnostics().Options.Events[0] != "master_down" {
		t.Fatal("diagnostics share the monitor's options")
	}
	h.close()
	if h.m.Diagnostics().Running {
		t.Fatal("closed monitor reported running")
	}
}
