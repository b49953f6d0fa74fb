package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/monitor"
	"github.com/maxproxy/maxproxy/proxy/session"
)

// ReloadResult is what a reload did.
type ReloadResult struct {
	// Changes are the differences applied, in file order.
	Changes []config.Change
	// RestartRequired are the changed keys that only a restart applies;
	// the running values stay.
	RestartRequired []string
}

// ErrNoConfigFile: the Server was built from a configuration in code, so
// there is no file to read again.
var ErrNoConfigFile = errors.New("no configuration file to reload: the proxy was started without one")

// ErrConfig marks a reload refused because the file cannot be read or is
// invalid; the error also wraps the config package's *config.Error (file,
// line, key) when there is one.
var ErrConfig = errors.New("configuration refused")

// configError is a load failure that errors.Is finds as ErrConfig while
// reading as the loader's own message.
type configError struct{ err error }

func (e configError) Error() string   { return e.err.Error() }
func (e configError) Unwrap() []error { return []error{ErrConfig, e.err} }

// Reload reads the configuration file the proxy was started from
// (Options.ConfigFile) and applies it without dropping sessions:
//
//   - listeners added start accepting, listeners removed stop (their
//     sessions run on), a changed address or port binds the new socket
//     before the old one closes, and a changed service or TLS setting
//     applies to the next connection;
//   - services added, removed or changed (their own keys, their servers'
//     keys, the monitor they follow, the proxy's host-blocking keys) get
//     a new runtime for new sessions, while existing sessions keep the one
//     they started with, as in MaxScale;
//   - a monitor whose keys or servers changed is replaced by one that
//     publishes into the same snapshot holder, so routing sees no gap;
//   - log.level and the admin credentials change at once.
//
// An invalid file (the error names file:line, see config.Error), a socket
// that cannot be bound or a certificate that cannot be loaded changes
// nothing. Keys that need a restart are reported and keep their running
// values. Reloads run one at a time; Reload fails before Run and after
// shutdown began.
func (s *Server) Reload(ctx context.Context) (ReloadResult, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.configFile == "" {
		return ReloadResult{}, ErrNoConfigFile
	}
	next, err := config.Load(s.configFile)
	if err != nil {
		s.log.Error("reload refused; the running configuration stays", "file", s.configFile, "err", err)
		return ReloadResult{}, fmt.Errorf("reload: %w", configError{err})
	}
	res, err := s.apply(ctx, next)
	if err != nil {
		s.log.Error("reload failed", "file", s.configFile, "err", err)
		return res, fmt.Errorf("reload: %w", err)
	}
	return res, nil
}

// plan is a reload prepared but not yet visible: every socket bound, every
// certificate loaded, every new monitor and service built. Nothing in it
// is live until commit; undo releases it.
type plan struct {
	cfg *config.Config

	monitors []*monitorSlot // the new list, in file order
	added    []*monitorSlot // built, not yet running
	replaced []*monitorSlot // to be rebuilt from their new configuration
	dropped  []*monitorSlot

	services map[string]*serviceRuntime
	built    []*serviceRuntime // new runtimes, users loaded
	retired  []*serviceRuntime

	listeners []*listener // the new list, in file order
	started   []*listener // need an accept loop
	deferred  []*listener // socket bound at commit, after the old owner closed it
	closed    []*listener
	routes    map[*listener]*listenerRoute

	levelChanged bool
	credentials  bool
}

