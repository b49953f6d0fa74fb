// Package api holds the JSON documents of maxproxy's admin REST API, shared
// by the server (package admin), its client and `maxproxy ctl`. It imports
// nothing from this module so that the client links no runtime code.
//
// Bodies are shaped like MaxScale's, after JSON:API: a single object is
// {"data": {"id", "type", "attributes", "relationships", "links"}}, a
// collection is {"data": [...]}, and a failure is
// {"errors": [{"detail": "..."}]} with an HTTP status that says which kind
// of failure it was (see StatusOf).
package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Prefix is the path prefix of every resource. The server also accepts
// paths without it, as MaxScale does since 2.4.
const Prefix = "/v1"

// Resource types, which are also the collection names in paths.
const (
	TypeServers   = "servers"
	TypeServices  = "services"
	TypeListeners = "listeners"
	TypeMonitors  = "monitors"
	TypeSessions  = "sessions"
	TypeMaxProxy  = "maxproxy"
	TypeReload    = "reload"
)

// Path returns the path of a collection, or of one object of it when id is
// given: Path("servers", "db 1") is "/v1/servers/db%201".
func Path(typ string, id ...string) string {
	var b strings.Builder
	b.WriteString(Prefix + "/" + typ)
	for _, s := range id {
		b.WriteString("/" + url.PathEscape(s))
	}
	return b.String()
}

// Server states an operator can set and clear.
const (
	StateMaintenance = "maintenance"
	StateDrain       = "drain"
)

// Errors a Runtime returns (wrapped, with the object's name) and that the
// client's errors match by HTTP status, so both ends branch on the same
// values with errors.Is.
var (
	// ErrNotFound: no object of that type has that name (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request names a state or value that does not exist (400).
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the request is valid but the object's current state
	// forbids it, e.g. draining the writer (409).
	ErrConflict = errors.New("conflict")
	// ErrUnauthorized: missing or wrong credentials (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotImplemented: this build of maxproxy cannot perform the request
	// (501).
	ErrNotImplemented = errors.New("not implemented")
)

// StatusOf returns the HTTP status for err: 404, 400, 409, 401 or 501 for
// the sentinels above, 500 for anything else.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrNotImplemented):
		return http.StatusNotImplemented
	default:
		return http.StatusInternalServerError
	}
}

// SentinelOf is StatusOf's inverse, nil for a status without a sentinel.
func SentinelOf(status int) error {
	switch status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusBadRequest:
		return ErrInvalid
	case http.StatusConflict:
		return ErrConflict
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusNotImplemented:
		return ErrNotImplemented
	default:
		return nil
	}
}

// Document is a response body holding one resource or a list of them.
type Document[T any] struct {
	Data  T     `json:"data"`
	Links Links `json:"links"`
}

// Resource is one object: its attributes A and its links to other objects.
type Resource[A any] struct {
	ID            string                  `json:"id"`
	Type          string                  `json:"type"`
	Attributes    A                       `json:"attributes"`
	Relationships map[string]Relationship `json:"relationships,omitempty"`
	Links         Links                   `json:"links"`
}

// Relationship lists the objects of one type that a resource refers to.
type Relationship struct {
	Data  []Identifier `json:"data"`
	Links Links        `json:"links"`
}

// Names returns the ids the relationship refers to.
func (r Relationship) Names() []string {
	out := make([]string, len(r.Data))
	for i, d := range r.Data {
		out[i] = d.ID
	}
	return out
}

// Identifier names one object.
type Identifier struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Links holds the path of the resource or collection itself.
type Links struct {
	Self string `json:"self"`
}

// ErrorDocument is the body of every failed request.
type ErrorDocument struct {
	Errors []ErrorObject `json:"errors"`
}

// ErrorObject is one error; Detail is meant for the operator.
type ErrorObject struct {
	Detail string `json:"detail"`
}

// Resources of each type.
type (
	ServerResource   = Resource[ServerAttributes]
	ServiceResource  = Resource[ServiceAttributes]
	ListenerResource = Resource[ListenerAttributes]
	MonitorResource  = Resource[MonitorAttributes]
	SessionResource  = Resource[SessionAttributes]
	MaxProxyResource = Resource[MaxProxyAttributes]
	ReloadResource   = Resource[ReloadAttributes]
)

// ServerAttributes describe a backend as the monitor last saw it.
type ServerAttributes struct {
	// State is the maxctrl state string, e.g. "Master, Synced, Running",
	// "Maintenance, Slave, Synced, Running" or "Down".
	State    string `json:"state"`
	Address  string `json:"address"`
	Port     int    `json:"port"`
	Priority int    `json:"priority"`
	// LastError is the monitor's last probe error, empty after a good probe.
	LastError  string           `json:"last_error,omitempty"`
	Galera     Galera           `json:"galera"`
	Statistics ServerStatistics `json:"statistics"`
}

