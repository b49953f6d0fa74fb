package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/proxy/protocol"
	"github.com/maxproxy/maxproxy/router"
	"github.com/maxproxy/maxproxy/router/classify"
)

// Topology is where a service reads the state of its servers. The
// monitor's holder (behind a change notifier) and a static topology
// implement it.
type Topology interface {
	// Load returns the current snapshot; nil means "not known yet".
	Load() *topology.Snapshot
	// Changed returns a channel closed when a snapshot newer than the one
	// Load returned is published (nil: the topology never changes).
	Changed() <-chan struct{}
}

// Server is one backend of a service.
type Server struct {
	Name    string
	Address string // host:port
	// TLS, when set, makes backend logins use TLS.
	TLS *tls.Config

	metrics *metrics.Server
	// active counts statements running on the server for this service
	// (least_current_operations), conns its open backend connections.
	active atomic.Int64
	conns  atomic.Int64
	opened atomic.Uint64
}

// ServiceOptions build a Service.
type ServiceOptions struct {
	Config  config.Service // the [[service]] table, defaults applied
	Servers []*Server      // in configuration order
	// Topology gives the servers' states; every server it names must be in
	// Servers.
	Topology Topology
	// Auth authenticates clients (package auth's Manager).
	Auth protocol.Authenticator
	// Classifier is shared by the service's sessions.
	Classifier *classify.Classifier
	Metrics    *metrics.Metrics
	Registry   *Registry
	Logger     *slog.Logger
	// ConnectTimeout bounds one backend connect and login; 0 means 3 s.
	ConnectTimeout time.Duration
	// HandshakeTimeout bounds a client's connection phase; 0 means 10 s
	// (MariaDB's connect_timeout).
	HandshakeTimeout time.Duration
}

// Service is the shared runtime of one [[service]]: its servers, topology,
// accounts and classifier. Sessions are created by Serve. Methods are safe
// for concurrent use.
type Service struct {
	cfg      config.Service
	servers  []*Server
	byName   map[string]*Server
	topo     Topology
	auth     protocol.Authenticator
	cls      *classify.Classifier
	metrics  *metrics.Service
	reg      *Registry
	log      *slog.Logger
	connect  time.Duration
	hsTime   time.Duration
	ropts    router.Options
	copts    router.ConnOptions
	load     router.Load // statements in flight per server (least_current_operations)
	connLoad router.Load // connections per server (readconnroute)
	active   atomic.Int64
	total    atomic.Uint64
	version  atomic.Pointer[string]
	// causalLocal is causal_reads = "local" (see needsSync).
	causalLocal bool
	checksum    checksumMode // transaction_replay_checksum
	// sweep enforces wait_timeout and connection_keepalive (idle.go); nil
	// when both are off.
	sweep *sweeper
	// markerWarned is when a session last warned that it cannot write the
	// commit marker (unix ns), to log that once a minute per service.
	markerWarned atomic.Int64
}

// DefaultServerVersion is announced to clients until a backend's greeting
// is seen.
const DefaultServerVersion = "5.5.5-10.11.0-MariaDB-maxproxy"

