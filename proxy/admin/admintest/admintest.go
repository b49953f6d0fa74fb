// Package admintest provides an in-memory admin.Runtime for tests of the
// admin API, its client and `maxproxy ctl`: a three-node Galera cluster
// behind two services, with the state rules the real runtime enforces
// (unknown names, draining the writer) and a record of every action.
package admintest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/admin"
	"github.com/maxproxy/maxproxy/proxy/admin/api"
)

// Started is the fake process's start time; fixed so that outputs are
// reproducible.
var Started = time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)

// Runtime is a fake admin.Runtime. The zero value is not usable; call New.
type Runtime struct {
	mu       sync.Mutex
	servers  []topology.Server
	monitor  string // "Running" or "Stopped"
	sessions []admin.SessionInfo
	calls    []string

	// ReloadErr, when set, is what Reload returns; Reloaded is what it
	// reports otherwise. Set them before the runtime is in use.
	ReloadErr error
	Reloaded  api.ReloadAttributes
}

// New returns the fake with its fixed cluster.
func New() *Runtime {
	galera := func(idx int, comment string, state int) topology.Galera {
		return topology.Galera{
			LocalState: state, LocalStateComment: comment, ClusterStatus: "Primary",
			ClusterUUID: "6b2f0a8e-1f4c-11ef-9a3b-0242ac120002", ClusterSize: 3,
			LocalIndex: idx, Ready: true, RejectQueries: "NONE",
		}
	}
	lag := galera(2, "Synced", 4)
	lag.RecvQueue, lag.FlowControlSent = 37, 12
	return &Runtime{
		servers: []topology.Server{
			{Name: "db1", Address: "127.0.0.1:3306", Priority: 1, State: topology.Master | topology.Synced | topology.Running, Galera: galera(0, "Synced", 4)},
			{Name: "db2", Address: "127.0.0.1:3307", Priority: 2, State: topology.Slave | topology.Synced | topology.Running, Galera: galera(1, "Synced", 4)},
			{Name: "db3", Address: "127.0.0.1:3308", Priority: 3, State: topology.Slave | topology.Synced | topology.Lagging | topology.Running, Galera: lag},
			{Name: "db4", Address: "10.0.0.4:3306", Priority: 4, Galera: topology.Galera{LocalIndex: -1}, Err: "dial tcp 10.0.0.4:3306: connect: connection refused"},
		},
		monitor: "Running",
		sessions: []admin.SessionInfo{
			{ID: 7, Service: "rw-service", Attributes: api.SessionAttributes{
				User: "app", Remote: "127.0.0.1:51234", Database: "shop", Connected: Started.Add(5 * time.Minute),
				Idle: api.Duration(1500 * time.Millisecond), State: "Idle",
				Connections: []api.SessionConnection{{Server: "db1", ThreadID: 41}, {Server: "db2", ThreadID: 17}},
			}},
			{ID: 12, Service: "ro-service", Attributes: api.SessionAttributes{
				User: "report", Remote: "127.0.0.1:51300", Connected: Started.Add(9 * time.Minute),
				State: "Running", InTransaction: true,
				Connections: []api.SessionConnection{{Server: "db3", ThreadID: 8}},
			}},
		},
	}
}

// Calls returns the actions performed so far, e.g. "set db1 maintenance force".
func (r *Runtime) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *Runtime) record(format string, args ...any) {
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

var serverNames = []string{"db1", "db2", "db3", "db4"}

func (r *Runtime) connections(name string) int {
	n := 0
	for _, s := range r.sessions {
		for _, c := range s.Attributes.Connections {
			if c.Server == name {
				n++
			}
		}
	}
	return n
}

// Servers implements admin.Runtime.
func (r *Runtime) Servers() []admin.ServerInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]admin.ServerInfo, 0, len(r.servers))
	for i, s := range r.servers {
		a := admin.ServerAttributes(s)
		a.Statistics = api.ServerStatistics{Connections: r.connections(s.Name), TotalConnections: uint64(100 * (len(r.servers) - i))}
		out = append(out, admin.ServerInfo{Name: s.Name, Attributes: a, Services: []string{"ro-service", "rw-service"}, Monitors: []string{"galera-monitor"}})
	}
	return out
}

