package session

import (
	"fmt"
	"time"

	"github.com/maxproxy/maxproxy/proxy/backend"
	"github.com/maxproxy/maxproxy/proxy/protocol"
	"github.com/maxproxy/maxproxy/router/classify"
)

// recovery is what one statement's failed attempts have learnt.
type recovery struct {
	excluded serverSet // servers that failed this statement
	deadline time.Time // bound of the wait for a ready writer after 1047
	held     []byte    // a reader's 1047, answered if no other server can take the read
	resent   int       // times a BEGIN was sent again after a lost connection
}

// maxResend bounds how often a BEGIN is sent again after lost connections.
const maxResend = 2

// holdFor says which single-ERR replies to a statement of class c the
// session withholds from the client because it can recover from them:
//
//   - 1047 (a Galera node outside the primary component) to an autocommit
//     read with retry_failed_reads: another server takes the read;
//   - 1047 to any other statement outside a transaction with delayed_retry:
//     the node did not run it, so it waits for a writer that can;
//   - 1047, or an error with which the server ends the connection (1927
//     after a KILL, shutdown errors), inside a replayable transaction: the
//     transaction moves to the new writer, as when the connection fails;
//     the latter also to an autocommit read, which another server takes;
//   - a deadlock (1213, SQLSTATE 40001) inside a replayable transaction
//     with transaction_replay_retry_on_deadlock: the transaction, rolled
//     back by the server, is replayed.
func (s *Session) holdFor(c classify.Class, inTrx bool) holdMask {
	cfg := &s.svc.cfg
	switch {
	case s.fixed != nil:
		return 0 // readconnroute: the session has one server
	case inTrx:
		if !s.replayOn() || s.tlog.off {
			return 0
		}
		// A 1047 or a deadlock means the statement, even a COMMIT, did not
		// commit anything; a connection the server ends leaves a COMMIT's
		// outcome unknown (transaction_replay_safe_commit).
		h := holdNotReady
		if cfg.TransactionReplayRetryOnDeadlock {
			h |= holdDeadlock
		}
		if s.canReplay(c, 0) {
			h |= holdKilled
		}
		if c.Kind == classify.KindCommit && s.mk.pending != 0 {
			// A marked COMMIT's outcome is checked (commitcheck.go); after
			// a lost one, a deadlock on the replay's COMMIT may mean the
			// lost one committed after all.
			h |= holdKilled
			if s.mk.unresolved != 0 {
				h |= holdDeadlock
			}
		}
		return h
	case s.rs.InTransaction():
		return 0 // the transaction has no backend yet: its first statement
	case isRead(c) && cfg.RetryFailedReads:
		return holdNotReady | holdKilled
	case cfg.DelayedRetry:
		return holdNotReady
	}
	return 0
}

