package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/maxproxy/maxproxy/monitor/galera"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

// Errors of the administrative API.
var (
	ErrUnknownServer = errors.New("monitor: unknown server")
	// ErrDrainWriter: the current writer cannot be drained (as in
	// MaxScale's galeramon); put it into maintenance to move the writer.
	ErrDrainWriter = errors.New("monitor: the current writer cannot be drained; set maintenance instead")
	ErrClosed      = errors.New("monitor: closed")
)

// writerRefresh is how often an unchanged failback writer is re-stamped in
// the journal (see journal.go).
const writerRefresh = time.Minute

// Monitor probes a set of Galera servers each interval and publishes a
// whole topology snapshot per round. Create it with New, run it with Run,
// stop it with Close. Its methods are safe for concurrent use.
type Monitor struct {
	opts    Options
	gopts   galera.Options
	servers []Server
	names   map[string]bool
	log     *slog.Logger
	metrics *metrics
	journal *journal // nil without Options.JournalPath
	// stopped: the journal says an operator stopped this monitor and no
	// Run has started since (see Stop).
	stopped   bool
	script    *scriptRunner // nil without Options.Script
	probers   []Prober
	newProber ProberFactory
	holder    *topology.Holder
	wake      chan struct{} // capacity 1: an admin change asks for a round now

	// Test hooks: the wall clock, the round deadline and the ticker.
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
	ticks <-chan time.Time // nil: a time.Ticker at MonitorInterval

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // Run

	mu      sync.Mutex
	admin   map[string]galera.Admin
	subs    map[chan *topology.Snapshot]struct{}
	running bool // Run was called
	active  bool // Run is running
	closed  bool
	diag    Diagnostics // the cluster part, updated each round

	// Owned by the goroutine in Run.
	memory        galera.Memory
	latest        []galera.Probe
	inflight      []bool
	donorStmts    [][]string // set_donor_nodes statements for each server's next probe
	markerStmts   [][]string // writer-marker statements for each server's next probe
	results       chan probeResult
	lastErr       []string
	lastMarkerErr []string
	// fcBase[i] is server i's wsrep_flow_control_sent at its last probe
	// that read status, fcSeen[i] whether there was one.
	fcBase      []uint64
	fcSeen      []bool
	savedWriter string
	writerSaved time.Time
	owner       string // names this instance in the writer marker
	// lastMarkerMove keeps a failing marker update from being logged
	// every round.
	lastMarkerMove galera.MarkerUpdate

	// lastExecErr[i] is touched only by server i's probe goroutine; probes
	// of one server never overlap.
	lastExecErr []string
}

type probeResult struct {
	i     int
	probe galera.Probe
}

// Option adjusts a Monitor at construction.
type Option func(*Monitor)

// WithHolder makes the monitor publish into h instead of a holder of its
// own. A monitor that replaces another (on a configuration reload) and
// takes over its holder keeps the readers' pointer, continues its
// generations and diffs its first round against the last published
// snapshot, so a reload raises no events for servers that did not change.
// Only one running monitor may publish into a holder.
func WithHolder(h *topology.Holder) Option {
	return func(m *Monitor) { m.holder = h }
}

// WithProberFactory replaces the MySQL prober (for tests and for callers
// that reach servers some other way).
func WithProberFactory(f ProberFactory) Option {
	return func(m *Monitor) { m.newProber = f }
}

