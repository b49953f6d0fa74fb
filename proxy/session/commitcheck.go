package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/maxproxy/maxproxy/proxy/backend"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/proxy/protocol"
	"github.com/maxproxy/maxproxy/router"
	"github.com/maxproxy/maxproxy/router/classify"
)

// Commit check (transaction_replay_commit_check).
//
// A COMMIT whose reply is lost with its backend may or may not have
// committed. Instead of telling the client "outcome unknown" (1927), the
// session writes a marker row in the transaction just before forwarding
// its COMMIT: the row keyed by the session's random key gets a sequence
// number the session never used before. The row commits if and only if
// the transaction does. After a failover the session asks the new writer
// whether the row carries that number:
//
//   - present: the transaction committed; the client gets OK;
//   - absent: it did not, and never will (below); the transaction is
//     replayed on the new writer and committed again, with a new number.
//
// Why "absent" is final. The question is asked on a connection of its own
// with wsrep_sync_wait = 1, after the writer is known to be lost:
//
//   - Galera: a causal read waits for a sync point ordered in the group's
//     total order, and nothing can be ordered while a crashed member is
//     still in the view (every member must acknowledge), so the read runs
//     after the view change that removes the dead node. Virtual synchrony
//     guarantees that a write-set is delivered to every member of the new
//     primary view before that view change, or to none of them ever: what
//     the read does not see cannot commit later.
//   - maxnode (raft): the causal read is a ReadIndex, which a leader serves
//     only after committing an entry of its own term; by leader
//     completeness every entry that will ever commit from the old term is
//     in its log and committed by then.
//
// One race is left: a writer that was not dead (only the proxy's
// connection to it failed), or a maxnode follower whose forwarded proposal
// is still in flight, may commit the old transaction after the check. The
// marker closes it: every marked transaction of a session writes the same
// row, so certification lets at most one of two concurrent ones commit.
// The replay first reads the row with FOR UPDATE (a current read): when
// the old transaction has committed by then, the replay is rolled back and
// the client gets OK; when it commits later, one of the two fails
// certification, and a deadlock on the replayed COMMIT is checked the same
// way rather than reported.
//
// The check is skipped, and a lost COMMIT answered with 1927 as without
// it, when it cannot be made: no writer before transaction_replay_timeout,
// the table missing and not creatable, access denied (the client's user
// needs SELECT, INSERT, UPDATE, DELETE ON maxproxy.*). A session whose
// marker write fails that way stops writing markers.
//
// The session deletes its row when it ends outside a transaction (best
// effort: rows of sessions that end otherwise, or of a proxy that crashed,
// stay; they are a few bytes each and can be deleted at any time when no
// proxy runs).

const (
	markerSchemaDB = "CREATE DATABASE IF NOT EXISTS maxproxy"
	markerSchema   = "CREATE TABLE IF NOT EXISTS maxproxy.trx_marker (" +
		"id VARCHAR(64) NOT NULL PRIMARY KEY, " +
		"seq BIGINT UNSIGNED NOT NULL" +
		") ENGINE=InnoDB"
	// markerCausal makes the probe connection's reads wait for everything
	// the cluster had ordered before them.
	markerCausal = "SET SESSION wsrep_sync_wait = 1"
)

// MariaDB error numbers the commit check tells apart.
const (
	erNoSuchTable      = 1146 // ER_NO_SUCH_TABLE
	erBadDB            = 1049 // ER_BAD_DB_ERROR
	erLockWaitTimeout  = 1205 // ER_LOCK_WAIT_TIMEOUT; also a causal read that timed out
	erTooManyConns     = 1040 // ER_CON_COUNT_ERROR
	erQueryInterrupted = 1317 // ER_QUERY_INTERRUPTED
)

// commitMarker is one session's marker state.
type commitMarker struct {
	key string // random hex, the row's id; "" until first used
	seq uint64 // the last number written
	// pending is the number written in the open transaction, 0 when its
	// COMMIT is not marked.
	pending uint64
	// unresolved is the first number of a COMMIT whose outcome is not
	// known yet (lost, the transaction then replayed): a later marked
	// COMMIT of the same transaction is a replay of it.
	unresolved uint64
	created    bool // the session tried to create the table
	off        bool // the marker cannot be written here: no checks
	used       bool // a row may exist: delete it at the end
	sql        []byte
}

// markerKey is the session's row id: random, so that sessions of
// different proxy instances (and restarts) never share a row.
func (m *commitMarker) markerKey() string {
	if m.key == "" {
		var b [12]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		m.key = hex.EncodeToString(b[:])
	}
	return m.key
}

// The statements, built in one reused buffer. The key is hex digits, so
// quoting it is the same in every sql_mode.
func (m *commitMarker) stmt(parts ...string) string {
	b := m.sql[:0]
	for _, p := range parts {
		b = append(b, p...)
	}
	m.sql = b
	return string(b)
}

