// Package server assembles the maxproxy runtime from a configuration: a
// Galera monitor per [[monitor]], per [[service]] its servers, topology,
// account manager and classifier (a session.Service), a TCP listener per
// [[listener]], and the Prometheus endpoint of [metrics]. Run serves until
// its context ends and then shuts down in net/http's order: stop accepting,
// let sessions finish their current statement for a bounded time, abort
// the rest, then close monitors and account managers, joining every
// goroutine it started.
//
// Topology: a service whose servers are watched by a monitor (directly or
// through cluster = "<monitor>") reads that monitor's snapshots. A service
// whose servers no monitor watches gets a static topology: every server
// Running, the first one Master, the others Slaves. (The configuration
// validator currently refuses unmonitored service servers, so this only
// serves configurations built in code.)
//
// Admin API: with [admin] enabled, Run serves package admin over the
// running proxy and joins it before closing monitors. Maintenance and
// drain are the monitor's to apply and persist, so a server no monitor
// watches refuses them with 409 rather than half-implementing them in the
// static topology. An operator-stopped monitor leaves its last snapshot
// published; starting it builds a new monitor on the same holder (a
// monitor runs once).
//
// Reload (reload.go) re-reads the configuration file and applies it in
// place. Only reloads and shutdown change the runtime's lists (monitors,
// services, listeners, the configuration); they hold mu while they swap
// them, and readers (the admin API, the getters below) hold it for reading.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/monitor"
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/admin"
	"github.com/maxproxy/maxproxy/proxy/auth"
	"github.com/maxproxy/maxproxy/proxy/backend"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/proxy/protocol"
	"github.com/maxproxy/maxproxy/proxy/session"
	"github.com/maxproxy/maxproxy/router/classify"
)

// Options are the process-level inputs of a Server that do not come from
// the configuration file.
type Options struct {
	Logger *slog.Logger
	// Registerer receives every metric (proxy and monitors); nil: a
	// private registry.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics when [metrics] is enabled; nil disables the
	// endpoint.
	Gatherer prometheus.Gatherer
	// ShutdownTimeout bounds how long running statements may finish after
	// shutdown begins; 0 means 10 s.
	ShutdownTimeout time.Duration
	// Version and ConfigFile are what the admin API reports as the
	// process's version and configuration file; the caller knows them
	// (package cli stamps the version) and this package must not import it.
	// ConfigFile is also what Reload reads.
	Version    string
	ConfigFile string
	// LogLevel, when set, is the level of Logger's handler; a reload sets
	// it from log.level. Without it a changed log.level needs a restart.
	LogLevel *slog.LevelVar
}

// Server is a configured proxy. New binds every listener, so port errors
// surface before Run.
type Server struct {
	opts    Options
	cfg     *config.Config
	log     *slog.Logger
	cls     *classify.Classifier // process-wide: classifier_cache_size needs a restart
	timeout time.Duration
	metrics *metrics.Metrics
	reg     *session.Registry

	monitors  []*monitorSlot
	services  map[string]*serviceRuntime
	listeners []*listener
	metricsLn net.Listener
	gatherer  prometheus.Gatherer
	admin     *admin.Server // nil when [admin] is disabled
	adminLn   net.Listener

	version    string
	configFile string
	started    time.Time

	runOnce  sync.Once
	reloadMu sync.Mutex   // one reload at a time; shutdown waits for it
	mu       sync.RWMutex // guards cfg, monitors, services, listeners, live, retired
	live     *runState    // set while Run serves; nil before and after
	retired  retiredStats // what service runtimes a reload replaced still count
}

// runState is what Run owns that a reload needs to start goroutines under
// it: new accept loops, monitors and version probes.
type runState struct {
	ctx      context.Context // ends at shutdown
	sessCtx  context.Context // aborts sessions (last resort)
	bg       *sync.WaitGroup
	accepts  *sync.WaitGroup
	sessions *sync.WaitGroup
	starts   *sync.WaitGroup // initial account loads
	fail     func(error)
}

