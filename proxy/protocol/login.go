package protocol

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// ErrUnsupportedAuth is returned when a backend insists on an authentication
// plugin other than mysql_native_password.
var ErrUnsupportedAuth = errors.New("protocol: backend requires an unsupported authentication plugin")

// LoginConfig describes a backend login on behalf of a client session.
type LoginConfig struct {
	User string
	// Stage1 is SHA1(password) (see NativeStage1, Client.Stage1); nil for an
	// account without password.
	Stage1 []byte
	DB     string
	// Collation of the client session; mapped with BackendCollation.
	Collation uint8
	// ClientCapabilities are the client session's effective capabilities.
	// The flags that shape relayed replies (DEPRECATE_EOF, SESSION_TRACK,
	// MULTI_RESULTS, ...) are copied so that backend bytes can be relayed
	// unmodified; CLIENT_QUERY_ATTRIBUTES is never requested.
	ClientCapabilities uint32
	// TLS, when set, makes the login upgrade to TLS (and fail when the
	// backend does not offer it).
	TLS *tls.Config
	// Attrs are sent as connection attributes.
	Attrs []Attr
	// MaxPacketSize is the packet limit after login; 0 means
	// DefaultMaxPacketSize.
	MaxPacketSize int
}

// ServerInfo describes a logged-in backend connection.
type ServerInfo struct {
	// ConnectionID is the backend's thread id (CONNECTION_ID(), KILL).
	ConnectionID  uint32
	ServerVersion string
	// Capabilities are the negotiated flags (requested & offered).
	Capabilities uint32
	Collation    uint8
	Status       uint16
	// Salt is the greeting's scramble; COM_CHANGE_USER answers it.
	Salt []byte
}

// formatCapabilities must be identical on both legs of a relayed session.
const formatCapabilities = mysql.CLIENT_DEPRECATE_EOF | mysql.CLIENT_SESSION_TRACK |
	mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_PS_MULTI_RESULTS

// Login runs the client side of the connection phase on nc: read the
// greeting, upgrade to TLS if configured, send HandshakeResponse41 with the
// mysql_native_password scramble derived from Stage1, follow an auth switch
// to mysql_native_password, and return the framed connection. A refusal by
// the backend is returned as a wrapped *Error.
func Login(ctx context.Context, nc net.Conn, cfg *LoginConfig) (*Conn, *ServerInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	defer bindContext(ctx, nc)()
	c := NewConn(nc)
	info, err := login(ctx, c, cfg)
	if err != nil {
		return nil, nil, ctxErr(ctx, err)
	}
	c.SetMaxPacketSize(orDefault(cfg.MaxPacketSize, DefaultMaxPacketSize))
	c.EnableReadAhead()
	return c, info, nil
}

