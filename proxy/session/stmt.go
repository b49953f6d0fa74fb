package session

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/maxproxy/maxproxy/proxy/backend"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/router"
	"github.com/maxproxy/maxproxy/router/classify"
)

// Binary prepared statements.
//
// COM_STMT_PREPARE runs on the writer; the client gets an id of the
// session's own, and each backend's id is kept per connection. EXECUTE is
// routed by the class of the prepared text like a COM_QUERY of it would
// be; a backend that has not prepared the statement yet prepares it
// lazily, just before the EXECUTE (our choice over MaxScale's "prepare
// everywhere": sessions that never read from a replica pay nothing).
// Parameter types, which clients send only with the first EXECUTE after
// binding, are remembered and injected into the first EXECUTE each other
// backend sees. FETCH follows the backend of the last EXECUTE, RESET and
// CLOSE go to every backend that has the statement, and SEND_LONG_DATA
// pins the next EXECUTE to the backend that received the data.

// lastPrepared is the statement id MariaDB reads as "the statement
// prepared last" (used by pipelining connectors).
const lastPrepared = 0xFFFFFFFF

type stmt struct {
	prepare  []byte // the COM_STMT_PREPARE payload, for lazy prepares
	class    classify.Class
	params   uint16
	on       []*stmtOn
	types    []byte // the parameter types the client sent last
	typesVer uint32
	last     *backendConn // backend of the last EXECUTE
	pinned   *backendConn // backend that received SEND_LONG_DATA
	// cursor: the last EXECUTE opened a cursor on last, which FETCH may
	// still read until the statement is executed again, reset or closed.
	cursor bool
}

// stmtOn is the statement as prepared on one backend connection.
type stmtOn struct {
	bc       *backendConn
	id       uint32
	typesVer uint32 // version of types this backend has been sent
}

func (st *stmt) onConn(bc *backendConn) *stmtOn {
	for _, o := range st.on {
		if o.bc == bc {
			return o
		}
	}
	return nil
}

// forget drops what the statement knows about a closed connection.
func (st *stmt) forget(bc *backendConn) {
	for i, o := range st.on {
		if o.bc == bc {
			st.on = append(st.on[:i], st.on[i+1:]...)
			break
		}
	}
	if st.last == bc {
		st.last = nil
	}
	if st.pinned == bc {
		st.pinned = nil
	}
}

// idRewriter passes a COM_STMT_PREPARE reply to the client with the
// backend's statement id replaced by the session's.
type idRewriter struct {
	backend.Client
	id   uint32
	done bool
	buf  *[]byte
}

func (w *idRewriter) WritePacket(p []byte) error {
	if w.done || len(p) < 5 || p[0] != 0 {
		w.done = true
		return w.Client.WritePacket(p)
	}
	w.done = true
	b := append((*w.buf)[:0], p...)
	binary.LittleEndian.PutUint32(b[1:], w.id)
	*w.buf = b
	return w.Client.WritePacket(b)
}

func (s *Session) stmtID(p []byte) (uint32, *stmt) {
	if len(p) < 5 {
		return 0, nil
	}
	id := binary.LittleEndian.Uint32(p[1:])
	if id == lastPrepared {
		id = s.lastStmt
	}
	return id, s.stmts[id]
}

func (s *Session) prepare(p []byte) error {
	c, _, buf := s.svc.cls.ClassifyBuf(s.clsBuf[:0], p[1:])
	if cap(buf) <= maxKeptBuffer {
		s.clsBuf = buf
	}
	// The writer (or the transaction's backend) prepares first; without a
	// writer a read can still be prepared on a reader.
	d, bc, err := s.pick(router.Request{Cmd: router.CmdOther}, 0)
	if err != nil && isRead(c) {
		d, bc, err = s.pick(router.Request{Cmd: router.CmdQuery, Class: c}, 0)
	}
	if err == nil && bc == nil {
		err = errNoServer(s.svc.cfg.Name, "server", "no backend to prepare the statement on")
	}
	if err != nil {
		return s.writeErr(err)
	}
	for {
		s.nextStmt++
		if _, used := s.stmts[s.nextStmt]; s.nextStmt != 0 && s.nextStmt != lastPrepared && !used {
			break
		}
	}
	id := s.nextStmt
	w := &idRewriter{Client: s.client, id: id, buf: &s.scratch}
	res, err := s.relay(bc, p, w, metricTarget(d))
	if err != nil && res.Forwarded == 0 && res.ClientErr == nil {
		// A PREPARE changes nothing on the server: run it again on the
		// transaction's new backend (after a replay) or the writer now.
		inTrx := s.rs.InTransaction() && s.trx == bc
		s.drop(bc, err)
		if inTrx {
			// The prepared text does not matter (preparing a COMMIT commits
			// nothing): only whether the transaction is replayable.
			if !s.canReplay(classify.Class{}, 0) {
				return s.lost(bc, res, true, err)
			}
			if rerr := s.replayTrx(bc.srv, true, nil); rerr != nil {
				_ = s.writeErr(errReplayFailed(rerr.Error()))
				return fmt.Errorf("transaction replay after losing %s: %w", bc.srv.Name, rerr)
			}
		}
		s.log.Info("preparing again after a lost connection", "failed", bc.srv.Name)
		if d, bc, err = s.pick(router.Request{Cmd: router.CmdOther}, 0); err != nil {
			return s.writeErr(err)
		}
		res, err = s.relay(bc, p, w, metricTarget(d))
	}
	if err != nil {
		s.drop(bc, err)
		return s.lost(bc, res, s.rs.InTransaction() && s.trx == bc, err)
	}
	if r := res.Reply; !r.IsErr {
		if s.stmts == nil {
			s.stmts = map[uint32]*stmt{}
		}
		s.stmts[id] = &stmt{
			prepare: append([]byte(nil), p...),
			class:   c,
			params:  r.NumParams,
			on:      []*stmtOn{{bc: bc, id: r.StmtID}},
		}
		s.lastStmt = id
	}
	s.afterReply(bc, router.Request{Cmd: router.CmdStmtPrepare, Class: c, StmtID: id}, d, res.Reply)
	return res.ClientErr
}