// apply compares next with the running configuration, prepares the
// change and commits it. It is called with reloadMu held.
func (s *Server) apply(ctx context.Context, next *config.Config) (ReloadResult, error) {
	s.mu.RLock()
	live, old := s.live, s.cfg
	s.mu.RUnlock()
	if live == nil {
		return ReloadResult{}, errNotRunning
	}
	diff := config.Compare(old, next)
	if s.opts.LogLevel == nil {
		// The logger was not built with a level this package can change.
		if i := slices.IndexFunc(diff.Changes, func(c config.Change) bool { return c.Section == "log" }); i >= 0 {
			diff.Changes = slices.Delete(diff.Changes, i, i+1)
			diff.RestartRequired = append(diff.RestartRequired, "log.level")
		}
	}
	res := ReloadResult{Changes: diff.Changes, RestartRequired: diff.RestartRequired}
	for _, k := range res.RestartRequired {
		s.log.Warn("reload: changed key needs a restart; the running value stays", "key", k)
	}
	if len(res.Changes) == 0 {
		s.log.Info("reload: nothing to apply", "file", s.configFile)
		return res, nil
	}
	eff := config.Effective(old, next)
	if s.opts.LogLevel == nil {
		eff.Log.Level = old.Log.Level // reported as needing a restart
	}
	p, err := s.prepare(old, eff, diff)
	if err != nil {
		return ReloadResult{}, err
	}
	if err := ctx.Err(); err != nil {
		// The caller gave up: apply nothing rather than something it
		// will not hear about.
		p.undo()
		return ReloadResult{}, err
	}
	// The admin API's new credentials go first: they can be refused, and
	// once accepted cannot be undone.
	if p.credentials && s.admin != nil {
		if err := s.admin.SetCredentials(eff.Admin.User, eff.Admin.Password); err != nil {
			p.undo()
			return ReloadResult{}, fmt.Errorf("admin: %w", err)
		}
	}
	err = s.commit(live, p)
	for _, c := range res.Changes {
		s.log.Info("reload: applied", "change", c.String())
	}
	// A commit error (a socket another process took meanwhile, a monitor
	// that could not be rebuilt) leaves the rest applied.
	return res, err
}

