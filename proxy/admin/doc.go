// Package admin serves maxproxy's admin REST API, the one `maxproxy ctl`
// talks to: MaxScale's resource names (servers, services, listeners,
// monitors, sessions, maxproxy) under /v1, JSON:API-shaped bodies (package
// api), and the operator actions maxctrl offers: set and clear maintenance
// or drain on a server, stop and start a monitor, kill a session, reload the
// configuration.
//
// # Contracts
//
//   - HTTP Basic authentication is checked on every request before routing,
//     so an unknown path without credentials answers 401, not 404. The
//     password is held only as a bcrypt hash (admin.password may be one
//     itself) and checked with bcrypt's constant-time comparison.
//   - The default password is refused on a non-loopback address three
//     times over: by config validation, by New for the configured address,
//     and by Serve for the socket actually bound.
//   - Failures are {"errors":[{"detail":...}]} with 400 (bad parameter), 401,
//     404 (unknown object or path), 405 (with Allow), 409 (the object's state
//     forbids the change, e.g. draining the writer) or 500.
//   - Actions answer 204 No Content; POST /v1/reload answers what the reload
//     applied and the changed keys that need a restart, or 400 with the
//     file's problems (file:line: key: message) when the new file is
//     refused and the running configuration stays.
//   - The running proxy is reached only through Runtime, which this package
//     declares; mutating requests are logged with the user who made them.
package admin