// ensurePrepared returns the statement on bc, preparing it there first when
// needed. A backend failure is returned as is; a refusal as *protocol.Error.
func (s *Session) ensurePrepared(st *stmt, bc *backendConn) (*stmtOn, bool, error) {
	if o := st.onConn(bc); o != nil {
		return o, false, nil
	}
	res, err := s.relay(bc, st.prepare, discard{}, metrics.TargetAll)
	if err != nil {
		return nil, true, err
	}
	if res.Reply.IsErr {
		return nil, false, res.Reply.Error()
	}
	o := &stmtOn{bc: bc, id: res.Reply.StmtID}
	st.on = append(st.on, o)
	return o, false, nil
}

// rewriteExecute points a COM_STMT_EXECUTE at the backend's statement id
// and, when this backend has not seen the current parameter types, adds
// them (new-params-bound flag and types) to the packet.
func (s *Session) rewriteExecute(p []byte, st *stmt, o *stmtOn) []byte {
	binary.LittleEndian.PutUint32(p[1:], o.id)
	if st.params == 0 {
		return p
	}
	pos := 10 + (int(st.params)+7)/8
	if len(p) <= pos {
		return p // malformed: let the server answer it
	}
	if p[pos] == 1 {
		n := 2 * int(st.params)
		if len(p) >= pos+1+n && !bytes.Equal(st.types, p[pos+1:pos+1+n]) {
			st.types = append(st.types[:0], p[pos+1:pos+1+n]...)
			st.typesVer++
		}
		o.typesVer = st.typesVer
		return p
	}
	if o.typesVer == st.typesVer || st.types == nil {
		return p
	}
	out := append(s.scratch[:0], p[:pos]...)
	out = append(out, 1)
	out = append(out, st.types...)
	out = append(out, p[pos+1:]...)
	s.scratch = out
	o.typesVer = st.typesVer
	return out
}

func (s *Session) execute(p []byte) error {
	id, st := s.stmtID(p)
	if st == nil || len(p) < 10 {
		return s.writeErr(errUnknownStmt(id, "mysqld_stmt_execute"))
	}
	req := router.Request{Cmd: router.CmdStmtExecute, StmtID: id}
	var rec recovery
	for {
		var (
			d   router.Decision
			bc  *backendConn
			err error
		)
		if st.pinned != nil {
			bc = st.pinned
			d = router.Decision{Target: router.TargetPrevious, Server: bc.srv.Name}
		} else if d, bc, err = s.pick(req, rec.excluded); err != nil {
			if rec.held != nil {
				return s.sendHeld(rec.held)
			}
			return s.writeErr(err)
		}
		if bc == nil || s.needsSync(d, bc) {
			// A statement for every backend (a prepared SET, or a SELECT
			// assigning user variables) runs on the writer (documented
			// limitation), and so does a read that would have to wait for
			// the session's writes (causal_reads): a binary EXECUTE cannot
			// carry the SET STATEMENT prefix.
			if d, bc, err = s.pick(router.Request{Cmd: router.CmdOther}, rec.excluded); err != nil {
				return s.writeErr(err)
			}
		}
		inTrx := s.rs.InTransaction() && s.trx == bc
		o, broken, err := s.ensurePrepared(st, bc)
		var res backend.Result
		hashed := s.hashReply(st.class)
		if err == nil {
			var held []byte
			if inTrx && st.class.Kind == classify.KindCommit && s.checkCommits() {
				again, answered, h, merr := s.beforeCommit(&rec, bc)
				switch {
				case again:
					continue
				case answered:
					return merr
				}
				held = h
			}
			// The log keeps the client's form of the EXECUTE (its id, the
			// types as the client sent them): rewriteExecute changes p.
			if hashed {
				s.loggedExecute(p, st)
			}
			client := s.sum.start(bc, s.client, hashed, s.holdFor(st.class, inTrx))
			res, err = s.relayUnlessHeld(bc, s.rewriteExecute(p, st, o), client, metricTarget(d), held)
			broken = err != nil
		} else if !broken {
			return s.writeErr(err)
		}
		if err == nil && s.sum.held == nil {
			started := s.trx == nil
			s.commitAnswered(st.class)
			st.last, st.pinned, st.cursor = bc, nil, res.Reply.CursorOpen
			s.afterReply(bc, req, d, res.Reply)
			s.causal(st.class, d, bc, res.Reply)
			s.logStmt(s.replayBuf, st.prepare, st.class, started, hashed)
			if res.Reply.CursorOpen {
				s.stopReplay()
			}
			return res.ClientErr
		}
		again, err := s.recover(&rec, bc, st.class, inTrx, res, err)
		if !again {
			return err
		}
	}
}

