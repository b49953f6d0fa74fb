// Package protocol is the proxy's MySQL/MariaDB wire layer: framing for the
// relay, the client-facing connection phase, the backend login, and a reply
// tracker that finds where each response ends.
//
// # Framing
//
// Conn reads packets through go-mysql's packet.Conn (sequence checks,
// 0xFFFFFF continuation) into a reused buffer and frames writes into a
// buffered writer that is flushed once per reply. Sequence ids are per
// connection: a relay reads with one Conn's counter and writes with the
// other's, which rewrites them.
//
// RawTCP wraps the proxy's TCP sockets (client and backend) so that reads
// and writes are raw non-blocking system calls under the network poller:
// the runtime then never hands a thread's P to another thread while a
// loopback write wakes its peer, which was most of the proxy's scheduling
// cost per statement.
//
// # Connection phase (client side of the proxy)
//
// Accept sends a v10 greeting with the backend's version string, a fresh
// 20-byte salt and ServerCapabilities, upgrades to TLS on an SSLRequest,
// decodes HandshakeResponse41, switches the client to mysql_native_password
// when it proposed another plugin, and asks an Authenticator. The effective
// capabilities of a session are always client & advertised. AcceptChangeUser
// does the same for COM_CHANGE_USER.
//
// The proxy never learns passwords: VerifyNative checks the client's reply
// against the stored SHA1(SHA1(password)) and recovers SHA1(password)
// ("stage1"), from which NativeScramble answers any backend's salt.
//
// # Backend login
//
// Login reads a server greeting, optionally upgrades to TLS, and logs in
// with the stage1-derived scramble, mirroring the client session's
// format-relevant capabilities (DEPRECATE_EOF, SESSION_TRACK, MULTI_RESULTS)
// so replies can be relayed byte for byte. Collation 255 and other ids
// MariaDB does not know become utf8mb4_general_ci.
//
// # Reply tracking
//
// Tracker is a small allocation-free state machine: Start it with the
// command packet, Feed it every reply packet, and it answers More, Done or
// SendInfile, collecting status flags, OK fields, ERR details, prepared
// statement ids and session-state changes on the way.
//
// Decoders never panic on malformed input; they return errors wrapping
// ErrMalformed.
package protocol