type serviceRuntime struct {
	svc     *session.Service
	topo    session.Topology
	auth    *auth.Manager
	cfg     config.Service
	servers []*session.Server

	// loaded is closed when the first account load has returned; the
	// manager may be closed only after that.
	loaded chan struct{}
	// A runtime a reload replaced serves its sessions to the end and then
	// closes its account manager.
	mu       sync.Mutex
	sessions int
	retired  bool
}

// startAuth loads the accounts and starts their periodic refresh. A
// failed load is retried by logins, which wait for it meanwhile.
func (rt *serviceRuntime) startAuth(ctx context.Context, log *slog.Logger) {
	defer close(rt.loaded)
	if err := rt.auth.Start(ctx); err != nil {
		log.Warn("initial user load failed; logins will retry it", "service", rt.cfg.Name, "err", err)
	}
}

// acquire counts a new session, unless the runtime was retired.
func (rt *serviceRuntime) acquire() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.retired {
		return false
	}
	rt.sessions++
	return true
}

func (rt *serviceRuntime) release() {
	rt.mu.Lock()
	rt.sessions--
	last := rt.retired && rt.sessions == 0
	rt.mu.Unlock()
	if last {
		<-rt.loaded
		rt.auth.Close()
	}
}

// idle reports whether the runtime was retired and its last session ended.
func (rt *serviceRuntime) idle() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.retired && rt.sessions == 0
}

// retire takes no more sessions and closes the account manager once the
// last one ends.
func (rt *serviceRuntime) retire() {
	rt.mu.Lock()
	rt.retired = true
	idle := rt.sessions == 0
	rt.mu.Unlock()
	if idle {
		<-rt.loaded
		rt.auth.Close()
	}
}

type listener struct {
	name  string
	addr  string // as configured, host:port
	ln    net.Listener
	route atomic.Pointer[listenerRoute] // a reload may swap it
}

// listenerRoute is where a listener sends the connections it accepts.
type listenerRoute struct {
	svc     *serviceRuntime
	tls     *tls.Config
	metrics *metrics.Listener
}

func (s *Server) newRoute(lc *config.Listener, rt *serviceRuntime, t *tls.Config) *listenerRoute {
	return &listenerRoute{svc: rt, tls: t, metrics: s.metrics.Listener(lc.Name, lc.Service)}
}

