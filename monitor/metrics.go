package monitor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/maxproxy/maxproxy/monitor/galera"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

// stateLabels name the state bits exported by maxproxy_monitor_server_state:
// MaxScale's status words, in Prometheus label form.
var stateLabels = []struct {
	bit   topology.State
	label string
}{
	{topology.Running, "running"},
	{topology.Synced, "synced"},
	{topology.Master, "master"},
	{topology.Slave, "slave"},
	{topology.Donor, "donor"},
	{topology.Maintenance, "maintenance"},
	{topology.Draining, "draining"},
	{topology.AuthError, "auth_error"},
	{topology.Sticky, "sticky"},
	{topology.Lagging, "lagging"},
}

// metrics are registered on the injected registry, labelled with the
// monitor's name; the other labels are bounded (server names from the
// configuration, the ten event names, three script outcomes, the ten
// state bits).
type metrics struct {
	reg           prometheus.Registerer
	collectors    []prometheus.Collector
	events        *prometheus.CounterVec
	probeDuration *prometheus.HistogramVec
	stateChanges  *prometheus.CounterVec
	localState    *prometheus.GaugeVec
	recvQueue     *prometheus.GaugeVec
	fcSent        *prometheus.CounterVec
	serverState   *prometheus.GaugeVec
	rounds        prometheus.Counter
	scriptRuns    *prometheus.CounterVec
	scriptDropped prometheus.Counter
	journalErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, monitor string) (*metrics, error) {
	c := prometheus.Labels{"monitor": monitor}
	m := &metrics{
		reg: reg,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_monitor_events_total", ConstLabels: c,
			Help: "Monitor events (MaxScale's names: master_down, new_master, ...).",
		}, []string{"event"}),
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "maxproxy_monitor_probe_duration_seconds", ConstLabels: c,
			Help:    "Time to probe one server, including any reconnection.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"server"}),
		stateChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_monitor_state_changes_total", ConstLabels: c,
			Help: "Changes of a server's published state bits.",
		}, []string{"server"}),
		localState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maxproxy_monitor_wsrep_local_state", ConstLabels: c,
			Help: "wsrep_local_state as last read (4 Synced, 2 Donor/Desynced, ...); -1 when the server could not be read.",
		}, []string{"server"}),
		recvQueue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maxproxy_monitor_wsrep_local_recv_queue", ConstLabels: c,
			Help: "wsrep_local_recv_queue as last read.",
		}, []string{"server"}),
		fcSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_monitor_wsrep_flow_control_sent_total", ConstLabels: c,
			Help: "Growth of wsrep_flow_control_sent between probes (the node asked the cluster to pause); counted from the first probe, across node restarts.",
		}, []string{"server"}),
		serverState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maxproxy_monitor_server_state", ConstLabels: c,
			Help: "1 when the server's published state has the bit named by state (running, synced, master, slave, donor, maintenance, draining, auth_error, sticky, lagging), else 0.",
		}, []string{"server", "state"}),
		rounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "maxproxy_monitor_rounds_total", ConstLabels: c,
			Help: "Published topology snapshots.",
		}),
		scriptRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_monitor_script_runs_total", ConstLabels: c,
			Help: "Monitor script runs by result (ok, failed, timeout).",
		}, []string{"result"}),
		scriptDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "maxproxy_monitor_script_dropped_total", ConstLabels: c,
			Help: "Events not given to the script because its queue was full.",
		}),
		journalErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "maxproxy_monitor_journal_errors_total", ConstLabels: c,
			Help: "Failed writes of the monitor journal.",
		}),
	}
	all := []prometheus.Collector{m.events, m.probeDuration, m.stateChanges, m.localState,
		m.recvQueue, m.fcSent, m.serverState, m.rounds, m.scriptRuns, m.scriptDropped, m.journalErrors}
	for _, col := range all {
		if err := reg.Register(col); err != nil {
			m.unregister()
			return nil, err
		}
		m.collectors = append(m.collectors, col)
	}
	// Every series exists from the start, so rate() and alerts see a 0
	// before the first event rather than nothing.
	for _, e := range galera.AllEvents {
		m.events.WithLabelValues(string(e))
	}
	for _, r := range []string{"ok", "failed", "timeout"} {
		m.scriptRuns.WithLabelValues(r)
	}
	return m, nil
}

// setState publishes every state bit of server.
func (m *metrics) setState(server string, st topology.State) {
	for _, l := range stateLabels {
		v := 0.0
		if st&l.bit != 0 {
			v = 1
		}
		m.serverState.WithLabelValues(server, l.label).Set(v)
	}
}

// unregister removes the collectors so that a monitor recreated on reload
// can register again.
func (m *metrics) unregister() {
	for _, col := range m.collectors {
		m.reg.Unregister(col)
	}
	m.collectors = nil
}