// Services implements admin.Runtime.
func (r *Runtime) Services() []admin.ServiceInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	count := func(svc string) int {
		n := 0
		for _, s := range r.sessions {
			if s.Service == svc {
				n++
			}
		}
		return n
	}
	return []admin.ServiceInfo{
		{Name: "rw-service", Servers: serverNames, Listeners: []string{"rw-listener"}, Attributes: api.ServiceAttributes{
			Router: "readwritesplit", State: "Started", StartedAt: Started,
			Parameters: map[string]any{"master_accept_reads": false, "causal_reads": "none"},
			Statistics: api.ServiceStatistics{Connections: count("rw-service"), TotalConnections: 1042},
		}},
		{Name: "ro-service", Servers: serverNames, Listeners: []string{"ro-listener"}, Attributes: api.ServiceAttributes{
			Router: "readconnroute", State: "Started", StartedAt: Started,
			Parameters: map[string]any{"router_options": "slave"},
			Statistics: api.ServiceStatistics{Connections: count("ro-service"), TotalConnections: 77},
		}},
	}
}

// Listeners implements admin.Runtime.
func (r *Runtime) Listeners() []admin.ListenerInfo {
	return []admin.ListenerInfo{
		{Name: "rw-listener", Service: "rw-service", Attributes: api.ListenerAttributes{Address: "127.0.0.1", Port: 4006, Protocol: "MariaDBClient", State: "Running"}},
		{Name: "ro-listener", Service: "ro-service", Attributes: api.ListenerAttributes{Address: "127.0.0.1", Port: 4008, Protocol: "MariaDBClient", State: "Running"}},
	}
}

// Monitors implements admin.Runtime.
func (r *Runtime) Monitors() []admin.MonitorInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	writer := ""
	for _, s := range r.servers {
		if s.State.Has(topology.Master) {
			writer = s.Name
		}
	}
	return []admin.MonitorInfo{{Name: "galera-monitor", Servers: serverNames, Attributes: api.MonitorAttributes{
		Module: "galeramon", State: r.monitor, Interval: api.Duration(time.Second), Writer: writer,
		ClusterStateUUID: "6b2f0a8e-1f4c-11ef-9a3b-0242ac120002", ClusterSize: 3, Generation: 3600,
	}}}
}

// Sessions implements admin.Runtime.
func (r *Runtime) Sessions() []admin.SessionInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sessions)
}

// Info implements admin.Runtime.
func (r *Runtime) Info() api.MaxProxyAttributes {
	return api.MaxProxyAttributes{
		Version: "1.0.0-test", StartedAt: Started, Uptime: api.Duration(time.Hour),
		ConfigFile: "/etc/maxproxy.toml", PID: 4242,
	}
}

func (r *Runtime) server(name string) (*topology.Server, error) {
	for i := range r.servers {
		if r.servers[i].Name == name {
			return &r.servers[i], nil
		}
	}
	return nil, fmt.Errorf("%w: server %q", api.ErrNotFound, name)
}

func bit(state string) topology.State {
	if state == api.StateDrain {
		return topology.Draining
	}
	return topology.Maintenance
}

// SetServerState implements admin.Runtime. Like the monitor, it refuses to
// drain the writer.
func (r *Runtime) SetServerState(_ context.Context, name, state string, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.server(name)
	if err != nil {
		return err
	}
	if state == api.StateDrain && s.State.Has(topology.Master) {
		return fmt.Errorf("%w: cannot drain %s: it is the writer; put it in maintenance instead", api.ErrConflict, name)
	}
	s.State |= bit(state)
	if force {
		r.record("set %s %s force", name, state)
	} else {
		r.record("set %s %s", name, state)
	}
	return nil
}

