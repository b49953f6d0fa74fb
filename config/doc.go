// Package config reads, checks and describes maxproxy's TOML configuration.
// It is a leaf package: it imports nothing from this module, and it has no
// side effects (it never opens certificates or binds ports), so every
// component, `maxproxy check-config` and tests can use it freely.
//
// # Schema
//
// The file follows MaxScale's object model. Global tables configure the
// process; arrays of tables declare named objects that refer to each other
// by name:
//
//	[proxy]       data directory, classifier cache, host blocking
//	[log]         level, format, file
//	[admin]       REST API for `maxproxy ctl` (HTTP Basic auth, always on)
//	[metrics]     Prometheus endpoint
//	[[server]]    a backend node
//	[[monitor]]   a Galera monitor over some servers (MaxScale's galeramon keys,
//	              plus lag detection and a writer agreed on by all proxies)
//	[[service]]   a router, readwritesplit or readconnroute, over a list of
//	              servers or over a monitor's servers (cluster = "name")
//	[[listener]]  a client port bound to a service
//
// Parameter names and defaults are MaxScale's where MaxScale has the
// parameter. The structs in config.go are the schema: each field's struct
// tags give its key and its rules (see schema.go). Defaults live in one
// place, defaults.go: Default for the global tables, and DefaultServer,
// DefaultMonitor, DefaultService and DefaultListener for objects.
// maxproxy.toml.example at the repository root documents every key with its
// default, and a test fails if the two ever disagree.
//
// Durations are strings with a unit ("500ms", "1s", "2m", "1h"); a bare
// number is an error, because MaxScale's history made its unit ambiguous.
// Sizes are a number of bytes or a string with a K, M, G (x1000) or Ki, Mi,
// Gi (x1024) suffix.
//
// # Loading and errors
//
// Load and Parse return a complete, validated Config or an error; there is
// no partially valid result. Decoding is strict: unknown keys, keys of the
// other router, values of the wrong type, bad durations and sizes are all
// errors. Validation then checks names (one namespace for all objects),
// references, address clashes, ranges, allowed values, TLS settings and
// MaxScale's implied settings (see Service). Every problem found is reported,
// not just the first, as a *Error rendered
//
//	file:line: key: message
//
// where key is the full key path, with the object's name once it is known:
// `service "rw".router`, else its index: `service[1].router`. Several
// problems come as an ErrorList sorted by line. A TOML syntax error stops
// decoding and carries the TOML parser's line. Check and ErrorLines turn any
// of these into printable lines for `maxproxy check-config`.
//
// # Reload
//
// Every field is tagged reload:"hot" or reload:"restart". Restart keys are
// the ones fixed at start-up: sockets the process binds other than
// listeners' (admin, metrics), process-wide structures (data directory,
// classifier cache, log output) and the kind of an object (monitor.type,
// listener.protocol). Hot keys are applied by a reload to new sessions and
// connections and to the monitor's next round; existing sessions keep what
// they have. A listener whose address or port changes is bound anew.
// Objects are matched by name across a reload, and a reload adds and
// removes them. Compare applies this rule to two configurations.
package config
