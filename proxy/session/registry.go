package session

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// ErrShuttingDown is returned for connections that arrive after Shutdown.
var ErrShuttingDown = errors.New("session: proxy is shutting down")

// Registry hands out the proxy's connection ids and knows every live
// session, for KILL and for shutdown. One Registry serves all services of
// a process, so ids are unique proxy-wide as MaxScale's are.
type Registry struct {
	mu       sync.Mutex
	next     uint32
	sessions map[uint32]*Session
	draining bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{sessions: map[uint32]*Session{}}
}

func (r *Registry) add(svc *Service, nc net.Conn, cancel context.CancelFunc) (*Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining {
		return nil, ErrShuttingDown
	}
	// Skip 0 (not a valid thread id) and ids still in use after a wrap.
	for {
		r.next++
		if _, used := r.sessions[r.next]; r.next != 0 && !used {
			break
		}
	}
	s := newSession(svc, r.next, nc, cancel)
	r.sessions[s.id] = s
	svc.active.Add(1)
	svc.metrics.SessionsActive.Inc()
	return s, nil
}

func (r *Registry) remove(s *Session) {
	r.mu.Lock()
	delete(r.sessions, s.id)
	r.mu.Unlock()
	s.svc.active.Add(-1)
	s.svc.metrics.SessionsActive.Dec()
}

func (r *Registry) lookup(id uint32) *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[id]
}

// Len returns the number of live sessions.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// Shutdown refuses new sessions and asks every live one to end at its next
// command boundary: a session waiting for its client's next command ends
// now, one running a statement ends when the reply has been relayed.
func (r *Registry) Shutdown() {
	r.mu.Lock()
	r.draining = true
	all := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		s.drain()
	}
}

// CloseAll aborts every live session: running statements are interrupted
// and client connections closed. Use it when Shutdown's grace period ran out.
func (r *Registry) CloseAll() {
	r.mu.Lock()
	all := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		s.abort()
	}
}

// pastDeadline makes blocked reads return at once.
var pastDeadline = time.Unix(1, 0)
