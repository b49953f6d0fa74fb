package protocol

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Authenticator decides whether a client may log in. It is implemented by
// the account manager (package auth); tests use fakes.
//
// Errors of type *Error are sent to the client as they are; any other error
// is logged by the caller and the client sees ER_ACCESS_DENIED_ERROR.
type Authenticator interface {
	// Admit is called when a connection arrives, before the greeting. An
	// error (ER_HOST_IS_BLOCKED, ER_CON_COUNT_ERROR) replaces the greeting.
	Admit(ctx context.Context, ip netip.Addr) error
	// Authenticate verifies a mysql_native_password reply against the salt
	// and returns stage1 = SHA1(password), which logs in to backends (nil
	// for an account without password).
	Authenticate(ctx context.Context, req *AuthRequest) (stage1 []byte, err error)
}

// AuthRequest is what an Authenticator gets to decide on.
type AuthRequest struct {
	User         string
	IP           netip.Addr
	Salt         []byte
	AuthResponse []byte // mysql_native_password reply (empty: no password)
	DB           string // requested default database, may be empty
	ChangeUser   bool   // true for COM_CHANGE_USER
}

// AcceptConfig configures the server side of the connection phase.
type AcceptConfig struct {
	// ServerVersion is announced to clients; take it from a backend's
	// greeting so that clients enable the right features. See
	// AdvertisedVersion.
	ServerVersion string
	// ConnectionID is the id shown to the client (and used by KILL).
	ConnectionID uint32
	// Collation announced in the greeting; 0 means utf8mb4_general_ci.
	Collation uint8
	// TLS enables CLIENT_SSL. Clients may still connect without TLS.
	TLS *tls.Config
	// Authenticator must not be nil.
	Authenticator Authenticator
	// Rand is the source of the salt; nil means crypto/rand.
	Rand io.Reader
	// MaxPacketSize is the packet limit after login; 0 means
	// DefaultMaxPacketSize.
	MaxPacketSize int
}

// Client describes an authenticated client session.
type Client struct {
	User string
	DB   string
	// Capabilities are the effective flags: what the client asked for and
	// the proxy offered. The raw client flags are in Response.
	Capabilities uint32
	Collation    uint8
	Attrs        []Attr
	// Salt is the scramble of the greeting; COM_CHANGE_USER replies are
	// computed against it.
	Salt []byte
	// Stage1 is SHA1(password), the secret for backend logins (nil when the
	// account has no password).
	Stage1 []byte
	// MaxPacketSize the client announced.
	MaxPacketSize uint32
}

// DeprecateEOF reports whether the session uses OK packets instead of EOF.
func (c *Client) DeprecateEOF() bool { return c.Capabilities&mysql.CLIENT_DEPRECATE_EOF != 0 }

// errClientRefused wraps refusals after which an ERR packet was sent to the
// client.
var errClientRefused = errors.New("protocol: client refused")