// fetch reads rows of the cursor the last EXECUTE opened.
func (s *Session) fetch(p []byte) error {
	id, st := s.stmtID(p)
	if st == nil || st.last == nil {
		return s.writeErr(errUnknownStmt(id, "mysqld_stmt_fetch"))
	}
	bc := st.last
	binary.LittleEndian.PutUint32(p[1:], st.onConn(bc).id)
	res, err := s.relay(bc, p, s.client, metrics.TargetPrevious)
	if err != nil {
		s.drop(bc, err)
		return s.lost(bc, res, s.rs.InTransaction(), err)
	}
	d := router.Decision{Target: router.TargetPrevious, Server: bc.srv.Name}
	s.afterReply(bc, router.Request{Cmd: router.CmdStmtFetch, StmtID: id}, d, res.Reply)
	return res.ClientErr
}

// resetStmt resets the statement on every backend that has it; the client
// gets the reply of the last EXECUTE's backend (or the first).
func (s *Session) resetStmt(p []byte) error {
	id, st := s.stmtID(p)
	if st == nil || len(st.on) == 0 {
		return s.writeErr(errUnknownStmt(id, "mysqld_stmt_reset"))
	}
	st.pinned, st.cursor = nil, false
	primary := st.last
	if primary == nil {
		primary = st.on[0].bc
	}
	var clientErr error
	answered := false
	for _, o := range append([]*stmtOn(nil), st.on...) {
		binary.LittleEndian.PutUint32(p[1:], o.id)
		var client backend.Client = discard{}
		if o.bc == primary {
			client = s.client
		}
		res, err := s.relay(o.bc, p, client, metrics.TargetAll)
		if o.bc == primary {
			answered = err == nil
			clientErr = res.ClientErr
		}
		if err != nil {
			s.drop(o.bc, err)
		}
	}
	if !answered && clientErr == nil {
		return s.writeErr(errBackendLost(primary.srv.Name, false))
	}
	return clientErr
}

// closeStmt closes the statement everywhere; COM_STMT_CLOSE has no reply.
func (s *Session) closeStmt(p []byte) error {
	id, st := s.stmtID(p)
	if st == nil {
		return nil
	}
	for _, o := range append([]*stmtOn(nil), st.on...) {
		binary.LittleEndian.PutUint32(p[1:], o.id)
		if _, err := s.relay(o.bc, p, discard{}, metrics.TargetAll); err != nil {
			s.drop(o.bc, err)
		}
	}
	delete(s.stmts, id)
	s.rs.Advance(router.Request{Cmd: router.CmdStmtClose, StmtID: id}, router.Decision{Target: router.TargetAll},
		router.Reply{OK: true}, &s.svc.ropts)
	return nil
}

// longData sends a parameter's data to the backend the next EXECUTE will
// use. COM_STMT_SEND_LONG_DATA has no reply, even on errors.
func (s *Session) longData(p []byte) error {
	_, st := s.stmtID(p)
	if st == nil {
		return nil
	}
	bc := st.pinned
	if bc == nil {
		var err error
		if _, bc, err = s.pick(router.Request{Cmd: router.CmdOther}, 0); err != nil || bc == nil {
			s.log.Info("dropping SEND_LONG_DATA: no backend", "err", err)
			return nil
		}
	}
	o, broken, err := s.ensurePrepared(st, bc)
	if err != nil {
		if broken {
			s.drop(bc, err)
		}
		return nil
	}
	binary.LittleEndian.PutUint32(p[1:], o.id)
	if _, err := s.relay(bc, p, discard{}, metrics.TargetPrevious); err != nil {
		s.drop(bc, err)
		return nil
	}
	st.pinned = bc
	return nil
}
