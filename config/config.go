package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Config is a whole maxproxy configuration file. Values returned by Parse,
// Load and Default are complete: every key the file left out holds its
// default, and MaxScale's implied settings have been applied (see Service).
type Config struct {
	Proxy     Proxy      `toml:"proxy"`
	Log       Log        `toml:"log"`
	Admin     Admin      `toml:"admin"`
	Metrics   Metrics    `toml:"metrics"`
	Servers   []Server   `toml:"server"`
	Monitors  []Monitor  `toml:"monitor"`
	Services  []Service  `toml:"service"`
	Listeners []Listener `toml:"listener"`
}

// Proxy holds process-wide settings.
type Proxy struct {
	// DataDir holds state that must survive restarts (maintenance and drain
	// flags, the monitor journal).
	DataDir string `toml:"datadir" reload:"restart" nonempty:"true"`
	// ClassifierCacheSize bounds the statement-class cache, in entries.
	// 0 turns the cache off.
	ClassifierCacheSize int `toml:"classifier_cache_size" reload:"restart"`
	// MaxAuthErrorsUntilBlock failed logins from one host block that host
	// for AuthBlockDuration. 0 never blocks.
	MaxAuthErrorsUntilBlock int           `toml:"max_auth_errors_until_block" reload:"hot"`
	AuthBlockDuration       time.Duration `toml:"auth_block_duration" reload:"hot"`
	// Threads caps the OS threads that run Go code at once (GOMAXPROCS),
	// like MaxScale's threads. ThreadsAuto keeps the Go runtime's choice.
	Threads Threads `toml:"threads" reload:"restart"`
}

// Log configures the process logger.
type Log struct {
	Level  string `toml:"level" reload:"hot" enum:"debug|info|warn|error"`
	Format string `toml:"format" reload:"restart" enum:"text|json"`
	// File is the log file; empty means standard error.
	File string `toml:"file" reload:"restart"`
}

// SlogLevel returns Level as a slog level. It assumes a validated Log.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Admin configures the REST API that `maxproxy ctl` talks to. HTTP Basic
// authentication is always on.
type Admin struct {
	Enabled bool `toml:"enabled" reload:"restart"`
	// Listen is host:port. A non-loopback host with the default password is
	// refused.
	Listen   string `toml:"listen" reload:"restart" nonempty:"true"`
	User     string `toml:"user" reload:"hot" nonempty:"true"`
	Password string `toml:"password" reload:"hot" nonempty:"true"`
	// TLSCert and TLSKey switch the API to HTTPS; set both or neither.
	TLSCert string `toml:"tls_cert" reload:"restart"`
	TLSKey  string `toml:"tls_key" reload:"restart"`
}

// Metrics configures the Prometheus endpoint, which has its own listener so
// that scraping never competes with the admin API.
type Metrics struct {
	Enabled bool   `toml:"enabled" reload:"restart"`
	Listen  string `toml:"listen" reload:"restart" nonempty:"true"`
}

// Server is a backend database node, as in MaxScale's `type=server`.
type Server struct {
	Name    string `toml:"name" reload:"hot" required:"true"`
	Address string `toml:"address" reload:"hot" required:"true"`
	Port    int    `toml:"port" reload:"hot" min:"1" max:"65535"`
	// Priority drives writer choice with a monitor's use_priority: the lowest
	// positive value wins, a negative value is never chosen, 0 means "no
	// preference".
	Priority int `toml:"priority" reload:"hot" min:"none"`

	SSL                      bool   `toml:"ssl" reload:"hot"`
	SSLCA                    string `toml:"ssl_ca" reload:"hot"`
	SSLCert                  string `toml:"ssl_cert" reload:"hot"`
	SSLKey                   string `toml:"ssl_key" reload:"hot"`
	SSLVerifyPeerCertificate bool   `toml:"ssl_verify_peer_certificate" reload:"hot"`

	// PersistPoolMax idle connections are kept per server for reuse, each for
	// at most PersistMaxTime (0s: no limit). 0 keeps none.
	PersistPoolMax int           `toml:"persistpoolmax" reload:"hot"`
	PersistMaxTime time.Duration `toml:"persistmaxtime" reload:"hot"`
	// MaxRoutingConnections caps backend connections to this server; 0 means
	// no cap.
	MaxRoutingConnections int `toml:"max_routing_connections" reload:"hot"`
}

