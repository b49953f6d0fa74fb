package session

import (
	"errors"
	"slices"
	"time"
)

// Info is a point-in-time view of one session, for the admin API.
type Info struct {
	ID      uint32
	Service string
	User    string
	Remote  string
	// Database is the default database from the handshake, COM_INIT_DB or
	// COM_CHANGE_USER (a USE statement is not reflected).
	Database  string
	Connected time.Time
	// State is "Handshake", "Idle" or "Running"; IdleSince is set when
	// Idle.
	State         string
	IdleSince     time.Time
	InTransaction bool
	Backends      []BackendInfo
}

// BackendInfo is one backend connection of a session.
type BackendInfo struct {
	Server   string
	ThreadID uint32
}

var phaseNames = [...]string{"Handshake", "Idle", "Running", "Idle"}

func (s *Session) view() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := Info{
		ID:            s.id,
		Service:       s.svc.cfg.Name,
		User:          s.user,
		Remote:        s.nc.RemoteAddr().String(),
		Database:      s.shownDB,
		Connected:     s.connected,
		State:         phaseNames[s.phase],
		InTransaction: s.shownTrx,
		Backends:      make([]BackendInfo, len(s.threads)),
	}
	if s.phase == phaseIdle || s.phase == phaseKeepalive {
		in.IdleSince = s.idleSince
	}
	for i, t := range s.threads {
		in.Backends[i] = BackendInfo{Server: t.srv.Name, ThreadID: t.id}
	}
	return in
}

// Sessions returns a view of every live session, in id order.
func (r *Registry) Sessions() []Info {
	r.mu.Lock()
	all := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		all = append(all, s)
	}
	r.mu.Unlock()
	out := make([]Info, len(all))
	for i, s := range all {
		out[i] = s.view()
	}
	slices.SortFunc(out, func(a, b Info) int { return int(int64(a.ID) - int64(b.ID)) })
	return out
}

// ErrNoSession is returned by Kill for an id no live session has.
var ErrNoSession = errors.New("session: no such session")

// Kill ends session id as KILL CONNECTION would from an administrator: its
// running statement is interrupted and its connections closed.
func (r *Registry) Kill(id uint32) error {
	s := r.lookup(id)
	if s == nil {
		return ErrNoSession
	}
	s.abort()
	return nil
}

// Stats are a service's or server's connection counters.
type Stats struct {
	Current int64  // open now
	Total   uint64 // opened since start
}

// Stats counts the service's client sessions.
func (s *Service) Stats() Stats {
	return Stats{Current: s.active.Load(), Total: s.total.Load()}
}

// Stats counts the backend connections the service's sessions have to the
// server.
func (s *Server) Stats() Stats {
	return Stats{Current: s.conns.Load(), Total: s.opened.Load()}
}
