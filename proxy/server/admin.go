package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/monitor"
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/admin"
	"github.com/maxproxy/maxproxy/proxy/admin/api"
	"github.com/maxproxy/maxproxy/proxy/session"
)

// adminRuntime is the running proxy as the admin API sees it. It is a
// separate type so that Server's own method set stays the Go API that
// tests and embedders use.
type adminRuntime struct{ s *Server }

var _ admin.Runtime = adminRuntime{}

// classified is an error the admin API reports with the status of kind
// (an api sentinel) and the message of err alone, so operators read
// "server node1 is the writer…", not "conflict: monitor: …".
type classified struct{ kind, err error }

func (c classified) Error() string   { return c.err.Error() }
func (c classified) Unwrap() []error { return []error{c.kind, c.err} }

func apiError(kind error, format string, args ...any) error {
	return classified{kind: kind, err: fmt.Errorf(format, args...)}
}

// serverView is what the topology says of a server: the snapshot of the
// monitor watching it, or of the static topology of a service using it.
func (s *Server) serverView(name string) (topology.Server, bool) {
	var snap *topology.Snapshot
	if ms := s.monitorOf(name); ms != nil {
		snap = ms.holder.Load()
	} else {
		for _, rt := range s.services {
			if slices.ContainsFunc(rt.servers, func(srv *session.Server) bool { return srv.Name == name }) {
				snap = rt.topo.Load()
				break
			}
		}
	}
	if snap == nil {
		return topology.Server{}, false
	}
	if srv := snap.Server(name); srv != nil {
		return *srv, true
	}
	return topology.Server{}, false
}

// monitorOf returns the slot of the monitor watching a server, or nil.
func (s *Server) monitorOf(server string) *monitorSlot {
	for _, ms := range s.monitors {
		if slices.Contains(ms.cfg.Servers, server) {
			return ms
		}
	}
	return nil
}

// lookupMonitor is monitorNamed for callers that do not hold s.mu.
func (s *Server) lookupMonitor(name string) *monitorSlot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.monitorNamed(name)
}

func (s *Server) monitorNamed(name string) *monitorSlot {
	for _, ms := range s.monitors {
		if ms.cfg.Name == name {
			return ms
		}
	}
	return nil
}

func (a adminRuntime) Servers() []admin.ServerInfo {
	s := a.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]admin.ServerInfo, 0, len(s.cfg.Servers))
	for i := range s.cfg.Servers {
		sc := &s.cfg.Servers[i]
		ts, ok := s.serverView(sc.Name)
		if !ok {
			// Before the monitor's first round nothing is known yet.
			ts = topology.Server{Name: sc.Name, Address: serverAddr(sc), Priority: sc.Priority, Err: "not probed yet"}
			ts.Galera.LocalIndex = -1
		}
		attrs := admin.ServerAttributes(ts)
		st := s.serverStats(sc.Name)
		attrs.Statistics = api.ServerStatistics{Connections: int(st.Current), TotalConnections: st.Total}
		info := admin.ServerInfo{Name: sc.Name, Attributes: attrs, Services: []string{}, Monitors: []string{}}
		for j := range s.cfg.Services {
			if slices.Contains(s.cfg.ServiceServers(&s.cfg.Services[j]), sc.Name) {
				info.Services = append(info.Services, s.cfg.Services[j].Name)
			}
		}
		if ms := s.monitorOf(sc.Name); ms != nil {
			info.Monitors = append(info.Monitors, ms.cfg.Name)
		}
		out = append(out, info)
	}
	return out
}

func (a adminRuntime) Services() []admin.ServiceInfo {
	s := a.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]admin.ServiceInfo, 0, len(s.cfg.Services))
	for i := range s.cfg.Services {
		sc := &s.cfg.Services[i]
		st, _ := s.serviceStats(sc.Name)
		info := admin.ServiceInfo{
			Name: sc.Name,
			Attributes: api.ServiceAttributes{
				Router:     sc.Router,
				State:      "Started",
				StartedAt:  s.started,
				Statistics: api.ServiceStatistics{Connections: int(st.Current), TotalConnections: st.Total},
			},
			Servers:   s.cfg.ServiceServers(sc),
			Listeners: []string{},
		}
		for _, l := range s.listeners {
			if l.route.Load().svc.cfg.Name == sc.Name {
				info.Listeners = append(info.Listeners, l.name)
			}
		}
		out = append(out, info)
	}
	return out
}

