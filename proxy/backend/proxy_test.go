package backend_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/maxproxy/maxproxy/proxy/backend"
	"github.com/maxproxy/maxproxy/proxy/protocol"
)

// staticAuth accepts one user whose password hash it knows.
type staticAuth struct {
	user   string
	stage2 []byte
}

func (a staticAuth) Admit(context.Context, netip.Addr) error { return nil }

func (a staticAuth) Authenticate(_ context.Context, req *protocol.AuthRequest) ([]byte, error) {
	if req.User == a.user {
		if stage1, ok := protocol.VerifyNative(req.Salt, req.AuthResponse, a.stage2); ok {
			return stage1, nil
		}
	}
	return nil, protocol.ErrAccessDenied(req.User, req.IP.String(), len(req.AuthResponse) > 0)
}

// testProxy is the smallest useful proxy: it authenticates clients against
// a known hash, logs in to one backend with the recovered stage1, and
// relays every command. The session layer proper lives elsewhere.
type testProxy struct {
	t          testing.TB
	ln         net.Listener
	backend    string
	serverTLS  *tls.Config
	backendTLS *tls.Config
	auth       protocol.Authenticator
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	tlsClients atomic.Int32
	sessions   atomic.Int32
}

type proxyOpts struct {
	serverTLS, backendTLS bool
	// auth decides logins; nil means staticAuth for the app user.
	auth protocol.Authenticator
}

func startProxy(t testing.TB, opts proxyOpts) *testProxy {
	t.Helper()
	s := needServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testProxy{t: t, ln: ln, backend: s.Addr(), conns: map[net.Conn]struct{}{}, auth: opts.auth}
	if p.auth == nil {
		p.auth = staticAuth{user: appUser, stage2: protocol.NativeStage2(protocol.NativeStage1(appPass))}
	}
	if opts.serverTLS {
		p.serverTLS = &tls.Config{Certificates: []tls.Certificate{certs.proxyCert}}
	}
	if opts.backendTLS {
		p.backendTLS = &tls.Config{RootCAs: certs.pool, ServerName: "127.0.0.1"}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *testProxy) addr() string { return p.ln.Addr().String() }

func (p *testProxy) close() {
	p.cancel()
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *testProxy) serve() {
	defer p.wg.Done()
	for id := uint32(1); ; id++ {
		nc, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[nc] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() {
				p.mu.Lock()
				delete(p.conns, nc)
				p.mu.Unlock()
				nc.Close()
			}()
			if err := p.session(nc, id); err != nil && p.ctx.Err() == nil {
				p.t.Logf("session %d: %v", id, err)
			}
		}()
	}
}

func (p *testProxy) session(nc net.Conn, id uint32) error {
	hctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	cc, client, err := protocol.Accept(hctx, nc, &protocol.AcceptConfig{
		ServerVersion: "10.11.19-MariaDB-test", ConnectionID: id, TLS: p.serverTLS, Authenticator: p.auth,
	})
	cancel()
	if err != nil {
		return err
	}
	if cc.IsTLS() {
		p.tlsClients.Add(1)
	}
	be, err := backend.Dial(p.ctx, p.backend, 10*time.Second, &protocol.LoginConfig{
		User: client.User, Stage1: client.Stage1, DB: client.DB, Collation: client.Collation,
		ClientCapabilities: client.Capabilities, TLS: p.backendTLS,
	})
	if err != nil {
		var me *protocol.Error
		if !errors.As(err, &me) {
			me = protocol.ErrConnectionKilled()
		}
		_ = protocol.WriteError(cc, me, client.Capabilities)
		return err
	}
	defer be.Close()
	p.sessions.Add(1)
	for {
		cmd, err := cc.ReadCommand()
		if err != nil {
			return nil // client went away
		}
		if cmd[0] == mysql.COM_QUIT {
			return nil
		}
		res, err := be.Relay(p.ctx, cc, cmd)
		if errors.Is(err, protocol.ErrUnsupportedCommand) {
			if err := protocol.WriteError(cc, protocol.ErrUnknownCommand(), client.Capabilities); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if res.ClientErr != nil {
			return res.ClientErr
		}
	}
}
