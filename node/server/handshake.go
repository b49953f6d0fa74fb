package server

import (
	"crypto/rand"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// serverCaps are the capabilities maxnode offers. Not offered: SSL and compression (not implemented),
// LOCAL_FILES (LOAD DATA LOCAL is not supported), IGNORE_SPACE, ODBC and NO_SCHEMA (they change SQL
// semantics the engine does not vary by). SESSION_TRACK is offered as MariaDB offers it: OK packets
// always carry their info as a length-encoded string (appendOK), and SERVER_SESSION_STATE_CHANGED is
// never set, so no state-change block follows — a proxy relaying a client that asked for session
// tracking sees the same bytes as from MariaDB with no tracked change. FOUND_ROWS is passed to the
// session (Session.SetClientCapabilities).
// CLIENT_LONG_PASSWORD is MariaDB's CLIENT_MYSQL bit: MariaDB servers leave it unset, which tells
// clients and proxies (MaxScale) that this is MariaDB and that the last 4 reserved bytes of the
// greeting hold MariaDB's extended capabilities, of which none are offered.
const serverCaps = mysql.CLIENT_LONG_FLAG | mysql.CLIENT_CONNECT_WITH_DB |
	mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_INTERACTIVE | mysql.CLIENT_IGNORE_SIGPIPE |
	mysql.CLIENT_TRANSACTIONS | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_MULTI_STATEMENTS |
	mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_PS_MULTI_RESULTS | mysql.CLIENT_PLUGIN_AUTH |
	mysql.CLIENT_CONNECT_ATTRS | mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | mysql.CLIENT_DEPRECATE_EOF |
	mysql.CLIENT_FOUND_ROWS | mysql.CLIENT_SESSION_TRACK

// collationUTF8MB4GeneralCI is the server's default collation (id 45). MariaDB does not know MySQL 8's
// 255, so it is never used.
const collationUTF8MB4GeneralCI = 45

const (
	saltLen          = 20
	nativePlugin     = mysql.AUTH_NATIVE_PASSWORD
	protocolVersion  = 10
	mariaDBVerPrefix = "5.5.5-" // MariaDB's handshake prefix that old replication code expects; clients strip it
)

// newSalt returns a scramble of printable characters, as MariaDB's, so it can be NUL-terminated.
func newSalt() ([]byte, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("scramble: %w", err)
	}
	for i, b := range salt {
		salt[i] = 33 + b%94
	}
	return salt, nil
}

// appendGreeting encodes the initial handshake packet (protocol version 10).
func appendGreeting(b []byte, version string, connID uint32, salt []byte, status uint16) []byte {
	b = append(b, protocolVersion)
	b = append(b, mariaDBVerPrefix...)
	b = append(b, version...)
	b = append(b, 0)
	b = appendUint32(b, connID)
	b = append(b, salt[:8]...)
	b = append(b, 0)
	b = appendUint16(b, uint16(serverCaps&0xffff))
	b = append(b, collationUTF8MB4GeneralCI)
	b = appendUint16(b, status)
	b = appendUint16(b, uint16(serverCaps>>16&0xffff))
	b = append(b, saltLen+1)
	b = append(b, make([]byte, 6)...) // reserved
	b = appendUint32(b, 0)            // MariaDB extended capabilities: none
	b = append(b, salt[8:]...)
	b = append(b, 0)
	b = append(b, nativePlugin...)
	return append(b, 0)
}

// handshakeResponse is the client's HandshakeResponse41.
type handshakeResponse struct {
	caps      uint32 // as sent; the effective set is caps & serverCaps
	maxPacket uint32
	collation byte
	user      string
	auth      []byte
	db        string
	plugin    string
}

// parseHandshakeResponse decodes HandshakeResponse41. Pre-4.1 clients and SSL requests are refused.
func parseHandshakeResponse(p []byte) (handshakeResponse, error) {
	var h handshakeResponse
	r := reader{b: p}
	h.caps = r.uint32()
	if r.err == nil && h.caps&mysql.CLIENT_PROTOCOL_41 == 0 {
		return h, fmt.Errorf("%w: client does not speak protocol 4.1", errMalformed)
	}
	h.maxPacket = r.uint32()
	h.collation = r.byte1()
	r.bytes(23)
	if r.err != nil {
		return h, r.err
	}
	if h.caps&mysql.CLIENT_SSL != 0 && len(r.b) == 0 {
		return h, errSSLRequested
	}
	h.user = string(r.nulString())
	switch {
	case h.caps&mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0:
		h.auth = r.lenEncString()
	case h.caps&mysql.CLIENT_SECURE_CONNECTION != 0:
		h.auth = r.bytes(int(r.byte1()))
	default:
		h.auth = r.nulString()
	}
	if h.caps&mysql.CLIENT_CONNECT_WITH_DB != 0 && len(r.b) > 0 {
		h.db = string(r.nulString())
	}
	if h.caps&mysql.CLIENT_PLUGIN_AUTH != 0 && len(r.b) > 0 {
		h.plugin = string(r.nulString())
	}
	if h.caps&mysql.CLIENT_CONNECT_ATTRS != 0 && len(r.b) > 0 {
		// Attributes are not used, but a malformed block still means a broken client.
		attrs := r.lenEncString()
		ar := reader{b: attrs}
		for len(ar.b) > 0 && ar.err == nil {
			ar.lenEncString()
			ar.lenEncString()
		}
		if ar.err != nil {
			return h, fmt.Errorf("%w: connection attributes", errMalformed)
		}
	}
	if r.err != nil {
		return h, r.err
	}
	h.auth = append([]byte(nil), h.auth...) // the packet buffer is reused
	return h, nil
}

// parseChangeUser decodes COM_CHANGE_USER (after the command byte).
func parseChangeUser(p []byte, caps uint32) (handshakeResponse, error) {
	var h handshakeResponse
	r := reader{b: p}
	h.user = string(r.nulString())
	if caps&mysql.CLIENT_SECURE_CONNECTION != 0 {
		h.auth = r.bytes(int(r.byte1()))
	} else {
		h.auth = r.nulString()
	}
	h.db = string(r.nulString())
	if len(r.b) > 0 {
		h.collation = byte(r.uint16())
	}
	if caps&mysql.CLIENT_PLUGIN_AUTH != 0 && len(r.b) > 0 {
		h.plugin = string(r.nulString())
	}
	if r.err != nil {
		return h, r.err
	}
	h.auth = append([]byte(nil), h.auth...)
	return h, nil
}

// checkNative verifies a mysql_native_password reply against the stored SHA1(SHA1(password)).
func checkNative(salt, reply, stored []byte) bool {
	if len(stored) == 0 {
		return len(reply) == 0
	}
	return len(reply) == saltLen && mysql.CompareNativePassword(reply, stored, salt)
}

// appendAuthSwitch asks the client to answer the scramble with mysql_native_password.
func appendAuthSwitch(b, salt []byte) []byte {
	b = append(b, 0xfe)
	b = append(b, nativePlugin...)
	b = append(b, 0)
	b = append(b, salt...)
	return append(b, 0)
}