// NewService checks the options and builds a service.
func NewService(o ServiceOptions) (*Service, error) {
	if o.Topology == nil || o.Auth == nil || o.Classifier == nil || o.Metrics == nil || o.Registry == nil {
		return nil, errors.New("session: service options need Topology, Auth, Classifier, Metrics and Registry")
	}
	if len(o.Servers) == 0 {
		return nil, fmt.Errorf("service %q: no servers", o.Config.Name)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg:     o.Config,
		servers: o.Servers,
		byName:  make(map[string]*Server, len(o.Servers)),
		topo:    o.Topology,
		auth:    o.Auth,
		cls:     o.Classifier,
		reg:     o.Registry,
		log:     o.Logger.With("service", o.Config.Name),
		connect: o.ConnectTimeout,
		hsTime:  o.HandshakeTimeout,
		ropts: router.Options{
			MasterAcceptReads: o.Config.MasterAcceptReads,
			StrictMultiStmt:   o.Config.StrictMultiStmt,
			StrictSPCalls:     o.Config.StrictSPCalls,
		},
	}
	switch o.Config.CausalReads {
	case "", "none":
	case "local":
		s.causalLocal = true
	default:
		return nil, fmt.Errorf("service %q: causal_reads %q is not supported (use \"none\" or \"local\")", o.Config.Name, o.Config.CausalReads)
	}
	var err error
	if s.checksum, err = parseChecksum(o.Config.TransactionReplayChecksum); err != nil {
		return nil, fmt.Errorf("service %q: %w", o.Config.Name, err)
	}
	if o.Config.UseSQLVariablesIn == "master" {
		s.ropts.UseSQLVariablesIn = router.VarsMaster
	}
	s.load = func(name string) int {
		if srv := s.byName[name]; srv != nil {
			return int(srv.active.Load())
		}
		return 0
	}
	s.connLoad = func(name string) int {
		if srv := s.byName[name]; srv != nil {
			return int(srv.conns.Load())
		}
		return 0
	}
	if s.connect <= 0 {
		s.connect = 3 * time.Second
	}
	if s.hsTime <= 0 {
		s.hsTime = 10 * time.Second
	}
	names := make([]string, len(o.Servers))
	for i, srv := range o.Servers {
		if _, dup := s.byName[srv.Name]; dup {
			return nil, fmt.Errorf("service %q: server %q listed twice", o.Config.Name, srv.Name)
		}
		s.byName[srv.Name] = srv
		names[i] = srv.Name
	}
	s.metrics = o.Metrics.Service(o.Config.Name, names)
	for _, srv := range o.Servers {
		sm, err := s.metrics.Server(srv.Name)
		if err != nil {
			return nil, err
		}
		srv.metrics = sm
	}
	if o.Config.Router == config.ReadConnRoute {
		roles, err := router.ParseRoles(strings.Join(o.Config.RouterOptions, ","))
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", o.Config.Name, err)
		}
		s.copts = router.ConnOptions{Roles: roles, MasterAcceptReads: o.Config.MasterAcceptReads}
	}
	s.sweep = newSweeper(o.Config.WaitTimeout, o.Config.ConnectionKeepalive, s.connect)
	v := DefaultServerVersion
	s.version.Store(&v)
	return s, nil
}

// Name returns the service name.
func (s *Service) Name() string { return s.cfg.Name }

// Sessions returns the number of open client sessions.
func (s *Service) Sessions() int64 { return s.active.Load() }

// SetServerVersion sets the version announced to new clients (from a
// backend's greeting).
func (s *Service) SetServerVersion(v string) {
	if v != "" && *s.version.Load() != v {
		s.version.Store(&v)
	}
}

// Serve runs one client session on nc until the client quits, the session
// fails, or the registry closes it. It closes nc. tlsCfg (the listener's)
// lets clients upgrade to TLS; nil refuses them. ctx cancellation aborts the
// session at once; the registry's Shutdown ends it gracefully.
func (s *Service) Serve(ctx context.Context, nc net.Conn, tlsCfg *tls.Config) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sess, err := s.reg.add(s, nc, cancel)
	if err == nil {
		sess.tls = tlsCfg
	}
	if err != nil {
		s.log.Debug("refusing client", "remote", nc.RemoteAddr().String(), "err", err)
		nc.Close()
		return
	}
	defer s.reg.remove(sess)
	if s.sweep != nil {
		s.sweep.join(sess)
		defer s.sweep.leave(sess)
	}
	sess.run(ctx)
}

// admitter adds the service's max_connections to the account manager's
// host blocking.
type admitter struct {
	protocol.Authenticator
	svc *Service
}

func (a admitter) Admit(ctx context.Context, ip netip.Addr) error {
	if m := a.svc.cfg.MaxConnections; m > 0 && a.svc.active.Load() > int64(m) {
		return protocol.ErrTooManyConnections()
	}
	return a.Authenticator.Admit(ctx, ip)
}
