package protocol

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// InitialHandshake is the protocol v10 greeting a server sends first.
type InitialHandshake struct {
	ServerVersion string
	ConnectionID  uint32
	Salt          []byte // 20 bytes of scramble
	Capabilities  uint32
	Collation     uint8
	Status        uint16
	AuthPlugin    string
	// MariaDBCapabilities are the extended capabilities MariaDB announces in
	// the last 4 filler bytes when CLIENT_LONG_PASSWORD ("CLIENT_MYSQL") is
	// not set. The proxy never negotiates them.
	MariaDBCapabilities uint32
}

// AdvertisedVersion returns the version string to put in a handshake for a
// backend version v. MariaDB 10+ prefixes its version with "5.5.5-" because
// old replication clients parse the first digit as the major version; a
// version that lacks the prefix (e.g. taken from SELECT VERSION()) gets it.
func AdvertisedVersion(v string) string {
	if strings.HasPrefix(v, "5.5.5-") || !strings.Contains(v, "MariaDB") {
		return v
	}
	if len(v) > 0 && v[0] >= '1' && v[0] <= '9' && len(v) > 1 && v[1] >= '0' && v[1] <= '9' {
		return "5.5.5-" + v
	}
	return v
}

// Append appends the handshake payload to dst. The first 8 bytes of Salt
// go in the fixed part (zero-padded if Salt is shorter), the rest after it.
func (h *InitialHandshake) Append(dst []byte) []byte {
	salt := h.Salt
	head := salt[:min(8, len(salt))]
	dst = append(dst, 10)
	dst = append(dst, h.ServerVersion...)
	dst = append(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, h.ConnectionID)
	dst = append(dst, head...)
	dst = append(dst, make([]byte, 8-len(head)+1)...)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(h.Capabilities))
	dst = append(dst, h.Collation)
	dst = binary.LittleEndian.AppendUint16(dst, h.Status)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(h.Capabilities>>16))
	dst = append(dst, byte(len(salt)+1))
	dst = append(dst, 0, 0, 0, 0, 0, 0)
	if h.Capabilities&mysql.CLIENT_LONG_PASSWORD == 0 {
		dst = binary.LittleEndian.AppendUint32(dst, h.MariaDBCapabilities)
	} else {
		dst = append(dst, 0, 0, 0, 0)
	}
	dst = append(dst, salt[len(head):]...)
	dst = append(dst, 0)
	dst = append(dst, h.AuthPlugin...)
	return append(dst, 0)
}

// ParseInitialHandshake decodes a server greeting. A greeting that is an ERR
// packet (MariaDB sends one instead of the handshake for blocked hosts or
// too many connections) is returned as *Error.
func ParseInitialHandshake(p []byte) (*InitialHandshake, error) {
	if len(p) > 0 && p[0] == headerERR {
		e, err := ParseERR(p)
		if err != nil {
			return nil, err
		}
		return nil, e
	}
	if len(p) == 0 || p[0] != 10 {
		return nil, fmt.Errorf("%w: unsupported handshake protocol version", ErrMalformed)
	}
	version, b, ok := nulString(p[1:])
	if !ok {
		return nil, fmt.Errorf("%w: handshake server version", ErrMalformed)
	}
	h := &InitialHandshake{ServerVersion: string(version)}
	if len(b) < 4+8+1+2 {
		return nil, fmt.Errorf("%w: short handshake", ErrMalformed)
	}
	h.ConnectionID = binary.LittleEndian.Uint32(b)
	salt := make([]byte, 0, SaltLen)
	salt = append(salt, b[4:12]...)
	h.Capabilities = uint32(binary.LittleEndian.Uint16(b[13:]))
	b = b[15:]
	if len(b) == 0 {
		h.Salt = salt
		return h, nil // pre-4.1 server: nothing more
	}
	if len(b) < 1+2+2+1+10 {
		return nil, fmt.Errorf("%w: short handshake", ErrMalformed)
	}
	h.Collation = b[0]
	h.Status = binary.LittleEndian.Uint16(b[1:])
	h.Capabilities |= uint32(binary.LittleEndian.Uint16(b[3:])) << 16
	saltLen := int(b[5])
	if h.Capabilities&mysql.CLIENT_LONG_PASSWORD == 0 {
		h.MariaDBCapabilities = binary.LittleEndian.Uint32(b[12:])
	}
	b = b[16:]
	if h.Capabilities&mysql.CLIENT_SECURE_CONNECTION != 0 {
		// The second part is max(13, saltLen-8) bytes, NUL-terminated.
		n := max(13, saltLen-8)
		if len(b) < n {
			return nil, fmt.Errorf("%w: handshake scramble", ErrMalformed)
		}
		part := b[:n]
		if i := len(part) - 1; part[i] == 0 {
			part = part[:i]
		}
		salt = append(salt, part...)
		b = b[n:]
	}
	h.Salt = salt
	if h.Capabilities&mysql.CLIENT_PLUGIN_AUTH != 0 {
		name, _, ok := nulString(b)
		if !ok {
			name = b // some servers omit the final NUL
		}
		h.AuthPlugin = string(name)
	}
	return h, nil
}