// Monitor watches a set of servers and publishes their states. Only Galera
// monitors exist; the keys are galeramon's plus the lag and sticky-writer
// extensions.
type Monitor struct {
	Name     string   `toml:"name" reload:"hot" required:"true"`
	Type     string   `toml:"type" reload:"restart" required:"true" enum:"galera"`
	Servers  []string `toml:"servers" reload:"hot" required:"true"`
	User     string   `toml:"user" reload:"hot" required:"true"`
	Password string   `toml:"password" reload:"hot"`

	MonitorInterval        time.Duration `toml:"monitor_interval" reload:"hot" min:"100ms"`
	BackendConnectTimeout  time.Duration `toml:"backend_connect_timeout" reload:"hot" min:"1s"`
	BackendReadTimeout     time.Duration `toml:"backend_read_timeout" reload:"hot" min:"1s"`
	BackendWriteTimeout    time.Duration `toml:"backend_write_timeout" reload:"hot" min:"1s"`
	BackendConnectAttempts int           `toml:"backend_connect_attempts" reload:"hot" min:"1"`

	AvailableWhenDonor       bool `toml:"available_when_donor" reload:"hot"`
	DisableMasterFailback    bool `toml:"disable_master_failback" reload:"hot"`
	DisableMasterRoleSetting bool `toml:"disable_master_role_setting" reload:"hot"`
	UsePriority              bool `toml:"use_priority" reload:"hot"`
	RootNodeAsMaster         bool `toml:"root_node_as_master" reload:"hot"`
	SetDonorNodes            bool `toml:"set_donor_nodes" reload:"hot"`

	// Script runs on the listed Events, with MaxScale's placeholders
	// ($INITIATOR, $EVENT, $NODELIST, ...). Empty: no script.
	Script        string        `toml:"script" reload:"hot"`
	ScriptTimeout time.Duration `toml:"script_timeout" reload:"hot" min:"1s"`
	Events        []string      `toml:"events" reload:"hot" enum:"master_down|master_up|slave_down|slave_up|server_down|server_up|lost_master|lost_slave|new_master|new_slave"`
	// JournalMaxAge is how old the saved monitor state may be and still be
	// trusted after a restart.
	JournalMaxAge time.Duration `toml:"journal_max_age" reload:"hot" min:"1s"`

	// A node counts as lagging when, in one interval, it sent at least
	// LagFCSentThreshold flow-control messages or its receive queue reached
	// LagRecvQueueThreshold; it stops lagging after LagHysteresis calm rounds.
	LagFCSentThreshold    int `toml:"lag_fc_sent_threshold" reload:"hot" min:"1"`
	LagRecvQueueThreshold int `toml:"lag_recv_queue_threshold" reload:"hot" min:"1"`
	LagHysteresis         int `toml:"lag_hysteresis" reload:"hot" min:"1"`
	// StickyWriter makes every proxy instance agree on the writer through a
	// marker kept in the cluster, instead of each choosing on its own.
	StickyWriter bool `toml:"sticky_writer" reload:"hot"`
}

// Router names.
const (
	ReadWriteSplit = "readwritesplit"
	ReadConnRoute  = "readconnroute"
)

// Off is the value of a duration that the string "off" switched off
// (idle_session_pool_time). It differs from 0s, which means "at once".
const Off time.Duration = -1