// ClearServerState implements admin.Runtime.
func (r *Runtime) ClearServerState(_ context.Context, name, state string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.server(name)
	if err != nil {
		return err
	}
	s.State &^= bit(state)
	r.record("clear %s %s", name, state)
	return nil
}

func (r *Runtime) setMonitor(name, state string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name != "galera-monitor" {
		return fmt.Errorf("%w: monitor %q", api.ErrNotFound, name)
	}
	r.monitor = state
	r.record("monitor %s %s", name, state)
	return nil
}

// StopMonitor implements admin.Runtime.
func (r *Runtime) StopMonitor(_ context.Context, name string) error {
	return r.setMonitor(name, "Stopped")
}

// StartMonitor implements admin.Runtime.
func (r *Runtime) StartMonitor(_ context.Context, name string) error {
	return r.setMonitor(name, "Running")
}

// KillSession implements admin.Runtime.
func (r *Runtime) KillSession(_ context.Context, id uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.sessions, func(s admin.SessionInfo) bool { return s.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: session %d", api.ErrNotFound, id)
	}
	r.sessions = slices.Delete(r.sessions, i, i+1)
	r.record("kill %d", id)
	return nil
}

// Reload implements admin.Runtime.
func (r *Runtime) Reload(context.Context) (api.ReloadAttributes, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("reload")
	if r.ReloadErr != nil {
		return api.ReloadAttributes{}, r.ReloadErr
	}
	return api.ReloadAttributes{
		Changes:         slices.Clone(r.Reloaded.Changes),
		RestartRequired: slices.Clone(r.Reloaded.RestartRequired),
	}, nil
}

// ErrReload is a ready-made internal failure for ReloadErr.
var ErrReload = errors.New("reload: open /etc/maxproxy.toml: permission denied")

// ErrReloadInvalid is a ready-made invalid file for ReloadErr, as the
// proxy reports one.
var ErrReloadInvalid = fmt.Errorf("%w: /etc/maxproxy.toml:12: server \"db4\".port: must be at most 65535, got 70000", api.ErrInvalid)

// Reloaded is a ready-made result for Runtime.Reloaded: a server added,
// a service changed, a listener removed and a key that needs a restart.
var Reloaded = api.ReloadAttributes{
	Changes: []api.ReloadChange{
		{Action: api.ReloadChanged, Section: "log", Keys: []string{"level"}},
		{Action: api.ReloadAdded, Section: "server", Name: "db4"},
		{Action: api.ReloadChanged, Section: "monitor", Name: "galera-monitor", Keys: []string{"servers"}},
		{Action: api.ReloadChanged, Section: "service", Name: "rw-service", Keys: []string{"max_connections", "transaction_replay"}},
		{Action: api.ReloadRemoved, Section: "listener", Name: "ro-listener"},
	},
	RestartRequired: []string{"admin.listen", "proxy.datadir"},
}

// User and Password are the credentials Serve configures; the server gets
// PasswordHash, a bcrypt hash of Password at the lowest cost, so that tests
// under the race detector (which slows bcrypt about 40-fold) do not spend
// seconds on every wrong password they try.
const (
	User         = "ops"
	Password     = "s3cret-test-pw"
	PasswordHash = "$2a$04$9jXNLfgoZcfWcSNc86shYeAf4aJgpg9uK5WCdc9TYixz6l4txbayq"
)

// Serve runs an admin.Server over rt on 127.0.0.1:0 with cfg (whose Listen,
// User and Password it fills when empty) and returns it and its host:port;
// the test's cleanup stops it and waits for Serve to return.
func Serve(t testing.TB, rt admin.Runtime, cfg config.Admin) (*admin.Server, string) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.User == "" {
		cfg.User, cfg.Password = User, PasswordHash
	}
	srv, err := admin.New(cfg, rt, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("admin.New: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("admin Serve: %v", err)
		}
	})
	return srv, ln.Addr().String()
}
