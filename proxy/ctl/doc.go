// Package ctl is `maxproxy ctl`, the operator's command line for the admin
// REST API, modelled on MaxScale's maxctrl:
//
//	maxproxy ctl list servers|services|listeners|monitors|sessions
//	maxproxy ctl show server|service|listener|monitor|session NAME
//	maxproxy ctl show maxproxy
//	maxproxy ctl set|clear server NAME maintenance|drain [--force]
//	maxproxy ctl stop|start monitor NAME
//	maxproxy ctl kill session ID
//	maxproxy ctl reload
//
// Global flags are maxctrl's: -u/--user, -p/--password, -h/--hosts (a
// comma-separated list of host:port or URLs; every command runs on each
// host), -s/--secure and --tls-* for HTTPS, --json for the API's own JSON.
// Defaults come from ~/.maxproxy-ctl.toml, which is refused unless only its
// owner can read it, since it holds a password (maxctrl's ~/.maxctrl.cnf
// rule). Every key is optional:
//
//	user = "admin"
//	password = "s3cret"
//	hosts = "127.0.0.1:8989"
//	secure = false
//	tls_ca_cert = "/etc/maxproxy/admin-ca.pem"
//	tls_cert = ""
//	tls_key = ""
//	tls_verify_server_cert = true
//	timeout = "10s"
//
// Flags given on the command line win over the file; --config names
// another file (which must then exist).
//
// The package talks to the proxy only through proxy/admin/client; it never
// links the runtime (deps_test.go enforces it). Exit status: 0 on success,
// 1 when a request failed (the server's message is printed), 2 for a usage
// error.
package ctl