func (m *commitMarker) writeSQL(n uint64) string {
	v := strconv.FormatUint(n, 10)
	return m.stmt("INSERT INTO maxproxy.trx_marker (id, seq) VALUES ('", m.markerKey(), "', ", v,
		") ON DUPLICATE KEY UPDATE seq = ", v)
}

func (m *commitMarker) probeSQL(n uint64, lock bool) string {
	q := m.stmt("SELECT 1 FROM maxproxy.trx_marker WHERE id = '", m.markerKey(), "' AND seq >= ", strconv.FormatUint(n, 10))
	if lock {
		q += " FOR UPDATE"
	}
	return q
}

func (m *commitMarker) deleteSQL() string {
	return m.stmt("DELETE FROM maxproxy.trx_marker WHERE id = '", m.markerKey(), "'")
}

// markerStep is what a marker write's reply means for the COMMIT.
type markerStep uint8

const (
	markerWritten    markerStep = iota // go on with the COMMIT, checked
	markerCreate                       // the table is missing: create it, write again
	markerRolledBack                   // a deadlock rolled the transaction back: the COMMIT's answer
	markerSkip                         // cannot be written here: COMMIT unchecked
)

// markerWriteStep classifies the reply to the marker write: nil for OK,
// the server's error otherwise.
func markerWriteStep(pe *protocol.Error) markerStep {
	switch {
	case pe == nil:
		return markerWritten
	case pe.Code == erNoSuchTable || pe.Code == erBadDB:
		return markerCreate
	case pe.Code == erLockDeadlock || pe.State == "40001":
		return markerRolledBack
	}
	return markerSkip
}

// probeRetryable reports whether a server's refusal of the probe means
// "ask again, elsewhere or later" rather than "the check cannot be made
// here" (missing table, access denied, no wsrep_sync_wait).
func probeRetryable(code uint16) bool {
	switch code {
	case erWsrepNotReady, erLockWaitTimeout, erTooManyConns, erQueryInterrupted:
		return true
	}
	return isKilled(code)
}

// checkCommits reports whether the open transaction's COMMIT is to be
// marked: the commit check is on, the transaction wrote and can be
// replayed should the check find it did not commit.
func (s *Session) checkCommits() bool {
	return s.svc.cfg.TransactionReplayCommitCheck && s.replayOn() && !s.mk.off && !s.tlog.off && s.tlog.wrote
}

// markCommit runs before a COMMIT of a marked transaction on bc, the
// transaction's connection. answered: the client has its reply, err the
// session's error: OK when the earlier, lost COMMIT of a replayed
// transaction turned out to have committed after all, 1927 when that can
// no longer be read. held: a deadlock rolled the transaction back under
// the marker; the ERR packet is the COMMIT's answer. Otherwise a non-nil
// err is bc's failure: the COMMIT was never sent.
func (s *Session) markCommit(bc *backendConn) (answered bool, held []byte, err error) {
	m := &s.mk
	if m.unresolved != 0 {
		r, err := bc.bc.Exec(s.ctx, m.probeSQL(m.unresolved, true))
		var pe *protocol.Error
		switch {
		case errors.As(err, &pe) && markerWriteStep(pe) == markerRolledBack:
			// The replay was rolled back: check again, as after a
			// deadlock on its COMMIT.
			return false, protocol.AppendERR(nil, pe, s.info.Capabilities), nil
		case errors.As(err, &pe):
			// The row was readable moments ago (grant or table changed):
			// neither outcome can be told, so the replay is abandoned and
			// the client told the outcome is unknown, as without the check.
			s.markerOff(bc.srv, pe)
			s.rollbackReplay(bc)
			return true, nil, s.commitLost(bc.srv.Name)
		case err != nil:
			return false, nil, err
		case r.Rows > 0:
			s.log.Info("the interrupted COMMIT had committed after all; the replay is rolled back", "server", bc.srv.Name)
			s.rollbackReplay(bc)
			s.endTrx()
			return true, nil, s.writeOK()
		}
	}
	for {
		n := m.seq + 1
		_, err := bc.bc.Exec(s.ctx, m.writeSQL(n))
		var pe *protocol.Error
		if err != nil && !errors.As(err, &pe) {
			return false, nil, err
		}
		m.seq = n // never used again, whatever happened to it
		step := markerWriteStep(pe)
		if step == markerCreate && !m.created {
			m.created = true
			cerr := s.createMarkerTable(bc.srv)
			if cerr == nil {
				continue
			}
			s.markerOff(bc.srv, cerr)
			return false, nil, nil
		}
		switch step {
		case markerWritten:
			m.pending, m.used = n, true
		case markerRolledBack:
			return false, protocol.AppendERR(nil, pe, s.info.Capabilities), nil
		default:
			s.markerOff(bc.srv, pe)
		}
		return false, nil, nil
	}
}

