package monitor

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"

	"github.com/maxproxy/maxproxy/monitor/galera"
)

// Server is one configured backend.
type Server struct {
	Name     string
	Address  string // host:port
	Priority int    // galeramon priority, used with UsePriority
}

// Options configure a Monitor. Names mirror MaxScale's galeramon; the
// integrator maps them from the configuration file.
type Options struct {
	// Name identifies the monitor in logs and in the "monitor" label of
	// its metrics.
	Name     string
	User     string
	Password string

	MonitorInterval        time.Duration // default 1s
	BackendConnectTimeout  time.Duration // default 3s
	BackendReadTimeout     time.Duration // default 3s
	BackendWriteTimeout    time.Duration // default 3s
	BackendConnectAttempts int           // default 1

	AvailableWhenDonor       bool
	DisableMasterFailback    bool
	DisableMasterRoleSetting bool
	UsePriority              bool
	RootNodeAsMaster         bool
	SetDonorNodes            bool

	// Script runs on Events with MaxScale's placeholders ($INITIATOR,
	// $EVENT, $LIST, $NODELIST, $SLAVELIST, $MASTERLIST, $SYNCEDLIST,
	// $PARENT, $CHILDREN). Empty: no script.
	Script        string
	ScriptTimeout time.Duration // default 90s, as MaxScale
	// Events that run the script; empty means all ten.
	Events []string

	// JournalPath is the bbolt file that keeps maintenance, drain and the
	// failback writer across restarts (e.g. <datadir>/monitor-<name>.db).
	// Empty: nothing is persisted.
	JournalPath string
	// JournalMaxAge: a saved writer older than this is ignored on start.
	// Operator state (maintenance, drain) never expires. Default 8h.
	JournalMaxAge time.Duration

	// Lag detection (see package galera). A threshold of 0 disables its
	// signal.
	LagFCSentThreshold    uint64
	LagRecvQueueThreshold int64
	LagHysteresis         int // clean rounds before Lagging is cleared

	// StickyWriter makes every proxy instance follow the writer named by
	// a marker row kept in the cluster (maxproxy.writer), moving it only
	// when the marked node cannot be the writer. The monitor user then
	// needs CREATE, SELECT, INSERT and UPDATE on maxproxy.*.
	StickyWriter bool
}

// withDefaults fills zero values with galeramon's defaults (the interval
// is ours: 1s instead of MaxScale's 2s).
func (o Options) withDefaults() Options {
	if o.MonitorInterval == 0 {
		o.MonitorInterval = time.Second
	}
	if o.BackendConnectTimeout == 0 {
		o.BackendConnectTimeout = 3 * time.Second
	}
	if o.BackendReadTimeout == 0 {
		o.BackendReadTimeout = 3 * time.Second
	}
	if o.BackendWriteTimeout == 0 {
		o.BackendWriteTimeout = 3 * time.Second
	}
	if o.BackendConnectAttempts == 0 {
		o.BackendConnectAttempts = 1
	}
	if o.ScriptTimeout == 0 {
		o.ScriptTimeout = 90 * time.Second
	}
	if o.JournalMaxAge == 0 {
		o.JournalMaxAge = 8 * time.Hour
	}
	return o
}

func (o Options) validate(servers []Server) error {
	if o.MonitorInterval < 100*time.Millisecond {
		return fmt.Errorf("monitor %q: monitor_interval %v is below the minimum of 100ms", o.Name, o.MonitorInterval)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"backend_connect_timeout", o.BackendConnectTimeout},
		{"backend_read_timeout", o.BackendReadTimeout},
		{"backend_write_timeout", o.BackendWriteTimeout},
		{"script_timeout", o.ScriptTimeout},
		{"journal_max_age", o.JournalMaxAge},
	} {
		if d.v < 0 {
			return fmt.Errorf("monitor %q: %s must not be negative", o.Name, d.name)
		}
	}
	if o.BackendConnectAttempts < 1 {
		return fmt.Errorf("monitor %q: backend_connect_attempts must be at least 1", o.Name)
	}
	if o.LagRecvQueueThreshold < 0 || o.LagHysteresis < 0 {
		return fmt.Errorf("monitor %q: lag thresholds must not be negative", o.Name)
	}
	if len(servers) == 0 {
		return fmt.Errorf("monitor %q: no servers to monitor", o.Name)
	}
	seen := map[string]bool{}
	for _, s := range servers {
		if s.Name == "" || s.Address == "" {
			return fmt.Errorf("monitor %q: a server needs a name and an address", o.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("monitor %q: server %q listed twice", o.Name, s.Name)
		}
		// host:port, or a unix socket path as go-mysql accepts it.
		if !strings.Contains(s.Address, "/") {
			if _, _, err := net.SplitHostPort(s.Address); err != nil {
				return fmt.Errorf("monitor %q: server %q: address: %w", o.Name, s.Name, err)
			}
		}
		seen[s.Name] = true
	}
	for _, e := range o.Events {
		if _, err := galera.ParseEventName(e); err != nil {
			return fmt.Errorf("monitor %q: events: %w", o.Name, err)
		}
	}
	if o.Script != "" {
		argv, err := splitCommand(o.Script)
		if err != nil {
			return fmt.Errorf("monitor %q: script: %w", o.Name, err)
		}
		if _, err := exec.LookPath(argv[0]); err != nil {
			return fmt.Errorf("monitor %q: script: %w", o.Name, err)
		}
	}
	return nil
}

func (o Options) classification() galera.Options {
	return galera.Options{
		AvailableWhenDonor:       o.AvailableWhenDonor,
		DisableMasterFailback:    o.DisableMasterFailback,
		DisableMasterRoleSetting: o.DisableMasterRoleSetting,
		UsePriority:              o.UsePriority,
		RootNodeAsMaster:         o.RootNodeAsMaster,
		LagFCSentThreshold:       o.LagFCSentThreshold,
		LagRecvQueueThreshold:    o.LagRecvQueueThreshold,
		LagHysteresis:            o.LagHysteresis,
		StickyWriter:             o.StickyWriter,
	}
}
