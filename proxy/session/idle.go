package session

import (
	"context"
	"net"
	"sync"
	"time"
)

// Idle-session housekeeping: wait_timeout and connection_keepalive.
//
// Both are enforced by one sweeper per service, a goroutine that runs while
// the service has sessions and looks at each of them once per tick. The
// statement path pays nothing for it: no read deadline is set or cleared
// per command (the idle read has none), and setPhase keeps taking the one
// lock it always took.
//
//   - wait_timeout: a session idle (waiting for its client's next command)
//     for that long is ended: the sweeper sets a past read deadline on the
//     client socket and marks the session expired, so that a command that
//     raced with it is not run either. Like MariaDB, which resets the
//     connection without an error packet when its wait_timeout fires, the
//     proxy closes the client connection without one. A running statement
//     (LOAD DATA LOCAL INFILE uploads included) is never cut: the deadline
//     is only ever set on an idle session, which then ends.
//   - connection_keepalive (MaxScale's rule, its Session::tick): while the
//     client has been active within the interval, every backend connection
//     of the session not used for the interval gets a COM_PING, so that the
//     backend's wait_timeout or a firewall does not close the connections a
//     session keeps but seldom uses (a writer of a read-mostly client, a
//     second reader). A session whose client has been idle for longer is
//     not pinged: it would keep backend connections open on behalf of an
//     abandoned client for as long as its TCP connection lives. When such
//     a session's client comes back, its connections are pinged first (a
//     MaxScale worker sees the server's hang-up while idle; a blocked Go
//     read does not), and those that died meanwhile are closed quietly, so
//     the statement opens new ones as it would for any missing connection.
//
// The sweeper never touches a connection while the session goroutine may
// use it: it pings only after switching an idle session to phaseKeepalive
// under the session's lock, and the session goroutine, when its client's
// command arrives, waits in setPhase until the ping is over. A failed ping
// closes that backend connection (see release); its transaction, if one
// was open, is lost as it would be by any backend failure.

// sweeper runs the housekeeping of one service's sessions.
type sweeper struct {
	wait, keepalive time.Duration
	every           time.Duration
	ping            time.Duration // bound on one keepalive ping

	mu       sync.Mutex
	sessions map[*Session]struct{}
	stop     chan struct{} // nil while no goroutine runs
	done     chan struct{}
	buf      []*Session // the tick's copy of sessions, reused
}

// newSweeper returns nil when both timeouts are off: no goroutine at all.
func newSweeper(wait, keepalive, ping time.Duration) *sweeper {
	if wait <= 0 && keepalive <= 0 {
		return nil
	}
	return &sweeper{wait: wait, keepalive: keepalive, every: sweepEvery(wait, keepalive), ping: ping,
		sessions: map[*Session]struct{}{}}
}

// sweepEvery is the tick: a quarter of the shorter timeout, so that each is
// honoured within 25%, between 10 ms and MaxScale's one second.
func sweepEvery(wait, keepalive time.Duration) time.Duration {
	d := wait
	if d <= 0 || (keepalive > 0 && keepalive < d) {
		d = keepalive
	}
	return min(max(d/4, 10*time.Millisecond), time.Second)
}

// join adds a session, starting the goroutine for the first one.
func (sw *sweeper) join(s *Session) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.sessions[s] = struct{}{}
	if sw.stop == nil {
		sw.stop, sw.done = make(chan struct{}), make(chan struct{})
		go sw.run(sw.stop, sw.done)
	}
}

// leave removes a session that ended; after the last one the goroutine is
// stopped and waited for (a later join starts another).
func (sw *sweeper) leave(s *Session) {
	sw.mu.Lock()
	delete(sw.sessions, s)
	var stop, done chan struct{}
	if len(sw.sessions) == 0 {
		stop, done = sw.stop, sw.done
		sw.stop, sw.done = nil, nil
	}
	sw.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

func (sw *sweeper) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(sw.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			sw.mu.Lock()
			all := sw.buf[:0]
			for s := range sw.sessions {
				all = append(all, s)
			}
			sw.buf = all
			sw.mu.Unlock()
			for i, s := range all {
				sw.visit(s, now)
				all[i] = nil // do not keep ended sessions reachable
			}
		}
	}
}

// visit applies wait_timeout and connection_keepalive to one session.
func (sw *sweeper) visit(s *Session, now time.Time) {
	s.mu.Lock()
	if s.phase != phaseIdle || s.expired {
		s.mu.Unlock()
		return
	}
	idle := now.Sub(s.idleSince)
	if sw.wait > 0 && idle >= sw.wait {
		s.expired = true
		resetOnClose(s.nc)
		_ = s.nc.SetReadDeadline(pastDeadline)
		s.mu.Unlock()
		s.log.Info("closing a client connection idle beyond wait_timeout", "idle", idle.Round(time.Millisecond), "wait_timeout", sw.wait)
		return
	}
	if sw.keepalive <= 0 {
		s.mu.Unlock()
		return
	}
	if idle >= sw.keepalive {
		s.stale = true // checked when the client comes back
		s.mu.Unlock()
		return
	}
	if !s.keepaliveDue(now, sw.keepalive) {
		s.mu.Unlock()
		return
	}
	s.phase = phaseKeepalive
	s.mu.Unlock()

	s.pingIdle(now, sw.keepalive, sw.ping)

	s.mu.Lock()
	s.phase = phaseIdle
	s.handoff.Broadcast()
	s.mu.Unlock()
}

// resetOnClose makes closing nc send a TCP RST instead of a FIN (SO_LINGER
// 0), looking through wrappers that expose the connection they wrap with
// NetConn (as *tls.Conn does).
func resetOnClose(nc net.Conn) {
	for range 8 {
		if l, ok := nc.(interface{ SetLinger(sec int) error }); ok {
			_ = l.SetLinger(0)
			return
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		nc = u.NetConn()
	}
}

// keepaliveDue reports whether a backend connection has not been used for
// the interval. The caller holds the connections (idle session under mu,
// or the session goroutine).
func (s *Session) keepaliveDue(now time.Time, interval time.Duration) bool {
	for _, c := range s.conns {
		if now.Sub(c.used) >= interval {
			return true
		}
	}
	return false
}

// pingIdle sends COM_PING on every connection unused for the interval and
// closes those that fail. It runs on the sweeper during the handoff, or on
// the session goroutine before the command of a client back from a long
// idle period.
func (s *Session) pingIdle(now time.Time, interval, bound time.Duration) {
	for i := len(s.conns) - 1; i >= 0; i-- {
		c := s.conns[i]
		if now.Sub(c.used) < interval {
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, bound)
		err := c.bc.Ping(ctx)
		cancel()
		if err == nil {
			c.used = time.Now()
			continue
		}
		c.srv.metrics.Errors.Inc()
		s.log.Info("closing an idle backend connection that failed its keepalive ping", "server", c.srv.Name,
			"thread", c.bc.ConnectionID(), "idle", now.Sub(c.used).Round(time.Millisecond), "err", err)
		s.release(c) // removes s.conns[i]; the lower indexes stay valid
	}
}