// Attr is one connection attribute (CLIENT_CONNECT_ATTRS).
type Attr struct {
	Key, Value string
}

// HandshakeResponse is a HandshakeResponse41 packet.
type HandshakeResponse struct {
	// Capabilities are the flags exactly as the client sent them. Use
	// Capabilities & advertised for behaviour (see Client.Capabilities).
	Capabilities  uint32
	MaxPacketSize uint32
	Collation     uint8
	User          string
	AuthResponse  []byte
	DB            string
	AuthPlugin    string
	Attrs         []Attr
}

// sslRequestLen is the size of an SSLRequest: the fixed part of a
// HandshakeResponse41 without user name.
const sslRequestLen = 32

// IsSSLRequest reports whether p is an SSLRequest packet.
func IsSSLRequest(p []byte) bool {
	return len(p) == sslRequestLen && binary.LittleEndian.Uint32(p)&mysql.CLIENT_SSL != 0
}

// ParseSSLRequest decodes an SSLRequest (the 32-byte prefix of a
// HandshakeResponse41 a client sends before starting TLS).
func ParseSSLRequest(p []byte) (*HandshakeResponse, error) {
	if !IsSSLRequest(p) {
		return nil, fmt.Errorf("%w: not an SSLRequest", ErrMalformed)
	}
	return &HandshakeResponse{
		Capabilities:  binary.LittleEndian.Uint32(p),
		MaxPacketSize: binary.LittleEndian.Uint32(p[4:]),
		Collation:     p[8],
	}, nil
}

// ParseHandshakeResponse decodes a HandshakeResponse41. Pre-4.1 clients
// (without CLIENT_PROTOCOL_41) are refused with an error.
func ParseHandshakeResponse(p []byte) (*HandshakeResponse, error) {
	if len(p) < 4 {
		return nil, fmt.Errorf("%w: short handshake response", ErrMalformed)
	}
	r := &HandshakeResponse{Capabilities: binary.LittleEndian.Uint32(p)}
	if r.Capabilities&mysql.CLIENT_PROTOCOL_41 == 0 {
		return nil, fmt.Errorf("%w: pre-4.1 handshake response", ErrMalformed)
	}
	if len(p) < sslRequestLen {
		return nil, fmt.Errorf("%w: short handshake response", ErrMalformed)
	}
	r.MaxPacketSize = binary.LittleEndian.Uint32(p[4:])
	r.Collation = p[8]
	user, b, ok := nulString(p[sslRequestLen:])
	if !ok {
		return nil, fmt.Errorf("%w: handshake user name", ErrMalformed)
	}
	r.User = string(user)
	var auth []byte
	var n int
	switch {
	case r.Capabilities&mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0:
		if auth, n, ok = lenencString(b); !ok {
			return nil, fmt.Errorf("%w: handshake auth response", ErrMalformed)
		}
		b = b[n:]
	case r.Capabilities&mysql.CLIENT_SECURE_CONNECTION != 0:
		if len(b) < 1 || int(b[0]) > len(b)-1 {
			return nil, fmt.Errorf("%w: handshake auth response", ErrMalformed)
		}
		auth, b = b[1:1+int(b[0])], b[1+int(b[0]):]
	default:
		if auth, b, ok = nulString(b); !ok {
			return nil, fmt.Errorf("%w: handshake auth response", ErrMalformed)
		}
	}
	r.AuthResponse = append([]byte(nil), auth...)
	if r.Capabilities&mysql.CLIENT_CONNECT_WITH_DB != 0 && len(b) > 0 {
		db, rest, ok := nulString(b)
		if !ok {
			return nil, fmt.Errorf("%w: handshake database", ErrMalformed)
		}
		r.DB, b = string(db), rest
	}
	if r.Capabilities&mysql.CLIENT_PLUGIN_AUTH != 0 && len(b) > 0 {
		name, rest, ok := nulString(b)
		if !ok {
			// libmysqlclient before 5.6.6 did not terminate the name.
			name, rest = b, nil
		}
		r.AuthPlugin, b = string(name), rest
	}
	if r.Capabilities&mysql.CLIENT_CONNECT_ATTRS != 0 && len(b) > 0 {
		attrs, err := parseAttrs(b)
		if err != nil {
			return nil, err
		}
		r.Attrs = attrs
	}
	return r, nil
}