// prepare builds everything the new configuration needs that the running
// one lacks. On error it releases what it built and nothing has changed.
func (s *Server) prepare(old, eff *config.Config, diff config.Diff) (_ *plan, err error) {
	p := &plan{cfg: eff, services: map[string]*serviceRuntime{}, routes: map[*listener]*listenerRoute{}}
	defer func() {
		if err != nil {
			p.undo()
		}
	}()
	_, p.levelChanged = diff.Find("log", "")
	_, p.credentials = diff.Find("admin", "")
	// Only reloads (serialised by reloadMu) change the runtime's lists, so
	// they are read here without s.mu.
	oldServers, servers := serversByName(old), serversByName(eff)

	// Monitors: kept (perhaps to be rebuilt), added, dropped.
	slots := map[string]*monitorSlot{}
	for _, ms := range s.monitors {
		slots[ms.cfg.Name] = ms
	}
	for i := range eff.Monitors {
		mc := &eff.Monitors[i]
		ms := slots[mc.Name]
		if ms == nil {
			build := func(o ...monitor.Option) (*monitor.Monitor, error) { return newMonitor(eff, mc, servers, s.opts, o...) }
			if ms, err = newMonitorSlot(mc, build, s.log); err != nil {
				return nil, err
			}
			p.added = append(p.added, ms)
		} else if !reflect.DeepEqual(*ms.cfg, *mc) || !reflect.DeepEqual(resolve(oldServers, ms.cfg.Servers), resolve(servers, mc.Servers)) {
			p.replaced = append(p.replaced, ms)
		}
		p.monitors = append(p.monitors, ms)
	}
	for _, ms := range s.monitors {
		if !slices.Contains(p.monitors, ms) {
			p.dropped = append(p.dropped, ms)
		}
	}

	// Services: kept when nothing they are built from changed.
	oldFeeds, feeds := feedsFor(old.Monitors, s.monitors), feedsFor(eff.Monitors, p.monitors)
	authSame := old.Proxy.MaxAuthErrorsUntilBlock == eff.Proxy.MaxAuthErrorsUntilBlock &&
		old.Proxy.AuthBlockDuration == eff.Proxy.AuthBlockDuration
	for i := range eff.Services {
		sc := &eff.Services[i]
		if rt := s.services[sc.Name]; rt != nil && authSame && reflect.DeepEqual(rt.cfg, *sc) {
			oldNames, names := old.ServiceServers(&rt.cfg), eff.ServiceServers(sc)
			if reflect.DeepEqual(resolve(oldServers, oldNames), resolve(servers, names)) && follows(oldFeeds, oldNames) == follows(feeds, names) {
				p.services[sc.Name] = rt
				continue
			}
		}
		rt, err := s.newService(eff, sc, servers, feeds, s.cls, s.log)
		if err != nil {
			return nil, err
		}
		p.built = append(p.built, rt)
		p.services[sc.Name] = rt
	}
	for name, rt := range s.services {
		if p.services[name] != rt {
			p.retired = append(p.retired, rt)
		}
	}

	// Listeners: kept (perhaps routed anew), rebound, added, closed.
	held := map[string]bool{} // addresses the running listeners hold
	for i := range old.Listeners {
		held[listenAddr(&old.Listeners[i])] = true
	}
	for i := range eff.Listeners {
		lc := &eff.Listeners[i]
		rt := p.services[lc.Service]
		if rt == nil {
			return nil, fmt.Errorf("listener %q: unknown service %q", lc.Name, lc.Service)
		}
		cur, olc := s.listenerNamed(lc.Name), listenerConfig(old, lc.Name)
		var t *tls.Config
		if cur != nil && sameTLS(olc, lc) {
			t = cur.route.Load().tls
		} else if t, err = listenerTLS(lc); err != nil {
			return nil, err
		}
		r := s.newRoute(lc, rt, t)
		if cur != nil && listenAddr(olc) == listenAddr(lc) {
			if prev := cur.route.Load(); prev.svc != rt || prev.tls != t || olc.Service != lc.Service {
				p.routes[cur] = r
			}
			p.listeners = append(p.listeners, cur)
			continue
		}
		l := &listener{name: lc.Name, addr: listenAddr(lc)}
		l.route.Store(r)
		if held[l.addr] {
			p.deferred = append(p.deferred, l)
		} else if l.ln, err = net.Listen("tcp", l.addr); err != nil {
			return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		p.started = append(p.started, l)
		p.listeners = append(p.listeners, l)
		if cur != nil {
			p.closed = append(p.closed, cur)
		}
	}
	for _, l := range s.listeners {
		if listenerConfig(eff, l.name) == nil {
			p.closed = append(p.closed, l)
		}
	}
	return p, nil
}

// undo releases what prepare built.
func (p *plan) undo() {
	for _, l := range p.started {
		if l.ln != nil {
			_ = l.ln.Close()
		}
	}
	for _, rt := range p.built {
		rt.auth.Close()
	}
	for _, ms := range p.added {
		ms.detach()
	}
}

// commit makes a prepared plan live. Swapping the runtime's lists is
// quick and done under the lock; replacing monitors and retiring
// services waits for goroutines and is done after it.
func (s *Server) commit(live *runState, p *plan) error {
	if p.levelChanged {
		s.opts.LogLevel.Set(p.cfg.Log.SlogLevel())
	}
	// New services load their accounts before clients can reach them;
	// logins that arrive before the load ends wait for it.
	for _, rt := range p.built {
		live.starts.Go(func() { rt.startAuth(live.ctx, s.log) })
	}
	var errs []error
	s.mu.Lock()
	for l, r := range p.routes {
		l.route.Store(r)
	}
	for _, l := range p.closed {
		_ = l.ln.Close()
		s.log.Info("listener closed; its sessions keep running", "listener", l.name, "addr", l.addr)
	}
	for _, l := range p.deferred {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("listener %q: %w", l.name, err))
			p.listeners = slices.DeleteFunc(p.listeners, func(x *listener) bool { return x == l })
			continue
		}
		l.ln = ln
	}
	for _, l := range p.started {
		if l.ln == nil {
			continue
		}
		s.log.Info("listening", "listener", l.name, "service", l.route.Load().svc.cfg.Name, "addr", l.ln.Addr().String())
		live.accepts.Go(func() {
			if err := s.accept(l, live.sessCtx, live.sessions); err != nil && live.ctx.Err() == nil {
				live.fail(fmt.Errorf("listener %q: %w", l.name, err))
			}
		})
	}
	for _, ms := range p.added {
		ms.attach(live.ctx, live.bg, live.fail)
	}
	servers := serversByName(p.cfg)
	for i, ms := range p.monitors {
		mc := &p.cfg.Monitors[i]
		ms.setConfig(mc, func(o ...monitor.Option) (*monitor.Monitor, error) {
			return newMonitor(p.cfg, mc, servers, s.opts, o...)
		})
	}
	s.cfg, s.monitors, s.services, s.listeners = p.cfg, p.monitors, p.services, p.listeners
	s.retired.add(p.retired)
	s.mu.Unlock()

	for _, ms := range p.replaced {
		if err := ms.replace(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ms := range p.dropped {
		ms.detach()
		s.log.Info("monitor removed", "monitor", ms.cfg.Name)
	}
	for _, rt := range p.retired {
		rt.retire()
	}
	for _, rt := range p.built {
		live.bg.Go(func() { s.probeVersion(live.ctx, rt) })
	}
	return errors.Join(errs...)
}

// listenerNamed returns the running listener called name, or nil; s.mu
// must be held.
func (s *Server) listenerNamed(name string) *listener {
	for _, l := range s.listeners {
		if l.name == name {
			return l
		}
	}
	return nil
}

func listenerConfig(cfg *config.Config, name string) *config.Listener {
	for i := range cfg.Listeners {
		if cfg.Listeners[i].Name == name {
			return &cfg.Listeners[i]
		}
	}
	return nil
}

func listenAddr(lc *config.Listener) string {
	return net.JoinHostPort(lc.Address, strconv.Itoa(lc.Port))
}

func sameTLS(a, b *config.Listener) bool {
	return a.SSL == b.SSL && a.SSLCert == b.SSLCert && a.SSLKey == b.SSLKey && a.SSLCA == b.SSLCA && a.SSLVersion == b.SSLVersion
}

func serversByName(cfg *config.Config) map[string]*config.Server {
	m := make(map[string]*config.Server, len(cfg.Servers))
	for i := range cfg.Servers {
		m[cfg.Servers[i].Name] = &cfg.Servers[i]
	}
	return m
}

// resolve returns the configurations of the named servers, to compare
// what a monitor or service is built from.
func resolve(servers map[string]*config.Server, names []string) []config.Server {
	out := make([]config.Server, 0, len(names))
	for _, n := range names {
		if sc := servers[n]; sc != nil {
			out = append(out, *sc)
		}
	}
	return out
}

// feedsFor maps each monitored server to the slot of its monitor; slots[i]
// runs monitors[i].
func feedsFor(monitors []config.Monitor, slots []*monitorSlot) map[string]*monitorSlot {
	m := map[string]*monitorSlot{}
	for i := range monitors {
		for _, name := range monitors[i].Servers {
			m[name] = slots[i]
		}
	}
	return m
}

// follows returns the monitor whose snapshots a service over names reads,
// nil for a static topology.
func follows(feeds map[string]*monitorSlot, names []string) *monitorSlot {
	for _, n := range names {
		if ms := feeds[n]; ms != nil {
			return ms
		}
	}
	return nil
}

// retiredStats keeps the counts of service runtimes a reload replaced, so
// that a service's and a server's connection counts neither drop the
// sessions still running on an old runtime nor restart their totals.
// Runtimes whose last session ended are folded into the totals and let go.
type retiredStats struct {
	runtimes []*serviceRuntime // retired, sessions left at the last fold
	services map[string]uint64 // totals of folded runtimes, by service
	servers  map[string]uint64 // their backend connection totals, by server
}

// add records runtimes a reload retired and folds the idle ones; the
// caller holds Server.mu.
func (r *retiredStats) add(rts []*serviceRuntime) {
	if r.services == nil {
		r.services, r.servers = map[string]uint64{}, map[string]uint64{}
	}
	var kept []*serviceRuntime
	for _, rt := range slices.Concat(r.runtimes, rts) {
		if !rt.idle() {
			kept = append(kept, rt)
			continue
		}
		r.services[rt.cfg.Name] += rt.svc.Stats().Total
		for _, srv := range rt.servers {
			r.servers[srv.Name] += srv.Stats().Total
		}
	}
	r.runtimes = kept
}

func (r *retiredStats) addService(st *session.Stats, service string) {
	st.Total += r.services[service]
	for _, rt := range r.runtimes {
		if rt.cfg.Name == service {
			x := rt.svc.Stats()
			st.Current += x.Current
			st.Total += x.Total
		}
	}
}

func (r *retiredStats) addServer(st *session.Stats, server string) {
	st.Total += r.servers[server]
	for _, rt := range r.runtimes {
		for _, srv := range rt.servers {
			if srv.Name == server {
				x := srv.Stats()
				st.Current += x.Current
				st.Total += x.Total
			}
		}
	}
}
