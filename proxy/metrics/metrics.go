// Package metrics holds the proxy runtime's Prometheus metrics:
//   - per service: client sessions, authentication failures and host blocks;
//   - per service and server: routed statements and their response times
//     by target kind, backend connections and errors;
//   - per listener: accepted connections and client bytes in each direction;
//   - the statement classifier's cache (read from its own counters at
//     scrape time), and the build.
//
// Everything is registered on an injected prometheus.Registerer. Labels are
// bounded by the configuration (service, server and listener names) and by
// fixed sets (Target), never by SQL text, user names or client addresses.
//
// Hot paths use pre-resolved children (Service, Server, Listener): counting
// a routed statement is one atomic add and timing it one histogram
// observation, without a label lookup or an allocation.
package metrics

import (
	"errors"
	"fmt"
	"runtime"
	"time"

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
	duration       *prometheus.HistogramVec
	backendConns   *prometheus.GaugeVec
	backendErrors  *prometheus.CounterVec
	authFailures   *prometheus.CounterVec
	authBlocks     *prometheus.CounterVec
	authRefused    *prometheus.CounterVec
	listenerOpen   *prometheus.GaugeVec
	listenerTotal  *prometheus.CounterVec
	bytesIn        *prometheus.CounterVec
	bytesOut       *prometheus.CounterVec
	buildInfo      *prometheus.GaugeVec
	classifier     *classifierCollector
	collectors     []prometheus.Collector
	reg            prometheus.Registerer
}

// DurationBuckets are the upper bounds of maxproxy_query_duration_seconds:
// from a cached point select on loopback (~100µs) to a report query.
var DurationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

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
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "maxproxy_query_duration_seconds",
			Help:    "Time from sending a routed command to a server to the end of its reply, by service, server and routing target kind (commands whose connection failed are not observed).",
			Buckets: DurationBuckets,
		}, []string{"service", "server", "target"}),
		backendConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maxproxy_backend_connections",
			Help: "Backend connections currently open by client sessions, per service and server.",
		}, []string{"service", "server"}),
		backendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_backend_errors_total",
			Help: "Backend connections that failed (connect, login, broken mid-reply, failed session command), per service and server.",
		}, []string{"service", "server"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_auth_failures_total",
			Help: "Client logins the proxy refused (wrong password, unknown or locked account, database not allowed or unknown), per service.",
		}, []string{"service"}),
		authBlocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_auth_hosts_blocked_total",
			Help: "Times a client host was blocked after max_auth_errors_until_block failed logins, per service.",
		}, []string{"service"}),
		authRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_auth_blocked_connections_total",
			Help: "Client connections refused because their host was blocked, per service.",
		}, []string{"service"}),
		listenerOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maxproxy_listener_connections",
			Help: "Client connections currently open on a listener (including ones still in their handshake).",
		}, []string{"listener", "service"}),
		listenerTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_listener_connections_total",
			Help: "Client connections a listener accepted.",
		}, []string{"listener", "service"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_listener_received_bytes_total",
			Help: "Bytes read from clients of a listener, as on the wire (TLS included).",
		}, []string{"listener", "service"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maxproxy_listener_sent_bytes_total",
			Help: "Bytes written to clients of a listener, as on the wire (TLS included).",
		}, []string{"listener", "service"}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maxproxy_build_info",
			Help: "Always 1; the labels name the maxproxy version and the Go version it was built with.",
		}, []string{"version", "goversion"}),
		classifier: newClassifierCollector(),
	}
	m.collectors = []prometheus.Collector{m.sessionsActive, m.sessionsTotal, m.routed, m.duration,
		m.backendConns, m.backendErrors, m.authFailures, m.authBlocks, m.authRefused,
		m.listenerOpen, m.listenerTotal, m.bytesIn, m.bytesOut, m.buildInfo, m.classifier}
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

// SetBuildInfo publishes maxproxy_build_info for version (the caller
// stamps it; this package must not know the build) and the running Go.
func (m *Metrics) SetBuildInfo(version string) {
	if version == "" {
		version = "unknown"
	}
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
}

// Service is the pre-resolved metric set of one service.
type Service struct {
	SessionsActive prometheus.Gauge
	SessionsTotal  prometheus.Counter
	servers        map[string]*Server
}

// Server is the pre-resolved metric set of one server of one service.
type Server struct {
	routed   [numTargets]prometheus.Counter
	duration [numTargets]prometheus.Observer
	// Connections counts backend connections open to the server.
	Connections prometheus.Gauge
	// Errors counts failed backend connections.
	Errors prometheus.Counter
}

// Routed counts one command sent to the server for target t.
func (s *Server) Routed(t Target) { s.routed[t].Inc() }

// Replied records how long the server took to answer a command routed for
// target t.
func (s *Server) Replied(t Target, d time.Duration) { s.duration[t].Observe(d.Seconds()) }

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
			sm.duration[t] = m.duration.WithLabelValues(name, srv, t.String())
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

// Auth counts one service's authentication outcomes. It implements the
// account manager's observer (package auth declares the interface).
type Auth struct {
	failures, blocks, refused prometheus.Counter
}

// Auth resolves the authentication counters of service name.
func (m *Metrics) Auth(service string) *Auth {
	return &Auth{
		failures: m.authFailures.WithLabelValues(service),
		blocks:   m.authBlocks.WithLabelValues(service),
		refused:  m.authRefused.WithLabelValues(service),
	}
}

// LoginFailed counts a refused login.
func (a *Auth) LoginFailed() { a.failures.Inc() }

// HostBlocked counts a host reaching the failure limit.
func (a *Auth) HostBlocked() { a.blocks.Inc() }

// BlockedHostRefused counts a connection refused from a blocked host.
func (a *Auth) BlockedHostRefused() { a.refused.Inc() }