func parseAttrs(b []byte) ([]Attr, error) {
	all, _, ok := lenencString(b)
	if !ok {
		return nil, fmt.Errorf("%w: connection attributes", ErrMalformed)
	}
	var attrs []Attr
	for len(all) > 0 {
		k, n, ok := lenencString(all)
		if !ok {
			return nil, fmt.Errorf("%w: connection attribute key", ErrMalformed)
		}
		v, m, ok := lenencString(all[n:])
		if !ok {
			return nil, fmt.Errorf("%w: connection attribute value", ErrMalformed)
		}
		attrs = append(attrs, Attr{string(k), string(v)})
		all = all[n+m:]
	}
	return attrs, nil
}

func appendAttrs(dst []byte, attrs []Attr) []byte {
	var body []byte
	for _, a := range attrs {
		body = appendLenencString(body, []byte(a.Key))
		body = appendLenencString(body, []byte(a.Value))
	}
	return appendLenencString(dst, body)
}

// appendFixed appends the 32-byte part shared by SSLRequest and
// HandshakeResponse41.
func (r *HandshakeResponse) appendFixed(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, r.Capabilities)
	dst = binary.LittleEndian.AppendUint32(dst, r.MaxPacketSize)
	dst = append(dst, r.Collation)
	return append(dst, make([]byte, 23)...)
}

// AppendSSLRequest appends the SSLRequest form of r.
func (r *HandshakeResponse) AppendSSLRequest(dst []byte) []byte {
	return r.appendFixed(dst)
}

// Append appends r as a HandshakeResponse41, laid out according to
// r.Capabilities.
func (r *HandshakeResponse) Append(dst []byte) []byte {
	dst = r.appendFixed(dst)
	dst = append(dst, r.User...)
	dst = append(dst, 0)
	switch {
	case r.Capabilities&mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0:
		dst = appendLenencString(dst, r.AuthResponse)
	case r.Capabilities&mysql.CLIENT_SECURE_CONNECTION != 0:
		dst = append(dst, byte(len(r.AuthResponse)))
		dst = append(dst, r.AuthResponse...)
	default:
		dst = append(dst, r.AuthResponse...)
		dst = append(dst, 0)
	}
	if r.Capabilities&mysql.CLIENT_CONNECT_WITH_DB != 0 {
		dst = append(dst, r.DB...)
		dst = append(dst, 0)
	}
	if r.Capabilities&mysql.CLIENT_PLUGIN_AUTH != 0 {
		dst = append(dst, r.AuthPlugin...)
		dst = append(dst, 0)
	}
	if r.Capabilities&mysql.CLIENT_CONNECT_ATTRS != 0 {
		dst = appendAttrs(dst, r.Attrs)
	}
	return dst
}

// ChangeUser is a decoded COM_CHANGE_USER packet.
type ChangeUser struct {
	User         string
	AuthResponse []byte
	DB           string
	// Collation is 0 when the client did not send one.
	Collation  uint16
	AuthPlugin string
	Attrs      []Attr
}