// Serve builds a Server from cfg and runs it until ctx ends.
func Serve(ctx context.Context, cfg *config.Config, opts Options) error {
	s, err := New(cfg, opts)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// New builds the runtime and binds the listeners. Close releases what New
// took when Run is never called.
func New(cfg *config.Config, opts Options) (_ *Server, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	s := &Server{
		opts:       opts,
		cfg:        cfg,
		log:        opts.Logger,
		timeout:    opts.ShutdownTimeout,
		reg:        session.NewRegistry(),
		services:   map[string]*serviceRuntime{},
		gatherer:   opts.Gatherer,
		version:    opts.Version,
		configFile: opts.ConfigFile,
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.metrics, err = metrics.New(opts.Registerer); err != nil {
		return nil, err
	}
	s.metrics.SetBuildInfo(opts.Version)
	applyThreads(cfg.Proxy.Threads, s.log)
	servers := map[string]*config.Server{}
	for i := range cfg.Servers {
		servers[cfg.Servers[i].Name] = &cfg.Servers[i]
	}
	// Monitors, and which monitor watches which server.
	feedOf := map[string]*monitorSlot{} // server name -> its monitor
	for i := range cfg.Monitors {
		mc := &cfg.Monitors[i]
		build := func(o ...monitor.Option) (*monitor.Monitor, error) { return newMonitor(cfg, mc, servers, opts, o...) }
		ms, err := newMonitorSlot(mc, build, opts.Logger)
		if err != nil {
			return nil, err
		}
		s.monitors = append(s.monitors, ms)
		for _, name := range mc.Servers {
			feedOf[name] = ms
		}
	}
	s.cls = classify.New(cfg.Proxy.ClassifierCacheSize)
	s.metrics.WatchClassifier(classifierStats(s.cls))
	for i := range cfg.Services {
		rt, err := s.newService(cfg, &cfg.Services[i], servers, feedOf, s.cls, opts.Logger)
		if err != nil {
			return nil, err
		}
		s.services[rt.cfg.Name] = rt
	}
	for i := range cfg.Listeners {
		lc := &cfg.Listeners[i]
		rt := s.services[lc.Service]
		if rt == nil {
			return nil, fmt.Errorf("listener %q: unknown service %q", lc.Name, lc.Service)
		}
		t, err := listenerTLS(lc)
		if err != nil {
			return nil, err
		}
		l := &listener{name: lc.Name, addr: listenAddr(lc)}
		l.route.Store(s.newRoute(lc, rt, t))
		if l.ln, err = net.Listen("tcp", l.addr); err != nil {
			return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		s.listeners = append(s.listeners, l)
	}
	if cfg.Metrics.Enabled && opts.Gatherer != nil {
		if s.metricsLn, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			return nil, fmt.Errorf("metrics listener: %w", err)
		}
	}
	if cfg.Admin.Enabled {
		if s.admin, err = admin.New(cfg.Admin, adminRuntime{s}, opts.Logger.With("component", "admin")); err != nil {
			return nil, err
		}
		if s.adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
	}
	return s, nil
}

func newMonitor(cfg *config.Config, mc *config.Monitor, servers map[string]*config.Server, opts Options, mopts ...monitor.Option) (*monitor.Monitor, error) {
	journal := ""
	if cfg.Proxy.DataDir != "" {
		if err := os.MkdirAll(cfg.Proxy.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("monitor %q: datadir: %w", mc.Name, err)
		}
		journal = filepath.Join(cfg.Proxy.DataDir, "monitor-"+mc.Name+".db")
	}
	mo := monitor.Options{
		Name:                     mc.Name,
		User:                     mc.User,
		Password:                 mc.Password,
		MonitorInterval:          mc.MonitorInterval,
		BackendConnectTimeout:    mc.BackendConnectTimeout,
		BackendReadTimeout:       mc.BackendReadTimeout,
		BackendWriteTimeout:      mc.BackendWriteTimeout,
		BackendConnectAttempts:   mc.BackendConnectAttempts,
		AvailableWhenDonor:       mc.AvailableWhenDonor,
		DisableMasterFailback:    mc.DisableMasterFailback,
		DisableMasterRoleSetting: mc.DisableMasterRoleSetting,
		UsePriority:              mc.UsePriority,
		RootNodeAsMaster:         mc.RootNodeAsMaster,
		SetDonorNodes:            mc.SetDonorNodes,
		Script:                   mc.Script,
		ScriptTimeout:            mc.ScriptTimeout,
		Events:                   mc.Events,
		JournalPath:              journal,
		JournalMaxAge:            mc.JournalMaxAge,
		LagFCSentThreshold:       uint64(mc.LagFCSentThreshold),
		LagRecvQueueThreshold:    int64(mc.LagRecvQueueThreshold),
		LagHysteresis:            mc.LagHysteresis,
		StickyWriter:             mc.StickyWriter,
	}
	ms := make([]monitor.Server, 0, len(mc.Servers))
	for _, name := range mc.Servers {
		sc := servers[name]
		if sc == nil {
			return nil, fmt.Errorf("monitor %q: unknown server %q", mc.Name, name)
		}
		ms = append(ms, monitor.Server{Name: name, Address: serverAddr(sc), Priority: sc.Priority})
	}
	m, err := monitor.New(mo, ms, opts.Logger, opts.Registerer, mopts...)
	if err != nil {
		return nil, fmt.Errorf("monitor %q: %w", mc.Name, err)
	}
	return m, nil
}

func serverAddr(sc *config.Server) string {
	return net.JoinHostPort(sc.Address, strconv.Itoa(sc.Port))
}

func (s *Server) newService(cfg *config.Config, sc *config.Service, servers map[string]*config.Server,
	feedOf map[string]*monitorSlot, cls *classify.Classifier, log *slog.Logger) (*serviceRuntime, error) {
	names := cfg.ServiceServers(sc)
	rt := &serviceRuntime{cfg: *sc, loaded: make(chan struct{})}
	var loaders []auth.Loader
	var statics []topology.Server
	monitored := map[*monitorSlot]bool{} // the monitors watching the servers
	unmonitored := 0
	for _, name := range names {
		cs := servers[name]
		if cs == nil {
			return nil, fmt.Errorf("service %q: unknown server %q", sc.Name, name)
		}
		t, err := serverTLS(cs)
		if err != nil {
			return nil, err
		}
		rt.servers = append(rt.servers, &session.Server{Name: name, Address: serverAddr(cs), TLS: t})
		loaders = append(loaders, &auth.ServerLoader{Addr: serverAddr(cs), User: sc.User, Password: sc.Password, TLS: t})
		statics = append(statics, topology.Server{Name: name, Address: serverAddr(cs), Priority: cs.Priority})
		if ms, ok := feedOf[name]; ok {
			monitored[ms] = true
		} else {
			unmonitored++
		}
	}
	// A service follows one monitor, or none (static topology).
	var topo session.Topology
	switch {
	case len(monitored) > 1:
		return nil, fmt.Errorf("service %q: its servers belong to several monitors; a service follows one monitor", sc.Name)
	case len(monitored) == 1 && unmonitored > 0:
		return nil, fmt.Errorf("service %q: mixes monitored and unmonitored servers", sc.Name)
	case len(monitored) == 1:
		for ms := range monitored {
			topo = ms.feed
		}
	default:
		topo = newStatic(statics)
	}
	ac := auth.DefaultConfig()
	ac.RefreshTime = sc.UsersRefreshTime
	ac.RefreshInterval = sc.UsersRefreshInterval
	ac.EnableRootUser = sc.EnableRootUser
	ac.MaxAuthErrorsUntilBlock = cfg.Proxy.MaxAuthErrorsUntilBlock
	ac.BlockDuration = cfg.Proxy.AuthBlockDuration
	ac.Observer = s.metrics.Auth(sc.Name)
	rt.auth = auth.New(ac, firstLoader(loaders), log.With("service", sc.Name), nil)
	so := session.ServiceOptions{
		Config:     *sc,
		Servers:    rt.servers,
		Topology:   topo,
		Auth:       rt.auth,
		Classifier: cls,
		Metrics:    s.metrics,
		Registry:   s.reg,
		Logger:     log,
	}
	svc, err := session.NewService(so)
	if err != nil {
		return nil, err
	}
	rt.svc, rt.topo = svc, topo
	return rt, nil
}

// firstLoader loads accounts from the first server that answers, so that
// one server down does not stop logins.
type firstLoader []auth.Loader

func (l firstLoader) Load(ctx context.Context) (*auth.UserData, error) {
	var errs []error
	for _, ld := range l {
		d, err := ld.Load(ctx)
		if err == nil {
			return d, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// Addr returns the bound address of the named listener, or nil.
func (s *Server) Addr(listener string) net.Addr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, l := range s.listeners {
		if l.name == listener {
			return l.ln.Addr()
		}
	}
	return nil
}

// MetricsAddr returns the bound address of the metrics endpoint, or nil.
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsLn == nil {
		return nil
	}
	return s.metricsLn.Addr()
}

// AdminAddr returns the bound address of the admin REST API, or nil when
// [admin] is disabled.
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// Topology returns the snapshot the named service routes by (nil for an
// unknown service or before the monitor's first report).
func (s *Server) Topology(service string) *topology.Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if rt := s.services[service]; rt != nil {
		return rt.topo.Load()
	}
	return nil
}

// SessionInfos lists the live client sessions, in id order.
func (s *Server) SessionInfos() []session.Info { return s.reg.Sessions() }

// KillSession ends a client session as KILL CONNECTION does; it wraps
// session.ErrNoSession for an unknown id.
func (s *Server) KillSession(id uint32) error {
	if err := s.reg.Kill(id); err != nil {
		return fmt.Errorf("session %d: %w", id, err)
	}
	return nil
}

// ServiceStats counts a service's client sessions (false for an unknown
// service).
func (s *Server) ServiceStats(service string) (session.Stats, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.serviceStats(service)
}

func (s *Server) serviceStats(service string) (session.Stats, bool) {
	rt := s.services[service]
	if rt == nil {
		return session.Stats{}, false
	}
	st := rt.svc.Stats()
	s.retired.addService(&st, service)
	return st, true
}

// ServerStats counts the backend connections client sessions of every
// service have to a server.
func (s *Server) ServerStats(server string) session.Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.serverStats(server)
}

func (s *Server) serverStats(server string) session.Stats {
	var st session.Stats
	for _, rt := range s.services {
		for _, srv := range rt.servers {
			if srv.Name == server {
				x := srv.Stats()
				st.Current += x.Current
				st.Total += x.Total
			}
		}
	}
	s.retired.addServer(&st, server)
	return st
}

// Sessions returns the number of live client sessions.
func (s *Server) Sessions() int { return s.reg.Len() }

// Run serves until ctx ends or a component fails, then shuts down
// gracefully (see the package doc) and returns the first failure. It may be
// called once.
func (s *Server) Run(ctx context.Context) error {
	err := errors.New("server: Run called twice")
	s.runOnce.Do(func() { err = s.run(ctx) })
	return err
}

func (s *Server) run(ctx context.Context) error {
	s.started = time.Now() // before any goroutine that reports it
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		bg       sync.WaitGroup // monitors, feeds, accept loops, metrics server, probes
		sessions sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		cancel()
	}
	// Sessions are ended by the registry, not by ctx: shutdown lets them
	// finish their statement first. sessCtx is the last-resort abort.
	sessCtx, abortSessions := context.WithCancel(context.WithoutCancel(ctx))
	defer abortSessions()

	for _, ms := range s.monitors {
		ms.attach(ctx, &bg, fail)
	}
	// Account loads run beside the listeners: with servers down a load can
	// take its whole timeout, and logins that arrive meanwhile wait for it
	// inside the account manager rather than in the listen backlog.
	var starts sync.WaitGroup
	for _, rt := range s.services {
		starts.Go(func() { rt.startAuth(ctx, s.log) })
		bg.Go(func() { s.probeVersion(ctx, rt) })
	}
	var accepts sync.WaitGroup // joined before sessions.Wait: accept loops add sessions
	for _, l := range s.listeners {
		s.log.Info("listening", "listener", l.name, "service", l.route.Load().svc.cfg.Name, "addr", l.ln.Addr().String())
		accepts.Go(func() {
			if err := s.accept(l, sessCtx, &sessions); err != nil && ctx.Err() == nil {
				fail(fmt.Errorf("listener %q: %w", l.name, err))
			}
		})
	}
	var httpSrv *http.Server
	if s.metricsLn != nil {
		httpSrv = &http.Server{
			Handler:           promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}),
			ReadHeaderTimeout: 10 * time.Second,
		}
		bg.Go(func() {
			if err := httpSrv.Serve(s.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fail(fmt.Errorf("metrics endpoint: %w", err))
			}
		})
	}
	// The admin API is joined before monitors close, so no request in
	// flight acts on a closed monitor.
	var adminDone sync.WaitGroup
	if s.admin != nil {
		ln := s.adminLn
		adminDone.Go(func() {
			if err := s.admin.Serve(ctx, ln); err != nil {
				fail(fmt.Errorf("admin API: %w", err))
			}
		})
	}
	s.log.Info("maxproxy started", "services", len(s.services), "listeners", len(s.listeners), "monitors", len(s.monitors))
	s.mu.Lock()
	s.live = &runState{ctx: ctx, sessCtx: sessCtx, bg: &bg, accepts: &accepts, sessions: &sessions, starts: &starts, fail: fail}
	s.mu.Unlock()

	<-ctx.Done()
	s.log.Info("shutting down", "sessions", s.reg.Len())
	// A reload in flight finishes first; none starts after this.
	s.reloadMu.Lock()
	s.mu.Lock()
	s.live = nil
	s.mu.Unlock()
	s.reloadMu.Unlock()
	// 1. Stop accepting.
	for _, l := range s.listeners {
		_ = l.ln.Close()
	}
	accepts.Wait()
	// 2. Idle sessions end now, busy ones after their statement, for at most
	// the shutdown timeout; then the rest are aborted.
	s.reg.Shutdown()
	done := make(chan struct{})
	go func() { sessions.Wait(); close(done) }()
	timer := time.NewTimer(s.timeout)
	select {
	case <-done:
	case <-timer.C:
		s.log.Warn("aborting sessions still running after the shutdown timeout", "sessions", s.reg.Len(), "timeout", s.timeout)
		s.reg.CloseAll()
		abortSessions()
		<-done
	}
	timer.Stop()
	// 3. Everything else.
	starts.Wait()
	adminDone.Wait()
	if httpSrv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		_ = httpSrv.Shutdown(sctx)
		scancel()
	}
	s.Close()
	bg.Wait()
	s.log.Info("maxproxy stopped")
	return firstErr
}