// Service routes client sessions to servers. Keys tagged with a router are
// an error on a service that uses the other router.
//
// Parse applies MaxScale's implications to keys the file left out:
// transaction_replay = true turns on delayed_retry and master_reconnection
// (and needs master_failure_mode = "fail_on_write", the default);
// disable_sescmd_history = true turns off master_reconnection (unless
// transaction_replay needs it); readconnroute's master_accept_reads defaults
// to true. Where MaxScale silently overrides a contradicting value the file
// set, maxproxy reports an error instead, so that the running configuration
// is always the one written.
type Service struct {
	Name   string `toml:"name" reload:"hot" required:"true"`
	Router string `toml:"router" reload:"hot" required:"true" enum:"readwritesplit|readconnroute"`
	// Servers lists the servers directly; Cluster names a monitor whose
	// servers the service uses. Exactly one of the two is set.
	Servers []string `toml:"servers" reload:"hot"`
	Cluster string   `toml:"cluster" reload:"hot"`
	// User and Password: the service account that loads client accounts.
	User     string `toml:"user" reload:"hot" required:"true"`
	Password string `toml:"password" reload:"hot"`

	MaxSescmdHistory     int           `toml:"max_sescmd_history" reload:"hot"`
	PruneSescmdHistory   bool          `toml:"prune_sescmd_history" reload:"hot"`
	DisableSescmdHistory bool          `toml:"disable_sescmd_history" reload:"hot"`
	ConnectionKeepalive  time.Duration `toml:"connection_keepalive" reload:"hot"`
	WaitTimeout          time.Duration `toml:"wait_timeout" reload:"hot"`
	MaxConnections       int           `toml:"max_connections" reload:"hot"`
	UsersRefreshTime     time.Duration `toml:"users_refresh_time" reload:"hot"`
	UsersRefreshInterval time.Duration `toml:"users_refresh_interval" reload:"hot"`
	EnableRootUser       bool          `toml:"enable_root_user" reload:"hot"`
	// IdleSessionPoolTime is Off, or how long a session must be idle before
	// its backend connections go back to the pool.
	IdleSessionPoolTime time.Duration `toml:"idle_session_pool_time" reload:"hot" off:"true"`
	// MasterAcceptReads: reads may go to the writer (default false for
	// readwritesplit, true for readconnroute).
	MasterAcceptReads bool `toml:"master_accept_reads" reload:"hot"`

	MaxSlaveConnections    int    `toml:"max_slave_connections" reload:"hot" router:"readwritesplit"`
	SlaveConnections       int    `toml:"slave_connections" reload:"hot" router:"readwritesplit"`
	UseSQLVariablesIn      string `toml:"use_sql_variables_in" reload:"hot" router:"readwritesplit" enum:"all|master"`
	MasterReconnection     bool   `toml:"master_reconnection" reload:"hot" router:"readwritesplit"`
	MasterFailureMode      string `toml:"master_failure_mode" reload:"hot" router:"readwritesplit" enum:"fail_instantly|fail_on_write|error_on_write"`
	SlaveSelectionCriteria string `toml:"slave_selection_criteria" reload:"hot" router:"readwritesplit" enum:"least_current_operations|adaptive_routing|least_behind_master|least_router_connections|least_global_connections"`
	StrictMultiStmt        bool   `toml:"strict_multi_stmt" reload:"hot" router:"readwritesplit"`
	StrictSPCalls          bool   `toml:"strict_sp_calls" reload:"hot" router:"readwritesplit"`
	StrictTmpTables        bool   `toml:"strict_tmp_tables" reload:"hot" router:"readwritesplit"`
	RetryFailedReads       bool   `toml:"retry_failed_reads" reload:"hot" router:"readwritesplit"`

	DelayedRetry        bool          `toml:"delayed_retry" reload:"hot" router:"readwritesplit"`
	DelayedRetryTimeout time.Duration `toml:"delayed_retry_timeout" reload:"hot" router:"readwritesplit" min:"1ms"`

	TransactionReplay                bool          `toml:"transaction_replay" reload:"hot" router:"readwritesplit"`
	TransactionReplayMaxSize         Size          `toml:"transaction_replay_max_size" reload:"hot" router:"readwritesplit"`
	TransactionReplayAttempts        int           `toml:"transaction_replay_attempts" reload:"hot" router:"readwritesplit" min:"1"`
	TransactionReplayTimeout         time.Duration `toml:"transaction_replay_timeout" reload:"hot" router:"readwritesplit"`
	TransactionReplayRetryOnDeadlock bool          `toml:"transaction_replay_retry_on_deadlock" reload:"hot" router:"readwritesplit"`
	TransactionReplaySafeCommit      bool          `toml:"transaction_replay_safe_commit" reload:"hot" router:"readwritesplit"`
	TransactionReplayRetryOnMismatch bool          `toml:"transaction_replay_retry_on_mismatch" reload:"hot" router:"readwritesplit"`
	TransactionReplayChecksum        string        `toml:"transaction_replay_checksum" reload:"hot" router:"readwritesplit" enum:"full|result_only|no_insert_id"`
	// TransactionReplayCommitCheck resolves a COMMIT interrupted by a
	// failover with a marker row written in the same transaction (see
	// package proxy/session): needs transaction_replay and the grant
	// SELECT, INSERT, UPDATE, DELETE ON maxproxy.* for the client's user.
	TransactionReplayCommitCheck bool `toml:"transaction_replay_commit_check" reload:"hot" router:"readwritesplit"`

	// CausalReads: MaxScale's modes are all recognised, but only "none" and
	// "local" are implemented (see SupportedCausalReads).
	CausalReads        string        `toml:"causal_reads" reload:"hot" router:"readwritesplit" enum:"none|local|global|fast|fast_global|universal|fast_universal"`
	CausalReadsTimeout time.Duration `toml:"causal_reads_timeout" reload:"hot" router:"readwritesplit" min:"1ms"`
	LazyConnect        bool          `toml:"lazy_connect" reload:"hot" router:"readwritesplit"`

	// RouterOptions selects the servers a readconnroute session may use.
	RouterOptions []string `toml:"router_options" reload:"hot" router:"readconnroute" enum:"master|slave|synced|running"`
}