// recover handles a statement that failed on bc: its connection broke
// (err) or the reply was withheld (s.sum.held). It reports whether the
// statement must be routed again; otherwise the client has been answered
// (or the session must end with the returned error).
func (s *Session) recover(rec *recovery, bc *backendConn, c classify.Class, inTrx bool, res backend.Result, err error) (bool, error) {
	if err != nil {
		s.drop(bc, err)
		switch {
		case inTrx && c.Kind == classify.KindCommit && s.mk.pending != 0 && res.Forwarded == 0 && res.ClientErr == nil:
			return s.resolveCommit(bc.srv, true)
		case inTrx && s.canReplay(c, res.Forwarded):
			if rerr := s.replayTrx(bc.srv, true, nil); rerr != nil {
				_ = s.writeErr(errReplayFailed(rerr.Error()))
				return false, fmt.Errorf("transaction replay after losing %s: %w", bc.srv.Name, rerr)
			}
			return true, nil
		case s.canRetry(c, res):
			rec.excluded.add(s.svc.index(bc.srv))
			s.log.Info("retrying a read on another server", "failed", bc.srv.Name)
			return true, nil
		case c.Kind == classify.KindBegin && !s.rs.InTransaction() && res.Forwarded == 0 && res.ClientErr == nil && rec.resent < maxResend:
			// With no transaction open a BEGIN changes nothing: it starts
			// the transaction on a new connection (to the writer the
			// monitor names, waiting for one with delayed_retry).
			rec.resent++
			s.log.Info("starting the transaction again after a lost connection", "failed", bc.srv.Name)
			return true, nil
		case inTrx && isCommit(c) && res.Forwarded == 0 && res.ClientErr == nil:
			// Committed or not, the transaction is over: the client is told
			// the outcome is unknown, and the session goes on outside it.
			s.log.Warn("COMMIT interrupted; its outcome is unknown and it is not replayed", "server", bc.srv.Name)
			return false, s.commitLost(bc.srv.Name)
		}
		return false, s.lost(bc, res, inTrx, err)
	}
	held := append([]byte(nil), s.sum.held...)
	s.sum.held = nil
	code := uint16(held[1]) | uint16(held[2])<<8
	if isKilled(code) {
		// The server is closing the connection.
		s.drop(bc, fmt.Errorf("server ended the connection with error %d", code))
	}
	marked := inTrx && c.Kind == classify.KindCommit && (s.mk.pending != 0 || s.mk.unresolved != 0)
	switch {
	case marked && (isKilled(code) || (s.mk.unresolved != 0 && code != erWsrepNotReady)):
		// A marked COMMIT ended by the server, or a replayed one that
		// failed certification: check whether it (or the lost one before
		// it) committed.
		return s.resolveCommit(bc.srv, true)
	case inTrx && (code == erWsrepNotReady || isKilled(code)):
		// The node left the primary component, or the connection is gone:
		// the transaction went with it. A KILLed connection says nothing
		// about the server, which may stay the writer.
		if code == erWsrepNotReady {
			s.release(bc)
		}
		sameOK := code == protocol.ERConnectionKilled
		if rerr := s.replayTrx(bc.srv, sameOK, nil); rerr != nil {
			_ = s.writeErr(errReplayFailed(rerr.Error()))
			return false, fmt.Errorf("transaction replay after %s failed with %d: %w", bc.srv.Name, code, rerr)
		}
		return true, nil
	case inTrx:
		// Deadlock: the server rolled the transaction back; run it again
		// on the writer's live connection.
		s.log.Info("replaying a transaction after a deadlock", "server", bc.srv.Name)
		if rerr := s.replayTrx(bc.srv, true, bc); rerr != nil {
			s.log.Warn("transaction replay after a deadlock failed", "err", rerr)
			return false, s.sendHeld(held)
		}
		return true, nil
	case isRead(c) && s.svc.cfg.RetryFailedReads:
		rec.excluded.add(s.svc.index(bc.srv))
		rec.held = held
		s.log.Info("retrying a read refused with 1047 on another server", "refused", bc.srv.Name)
		return true, nil
	}
	// A write the node refused with 1047 was not run: wait for a writer
	// that is ready, within delayed_retry_timeout.
	if rec.deadline.IsZero() {
		rec.deadline = time.Now().Add(s.svc.cfg.DelayedRetryTimeout)
	}
	if !s.waitNewWriter(bc.srv, rec.deadline) {
		return false, s.sendHeld(held)
	}
	s.log.Info("re-routing a statement refused with 1047", "refused", bc.srv.Name)
	return true, nil
}

// sendHeld answers the client with a withheld ERR packet after all.
func (s *Session) sendHeld(p []byte) error {
	s.sum.start(nil, s.client, false, 0)
	s.sum.held = p
	if err := s.sum.release(); err != nil {
		return fmt.Errorf("send error to client: %w", err)
	}
	return nil
}

// waitNewWriter waits until deadline for the monitor to publish a writer
// other than refused, or any new view (which may name refused again, now
// ready). false: the deadline passed or the session ends.
func (s *Session) waitNewWriter(refused *Server, deadline time.Time) bool {
	if m := s.svc.topo.Load().Master(); m != nil && m.Name != refused.Name {
		return true
	}
	return s.waitTopology(deadline)
}

// mayReconnect checks, before the session's writes go to srv, that
// master_reconnection allows moving the session there: when the writer
// changed, or the connection to it was lost, outside a transaction.
func (s *Session) mayReconnect(srv *Server) error {
	old := s.writerSrv
	if old == nil || (old == srv && s.writer != nil) {
		return nil
	}
	what := fmt.Sprintf("the session's writer %s is no longer the master (now %s)", old.Name, srv.Name)
	if old == srv {
		what = fmt.Sprintf("the session's connection to the writer %s was lost", old.Name)
	}
	cfg := &s.svc.cfg
	switch {
	case !cfg.MasterReconnection:
		return errNoServer(cfg.Name, "master", what+" and master_reconnection is off")
	case s.hist.disabled:
		return errNoServer(cfg.Name, "master", what+"; disable_sescmd_history is on, so a new connection cannot be given the session's state")
	case cfg.StrictTmpTables && len(s.rs.TempTables()) > 0:
		return errNoServer(cfg.Name, "master", what+"; the session's temporary tables were on it and strict_tmp_tables is on")
	case !s.hist.replayable():
		return errNoServer(cfg.Name, "master", fmt.Sprintf("%s; the session command history exceeded max_sescmd_history (%d) with prune_sescmd_history off, so a new connection cannot be given the session's state", what, s.hist.max))
	}
	return nil
}

// setWriter records bc as the connection the session's writes go to.
func (s *Session) setWriter(bc *backendConn) {
	if s.writer == bc {
		return
	}
	if s.writerSrv != nil {
		s.log.Info("session moved to a new writer", "from", s.writerSrv.Name, "to", bc.srv.Name)
	}
	s.writer, s.writerSrv = bc, bc.srv
}
