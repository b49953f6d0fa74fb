package protocol

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testAuth struct {
	stage2  map[string][]byte
	blocked bool
}

func (a *testAuth) Admit(_ context.Context, ip netip.Addr) error {
	if a.blocked {
		return ErrHostBlocked(ip.String())
	}
	return nil
}

func (a *testAuth) Authenticate(_ context.Context, req *AuthRequest) ([]byte, error) {
	if s2, ok := a.stage2[req.User]; ok {
		if s1, ok := VerifyNative(req.Salt, req.AuthResponse, s2); ok {
			return s1, nil
		}
	}
	return nil, ErrAccessDenied(req.User, req.IP.String(), len(req.AuthResponse) > 0)
}

func newTestAuth() *testAuth {
	return &testAuth{stage2: map[string][]byte{
		"app": NativeStage2(NativeStage1("pw")),
		"bob": NativeStage2(NativeStage1("bob-pw")),
	}}
}

type acceptResult struct {
	conn   *Conn
	client *Client
	err    error
}

// serveOne accepts one connection on a loopback listener and runs Accept
// on it; the result arrives on the returned channel.
func serveOne(t *testing.T, ctx context.Context, cfg *AcceptConfig) (string, <-chan acceptResult) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan acceptResult, 1)
	go func() {
		defer ln.Close()
		nc, err := ln.Accept()
		if err != nil {
			out <- acceptResult{err: err}
			return
		}
		c, cl, err := Accept(ctx, nc, cfg)
		if err != nil {
			nc.Close()
		}
		out <- acceptResult{c, cl, err}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), out
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func selfSigned(t *testing.T) (*tls.Config, *tls.Config) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

func TestAcceptAndLoginRoundTrip(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	for _, useTLS := range []bool{false, true} {
		ctx := context.Background()
		cfg := &AcceptConfig{ServerVersion: "10.11.19-MariaDB", ConnectionID: 42, Authenticator: newTestAuth()}
		login := &LoginConfig{User: "app", Stage1: NativeStage1("pw"), DB: "shop", Collation: 255,
			ClientCapabilities: ServerCapabilities, Attrs: []Attr{{"_client_name", "maxproxy"}}}
		if useTLS {
			cfg.TLS, login.TLS = serverTLS, clientTLS
		}
		addr, res := serveOne(t, ctx, cfg)
		cc, info, err := Login(ctx, dial(t, addr), login)
		if err != nil {
			t.Fatal(err)
		}
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		if info.ConnectionID != 42 || info.ServerVersion != "5.5.5-10.11.19-MariaDB" {
			t.Fatalf("server info %+v", info)
		}
		cl := r.client
		if cl.User != "app" || cl.DB != "shop" || !bytes.Equal(cl.Stage1, NativeStage1("pw")) ||
			cl.Collation != 45 || !cl.DeprecateEOF() || len(cl.Attrs) != 1 || cl.Attrs[0].Value != "maxproxy" {
			t.Fatalf("client %+v", cl)
		}
		if cl.Capabilities&mysql.CLIENT_QUERY_ATTRIBUTES != 0 || cl.Capabilities&mysql.CLIENT_MULTI_STATEMENTS == 0 {
			t.Fatalf("caps %#x", cl.Capabilities)
		}
		if r.conn.IsTLS() != useTLS || cc.IsTLS() != useTLS {
			t.Fatalf("TLS: server %v client %v, want %v", r.conn.IsTLS(), cc.IsTLS(), useTLS)
		}
		// The connection phase is over: commands flow with fresh sequence ids.
		cc.ResetSequence()
		if err := cc.WritePacket([]byte{mysql.COM_PING}); err != nil || cc.Flush() != nil {
			t.Fatal(err)
		}
		p, err := r.conn.ReadCommand()
		if err != nil || !bytes.Equal(p, []byte{mysql.COM_PING}) {
			t.Fatalf("%x %v", p, err)
		}
		r.conn.Close()
	}
}

