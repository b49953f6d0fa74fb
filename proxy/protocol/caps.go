package protocol

import "github.com/go-mysql-org/go-mysql/mysql"

// ServerCapabilities are the capability flags the proxy advertises to
// clients (CLIENT_SSL is added when TLS is configured). Compression is not
// offered. Like MariaDB, the proxy leaves out CLIENT_LONG_PASSWORD (which
// MariaDB calls CLIENT_MYSQL): that tells MariaDB connectors to read the
// extended capabilities from the greeting, and the proxy announces none
// of them (progress reports, bulk operations, metadata caching), so clients
// stay on the standard protocol the reply tracker understands.
const ServerCapabilities = mysql.CLIENT_FOUND_ROWS |
	mysql.CLIENT_LONG_FLAG |
	mysql.CLIENT_CONNECT_WITH_DB |
	mysql.CLIENT_LOCAL_FILES |
	mysql.CLIENT_IGNORE_SPACE |
	mysql.CLIENT_PROTOCOL_41 |
	mysql.CLIENT_INTERACTIVE |
	mysql.CLIENT_IGNORE_SIGPIPE |
	mysql.CLIENT_TRANSACTIONS |
	mysql.CLIENT_SECURE_CONNECTION |
	mysql.CLIENT_MULTI_STATEMENTS |
	mysql.CLIENT_MULTI_RESULTS |
	mysql.CLIENT_PS_MULTI_RESULTS |
	mysql.CLIENT_PLUGIN_AUTH |
	mysql.CLIENT_CONNECT_ATTRS |
	mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
	mysql.CLIENT_SESSION_TRACK |
	mysql.CLIENT_DEPRECATE_EOF

// mirroredCapabilities are the client capabilities a backend connection must
// share with the client session because they change the bytes of replies
// that are relayed unmodified (DEPRECATE_EOF, SESSION_TRACK, MULTI_RESULTS),
// or the server's behaviour the client asked for (FOUND_ROWS, IGNORE_SPACE,
// INTERACTIVE, MULTI_STATEMENTS, LOCAL_FILES).
const mirroredCapabilities = mysql.CLIENT_FOUND_ROWS |
	mysql.CLIENT_LONG_FLAG |
	mysql.CLIENT_LOCAL_FILES |
	mysql.CLIENT_IGNORE_SPACE |
	mysql.CLIENT_INTERACTIVE |
	mysql.CLIENT_MULTI_STATEMENTS |
	mysql.CLIENT_MULTI_RESULTS |
	mysql.CLIENT_PS_MULTI_RESULTS |
	mysql.CLIENT_SESSION_TRACK |
	mysql.CLIENT_DEPRECATE_EOF

// baseBackendCapabilities are always requested from a backend.
const baseBackendCapabilities = mysql.CLIENT_LONG_PASSWORD |
	mysql.CLIENT_PROTOCOL_41 |
	mysql.CLIENT_TRANSACTIONS |
	mysql.CLIENT_SECURE_CONNECTION |
	mysql.CLIENT_PLUGIN_AUTH |
	mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
	mysql.CLIENT_CONNECT_ATTRS

// DefaultCollation is utf8mb4_general_ci, the collation used whenever a
// client's choice is unknown to MariaDB.
const DefaultCollation = 45

// mariadbCollations lists the one-byte collation ids MariaDB 10.11 knows
// (information_schema.COLLATIONS, id < 256), as inclusive ranges.
var mariadbCollations = [...][2]uint8{
	{1, 16}, {18, 75}, {77, 99}, {101, 124}, {128, 151},
	{159, 183}, {192, 215}, {223, 247},
}

// BackendCollation maps a client's handshake collation to one MariaDB
// accepts. MySQL 8 clients announce 255 (utf8mb4_0900_ai_ci), which MariaDB
// silently replaces with latin1; those and other unknown ids become
// utf8mb4_general_ci.
func BackendCollation(id uint8) uint8 {
	for _, r := range mariadbCollations {
		if id >= r[0] && id <= r[1] {
			return id
		}
	}
	return DefaultCollation
}