// accept runs one listener's accept loop. Temporary errors (too many open
// files) back off instead of spinning, as net/http does.
func (s *Server) accept(l *listener, ctx context.Context, sessions *sync.WaitGroup) error {
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "listener", l.name, "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
			_ = tc.SetKeepAlive(true)
		}
		r := l.route.Load()
		if !r.svc.acquire() {
			// A reload retired the service after this route was read: by
			// now the listener routes elsewhere, or it is being closed.
			if r = l.route.Load(); !r.svc.acquire() {
				_ = nc.Close()
				continue
			}
		}
		nc = r.metrics.Conn(protocol.RawTCP(nc))
		sessions.Go(func() {
			defer r.svc.release()
			r.svc.svc.Serve(ctx, nc, r.tls)
		})
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// probeVersion logs in to the service's servers with the service account
// until one answers, so that clients are told the backends' version from
// their first connection.
func (s *Server) probeVersion(ctx context.Context, rt *serviceRuntime) {
	stage1 := protocol.NativeStage1(rt.cfg.Password)
	if rt.cfg.Password == "" {
		stage1 = nil
	}
	for _, srv := range rt.servers {
		c, err := backend.Dial(ctx, srv.Address, 3*time.Second, &protocol.LoginConfig{User: rt.cfg.User, Stage1: stage1, TLS: srv.TLS})
		if err != nil {
			s.log.Debug("version probe failed", "service", rt.cfg.Name, "server", srv.Name, "err", err)
			continue
		}
		rt.svc.SetServerVersion(c.Info().ServerVersion)
		_ = c.Close()
		return
	}
}

// Close releases everything New and Run took: listeners, monitors, account
// managers and metrics. Run calls it on its way out; call it directly only
// for a Server that never ran.
func (s *Server) Close() {
	for _, l := range s.listeners {
		_ = l.ln.Close()
	}
	if s.metricsLn != nil {
		_ = s.metricsLn.Close()
	}
	if s.adminLn != nil {
		_ = s.adminLn.Close()
	}
	for _, ms := range s.monitors {
		ms.detach()
	}
	for _, rt := range s.services {
		if rt.auth != nil {
			rt.auth.Close()
		}
	}
	if s.metrics != nil {
		s.metrics.Unregister()
	}
}