func (a adminRuntime) Listeners() []admin.ListenerInfo {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	out := make([]admin.ListenerInfo, 0, len(a.s.listeners))
	for _, l := range a.s.listeners {
		attrs := api.ListenerAttributes{Address: l.ln.Addr().String(), Protocol: "mariadb", State: "Running"}
		if host, port, err := net.SplitHostPort(attrs.Address); err == nil {
			attrs.Address = host
			attrs.Port, _ = strconv.Atoi(port)
		}
		out = append(out, admin.ListenerInfo{Name: l.name, Attributes: attrs, Service: l.route.Load().svc.cfg.Name})
	}
	return out
}

func (a adminRuntime) Monitors() []admin.MonitorInfo {
	a.s.mu.RLock()
	defer a.s.mu.RUnlock()
	out := make([]admin.MonitorInfo, 0, len(a.s.monitors))
	for _, ms := range a.s.monitors {
		m, running := ms.monitor()
		d := m.Diagnostics()
		state := "Stopped"
		if running && d.Running {
			state = "Running"
		}
		out = append(out, admin.MonitorInfo{
			Name: ms.cfg.Name,
			Attributes: api.MonitorAttributes{
				Module:           "galeramon",
				State:            state,
				Interval:         api.Duration(d.Options.MonitorInterval),
				Writer:           d.Writer,
				ClusterStateUUID: d.ClusterUUID,
				ClusterSize:      d.ClusterSize,
				Generation:       d.Generation,
			},
			Servers: slices.Clone(ms.cfg.Servers),
		})
	}
	return out
}

func (a adminRuntime) Sessions() []admin.SessionInfo {
	infos := a.s.SessionInfos()
	out := make([]admin.SessionInfo, 0, len(infos))
	now := time.Now()
	for _, in := range infos {
		attrs := api.SessionAttributes{
			User:          in.User,
			Remote:        in.Remote,
			Database:      in.Database,
			Connected:     in.Connected,
			State:         in.State,
			InTransaction: in.InTransaction,
			Connections:   make([]api.SessionConnection, 0, len(in.Backends)),
		}
		if !in.IdleSince.IsZero() {
			attrs.Idle = api.Duration(now.Sub(in.IdleSince))
		}
		for _, b := range in.Backends {
			attrs.Connections = append(attrs.Connections, api.SessionConnection{Server: b.Server, ThreadID: b.ThreadID})
		}
		out = append(out, admin.SessionInfo{ID: uint64(in.ID), Attributes: attrs, Service: in.Service})
	}
	return out
}

func (a adminRuntime) Info() api.MaxProxyAttributes {
	return api.MaxProxyAttributes{
		Version:    a.s.version,
		StartedAt:  a.s.started,
		Uptime:     api.Duration(time.Since(a.s.started).Round(time.Second)),
		ConfigFile: a.s.configFile,
		PID:        os.Getpid(),
	}
}

// serverMonitor returns the running monitor that owns a server's
// operator state, or an error the API can report.
func (s *Server) serverMonitor(server string) (*monitor.Monitor, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !slices.ContainsFunc(s.cfg.Servers, func(c config.Server) bool { return c.Name == server }) {
		return nil, apiError(api.ErrNotFound, "server %q not found", server)
	}
	ms := s.monitorOf(server)
	if ms == nil {
		// A static topology has no round to apply the state in and no
		// journal to keep it; giving it one would duplicate the monitor.
		return nil, apiError(api.ErrConflict,
			"server %q is not watched by a monitor: maintenance and drain need a [[monitor]] that lists it", server)
	}
	m, running := ms.monitor()
	if !running {
		return nil, apiError(api.ErrConflict, "monitor %q is stopped: start it before changing the state of server %q", ms.cfg.Name, server)
	}
	return m, nil
}

