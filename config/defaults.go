package config

import "time"

// This file is the one place where defaults live. maxproxy.toml.example
// shows the same values, and a test keeps the two in step.

// Default returns the configuration of an empty file: every global section
// at its defaults and no objects.
func Default() *Config {
	return &Config{
		Proxy: Proxy{
			DataDir:                 "/var/lib/maxproxy",
			ClassifierCacheSize:     10000,
			MaxAuthErrorsUntilBlock: 10,
			AuthBlockDuration:       60 * time.Second,
		},
		Log: Log{
			Level:  "info",
			Format: "text",
		},
		Admin: Admin{
			Enabled:  true,
			Listen:   "127.0.0.1:8989",
			User:     "admin",
			Password: DefaultAdminPassword,
		},
		Metrics: Metrics{
			Enabled: true,
			Listen:  "127.0.0.1:9195",
		},
	}
}

// DefaultAdminPassword is MaxScale's well-known default; the admin API refuses
// it on a non-loopback address.
const DefaultAdminPassword = "mariadb"

// DefaultServer returns a [[server]] with every optional key at its default.
func DefaultServer() Server {
	return Server{Port: 3306}
}

// DefaultMonitor returns a [[monitor]] with every optional key at its default.
func DefaultMonitor() Monitor {
	return Monitor{
		MonitorInterval:        time.Second,
		BackendConnectTimeout:  3 * time.Second,
		BackendReadTimeout:     3 * time.Second,
		BackendWriteTimeout:    3 * time.Second,
		BackendConnectAttempts: 1,
		ScriptTimeout:          90 * time.Second,
		Events:                 AllEvents(),
		JournalMaxAge:          28800 * time.Second,
		LagFCSentThreshold:     1,
		LagRecvQueueThreshold:  32,
		LagHysteresis:          3,
	}
}

// AllEvents returns MaxScale's ten monitor events, the default of events.
func AllEvents() []string {
	return []string{
		"master_down", "master_up", "slave_down", "slave_up", "server_down",
		"server_up", "lost_master", "lost_slave", "new_master", "new_slave",
	}
}

// DefaultService returns a [[service]] using the given router with every
// optional key at its default. Keys of the other router keep their
// readwritesplit defaults, which that router ignores.
func DefaultService(router string) Service {
	s := Service{
		Router:                 router,
		MaxSescmdHistory:       50,
		PruneSescmdHistory:     true,
		ConnectionKeepalive:    300 * time.Second,
		UsersRefreshTime:       30 * time.Second,
		IdleSessionPoolTime:    Off,
		MaxSlaveConnections:    255,
		SlaveConnections:       255,
		UseSQLVariablesIn:      "all",
		MasterReconnection:     true,
		MasterFailureMode:      "fail_on_write",
		SlaveSelectionCriteria: "least_current_operations",
		StrictTmpTables:        true,
		RetryFailedReads:       true,
		DelayedRetryTimeout:    10 * time.Second,

		TransactionReplayMaxSize:    1 << 20,
		TransactionReplayAttempts:   5,
		TransactionReplayTimeout:    30 * time.Second,
		TransactionReplaySafeCommit: true,
		TransactionReplayChecksum:   "full",

		CausalReads:        "none",
		CausalReadsTimeout: 10 * time.Second,

		RouterOptions: []string{"running"},
	}
	if router == ReadConnRoute {
		s.MasterAcceptReads = true
	}
	return s
}

// DefaultListener returns a [[listener]] with every optional key at its
// default.
func DefaultListener() Listener {
	return Listener{
		Address:    "0.0.0.0",
		Protocol:   "mariadb",
		SSLVersion: "MAX",
	}
}