// Accept runs the server side of the connection phase on nc: greeting,
// optional TLS upgrade, HandshakeResponse41, switch to
// mysql_native_password when the client proposed another plugin, the
// authenticator's decision, and OK or ERR. On success it returns the framed
// connection (read-ahead enabled) and the session description. When the
// client is refused, the returned error wraps the *Error sent to it.
//
// ctx bounds the whole exchange; its cancellation interrupts blocked I/O.
func Accept(ctx context.Context, nc net.Conn, cfg *AcceptConfig) (*Conn, *Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	defer bindContext(ctx, nc)()
	c := NewConn(nc)
	client, err := accept(ctx, c, cfg, remoteIP(nc))
	if err != nil {
		return nil, nil, ctxErr(ctx, err)
	}
	c.SetMaxPacketSize(orDefault(cfg.MaxPacketSize, DefaultMaxPacketSize))
	c.EnableReadAhead()
	return c, client, nil
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func accept(ctx context.Context, c *Conn, cfg *AcceptConfig, ip netip.Addr) (*Client, error) {
	if err := cfg.Authenticator.Admit(ctx, ip); err != nil {
		return nil, refuse(c, err, 0)
	}
	salt, err := newSalt(cfg.Rand)
	if err != nil {
		return nil, err
	}
	caps := ServerCapabilities
	if cfg.TLS != nil {
		caps |= mysql.CLIENT_SSL
	}
	collation := cfg.Collation
	if collation == 0 {
		collation = DefaultCollation
	}
	hs := &InitialHandshake{
		ServerVersion: AdvertisedVersion(cfg.ServerVersion),
		ConnectionID:  cfg.ConnectionID,
		Salt:          salt,
		Capabilities:  caps,
		Collation:     collation,
		Status:        mysql.SERVER_STATUS_AUTOCOMMIT,
		AuthPlugin:    NativePlugin,
	}
	if err := writeFlush(c, hs.Append(nil)); err != nil {
		return nil, fmt.Errorf("send greeting: %w", err)
	}
	p, err := c.ReadPacket()
	if err != nil {
		return nil, fmt.Errorf("read handshake response: %w", err)
	}
	if IsSSLRequest(p) {
		if cfg.TLS == nil {
			return nil, refuse(c, ErrHandshake(), caps)
		}
		tc := tls.Server(c.nc, cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		c.upgrade(tc)
		if p, err = c.ReadPacket(); err != nil {
			return nil, fmt.Errorf("read handshake response: %w", err)
		}
	}
	resp, err := ParseHandshakeResponse(p)
	if err != nil {
		_ = refuse(c, ErrHandshake(), caps)
		return nil, err
	}
	eff := resp.Capabilities & caps
	if resp.Capabilities&mysql.CLIENT_SSL != 0 && !c.IsTLS() {
		// The client claims TLS but never upgraded: MariaDB calls this a bad
		// handshake.
		return nil, refuse(c, ErrHandshake(), eff)
	}
	reply := resp.AuthResponse
	if resp.AuthPlugin != "" && resp.AuthPlugin != NativePlugin {
		if eff&mysql.CLIENT_PLUGIN_AUTH == 0 {
			return nil, refuse(c, ErrNotSupportedAuthMode(), eff)
		}
		if reply, err = authSwitch(c, salt); err != nil {
			return nil, err
		}
	} else if eff&mysql.CLIENT_SECURE_CONNECTION == 0 {
		// A 4.1 client without secure connection sends an old-style 8-byte
		// scramble that cannot be checked against a SHA1 hash.
		return nil, refuse(c, ErrNotSupportedAuthMode(), eff)
	}
	req := &AuthRequest{User: resp.User, IP: ip, Salt: salt, AuthResponse: reply, DB: resp.DB}
	stage1, err := cfg.Authenticator.Authenticate(ctx, req)
	if err != nil {
		return nil, refuse(c, err, eff)
	}
	ok := AppendOK(nil, OK{Status: mysql.SERVER_STATUS_AUTOCOMMIT}, eff)
	if err := writeFlush(c, ok); err != nil {
		return nil, fmt.Errorf("send OK: %w", err)
	}
	return &Client{
		User:          resp.User,
		DB:            resp.DB,
		Capabilities:  eff,
		Collation:     resp.Collation,
		Attrs:         resp.Attrs,
		Salt:          salt,
		Stage1:        stage1,
		MaxPacketSize: resp.MaxPacketSize,
	}, nil
}

// authSwitch asks the client to answer the salt with mysql_native_password.
func authSwitch(c *Conn, salt []byte) ([]byte, error) {
	if err := writeFlush(c, appendAuthSwitch(nil, NativePlugin, salt)); err != nil {
		return nil, fmt.Errorf("send auth switch: %w", err)
	}
	p, err := c.ReadPacket()
	if err != nil {
		return nil, fmt.Errorf("read auth switch response: %w", err)
	}
	return append([]byte(nil), p...), nil
}

// AcceptChangeUser authenticates a COM_CHANGE_USER payload read by the
// session loop (the sequence id of c continues from that packet) and
// answers the client with OK or ERR. On success it returns the new session
// description; on refusal the error wraps the *Error sent.
//
// Like MariaDB, it never accepts a second reply to the greeting's salt:
// clients with CLIENT_PLUGIN_AUTH get an auth switch carrying a fresh salt,
// so a captured COM_CHANGE_USER cannot be replayed.
func AcceptChangeUser(ctx context.Context, c *Conn, prev *Client, payload []byte, authn Authenticator) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer bindContext(ctx, c.nc)()
	cu, err := ParseChangeUser(payload, prev.Capabilities)
	if err != nil {
		_ = refuse(c, ErrHandshake(), prev.Capabilities)
		return nil, err
	}
	salt, reply := prev.Salt, cu.AuthResponse
	if prev.Capabilities&mysql.CLIENT_PLUGIN_AUTH != 0 {
		if salt, err = newSalt(nil); err != nil {
			return nil, err
		}
		if reply, err = authSwitch(c, salt); err != nil {
			return nil, ctxErr(ctx, err)
		}
	}
	req := &AuthRequest{User: cu.User, IP: remoteIP(c.nc), Salt: salt, AuthResponse: reply, DB: cu.DB, ChangeUser: true}
	stage1, err := authn.Authenticate(ctx, req)
	if err != nil {
		return nil, refuse(c, err, prev.Capabilities)
	}
	if err := writeFlush(c, AppendOK(nil, OK{Status: mysql.SERVER_STATUS_AUTOCOMMIT}, prev.Capabilities)); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("send OK: %w", err))
	}
	next := *prev
	next.User, next.DB, next.Stage1, next.Attrs, next.Salt = cu.User, cu.DB, stage1, cu.Attrs, salt
	if cu.Collation != 0 && cu.Collation < 256 {
		next.Collation = uint8(cu.Collation)
	}
	return &next, nil
}