// monitorErr gives a monitor's admin error the API status it calls for.
func monitorErr(server, state string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, monitor.ErrUnknownServer):
		return classified{kind: api.ErrNotFound, err: err}
	case errors.Is(err, monitor.ErrDrainWriter):
		return apiError(api.ErrConflict, "server %q is the writer and cannot be drained; set maintenance instead to move the writer", server)
	case errors.Is(err, monitor.ErrClosed):
		return apiError(api.ErrConflict, "server %q: its monitor is stopped", server)
	default:
		return fmt.Errorf("server %q: %s: %w", server, state, err)
	}
}

func (a adminRuntime) SetServerState(_ context.Context, server, state string, force bool) error {
	m, err := a.s.serverMonitor(server)
	if err != nil {
		return err
	}
	switch state {
	case api.StateMaintenance:
		if err := monitorErr(server, state, m.SetMaintenance(server)); err != nil {
			return err
		}
		if force {
			a.s.killSessionsOn(server)
		}
		return nil
	case api.StateDrain:
		return monitorErr(server, state, m.SetDrain(server))
	default:
		return apiError(api.ErrInvalid, "invalid state %q: expected %s or %s", state, api.StateMaintenance, api.StateDrain)
	}
}

func (a adminRuntime) ClearServerState(_ context.Context, server, state string) error {
	m, err := a.s.serverMonitor(server)
	if err != nil {
		return err
	}
	switch state {
	case api.StateMaintenance:
		return monitorErr(server, state, m.ClearMaintenance(server))
	case api.StateDrain:
		return monitorErr(server, state, m.ClearDrain(server))
	default:
		return apiError(api.ErrInvalid, "invalid state %q: expected %s or %s", state, api.StateMaintenance, api.StateDrain)
	}
}

// killSessionsOn ends every client session holding a connection to server,
// as maxctrl's `set server --force` closes them.
func (s *Server) killSessionsOn(server string) {
	for _, in := range s.SessionInfos() {
		if slices.ContainsFunc(in.Backends, func(b session.BackendInfo) bool { return b.Server == server }) {
			// A session that ended meanwhile is already what we wanted.
			if err := s.KillSession(in.ID); err != nil && !errors.Is(err, session.ErrNoSession) {
				s.log.Warn("closing session for maintenance", "session", in.ID, "server", server, "err", err)
			}
		}
	}
}

func (a adminRuntime) StopMonitor(_ context.Context, name string) error {
	ms := a.s.lookupMonitor(name)
	if ms == nil {
		return apiError(api.ErrNotFound, "monitor %q not found", name)
	}
	if err := ms.stop(); err != nil {
		return classified{kind: api.ErrConflict, err: err}
	}
	return nil
}

func (a adminRuntime) StartMonitor(_ context.Context, name string) error {
	ms := a.s.lookupMonitor(name)
	if ms == nil {
		return apiError(api.ErrNotFound, "monitor %q not found", name)
	}
	if err := ms.start(); err != nil {
		if errors.Is(err, errNotRunning) {
			return classified{kind: api.ErrConflict, err: err}
		}
		return err
	}
	return nil
}

func (a adminRuntime) KillSession(_ context.Context, id uint64) error {
	if id > uint64(^uint32(0)) {
		return apiError(api.ErrNotFound, "session %d not found", id)
	}
	err := a.s.KillSession(uint32(id))
	if errors.Is(err, session.ErrNoSession) {
		return classified{kind: api.ErrNotFound, err: err}
	}
	return err
}

func (a adminRuntime) Reload(ctx context.Context) (api.ReloadAttributes, error) {
	res, err := a.s.Reload(ctx)
	switch {
	case errors.Is(err, ErrConfig):
		// The file's problems, each file:line: key: message.
		return api.ReloadAttributes{}, classified{kind: api.ErrInvalid, err: err}
	case errors.Is(err, errNotRunning), errors.Is(err, ErrNoConfigFile):
		return api.ReloadAttributes{}, classified{kind: api.ErrConflict, err: err}
	}
	out := api.ReloadAttributes{RestartRequired: res.RestartRequired}
	for _, c := range res.Changes {
		out.Changes = append(out.Changes, api.ReloadChange{Action: string(c.Action), Section: c.Section, Name: c.Name, Keys: c.Keys})
	}
	// A reload that failed half-way reports the error; what it applied is
	// in the log.
	return out, err
}
