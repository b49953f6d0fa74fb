package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maxproxy/maxproxy/config"
)

// Timeouts of the HTTP server: generous for an operator's requests, short
// enough that a stuck or slow client cannot hold a connection for long.
const (
	readHeaderTimeout = 10 * time.Second
	requestTimeout    = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// shutdownGrace bounds how long Serve waits for requests in flight when
	// its context ends.
	shutdownGrace = 5 * time.Second
)

// Server is the admin REST API. Create it with New, run it with Serve or
// ListenAndServe, stop it by cancelling Serve's context or with Shutdown.
type Server struct {
	listen string
	rt     Runtime
	log    *slog.Logger
	tls    *tls.Config
	http   *http.Server
	creds  atomic.Pointer[credentials]

	mu   sync.Mutex
	addr net.Addr // set once serving; nil before
}

// New builds the API for cfg over rt. It loads the TLS key pair if cfg sets
// one, and refuses the default password on a non-loopback cfg.Listen.
func New(cfg config.Admin, rt Runtime, logger *slog.Logger) (*Server, error) {
	if rt == nil {
		return nil, errors.New("admin: nil runtime")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Refusals come before hashing the password, which costs bcrypt's time.
	if config.AdminPasswordIsDefault(cfg.Password) && !loopbackHost(cfg.Listen) {
		return nil, fmt.Errorf("%w (listen = %q)", errDefaultPassword, cfg.Listen)
	}
	s := &Server{listen: cfg.Listen, rt: rt, log: logger}
	switch {
	case cfg.TLSCert != "" && cfg.TLSKey != "":
		pair, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("admin: load TLS key pair: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	case cfg.TLSCert != "" || cfg.TLSKey != "":
		return nil, errors.New("admin: tls_cert and tls_key must be set together")
	}
	creds, err := newCredentials(cfg.User, cfg.Password)
	if err != nil {
		return nil, err
	}
	s.creds.Store(creds)
	s.http = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       requestTimeout,
		WriteTimeout:      requestTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// loopbackHost reports whether the host of a host:port is a loopback
// address or "localhost".
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SetCredentials replaces the accepted user and password, for a reload of
// admin.user and admin.password. It refuses the default password while the
// API listens on a non-loopback address.
func (s *Server) SetCredentials(user, password string) error {
	if config.AdminPasswordIsDefault(password) {
		if addr := s.Addr(); addr != nil && !isLoopback(addr) {
			return fmt.Errorf("%w (listening on %s)", errDefaultPassword, addr)
		} else if addr == nil && !loopbackHost(s.listen) {
			return fmt.Errorf("%w (listen = %q)", errDefaultPassword, s.listen)
		}
	}
	c, err := newCredentials(user, password)
	if err != nil {
		return err
	}
	s.creds.Store(c)
	return nil
}

// Handler returns the API's HTTP handler, authentication included, for
// embedding in another server and for tests.
func (s *Server) Handler() http.Handler { return s.http.Handler }

// Addr returns the address being served, nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// ListenAndServe binds the configured address and serves it (see Serve).
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.listen)
	if err != nil {
		return fmt.Errorf("admin: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve answers requests on ln until ctx ends or Shutdown is called, and
// returns nil after a clean stop. When ctx ends it waits up to a few seconds
// for requests in flight. Serve closes ln. It refuses a non-loopback ln
// while the password is the default one.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := checkExposure(ln.Addr(), s.creds.Load()); err != nil {
		ln.Close()
		return err
	}
	s.mu.Lock()
	if s.addr != nil {
		s.mu.Unlock()
		ln.Close()
		return errors.New("admin: Serve called twice")
	}
	s.addr = ln.Addr()
	s.mu.Unlock()
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.http.BaseContext = func(net.Listener) context.Context { return ctx }

	stopped := make(chan error, 1)
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		stopped <- s.Shutdown(sctx)
	})
	s.log.Info("admin API listening", "address", s.addr.String(), "tls", s.tls != nil)
	err := s.http.Serve(ln)
	if !stop() {
		// The context ended and the shutdown func is running: wait for it so
		// that no request outlives Serve.
		if serr := <-stopped; serr != nil {
			s.log.Warn("admin API shutdown", "err", serr)
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("admin: serve: %w", err)
}

// Shutdown stops accepting, waits for requests in flight until ctx ends and
// closes every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
		return fmt.Errorf("admin: shutdown: %w", err)
	}
	return nil
}