// New validates the options and prepares a monitor: it registers the
// metrics on reg (a nil reg keeps them private), opens the journal and
// restores maintenance, drain and the failback writer from it. Nothing
// is probed until Run.
func New(opts Options, servers []Server, logger *slog.Logger, reg prometheus.Registerer, options ...Option) (*Monitor, error) {
	opts = opts.withDefaults()
	if err := opts.validate(servers); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Monitor{
		opts:          opts,
		gopts:         opts.classification(),
		servers:       append([]Server(nil), servers...),
		names:         make(map[string]bool, len(servers)),
		log:           logger.With("monitor", opts.Name),
		wake:          make(chan struct{}, 1),
		holder:        new(topology.Holder),
		now:           time.Now,
		after:         time.After,
		admin:         map[string]galera.Admin{},
		subs:          map[chan *topology.Snapshot]struct{}{},
		latest:        make([]galera.Probe, len(servers)),
		inflight:      make([]bool, len(servers)),
		donorStmts:    make([][]string, len(servers)),
		markerStmts:   make([][]string, len(servers)),
		lastErr:       make([]string, len(servers)),
		lastMarkerErr: make([]string, len(servers)),
		fcBase:        make([]uint64, len(servers)),
		fcSeen:        make([]bool, len(servers)),
		lastExecErr:   make([]string, len(servers)),
		results:       make(chan probeResult, len(servers)),
	}
	for i := range m.latest {
		m.latest[i].Err = "no probe has answered yet"
	}
	m.newProber = newMySQLProber(opts)
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	m.owner = fmt.Sprintf("%s/%s/%d", host, opts.Name, os.Getpid())
	for _, s := range servers {
		m.names[s.Name] = true
	}
	for _, o := range options {
		o(m)
	}
	if m.metrics, err = newMetrics(reg, opts.Name); err != nil {
		return nil, fmt.Errorf("monitor %q: register metrics: %w", opts.Name, err)
	}
	if opts.Script != "" {
		if m.script, err = newScriptRunner(opts, m.log, m.metrics); err != nil {
			m.metrics.unregister()
			return nil, fmt.Errorf("monitor %q: script: %w", opts.Name, err)
		}
	}
	if opts.JournalPath != "" {
		if m.journal, err = openJournal(opts.JournalPath); err != nil {
			m.metrics.unregister()
			return nil, err
		}
		admin, writer, err := m.journal.load(m.now(), opts.JournalMaxAge, m.names)
		if err != nil {
			m.journal.close()
			m.metrics.unregister()
			return nil, err
		}
		m.admin = admin
		m.memory.Master = writer
		m.savedWriter = writer
		if writer != "" || len(admin) > 0 {
			m.log.Info("monitor state restored from journal", "writer", writer, "admin", admin)
		}
		if err := m.restoreStopped(); err != nil {
			m.journal.close()
			m.metrics.unregister()
			return nil, err
		}
	}
	for _, s := range m.servers {
		m.probers = append(m.probers, m.newProber(s))
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Holder returns the holder the monitor publishes into; readers Load it
// without locks.
func (m *Monitor) Holder() *topology.Holder { return m.holder }

// Snapshot returns the latest published snapshot (nil before the first round).
func (m *Monitor) Snapshot() *topology.Snapshot { return m.holder.Load() }

// Subscribe returns a channel that receives every published snapshot,
// starting with the current one if there is one. The channel holds one
// snapshot: a slow reader misses intermediate ones, never the latest, and
// never delays probing. The channel is closed by cancel or by Close.
func (m *Monitor) Subscribe() (<-chan *topology.Snapshot, func()) {
	ch := make(chan *topology.Snapshot, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		close(ch)
		return ch, func() {}
	}
	if s := m.holder.Load(); s != nil {
		ch <- s
	}
	m.subs[ch] = struct{}{}
	return ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.subs[ch]; ok {
			delete(m.subs, ch)
			close(ch)
		}
	}
}

// Run probes every interval until ctx is done or Close is called, and
// returns nil then. It may be called once.
func (m *Monitor) Run(ctx context.Context) error {
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return ErrClosed
	case m.running:
		m.mu.Unlock()
		return errors.New("monitor: Run called twice")
	}
	m.running, m.active = true, true
	m.wg.Add(1)
	if m.stopped {
		m.stopped = false
		if err := m.journal.clearStopped(); err != nil {
			// Probing matters more than the record: the cost is that a
			// restart would come up stopped, which the log explains.
			m.metrics.journalErrors.Inc()
			m.log.Error("cannot clear the operator's stop from the monitor journal; a restart will find the monitor stopped", "err", err)
		}
	}
	m.mu.Unlock()
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		m.active = false
		m.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(m.ctx, cancel)()

	// Everything started here is waited for before Run returns, so that
	// Close can then release the probers' connections safely.
	var workers sync.WaitGroup
	defer func() {
		cancel()
		workers.Wait()
	}()
	if m.script != nil {
		workers.Add(1)
		go m.script.run(ctx, &workers)
	}
	ticks := m.ticks
	if ticks == nil {
		t := time.NewTicker(m.opts.MonitorInterval)
		defer t.Stop()
		ticks = t.C
	}
	m.log.Info("monitor started", "servers", len(m.servers), "interval", m.opts.MonitorInterval)
	for {
		m.round(ctx, &workers)
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		case <-m.wake:
		}
	}
}