// ParseChangeUser decodes a COM_CHANGE_USER payload (command byte
// included). caps are the session's negotiated capabilities.
func ParseChangeUser(p []byte, caps uint32) (*ChangeUser, error) {
	if len(p) < 1 || p[0] != mysql.COM_CHANGE_USER {
		return nil, fmt.Errorf("%w: not COM_CHANGE_USER", ErrMalformed)
	}
	user, b, ok := nulString(p[1:])
	if !ok {
		return nil, fmt.Errorf("%w: change user name", ErrMalformed)
	}
	cu := &ChangeUser{User: string(user)}
	var auth []byte
	if caps&mysql.CLIENT_SECURE_CONNECTION != 0 {
		if len(b) < 1 || int(b[0]) > len(b)-1 {
			return nil, fmt.Errorf("%w: change user auth response", ErrMalformed)
		}
		auth, b = b[1:1+int(b[0])], b[1+int(b[0]):]
	} else if auth, b, ok = nulString(b); !ok {
		return nil, fmt.Errorf("%w: change user auth response", ErrMalformed)
	}
	cu.AuthResponse = append([]byte(nil), auth...)
	db, b, ok := nulString(b)
	if !ok {
		return nil, fmt.Errorf("%w: change user database", ErrMalformed)
	}
	cu.DB = string(db)
	if len(b) == 0 {
		return cu, nil
	}
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: change user character set", ErrMalformed)
	}
	cu.Collation = binary.LittleEndian.Uint16(b)
	b = b[2:]
	if caps&mysql.CLIENT_PLUGIN_AUTH != 0 && len(b) > 0 {
		name, rest, ok := nulString(b)
		if !ok {
			name, rest = b, nil
		}
		cu.AuthPlugin, b = string(name), rest
	}
	if caps&mysql.CLIENT_CONNECT_ATTRS != 0 && len(b) > 0 {
		attrs, err := parseAttrs(b)
		if err != nil {
			return nil, err
		}
		cu.Attrs = attrs
	}
	return cu, nil
}

// Append appends cu as a COM_CHANGE_USER payload for a connection with caps.
func (cu *ChangeUser) Append(dst []byte, caps uint32) []byte {
	dst = append(dst, mysql.COM_CHANGE_USER)
	dst = append(dst, cu.User...)
	dst = append(dst, 0)
	if caps&mysql.CLIENT_SECURE_CONNECTION != 0 {
		dst = append(dst, byte(len(cu.AuthResponse)))
		dst = append(dst, cu.AuthResponse...)
	} else {
		dst = append(dst, cu.AuthResponse...)
		dst = append(dst, 0)
	}
	dst = append(dst, cu.DB...)
	dst = append(dst, 0)
	dst = binary.LittleEndian.AppendUint16(dst, cu.Collation)
	if caps&mysql.CLIENT_PLUGIN_AUTH != 0 {
		dst = append(dst, cu.AuthPlugin...)
		dst = append(dst, 0)
	}
	if caps&mysql.CLIENT_CONNECT_ATTRS != 0 {
		dst = appendAttrs(dst, cu.Attrs)
	}
	return dst
}

// appendAuthSwitch appends an AuthSwitchRequest for plugin with data.
func appendAuthSwitch(dst []byte, plugin string, data []byte) []byte {
	dst = append(dst, headerEOF)
	dst = append(dst, plugin...)
	dst = append(dst, 0)
	dst = append(dst, data...)
	return append(dst, 0)
}

// parseAuthSwitch decodes an AuthSwitchRequest (0xFE header).
func parseAuthSwitch(p []byte) (plugin string, data []byte, err error) {
	if len(p) < 1 || p[0] != headerEOF {
		return "", nil, fmt.Errorf("%w: not an auth switch request", ErrMalformed)
	}
	if len(p) == 1 {
		// Old-password switch request without plugin name.
		return "mysql_old_password", nil, nil
	}
	name, rest, ok := nulString(p[1:])
	if !ok {
		return "", nil, fmt.Errorf("%w: auth switch plugin name", ErrMalformed)
	}
	if n := len(rest); n > 0 && rest[n-1] == 0 {
		rest = rest[:n-1]
	}
	return string(name), rest, nil
}