// rollbackReplay abandons a replayed transaction on bc.
func (s *Session) rollbackReplay(bc *backendConn) {
	if _, err := bc.bc.Exec(s.ctx, "ROLLBACK"); err != nil {
		s.drop(bc, fmt.Errorf("rollback of a replay: %w", err))
	}
}

// markerOff stops this session's commit checks after the marker could not
// be written; the warning is rate-limited per service.
func (s *Session) markerOff(srv *Server, err error) {
	s.mk.off, s.mk.pending = true, 0
	now := time.Now().UnixNano()
	last := s.svc.markerWarned.Load()
	if now-last > int64(time.Minute) && s.svc.markerWarned.CompareAndSwap(last, now) {
		s.log.Warn("transaction_replay_commit_check: cannot write the commit marker; this session's COMMITs are not checked (grant SELECT, INSERT, UPDATE, DELETE ON maxproxy.* to the user)",
			"server", srv.Name, "user", s.info.User, "err", err)
		return
	}
	s.log.Debug("cannot write the commit marker", "server", srv.Name, "err", err)
}

// dialSide opens a connection of srv outside the session (no history),
// with the client's identity.
func (s *Session) dialSide(ctx context.Context, srv *Server) (*backend.Conn, error) {
	return backend.Dial(ctx, srv.Address, s.svc.connect, &protocol.LoginConfig{
		User:               s.info.User,
		Stage1:             s.info.Stage1,
		Collation:          s.info.Collation,
		ClientCapabilities: s.info.Capabilities,
		TLS:                srv.TLS,
		Attrs:              s.info.Attrs,
	})
}

// createMarkerTable creates maxproxy.trx_marker on a connection of its
// own: the session's is inside the transaction, where DDL would commit it.
func (s *Session) createMarkerTable(srv *Server) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.svc.connect+10*time.Second)
	defer cancel()
	b, err := s.dialSide(ctx, srv)
	if err != nil {
		return fmt.Errorf("connect to create the marker table: %w", err)
	}
	defer b.Close()
	for _, q := range []string{markerSchemaDB, markerSchema} {
		if _, err := b.Exec(ctx, q); err != nil {
			return fmt.Errorf("create the marker table: %w", err)
		}
	}
	s.log.Info("created maxproxy.trx_marker for transaction_replay_commit_check", "server", srv.Name)
	return nil
}

// errCannotCheck: the outcome of a lost COMMIT could not be checked.
var errCannotCheck = errors.New("the commit marker cannot be read")

// resolveCommit settles a marked COMMIT that got no reply from failed
// (sameOK: failed may be asked again at once, its connection, not the
// node, having failed). It reports whether the COMMIT must be routed
// again (the transaction was replayed), or answers the client.
func (s *Session) resolveCommit(failed *Server, sameOK bool) (bool, error) {
	m := &s.mk
	if m.unresolved == 0 {
		m.unresolved = m.pending
	}
	m.pending = 0
	start := time.Now()
	committed, err := s.probeMarker(failed, sameOK, m.unresolved, start.Add(s.replayTimeout()))
	switch {
	case err != nil:
		s.log.Warn("COMMIT interrupted and its outcome could not be checked; it is not replayed", "server", failed.Name, "err", err)
		return false, s.commitLost(failed.Name)
	case committed:
		s.log.Info("interrupted COMMIT had committed (marker found)", "server", failed.Name, "took", time.Since(start))
		if s.trx != nil {
			// A deadlock on a replayed COMMIT left a live connection.
			s.release(s.trx)
		}
		s.endTrx()
		return false, s.writeOK()
	}
	s.log.Info("interrupted COMMIT had not committed (no marker); replaying the transaction", "server", failed.Name, "took", time.Since(start))
	if rerr := s.replayTrx(failed, sameOK, nil); rerr != nil {
		_ = s.writeErr(errReplayFailed(rerr.Error()))
		return false, fmt.Errorf("transaction replay after a COMMIT lost on %s: %w", failed.Name, rerr)
	}
	return true, nil
}

// replayTimeout bounds the wait for a writer after a failure.
func (s *Session) replayTimeout() time.Duration {
	cfg := &s.svc.cfg
	if cfg.TransactionReplayTimeout > 0 {
		return cfg.TransactionReplayTimeout
	}
	return cfg.DelayedRetryTimeout * time.Duration(max(cfg.TransactionReplayAttempts, 1))
}