// Stop is Close for an operator's stop. With a journal it first records
// that the monitor is stopped, together with the last published snapshot,
// so that a restarted proxy keeps it stopped (Stopped reports it) and
// routes by the states the operator froze until the monitor is started
// again; the first Run of a monitor clears the record. If the record
// cannot be written the monitor keeps running and the error is returned.
func (m *Monitor) Stop() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	if m.journal != nil {
		if err := m.journal.saveStopped(m.holder.Load(), m.now()); err != nil {
			m.mu.Unlock()
			m.metrics.journalErrors.Inc()
			return fmt.Errorf("monitor %q: record the stop in the journal: %w", m.opts.Name, err)
		}
	}
	m.stopped = true
	m.mu.Unlock()
	// A round in flight may still publish before Run sees the cancel:
	// once Run has returned, record what it published last.
	m.cancel()
	m.wg.Wait()
	if m.journal != nil {
		if err := m.journal.saveStopped(m.holder.Load(), m.now()); err != nil {
			m.metrics.journalErrors.Inc()
			m.log.Warn("cannot record the monitor's last snapshot in the journal; a restart restores the one before it", "err", err)
		}
	}
	return m.Close()
}

// Stopped reports whether an operator stopped the monitor (Stop) and it
// has not run since, in this process or, through the journal, before a
// restart. The owner then should not Run it until an operator asks.
func (m *Monitor) Stopped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopped
}

// restoreStopped reads the journal's stop record. The snapshot it carries
// is published when nothing is yet (a restarted process) and it describes
// exactly the configured servers; otherwise routing waits for a probe.
func (m *Monitor) restoreStopped() error {
	r, err := m.journal.loadStopped()
	if err != nil || r == nil {
		return err
	}
	m.stopped = true
	snap := r.Snapshot
	if snap == nil || len(snap.Servers) != len(m.servers) {
		m.log.Warn("monitor was stopped by an operator; it stays stopped with no topology to route by until started", "stopped_at", r.Saved)
		return nil
	}
	for i := range snap.Servers {
		if snap.Servers[i].Name != m.servers[i].Name {
			m.log.Warn("monitor was stopped by an operator; its servers changed since, so it stays stopped with no topology to route by until started", "stopped_at", r.Saved)
			return nil
		}
		snap.Servers[i].Address, snap.Servers[i].Priority = m.servers[i].Address, m.servers[i].Priority
	}
	if m.holder.Load() == nil {
		m.holder.Store(snap)
	}
	m.log.Warn("monitor was stopped by an operator; it stays stopped and routing uses the states it last published until it is started",
		"stopped_at", r.Saved, "states", snapStates(snap))
	return nil
}

func snapStates(s *topology.Snapshot) map[string]string {
	out := make(map[string]string, len(s.Servers))
	for _, srv := range s.Servers {
		out[srv.Name] = srv.State.String()
	}
	return out
}

// Close stops Run, waits for every goroutine the monitor started, and
// releases connections, the journal and the metrics. It is idempotent.
func (m *Monitor) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for ch := range m.subs {
		close(ch)
	}
	m.subs = nil
	m.mu.Unlock()

	m.cancel()
	m.wg.Wait()
	var errs []error
	for _, p := range m.probers {
		errs = append(errs, p.Close())
	}
	if err := m.journal.close(); err != nil {
		errs = append(errs, fmt.Errorf("close monitor journal: %w", err))
	}
	m.metrics.unregister()
	return errors.Join(errs...)
}

