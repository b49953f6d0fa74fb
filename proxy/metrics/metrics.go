// Package metrics holds the proxy runtime's Prometheus metrics: sessions per
// service and, per service and server, routed statements by target kind,
// backend connections and backend errors. Everything is registered on an
// injected prometheus.Registerer; labels are bounded by the configuration
// (service and server names) and by the fixed Target set, never by SQL.
//
// Hot paths use pre-resolved children (Server, Service): counting a routed
// statement is one atomic add, without a label lookup.
package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Target is the kind of routing decision a statement got.
type Target uint8

// The routing targets counted in maxproxy_queries_routed_total.
const (
	TargetMaster   Target = iota // the writer
	TargetSlave                  // a reader
	TargetAll                    // a session command sent to every backend of the session
	TargetPrevious               // followed the previous statement (FOUND_ROWS, FETCH, transaction)
	TargetHint                   // chosen by a routing hint
	TargetConn                   // the session's only backend (readconnroute)
	numTargets
)

var targetNames = [numTargets]string{"master", "slave", "all", "previous", "hint", "connection"}

// String returns the label value of the target.
func (t Target) String() string {
	if t < numTargets {
		return targetNames[t]
	}
	return "invalid"
}

// Metrics owns the metric vectors. Create it once per process and register
// it with New.
type Metrics struct {
	sessionsActive *prometheus.GaugeVec
	sessionsTotal  *prometheus.CounterVec
	routed         *prometheus.CounterVec
	backendConns   *prometheus.GaugeVec
	backendErrors  *prometheus.CounterVec
	collectors     []prometheus.Collector
	reg            prometheus.Registerer
}

// New creates the metrics and registers them on reg (nil: a private
// registry, for callers that do not export metrics).
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		reg: reg,
		sessionsActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maxproxy_sessions",
			Help: "Client sessions currently open, per service.",
		}, []string{"service"}),
		sessionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_sessions_total",
			Help: "Client sessions that completed authentication, per service.",
		}, []string{"service"}),
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_queries_routed_total",
			Help: "Client commands sent to a server, by service, server and routing target kind.",
		}, []string{"service", "server", "target"}),
		backendConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maxproxy_backend_connections",
			Help: "Backend connections currently open by client sessions, per service and server.",
		}, []string{"service", "server"}),
		backendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_backend_errors_total",
			Help: "Backend connections that failed (connect, login, broken mid-reply, failed session command), per service and server.",
		}, []string{"service", "server"}),
	}
	m.collectors = []prometheus.Collector{m.sessionsActive, m.sessionsTotal, m.routed, m.backendConns, m.backendErrors}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, r := range m.collectors[:i] {
				reg.Unregister(r)
			}
			return nil, fmt.Errorf("register proxy metrics: %w", err)
		}
	}
	return m, nil
}

// Unregister removes the metrics from the registerer they were created on.
func (m *Metrics) Unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

// Service is the pre-resolved metric set of one service.
type Service struct {
	SessionsActive prometheus.Gauge
	SessionsTotal  prometheus.Counter
	servers        map[string]*Server
}

// Server is the pre-resolved metric set of one server of one service.
type Server struct {
	routed [numTargets]prometheus.Counter
	// Connections counts backend connections open to the server.
	Connections prometheus.Gauge
	// Errors counts failed backend connections.
	Errors prometheus.Counter
}

// Routed counts one command sent to the server for target t.
func (s *Server) Routed(t Target) { s.routed[t].Inc() }

// ErrUnknownServer is returned by Service.Server for a name the service was
// not created with.
var ErrUnknownServer = errors.New("metrics: unknown server")

// Service resolves the children of service name and of each of its servers.
func (m *Metrics) Service(name string, servers []string) *Service {
	s := &Service{
		SessionsActive: m.sessionsActive.WithLabelValues(name),
		SessionsTotal:  m.sessionsTotal.WithLabelValues(name),
		servers:        make(map[string]*Server, len(servers)),
	}
	for _, srv := range servers {
		sm := &Server{
			Connections: m.backendConns.WithLabelValues(name, srv),
			Errors:      m.backendErrors.WithLabelValues(name, srv),
		}
		for t := range numTargets {
			sm.routed[t] = m.routed.WithLabelValues(name, srv, t.String())
		}
		s.servers[srv] = sm
	}
	return s
}

// Server returns the metrics of one server of the service.
func (s *Service) Server(name string) (*Server, error) {
	sm, ok := s.servers[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownServer, name)
	}
	return sm, nil
}