// probeMarker asks the writer the monitor names (not failed, unless
// sameOK; any after a new view) whether the marker has reached n, waiting
// until deadline for one that answers.
func (s *Session) probeMarker(failed *Server, sameOK bool, n uint64, deadline time.Time) (bool, error) {
	var lastErr error
	for {
		snap := s.svc.topo.Load()
		if m := snap.Master(); m != nil && (failed == nil || sameOK || m.Name != failed.Name) {
			srv := s.svc.byName[m.Name]
			if srv == nil {
				return false, fmt.Errorf("the monitor names server %q, which is not in the service", m.Name)
			}
			found, err := s.probeOn(srv, n, deadline)
			if err == nil {
				return found, nil
			}
			var pe *protocol.Error
			if errors.As(err, &pe) && !probeRetryable(pe.Code) {
				return false, fmt.Errorf("%w on %s: %w", errCannotCheck, srv.Name, err)
			}
			lastErr = fmt.Errorf("%s: %w", srv.Name, err)
			failed, sameOK = srv, false
		}
		if !s.waitTopology(deadline) {
			if lastErr == nil {
				lastErr = errors.New(reasonText("no writer", snap))
			}
			return false, fmt.Errorf("no writer answered before the timeout: %w", lastErr)
		}
		failed = nil // a new view: whoever it names
	}
}

// probeOn reads the marker on srv, on a connection of its own with causal
// reads.
func (s *Session) probeOn(srv *Server, n uint64, deadline time.Time) (bool, error) {
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
	b, err := s.dialSide(ctx, srv)
	if err != nil {
		return false, err
	}
	defer b.Close()
	if _, err := b.Exec(ctx, markerCausal); err != nil {
		return false, fmt.Errorf("causal read: %w", err)
	}
	r, err := b.Exec(ctx, s.mk.probeSQL(n, false))
	if err != nil {
		return false, err
	}
	return r.Rows > 0, nil
}

// commitLost ends a transaction whose COMMIT got no reply, with its
// outcome unknown: the client is told so and the session goes on outside
// it (nothing can silently continue the transaction elsewhere).
func (s *Session) commitLost(server string) error {
	s.endTrx()
	return s.writeErr(errCommitLost(server))
}

// endTrx forgets the open transaction after its COMMIT was settled
// without a reply from its backend.
func (s *Session) endTrx() {
	s.trx, s.trxLost = nil, ""
	s.tlog.reset()
	s.mk.pending, s.mk.unresolved = 0, 0
	s.rs.Advance(router.Request{Cmd: router.CmdQuery, Class: classify.Class{Kind: classify.KindCommit}},
		router.Decision{}, router.Reply{OK: true}, &s.svc.ropts)
}

// dropMarker deletes the session's marker row when it ends outside a
// transaction on a live writer connection (best effort).
func (s *Session) dropMarker() {
	if !s.mk.used || s.trx != nil || s.writer == nil || s.writer.bc.Broken() || s.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, time.Second)
	defer cancel()
	if _, err := s.writer.bc.Exec(ctx, s.mk.deleteSQL()); err != nil {
		s.log.Debug("could not delete the commit marker", "err", err)
	}
}

// markerClass is what the marker write counts as when its connection
// fails: a statement of the transaction, not its COMMIT, which was never
// sent.
var markerClass = classify.Class{Kind: classify.KindWrite}

// beforeCommit writes the marker before the COMMIT of a marked
// transaction on bc. again: the transaction moved (bc failed under the
// marker, nothing was committed), route the COMMIT again. answered: the
// client has its reply (err is the session's). held: a deadlock rolled
// the transaction back under the marker and the session recovers from it
// like from a deadlock on the COMMIT itself.
func (s *Session) beforeCommit(rec *recovery, bc *backendConn) (again, answered bool, held []byte, err error) {
	answered, held, err = s.markCommit(bc)
	switch {
	case answered:
		return false, true, nil, err
	case err != nil:
		again, err = s.recover(rec, bc, markerClass, true, backend.Result{}, err)
		return again, !again, nil, err
	case held != nil && !s.svc.cfg.TransactionReplayRetryOnDeadlock && s.mk.unresolved == 0:
		// What the COMMIT itself would have answered.
		return false, true, nil, s.sendHeld(held)
	}
	return false, false, held, nil
}

// relayUnlessHeld relays cmd, or, when the marker write already brought
// the statement's answer (held), makes that the withheld reply.
func (s *Session) relayUnlessHeld(bc *backendConn, cmd []byte, client backend.Client, t metrics.Target, held []byte) (backend.Result, error) {
	if held != nil {
		s.sum.held = held
		return backend.Result{}, nil
	}
	return s.relay(bc, cmd, client, t)
}

// commitAnswered records that a statement of class c got its reply from
// the server: a COMMIT's outcome is known, nothing is left to check.
func (s *Session) commitAnswered(c classify.Class) {
	if c.Kind == classify.KindCommit {
		s.mk.pending, s.mk.unresolved = 0, 0
	}
}