func TestLoginRefused(t *testing.T) {
	ctx := context.Background()
	addr, res := serveOne(t, ctx, &AcceptConfig{ServerVersion: "10.11", Authenticator: newTestAuth()})
	_, _, err := Login(ctx, dial(t, addr), &LoginConfig{User: "app", Stage1: NativeStage1("nope")})
	var me *Error
	if !errors.As(err, &me) || me.Code != ERAccessDenied || me.Message != "Access denied for user 'app'@'127.0.0.1' (using password: YES)" {
		t.Fatalf("client got %v", err)
	}
	if r := <-res; !errors.As(r.err, &me) || me.Code != ERAccessDenied {
		t.Fatalf("Accept returned %v", r.err)
	}
}

func TestAdmitRefusalReplacesGreeting(t *testing.T) {
	ctx := context.Background()
	auth := newTestAuth()
	auth.blocked = true
	addr, res := serveOne(t, ctx, &AcceptConfig{Authenticator: auth})
	_, _, err := Login(ctx, dial(t, addr), &LoginConfig{User: "app"})
	var me *Error
	if !errors.As(err, &me) || me.Code != ERHostBlocked {
		t.Fatalf("client got %v", err)
	}
	<-res
}

// rawClient drives the client side by hand for cases Login never produces.
func rawClient(t *testing.T, addr string) (*Conn, *InitialHandshake) {
	t.Helper()
	c := NewConn(dial(t, addr))
	p, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	hs, err := ParseInitialHandshake(p)
	if err != nil {
		t.Fatal(err)
	}
	return c, hs
}

func send(t *testing.T, c *Conn, p []byte) {
	t.Helper()
	if err := c.WritePacket(p); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestAuthSwitchToNativeAndEffectiveCaps(t *testing.T) {
	ctx := context.Background()
	addr, res := serveOne(t, ctx, &AcceptConfig{Authenticator: newTestAuth()})
	c, hs := rawClient(t, addr)
	if hs.Capabilities&mysql.CLIENT_SSL != 0 {
		t.Fatal("SSL offered without TLS config")
	}
	resp := &HandshakeResponse{
		Capabilities: ServerCapabilities | mysql.CLIENT_COMPRESS | mysql.CLIENT_QUERY_ATTRIBUTES,
		User:         "app", AuthResponse: []byte("sha2-scramble-bytes-not-native"), AuthPlugin: "caching_sha2_password",
	}
	send(t, c, resp.Append(nil))
	p, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	plugin, salt, err := parseAuthSwitch(p)
	if err != nil || plugin != NativePlugin || !bytes.Equal(salt, hs.Salt) {
		t.Fatalf("switch %q %q %v", plugin, salt, err)
	}
	send(t, c, NativeScramble(salt, NativeStage1("pw")))
	if p, err = c.ReadPacket(); err != nil || p[0] != headerOK {
		t.Fatalf("%x %v", p, err)
	}
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.conn.Close()
	if r.client.Capabilities&(mysql.CLIENT_COMPRESS|mysql.CLIENT_QUERY_ATTRIBUTES) != 0 {
		t.Fatalf("effective caps keep unoffered flags: %#x", r.client.Capabilities)
	}
}

func TestBadHandshakes(t *testing.T) {
	cases := map[string]func(hs *InitialHandshake) []byte{
		"garbage": func(*InitialHandshake) []byte { return []byte{1, 2, 3} },
		"ssl request without TLS": func(*InitialHandshake) []byte {
			return (&HandshakeResponse{Capabilities: mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SSL}).AppendSSLRequest(nil)
		},
		"ssl flag without upgrade": func(*InitialHandshake) []byte {
			return (&HandshakeResponse{Capabilities: ServerCapabilities | mysql.CLIENT_SSL, User: "app"}).Append(nil)
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			addr, res := serveOne(t, ctx, &AcceptConfig{Authenticator: newTestAuth()})
			c, hs := rawClient(t, addr)
			send(t, c, build(hs))
			p, err := c.ReadPacket()
			if err != nil {
				t.Fatal(err)
			}
			e, err := ParseERR(p)
			if err != nil || e.Code != ERHandshake {
				t.Fatalf("%v %v", e, err)
			}
			if r := <-res; r.err == nil {
				t.Fatal("Accept succeeded")
			}
		})
	}
}

func TestAcceptHonoursContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	addr, res := serveOne(t, ctx, &AcceptConfig{Authenticator: newTestAuth()})
	_ = dial(t, addr) // connects and never answers the greeting
	r := <-res
	if !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("got %v", r.err)
	}
}

func TestAcceptRefusesHugeHandshakePacket(t *testing.T) {
	ctx := context.Background()
	addr, res := serveOne(t, ctx, &AcceptConfig{Authenticator: newTestAuth()})
	c, _ := rawClient(t, addr)
	// Announce a 16 MiB packet; the proxy must refuse it without waiting
	// for (or buffering) the whole thing.
	_, _ = c.NetConn().Write([]byte{0xff, 0xff, 0xff, 1})
	_, _ = c.NetConn().Write(make([]byte, HandshakeMaxPacketSize+64<<10))
	if r := <-res; !errors.Is(r.err, ErrPacketTooLarge) {
		t.Fatalf("got %v", r.err)
	}
}

func TestAcceptChangeUser(t *testing.T) {
	ctx := context.Background()
	auth := newTestAuth()
	addr, res := serveOne(t, ctx, &AcceptConfig{Authenticator: auth})
	c, hs := rawClient(t, addr)
	caps := ServerCapabilities
	send(t, c, (&HandshakeResponse{Capabilities: caps, User: "app", AuthPlugin: NativePlugin,
		AuthResponse: NativeScramble(hs.Salt, NativeStage1("pw"))}).Append(nil))
	if p, err := c.ReadPacket(); err != nil || p[0] != headerOK {
		t.Fatalf("%x %v", p, err)
	}
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.conn.Close()

	// change sends cu and answers the auth switch, which must carry a salt
	// other than the greeting's, with pw.
	change := func(cu *ChangeUser, pw string) (*Client, error, []byte) {
		c.ResetSequence()
		send(t, c, cu.Append(nil, caps))
		type out struct {
			cl  *Client
			err error
		}
		done := make(chan out, 1)
		go func() {
			p, err := r.conn.ReadCommand()
			if err != nil {
				done <- out{nil, err}
				return
			}
			cl, err := AcceptChangeUser(ctx, r.conn, r.client, p, auth)
			done <- out{cl, err}
		}()
		p, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		plugin, salt, err := parseAuthSwitch(p)
		if err != nil || plugin != NativePlugin || bytes.Equal(salt, hs.Salt) || len(salt) != SaltLen {
			t.Fatalf("want an auth switch with a fresh salt, got %x (%v)", p, err)
		}
		send(t, c, NativeScramble(salt, NativeStage1(pw)))
		if p, err = c.ReadPacket(); err != nil {
			t.Fatal(err)
		}
		reply := append([]byte(nil), p...)
		o := <-done
		return o.cl, o.err, reply
	}
	// The reply in COM_CHANGE_USER itself answers the old salt; it is not
	// accepted on its own.
	cl, err, reply := change(&ChangeUser{User: "bob", DB: "shop", Collation: 33, AuthPlugin: NativePlugin,
		AuthResponse: NativeScramble(hs.Salt, NativeStage1("bob-pw"))}, "bob-pw")
	if err != nil || reply[0] != headerOK || cl.User != "bob" || cl.DB != "shop" || cl.Collation != 33 ||
		!bytes.Equal(cl.Stage1, NativeStage1("bob-pw")) || bytes.Equal(cl.Salt, hs.Salt) {
		t.Fatalf("change user: %+v %v %x", cl, err, reply)
	}
	r.client = cl
	_, err, reply = change(&ChangeUser{User: "bob", AuthPlugin: NativePlugin}, "wrong")
	var me *Error
	if !errors.As(err, &me) || me.Code != ERAccessDenied || reply[0] != headerERR {
		t.Fatalf("wrong password: %v %x", err, reply)
	}
	cl, err, _ = change(&ChangeUser{User: "app", AuthPlugin: "client_ed25519", AuthResponse: []byte("x")}, "pw")
	if err != nil || cl.User != "app" {
		t.Fatalf("change user from another plugin: %v", err)
	}
}
