// Package auth authenticates proxy clients the way MaxScale does: account
// hashes are loaded from a backend with a service user, a client's
// mysql_native_password reply is checked against SHA1(SHA1(password)), and
// the recovered SHA1(password) is handed back so the session can log in to
// any backend without the proxy ever knowing the password.
//
// Matching follows MariaDB: host patterns with '%' and '_' (and '\'
// escapes), IPv4 "address/netmask" entries, loopback clients also known as
// "localhost" and other clients by their forward-confirmed reverse DNS name
// (unless SkipNameResolve), the most specific entry first in
// MariaDB's mysql.user order, anonymous (”) accounts, and the database
// check of a login (database, table and routine grants, global privileges,
// the default role and the roles granted to it; then existence per SHOW
// DATABASES) with ER_DBACCESS_DENIED_ERROR and ER_BAD_DB_ERROR.
//
// Manager adds MaxScale's operational rules: root is refused unless
// enable_root_user, a failed login reloads the accounts (at most once per
// users_refresh_time) and is retried once before the client sees 1045,
// users_refresh_interval reloads periodically, and a host with
// max_auth_errors_until_block consecutive authentication failures is
// refused with ER_HOST_IS_BLOCKED for the block duration (a success resets
// the count). Refused logins, blocks and connections refused from blocked
// hosts are reported to Config.Observer (the proxy's metrics).
//
// Not supported: accounts using other plugins (ed25519, unix_socket,
// caching_sha2_password) are refused with 1045 and logged; accounts
// whose password differs by host work, but the backend sees the proxy's
// address, so its own host check applies to the proxy (as with MaxScale).
package auth
