package admin

import (
	"context"
	"net"
	"strconv"

	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/admin/api"
)

// Runtime is what the admin API needs from the running proxy. Package admin
// declares it so that the proxy's runtime depends on nothing here but these
// values, and tests can stand in a fake.
//
// Listing methods return every object in configuration order (sessions in
// id order); the caller owns the slices. Mutating methods return errors that
// wrap api.ErrNotFound for an unknown name, api.ErrConflict when the
// object's state forbids the change and api.ErrInvalid for a bad value;
// anything else is reported as an internal error (500).
type Runtime interface {
	Servers() []ServerInfo
	Services() []ServiceInfo
	Listeners() []ListenerInfo
	Monitors() []MonitorInfo
	Sessions() []SessionInfo
	Info() api.MaxProxyAttributes

	// SetServerState sets api.StateMaintenance or api.StateDrain on a server.
	// force (maintenance only) also closes the server's open connections,
	// as maxctrl's `set server --force` does.
	SetServerState(ctx context.Context, server, state string, force bool) error
	ClearServerState(ctx context.Context, server, state string) error
	StopMonitor(ctx context.Context, monitor string) error
	StartMonitor(ctx context.Context, monitor string) error
	// KillSession ends a client session, as KILL CONNECTION does.
	KillSession(ctx context.Context, id uint64) error
	// Reload reads the configuration file again and applies it, returning
	// what it applied and the changed keys that only a restart applies. An
	// invalid file wraps api.ErrInvalid and changes nothing.
	Reload(ctx context.Context) (api.ReloadAttributes, error)
}

// ServerInfo is one backend and the objects that refer to it.
type ServerInfo struct {
	Name       string
	Attributes api.ServerAttributes
	Services   []string
	Monitors   []string
}

// ServiceInfo is one [[service]] and the objects it uses.
type ServiceInfo struct {
	Name       string
	Attributes api.ServiceAttributes
	Servers    []string
	Listeners  []string
}

// ListenerInfo is one [[listener]] and its service.
type ListenerInfo struct {
	Name       string
	Attributes api.ListenerAttributes
	Service    string
}

// MonitorInfo is one [[monitor]] and the servers it watches.
type MonitorInfo struct {
	Name       string
	Attributes api.MonitorAttributes
	Servers    []string
}

// SessionInfo is one client session. Its servers are those of its
// Attributes.Connections.
type SessionInfo struct {
	ID         uint64
	Attributes api.SessionAttributes
	Service    string
}

// ServerAttributes fills what the monitor knows of a server: state,
// address, priority, last error and Galera status. Statistics are the
// proxy's to add.
func ServerAttributes(s topology.Server) api.ServerAttributes {
	a := api.ServerAttributes{
		State:     s.State.String(),
		Address:   s.Address,
		Priority:  s.Priority,
		LastError: s.Err,
		Galera: api.Galera{
			LocalState:        s.Galera.LocalState,
			LocalStateComment: s.Galera.LocalStateComment,
			ClusterStatus:     s.Galera.ClusterStatus,
			ClusterStateUUID:  s.Galera.ClusterUUID,
			ClusterSize:       s.Galera.ClusterSize,
			LocalIndex:        s.Galera.LocalIndex,
			Ready:             s.Galera.Ready,
			Desync:            s.Galera.Desync,
			LocalRecvQueue:    s.Galera.RecvQueue,
			FlowControlSent:   s.Galera.FlowControlSent,
			Lagging:           s.State.Has(topology.Lagging),
		},
	}
	if host, port, err := net.SplitHostPort(s.Address); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			a.Address, a.Port = host, p
		}
	}
	return a
}