// Galera is what the monitor read from the node's wsrep status.
type Galera struct {
	LocalState        int    `json:"wsrep_local_state"`
	LocalStateComment string `json:"wsrep_local_state_comment"`
	ClusterStatus     string `json:"wsrep_cluster_status"`
	ClusterStateUUID  string `json:"wsrep_cluster_state_uuid"`
	ClusterSize       int    `json:"wsrep_cluster_size"`
	LocalIndex        int    `json:"wsrep_local_index"`
	Ready             bool   `json:"wsrep_ready"`
	Desync            bool   `json:"wsrep_desync"`
	LocalRecvQueue    int64  `json:"wsrep_local_recv_queue"`
	FlowControlSent   uint64 `json:"wsrep_flow_control_sent"`
	// Lagging: the monitor judged the node to be falling behind, so reads
	// avoid it.
	Lagging bool `json:"lagging"`
}

// ServerStatistics count the proxy's own use of a server.
type ServerStatistics struct {
	// Connections open now, from every session.
	Connections int `json:"connections"`
	// TotalConnections opened since start.
	TotalConnections uint64 `json:"total_connections"`
}

// ServiceAttributes describe a [[service]].
type ServiceAttributes struct {
	Router    string    `json:"router"`
	State     string    `json:"state"`
	StartedAt time.Time `json:"started_at"`
	// Parameters are the router's settings as configured.
	Parameters map[string]any    `json:"parameters,omitempty"`
	Statistics ServiceStatistics `json:"statistics"`
}

// ServiceStatistics count a service's client sessions.
type ServiceStatistics struct {
	Connections      int    `json:"connections"`
	TotalConnections uint64 `json:"total_connections"`
}

// ListenerAttributes describe a [[listener]].
type ListenerAttributes struct {
	Address  string `json:"address"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	State    string `json:"state"`
}

// MonitorAttributes describe a [[monitor]].
type MonitorAttributes struct {
	Module string `json:"module"`
	// State is "Running" or "Stopped".
	State string `json:"state"`
	// Interval between probe rounds.
	Interval Duration `json:"monitor_interval"`
	// Writer is the server chosen as master, empty when there is none.
	Writer           string `json:"writer"`
	ClusterStateUUID string `json:"cluster_state_uuid"`
	ClusterSize      int    `json:"cluster_size"`
	// Generation counts published topology snapshots.
	Generation uint64 `json:"generation"`
}

// SessionAttributes describe a client session.
type SessionAttributes struct {
	User      string    `json:"user"`
	Remote    string    `json:"remote"`
	Database  string    `json:"database"`
	Connected time.Time `json:"connected"`
	// Idle is how long the session has waited for its client's next command.
	Idle Duration `json:"idle"`
	// State is what the session is doing, e.g. "Idle" or "Running".
	State         string `json:"state"`
	InTransaction bool   `json:"in_transaction"`
	// Connections are the session's backend connections.
	Connections []SessionConnection `json:"connections"`
}

// SessionConnection is one backend connection of a session.
type SessionConnection struct {
	Server   string `json:"server"`
	ThreadID uint32 `json:"thread_id"`
}

// MaxProxyAttributes describe the process.
type MaxProxyAttributes struct {
	Version    string    `json:"version"`
	StartedAt  time.Time `json:"started_at"`
	Uptime     Duration  `json:"uptime"`
	ConfigFile string    `json:"config_file"`
	PID        int       `json:"pid"`
}

// ReloadAttributes report what a reload applied.
type ReloadAttributes struct {
	// Changes lists what the reload applied, in file order; empty when the
	// file did not change.
	Changes []ReloadChange `json:"changes"`
	// RestartRequired lists the changed keys a reload cannot apply, such as
	// `admin.listen`; they keep their running values, and everything else
	// in the new file is in effect.
	RestartRequired []string `json:"restart_required"`
}

// Actions of a ReloadChange.
const (
	ReloadAdded   = "added"
	ReloadRemoved = "removed"
	ReloadChanged = "changed"
)

// ReloadChange is one difference a reload applied: an object added,
// removed or changed, or a global table whose keys changed.
type ReloadChange struct {
	Action string `json:"action"`
	// Section is the table's key in the configuration file: "server",
	// "monitor", "service", "listener", or a global table such as "log".
	Section string `json:"section"`
	// Name is the object's name; empty for a global table.
	Name string `json:"name,omitempty"`
	// Keys are the changed keys of a changed object or table.
	Keys []string `json:"keys,omitempty"`
}

// Duration is a time.Duration that reads and writes as a Go duration
// string ("1.5s"), so that JSON stays readable and exact.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// String returns the duration as time.Duration prints it.
func (d Duration) String() string { return time.Duration(d).String() }