// round starts a probe of every server that has none in flight, waits for
// the probes up to one interval, and publishes. A server whose probe is
// still running keeps its previous result for this round, so one slow
// server never holds back the others; its probe ends by its own timeouts.
func (m *Monitor) round(ctx context.Context, workers *sync.WaitGroup) {
	for i, p := range m.probers {
		if m.inflight[i] {
			continue
		}
		m.inflight[i] = true
		var batches [][]string
		for _, stmt := range m.donorStmts[i] {
			batches = append(batches, []string{stmt})
		}
		if len(m.markerStmts[i]) > 0 {
			batches = append(batches, m.markerStmts[i])
		}
		m.donorStmts[i], m.markerStmts[i] = nil, nil
		workers.Add(1)
		go m.probe(ctx, workers, i, p, batches)
	}
	deadline := m.after(m.opts.MonitorInterval)
wait:
	for m.pending() > 0 {
		select {
		case r := <-m.results:
			m.latest[r.i] = r.probe
			m.inflight[r.i] = false
		case <-deadline:
			// Take what has already arrived, then publish without the rest.
			for {
				select {
				case r := <-m.results:
					m.latest[r.i] = r.probe
					m.inflight[r.i] = false
					continue
				default:
				}
				break wait
			}
		case <-ctx.Done():
			return
		}
	}
	m.publish()
}

func (m *Monitor) pending() int {
	n := 0
	for _, f := range m.inflight {
		if f {
			n++
		}
	}
	return n
}

// probe runs in its own goroutine; results has room for one result per
// server and each server has at most one probe in flight, so the send
// never blocks. Each batch of statements runs before the probe, so the
// probe reads their effect; a batch stops at its first error.
func (m *Monitor) probe(ctx context.Context, workers *sync.WaitGroup, i int, p Prober, batches [][]string) {
	defer workers.Done()
	start := time.Now()
	var execErr string
	for _, batch := range batches {
		for _, stmt := range batch {
			if err := p.Exec(ctx, stmt); err != nil {
				execErr = err.Error()
				break
			}
		}
	}
	if execErr != m.lastExecErr[i] && execErr != "" {
		m.log.Warn("monitor statement failed", "server", m.servers[i].Name, "err", execErr)
	}
	m.lastExecErr[i] = execErr
	r := p.Probe(ctx)
	m.metrics.probeDuration.WithLabelValues(m.servers[i].Name).Observe(time.Since(start).Seconds())
	m.results <- probeResult{i, r}
}

// publish classifies the latest probe results and publishes the snapshot.
func (m *Monitor) publish() {
	m.mu.Lock()
	admin := maps.Clone(m.admin)
	m.mu.Unlock()

	probes := make([]galera.Probe, len(m.servers))
	for i, s := range m.servers {
		probes[i] = m.latest[i]
		probes[i].Server = galera.ServerConfig{Name: s.Name, Address: s.Address, Priority: s.Priority}
	}
	now := m.now()
	prev := m.holder.Load()
	res := galera.Classify(galera.Input{
		Prev: prev, Memory: m.memory, Probes: probes, Admin: admin, Options: m.gopts, Now: now,
	})
	m.memory = res.Memory
	snap := res.Snapshot
	// Readers on the query path see the new state first; subscribers are
	// told after the round's logs and metrics, so whoever reacts to a
	// snapshot finds them consistent with it.
	m.holder.Store(snap)
	m.metrics.rounds.Inc()
	m.observe(prev, snap, probes, res.Events)
	for _, ev := range res.Events {
		m.metrics.events.WithLabelValues(string(ev.Name)).Inc()
		if m.script != nil {
			m.script.enqueue(ev, snap)
		}
	}
	m.mu.Lock()
	m.diag.ClusterUUID, m.diag.ClusterSize = res.ClusterUUID, res.ClusterSize
	m.diag.Marker = res.Marker
	for ch := range m.subs {
		select {
		case <-ch: // replace a snapshot the reader has not taken yet
		default:
		}
		ch <- snap
	}
	m.mu.Unlock()

	m.saveWriter(now)
	if m.opts.SetDonorNodes {
		for _, u := range galera.DonorUpdates(snap, probes, m.gopts) {
			i := m.index(u.Server)
			m.donorStmts[i] = append(m.donorStmts[i][:0], u.Statement)
		}
	}
	// Only this round's marker update may run: an older one would
	// compare against a version already superseded.
	for i := range m.markerStmts {
		m.markerStmts[i] = nil
	}
	if u := res.MarkerUpdate; u != nil {
		if m.lastMarkerMove != *u {
			m.log.Info("moving the writer marker", "server", u.Server, "node", u.Node, "from", res.Marker.Node,
				"version", u.Version)
			m.lastMarkerMove = *u
		}
		m.markerStmts[m.index(u.Server)] = markerStatements(*u, m.owner)
	}
}

