package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server closed")

// Config configures a Server.
type Config struct {
	Engine Engine
	Logger *slog.Logger
	// Version is the server version clients see, e.g. "10.11.99-MariaDB-maxnode". The handshake sends it
	// behind MariaDB's "5.5.5-" prefix.
	Version string
	// MaxConnections is max_connections; one more connection is admitted for accounts with KillAny
	// (SUPER), as MariaDB does.
	MaxConnections int
	// MaxAllowedPacket bounds the size of one client command.
	MaxAllowedPacket int
	// MaxPreparedStmts bounds prepared statements across all connections (max_prepared_stmt_count).
	MaxPreparedStmts int
	// IdleTimeout closes a connection that sends no command for this long (wait_timeout).
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to a client, so one that stops reading cannot hold its session,
	// transaction and locks forever (net_write_timeout).
	WriteTimeout time.Duration
}

// Defaults for zero Config fields.
const (
	defaultMaxConnections   = 151
	defaultMaxAllowedPacket = 64 << 20
	defaultMaxPreparedStmts = 16382
	defaultIdleTimeout      = 8 * time.Hour
	defaultWriteTimeout     = 60 * time.Second
)

// Server accepts MySQL protocol connections and runs each in its own goroutine.
type Server struct {
	cfg     Config
	log     *slog.Logger
	started time.Time

	mu        sync.Mutex
	conns     map[uint32]*conn
	lastID    uint32
	closing   bool
	listeners map[net.Listener]struct{}
	wg        sync.WaitGroup

	questions atomic.Uint64
	prepared  atomic.Int64
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("server: Config.Engine is nil")
	}
	if cfg.Version == "" {
		return nil, errors.New("server: Config.Version is empty")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = defaultMaxConnections
	}
	if cfg.MaxAllowedPacket <= 0 {
		cfg.MaxAllowedPacket = defaultMaxAllowedPacket
	}
	if cfg.MaxPreparedStmts <= 0 {
		cfg.MaxPreparedStmts = defaultMaxPreparedStmts
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	return &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		started:   time.Now(),
		conns:     make(map[uint32]*conn),
		listeners: make(map[net.Listener]struct{}),
	}, nil
}

// Serve accepts connections on ln until Shutdown, then returns ErrServerClosed. It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("server: accept: %w", err)
			}
			// Running out of file descriptors and similar conditions pass: back off instead of
			// spinning or giving up on every client.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed, retrying", "err", err, "in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.startConn(nc)
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// startConn registers nc under a fresh connection id and serves it.
func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	overLimit := len(s.conns) > s.cfg.MaxConnections // the one extra slot is for SUPER, checked after login
	id := s.allocIDLocked()
	c := newConn(s, id, nc)
	if !overLimit {
		s.conns[id] = c
	}
	s.wg.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		if overLimit {
			c.refuse(newError(erConCount, "08004", "Too many connections"))
			return
		}
		defer s.removeConn(c)
		c.serve()
	}()
}

// allocIDLocked returns the next connection id: a process-wide counter that skips 0 and ids in use
// when it wraps, so CONNECTION_ID() and KILL always name one connection.
func (s *Server) allocIDLocked() uint32 {
	for {
		s.lastID++
		if s.lastID == 0 {
			continue
		}
		if _, used := s.conns[s.lastID]; !used {
			return s.lastID
		}
	}
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	if s.conns[c.id] == c {
		delete(s.conns, c.id)
	}
	s.mu.Unlock()
}

// overMaxConnections reports whether a non-SUPER login must be refused.
func (s *Server) overMaxConnections() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) > s.cfg.MaxConnections
}

// kill implements KILL [QUERY] id on behalf of killer.
func (s *Server) kill(killer *conn, id uint64, query bool) error {
	s.mu.Lock()
	target := s.conns[uint32(id)]
	s.mu.Unlock()
	if target == nil || id > 1<<32-1 {
		return newError(erNoSuchThread, "HY000", "Unknown thread id: %d", id)
	}
	if target != killer && target.userName() != killer.userName() && !killer.acct.KillAny {
		return newError(erKillDenied, "HY000", "You are not owner of thread %d", id)
	}
	if target == killer {
		// The killer is mid-command on its own goroutine: it answers, then its loop ends.
		if !query {
			killer.mu.Lock()
			killer.killed = true
			killer.mu.Unlock()
		}
		return nil
	}
	target.kill(query)
	return nil
}

// Shutdown stops accepting, closes idle connections, lets running statements finish until ctx is done,
// then interrupts what is left and waits for every connection goroutine. Sessions are closed (rolled
// back) by their goroutines.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.beginShutdown()
	}

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for _, c := range s.conns {
		c.kill(false)
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// ConnCount is the number of open client connections.
func (s *Server) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