// refuse sends err to the client as an ERR packet. Errors that are not
// *Error are reported to the client as ER_ACCESS_DENIED_ERROR-like generic
// refusals without leaking details, and returned for logging.
func refuse(c *Conn, err error, caps uint32) error {
	var me *Error
	if !errors.As(err, &me) {
		me = &Error{ERAccessDenied, "28000", "Access denied"}
	}
	if caps == 0 {
		caps = mysql.CLIENT_PROTOCOL_41
	}
	if werr := writeFlush(c, AppendERR(nil, me, caps)); werr != nil {
		return fmt.Errorf("%w: %w (and sending the error failed: %v)", errClientRefused, err, werr)
	}
	return fmt.Errorf("%w: %w", errClientRefused, err)
}

// WriteError sends e as the only reply of the current exchange and flushes.
// caps are the negotiated capabilities (0 before the handshake).
func WriteError(c *Conn, e *Error, caps uint32) error {
	if caps == 0 {
		caps = mysql.CLIENT_PROTOCOL_41
	}
	return writeFlush(c, AppendERR(nil, e, caps))
}

func writeFlush(c *Conn, payload []byte) error {
	if err := c.WritePacket(payload); err != nil {
		return err
	}
	return c.Flush()
}

// newSalt returns 20 printable, NUL-free bytes: some clients treat the
// scramble as a C string.
func newSalt(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	salt := make([]byte, SaltLen)
	if _, err := io.ReadFull(r, salt); err != nil {
		return nil, fmt.Errorf("generate salt: %w", err)
	}
	for i, b := range salt {
		salt[i] = '!' + b%('~'-'!'+1)
	}
	return salt, nil
}

func remoteIP(nc net.Conn) netip.Addr {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// bindContext makes blocking I/O on nc honour ctx: its deadline becomes the
// connection deadline and its cancellation unblocks pending reads and
// writes. The returned function undoes both.
func bindContext(ctx context.Context, nc net.Conn) func() {
	if d, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		_ = nc.SetDeadline(time.Time{})
	}
}

// ctxErr prefers the context's error when the context ended: an I/O error
// caused by our own deadline is noise.
func ctxErr(ctx context.Context, err error) error {
	if errors.Is(err, errClientRefused) {
		return err
	}
	return ContextError(ctx, err)
}

// ContextError returns err, or ctx's error wrapping err's text when err was
// caused by ctx ending: its cancellation, or its deadline (which a
// connection deadline can report a moment before ctx itself does).
func ContextError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	if d, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}