func (m *Monitor) index(server string) int {
	for i, s := range m.servers {
		if s.Name == server {
			return i
		}
	}
	panic("monitor: classification returned unknown server " + server)
}

// observe updates the per-server metrics and logs every state change
// (with its event, if it has one; Lagging or Draining changes have none)
// and probe failures when they start or change, not every round.
func (m *Monitor) observe(prev, snap *topology.Snapshot, probes []galera.Probe, events []galera.Event) {
	for i, s := range snap.Servers {
		var before topology.State
		p := prev.Server(s.Name)
		if p != nil {
			before = p.State
		}
		if p != nil && p.State != s.State {
			m.metrics.stateChanges.WithLabelValues(s.Name).Inc()
		}
		if p == nil || p.State != s.State {
			attrs := []any{"server", s.Name, "from", before.String(), "to", s.State.String()}
			for _, ev := range events {
				if ev.Server == s.Name {
					attrs = append(attrs, "event", ev.Name)
				}
			}
			m.log.Info("server changed state", attrs...)
		}
		m.metrics.setState(s.Name, s.State)
		if probes[i].HasStatus {
			m.metrics.localState.WithLabelValues(s.Name).Set(float64(s.Galera.LocalState))
			m.metrics.recvQueue.WithLabelValues(s.Name).Set(float64(s.Galera.RecvQueue))
			m.countFlowControl(i, s.Name, s.Galera.FlowControlSent)
		} else {
			m.metrics.localState.WithLabelValues(s.Name).Set(-1)
		}
		if e := probes[i].MarkerErr; e != m.lastMarkerErr[i] {
			if e != "" {
				m.log.Warn("cannot read the writer marker", "server", s.Name, "err", e)
			}
			m.lastMarkerErr[i] = e
		}
		if s.Err != m.lastErr[i] {
			if s.Err != "" {
				m.log.Warn("probe failed", "server", s.Name, "err", s.Err)
			} else if m.lastErr[i] != "" {
				m.log.Info("probe succeeded again", "server", s.Name)
			}
			m.lastErr[i] = s.Err
		}
	}
}

// countFlowControl adds the growth of a server's wsrep_flow_control_sent
// since its previous probe to the exported counter. The first reading is
// only a baseline (the node's history before the monitor is not this
// proxy's to report); a reading below the baseline means the node
// restarted, and all of it is new.
func (m *Monitor) countFlowControl(i int, server string, sent uint64) {
	if m.fcSeen[i] {
		delta := sent
		if sent >= m.fcBase[i] {
			delta = sent - m.fcBase[i]
		}
		if delta > 0 {
			m.metrics.fcSent.WithLabelValues(server).Add(float64(delta))
		}
	} else {
		m.metrics.fcSent.WithLabelValues(server) // export the 0
	}
	m.fcBase[i], m.fcSeen[i] = sent, true
}

// saveWriter journals the failback writer (only used with
// disable_master_failback).
func (m *Monitor) saveWriter(now time.Time) {
	if m.journal == nil || !m.opts.DisableMasterFailback {
		return
	}
	w := m.memory.Master
	if w == m.savedWriter && now.Sub(m.writerSaved) < writerRefresh {
		return
	}
	if err := m.journal.saveWriter(w, now); err != nil {
		m.metrics.journalErrors.Inc()
		m.log.Error("cannot save the writer in the monitor journal", "err", err)
		return
	}
	m.savedWriter, m.writerSaved = w, now
}