func login(ctx context.Context, c *Conn, cfg *LoginConfig) (*ServerInfo, error) {
	p, err := c.ReadPacket()
	if err != nil {
		return nil, fmt.Errorf("read greeting: %w", err)
	}
	hs, err := ParseInitialHandshake(p)
	if err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if hs.Capabilities&mysql.CLIENT_PROTOCOL_41 == 0 || hs.Capabilities&mysql.CLIENT_SECURE_CONNECTION == 0 {
		return nil, fmt.Errorf("%w: server %q lacks protocol 4.1", ErrMalformed, hs.ServerVersion)
	}
	want := cfg.ClientCapabilities & mirroredCapabilities
	if missing := want & formatCapabilities &^ hs.Capabilities; missing != 0 {
		return nil, fmt.Errorf("backend %q lacks capabilities %#x the client session uses", hs.ServerVersion, missing)
	}
	caps := (baseBackendCapabilities | want) & hs.Capabilities
	if cfg.DB != "" {
		caps |= mysql.CLIENT_CONNECT_WITH_DB
	}
	resp := &HandshakeResponse{
		Capabilities:  caps,
		MaxPacketSize: uint32(orDefault(cfg.MaxPacketSize, DefaultMaxPacketSize)),
		Collation:     BackendCollation(cfg.Collation),
		User:          cfg.User,
		DB:            cfg.DB,
		AuthPlugin:    NativePlugin,
		Attrs:         cfg.Attrs,
	}
	if cfg.TLS != nil {
		if hs.Capabilities&mysql.CLIENT_SSL == 0 {
			return nil, fmt.Errorf("backend %q does not offer TLS", hs.ServerVersion)
		}
		resp.Capabilities |= mysql.CLIENT_SSL
		if err := writeFlush(c, resp.AppendSSLRequest(nil)); err != nil {
			return nil, fmt.Errorf("send SSLRequest: %w", err)
		}
		tc := tls.Client(c.nc, cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		c.upgrade(tc)
	}
	resp.AuthResponse = NativeScramble(hs.Salt, cfg.Stage1)
	if err := writeFlush(c, resp.Append(nil)); err != nil {
		return nil, fmt.Errorf("send handshake response: %w", err)
	}
	info := &ServerInfo{
		ConnectionID:  hs.ConnectionID,
		ServerVersion: hs.ServerVersion,
		Capabilities:  resp.Capabilities,
		Collation:     resp.Collation,
		Salt:          hs.Salt,
	}
	if err := authResult(c, info, cfg.Stage1); err != nil {
		return nil, err
	}
	return info, nil
}

// authResult reads the server's verdict on a login or COM_CHANGE_USER,
// answering one switch to mysql_native_password, and records the status of
// the final OK in info.
func authResult(c *Conn, info *ServerInfo, stage1 []byte) error {
	for switches := 0; ; switches++ {
		p, err := c.ReadPacket()
		if err != nil {
			return fmt.Errorf("read auth result: %w", err)
		}
		switch {
		case len(p) == 0:
			return fmt.Errorf("%w: empty auth result", ErrMalformed)
		case p[0] == headerOK:
			ok, err := ParseOK(p, info.Capabilities)
			if err != nil {
				return err
			}
			info.Status = ok.Status
			return nil
		case p[0] == headerERR:
			e, err := ParseERR(p)
			if err != nil {
				return err
			}
			return fmt.Errorf("backend refused login: %w", e)
		case p[0] == headerEOF && switches == 0:
			plugin, salt, err := parseAuthSwitch(p)
			if err != nil {
				return err
			}
			if plugin != NativePlugin {
				return fmt.Errorf("%w: %s", ErrUnsupportedAuth, plugin)
			}
			if err := writeFlush(c, NativeScramble(salt, stage1)); err != nil {
				return fmt.Errorf("send auth switch response: %w", err)
			}
		default:
			return fmt.Errorf("%w: auth continuation 0x%02x", ErrUnsupportedAuth, p[0])
		}
	}
}

// ChangeUserLogin re-authenticates an idle backend connection as cfg.User with
// COM_CHANGE_USER, which also resets the session (variables, temporary
// tables, prepared statements) as COM_RESET_CONNECTION does. cfg.TLS and
// cfg.ClientCapabilities are ignored: the connection keeps what it
// negotiated. A refusal is a wrapped *Error, after which MariaDB has closed
// the connection.
func ChangeUserLogin(ctx context.Context, c *Conn, info *ServerInfo, cfg *LoginConfig) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer bindContext(ctx, c.nc)()
	cu := &ChangeUser{
		User:         cfg.User,
		AuthResponse: NativeScramble(info.Salt, cfg.Stage1),
		DB:           cfg.DB,
		Collation:    uint16(BackendCollation(cfg.Collation)),
		AuthPlugin:   NativePlugin,
		Attrs:        cfg.Attrs,
	}
	c.ResetSequence()
	if err := writeFlush(c, cu.Append(nil, info.Capabilities)); err != nil {
		return ctxErr(ctx, fmt.Errorf("send COM_CHANGE_USER: %w", err))
	}
	if err := authResult(c, info, cfg.Stage1); err != nil {
		return ctxErr(ctx, err)
	}
	info.Collation = uint8(cu.Collation)
	return nil
}