// SupportedCausalReads are the causal_reads modes maxproxy implements. On
// Galera, "local" makes the first read after a session's write wait for that
// write (wsrep_sync_wait) on the node it reads from. The other MaxScale modes
// are refused with an error rather than silently weakened.
var SupportedCausalReads = []string{"none", "local"}

// Listener is a client-facing port bound to one service. A reload that
// changes its address or port binds the new socket and closes the old one;
// sessions accepted on the old socket keep running.
type Listener struct {
	Name    string `toml:"name" reload:"hot" required:"true"`
	Service string `toml:"service" reload:"hot" required:"true"`
	// Address "0.0.0.0" (or "::") listens on every interface.
	Address  string `toml:"address" reload:"hot" nonempty:"true"`
	Port     int    `toml:"port" reload:"hot" required:"true" min:"1" max:"65535"`
	Protocol string `toml:"protocol" reload:"restart" enum:"mariadb"`

	SSL     bool   `toml:"ssl" reload:"hot"`
	SSLCert string `toml:"ssl_cert" reload:"hot"`
	SSLKey  string `toml:"ssl_key" reload:"hot"`
	SSLCA   string `toml:"ssl_ca" reload:"hot"`
	// SSLVersion is the lowest TLS version accepted; "MAX" accepts TLS 1.2
	// and newer. Older versions are refused.
	SSLVersion string `toml:"ssl_version" reload:"hot" enum:"MAX|TLSv12|TLSv13"`
}

// ServiceServers returns the names of the servers a service routes to: its
// own list, or the servers of the monitor named by its cluster key.
func (c *Config) ServiceServers(s *Service) []string {
	if s.Cluster == "" {
		return s.Servers
	}
	for i := range c.Monitors {
		if c.Monitors[i].Name == s.Cluster {
			return c.Monitors[i].Servers
		}
	}
	return nil
}

// Threads is a number of worker threads. In the file it is "auto" or a
// number of at least 1.
type Threads int

// ThreadsAuto leaves the thread count to the Go runtime: one per CPU the
// process may use, following CPU limit changes.
const ThreadsAuto Threads = 0

// String renders t as the file writes it.
func (t Threads) String() string {
	if t == ThreadsAuto {
		return "auto"
	}
	return strconv.Itoa(int(t))
}

// Size is a number of bytes. In the file it is an integer (bytes) or a
// string with a decimal (K, M, G: powers of 1000) or binary (Ki, Mi, Gi:
// powers of 1024) suffix, e.g. "1Mi".
type Size int64

var sizeUnits = []struct {
	suffix string
	factor int64
}{
	// Two-letter suffixes first so that "Ki" is not read as "K" plus junk.
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9},
}

// ParseSize parses a size string such as "512", "64K" or "1Mi".
func ParseSize(s string) (Size, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	factor := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, factor = strings.TrimSuffix(t, u.suffix), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || strings.HasPrefix(t, "+") {
		return 0, fmt.Errorf("invalid size %q: write a number of bytes, optionally with a suffix K, M, G (x1000) or Ki, Mi, Gi (x1024), e.g. \"1Mi\"", s)
	}
	if n > (1<<63-1)/factor {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n * factor), nil
}

// String renders the size with the largest binary suffix that divides it.
func (s Size) String() string {
	for _, u := range []struct {
		suffix string
		factor Size
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if s != 0 && s%u.factor == 0 {
			return strconv.FormatInt(int64(s/u.factor), 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}
