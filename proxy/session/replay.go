package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/proxy/backend"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/proxy/protocol"
	"github.com/maxproxy/maxproxy/router/classify"
)

// Transaction replay (transaction_replay).
//
// While a transaction is open every statement of it is kept (COM_QUERY
// and COM_STMT_EXECUTE payloads as the client sent them) with a checksum
// of the reply the client saw. When the transaction's backend fails under
// a statement of which the client has seen nothing, the session waits for
// a writer, opens a connection to it (the session command history is
// replayed as for any new connection), runs the kept statements again and
// compares each checksum; if all match the interrupted statement is sent
// again and the client never sees the failure.

// Error numbers that mean "this node cannot run statements now, another
// one can": Galera's ER_UNKNOWN_COM_ERROR outside the primary component.
const erWsrepNotReady = 1047

// Deadlocks and Galera certification failures roll the transaction back.
const erLockDeadlock = 1213

// trxLog is the open transaction's statements, kept in one arena that
// later transactions reuse: logging allocates nothing in a steady state.
type trxLog struct {
	buf  []byte
	ends []int
	sums [][sumSize]byte
	// preps holds, for a COM_STMT_EXECUTE, its statement's COM_STMT_PREPARE
	// payload (shared with the stmt, never modified): the client may close
	// the statement before the transaction ends.
	preps [][]byte
	off   bool // beyond transaction_replay_max_size (or not checksummed): no replay
	wrote bool // a statement may have written (transaction_replay_commit_check)
}

const sumSize = 16

func (l *trxLog) reset() {
	clear(l.preps)
	l.buf, l.ends, l.sums, l.preps, l.off, l.wrote = l.buf[:0], l.ends[:0], l.sums[:0], l.preps[:0], false, false
	if cap(l.buf) > maxKeptBuffer {
		l.buf = nil
	}
}

func (l *trxLog) len() int { return len(l.ends) }

func (l *trxLog) stmt(i int) []byte {
	start := 0
	if i > 0 {
		start = l.ends[i-1]
	}
	return l.buf[start:l.ends[i]]
}

// add keeps cmd with its checksum; false when the log would exceed max
// bytes, which turns replay off for the rest of the transaction.
func (l *trxLog) add(cmd, prep []byte, sum [sumSize]byte, max int) bool {
	if l.off {
		return false
	}
	if max > 0 && len(l.buf)+len(cmd)+len(prep) > max {
		l.reset()
		l.off = true
		return false
	}
	l.buf = append(l.buf, cmd...)
	l.ends = append(l.ends, len(l.buf))
	l.sums = append(l.sums, sum)
	l.preps = append(l.preps, prep)
	return true
}

// checksum modes (transaction_replay_checksum).
type checksumMode uint8

const (
	sumFull       checksumMode = iota // every packet of the reply
	sumResultOnly                     // OK packets and result-set terminators skipped
	sumNoInsertID                     // as result_only, and statements using LAST_INSERT_ID() not compared
)

func parseChecksum(s string) (checksumMode, error) {
	switch s {
	case "", "full":
		return sumFull, nil
	case "result_only":
		return sumResultOnly, nil
	case "no_insert_id":
		return sumNoInsertID, nil
	}
	return 0, fmt.Errorf("transaction_replay_checksum %q is not one of full, result_only, no_insert_id", s)
}

// Errors a replySummer may withhold from the client (a bit set).
type holdMask uint8

const (
	holdNotReady holdMask = 1 << iota // 1047: the node is not ready
	holdKilled                        // the server killed the connection or is shutting down
	holdDeadlock                      // 1213 or SQLSTATE 40001
)

// Errors with which a server ends a connection (KILL, shutdown): MaxScale
// too treats them as the failure of the backend, not of the statement.
const (
	erServerShutdown   = 1053 // ER_SERVER_SHUTDOWN
	erNormalShutdown   = 1077 // ER_NORMAL_SHUTDOWN
	erShutdownComplete = 1079 // ER_SHUTDOWN_COMPLETE
)

func isKilled(code uint16) bool {
	switch code {
	case protocol.ERConnectionKilled, erServerShutdown, erNormalShutdown, erShutdownComplete:
		return true
	}
	return false
}

// replySummer sits between a backend relay and the client: it hashes what
// the client is given (SHA-256 truncated to 128 bits, stable across
// processes) and can withhold a reply that consists of one ERR packet the
// session means to recover from. One per session, reused.
//
// Only the result is hashed: rows, ERR packets and, in the full mode, OK
// replies (affected rows, insert id, status, warnings, info). Column
// definitions are not: with MariaDB's metadata caching an EXECUTE on the
// original connection may have skipped them while the replay's first one
// on a new connection has them; they follow from the statement anyway.
// Result-set terminators are not either (their status flags describe the
// connection, e.g. a cursor, more than the result).
type replySummer struct {
	client  backend.Client
	h       hash.Hash
	mode    checksumMode
	hashing bool
	hold    holdMask
	n       int
	held    []byte // the withheld ERR packet; nil when none
	out     []byte // the hash's output, reused
	// Where the reply is, for hashing.
	st       resultState
	defsLeft uint64
	noEOF    bool // CLIENT_DEPRECATE_EOF: no EOF after the column definitions
}

type resultState uint8

const (
	stFirst resultState = iota // first packet of a result: OK, ERR, LOCAL INFILE or column count
	stDefs                     // column definitions
	stEOF                      // the EOF after the definitions (without DEPRECATE_EOF)
	stRows                     // rows until EOF/OK or ERR
)

// start prepares the summer for one reply of bc to the client.
func (r *replySummer) start(bc *backendConn, client backend.Client, hashing bool, hold holdMask) backend.Client {
	r.client, r.hashing, r.hold, r.n, r.held = client, hashing, hold, 0, nil
	if hashing {
		if r.h == nil {
			r.h = sha256.New() // only sessions that replay pay for it
		}
		r.h.Reset()
		r.st, r.defsLeft = stFirst, 0
		r.noEOF = bc != nil && bc.bc.Info().Capabilities&mysql.CLIENT_DEPRECATE_EOF != 0
	}
	return r
}

func (r *replySummer) ReadPacket() ([]byte, error) { return r.client.ReadPacket() }

func (r *replySummer) WritePacket(p []byte) error {
	r.n++
	if r.n == 1 && r.hold != 0 && len(p) >= 3 && p[0] == 0xff && r.holdable(p) {
		r.held = append(r.held[:0], p...)
		return nil
	}
	if r.hashing {
		r.feed(p)
	}
	return r.client.WritePacket(p)
}

func (r *replySummer) Flush() error {
	if r.held != nil && r.n == 1 {
		return nil
	}
	return r.client.Flush()
}

// isEOF reports whether p is an EOF packet, or the OK packet that ends a
// result set under DEPRECATE_EOF (a row starting with 0xfe is longer than
// 16 MiB).
func isEOF(p []byte) bool { return len(p) > 0 && p[0] == 0xfe && len(p) < 0xffffff }

// feed hashes the parts of p that are the statement's result.
func (r *replySummer) feed(p []byte) {
	if len(p) == 0 {
		return
	}
	switch r.st {
	case stFirst:
		switch p[0] {
		case 0x00:
			if r.mode == sumFull {
				r.h.Write(p)
			}
		case 0xff, 0xfb:
			r.h.Write(p)
		default:
			n, size := lenenc(p)
			r.h.Write(p[:size]) // without MariaDB's metadata-follows byte
			metadata := len(p) <= size || p[size] != 0
			switch {
			case metadata && n > 0:
				r.st, r.defsLeft = stDefs, n
			case r.noEOF:
				r.st = stRows
			default:
				r.st = stEOF
			}
		}
	case stDefs:
		if r.defsLeft--; r.defsLeft == 0 {
			r.st = stRows
			if !r.noEOF {
				r.st = stEOF
			}
		}
	case stEOF:
		r.st = stRows
		if !isEOF(p) {
			r.feed(p) // no EOF after skipped metadata: this is a row
		}
	case stRows:
		switch {
		case isEOF(p):
			r.st = stFirst // the next packet, if any, starts another result
		case p[0] == 0xff:
			r.h.Write(p)
			r.st = stFirst
		default:
			r.h.Write(p)
		}
	}
}

// lenenc decodes the length-encoded integer at the start of p and its size.
func lenenc(p []byte) (uint64, int) {
	switch {
	case p[0] < 0xfb:
		return uint64(p[0]), 1
	case p[0] == 0xfc && len(p) >= 3:
		return uint64(binary.LittleEndian.Uint16(p[1:])), 3
	case p[0] == 0xfd && len(p) >= 4:
		return uint64(p[1]) | uint64(p[2])<<8 | uint64(p[3])<<16, 4
	case p[0] == 0xfe && len(p) >= 9:
		return binary.LittleEndian.Uint64(p[1:]), 9
	}
	return 0, len(p) // malformed: hash it whole
}

func (r *replySummer) holdable(p []byte) bool {
	code := binary.LittleEndian.Uint16(p[1:3])
	if r.hold&holdNotReady != 0 && code == erWsrepNotReady {
		return true
	}
	if r.hold&holdKilled != 0 && isKilled(code) {
		return true
	}
	if r.hold&holdDeadlock != 0 {
		return code == erLockDeadlock || (len(p) >= 9 && p[3] == '#' && string(p[4:9]) == "40001")
	}
	return false
}

// sum returns the checksum of the packets hashed since start.
func (r *replySummer) sum() (out [sumSize]byte) {
	r.out = r.h.Sum(r.out[:0])
	copy(out[:], r.out)
	return out
}

// release sends the withheld ERR packet to the client after all.
func (r *replySummer) release() error {
	if r.held == nil {
		return nil
	}
	p := r.held
	r.held = nil
	if err := r.client.WritePacket(p); err != nil {
		return err
	}
	return r.client.Flush()
}

// heldCode is the withheld error's number, 0 when none.
func (r *replySummer) heldCode() uint16 {
	if r.held == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(r.held[1:3])
}

// replayOn reports whether the session keeps a replayable transaction log.
func (s *Session) replayOn() bool {
	return s.svc.cfg.TransactionReplay && s.svc.cfg.Router != config.ReadConnRoute
}

// hashReply reports whether the reply to a statement of class c must be
// checksummed: it runs in, or may open, a transaction.
func (s *Session) hashReply(c classify.Class) bool {
	return s.replayOn() && (s.trx != nil || c.Kind == classify.KindBegin || s.rs.AutocommitOff())
}

// logStmt records a completed statement of the open transaction, after
// afterReply has updated s.trx. started: the statement opened it. prep is
// the COM_STMT_PREPARE of an EXECUTE (which must carry its parameter
// types), nil for a COM_QUERY.
func (s *Session) logStmt(cmd, prep []byte, c classify.Class, started, hashed bool) {
	if !s.replayOn() {
		return
	}
	if s.trx == nil {
		s.tlog.reset()
		return
	}
	if started {
		s.tlog.reset()
	}
	if s.tlog.off {
		return
	}
	if !hashed || c.Kind == classify.KindLoadData {
		// Not checksummed (it was not known to open a transaction), or
		// LOAD DATA LOCAL, whose file only the client can send again.
		s.tlog.reset()
		s.tlog.off = true
		return
	}
	sum := s.sum.sum()
	if s.svc.checksum == sumNoInsertID && c.Flags.Any(classify.FlagLastInsertID) {
		sum = [sumSize]byte{}
	}
	if !s.tlog.add(cmd, prep, sum, int(s.svc.cfg.TransactionReplayMaxSize)) {
		s.log.Debug("transaction too large to replay", "max", s.svc.cfg.TransactionReplayMaxSize)
		return
	}
	s.tlog.wrote = s.tlog.wrote || mayWrite(c)
}

// mayWrite reports whether a statement of class c may change data, so
// that a transaction containing it has a COMMIT worth checking.
func mayWrite(c classify.Class) bool {
	switch c.Kind {
	case classify.KindWrite, classify.KindCall, classify.KindOther, classify.KindUnknown, classify.KindExecute:
		return true
	case classify.KindRead:
		return c.Flags.Any(classify.FlagUnknownFunc | classify.FlagSequence)
	}
	return false
}

// stopReplay makes the open transaction not replayable (a server-side
// cursor: its FETCHes are not logged).
func (s *Session) stopReplay() {
	if s.trx != nil {
		s.tlog.reset()
		s.tlog.off = true
	}
}

// isCommit reports whether a statement ends the transaction by committing
// it (COMMIT, or DDL with its implicit commit): its interruption leaves the
// outcome unknown, so with transaction_replay_safe_commit it is never
// replayed.
func isCommit(c classify.Class) bool {
	return c.Kind == classify.KindCommit || c.Kind == classify.KindDDL
}

// canReplay reports whether the open transaction can move to another
// connection after its backend failed under a statement of class c of
// which the client saw nothing.
func (s *Session) canReplay(c classify.Class, forwarded int) bool {
	if !s.replayOn() || s.tlog.off || forwarded > 0 {
		return false
	}
	return !(isCommit(c) && s.svc.cfg.TransactionReplaySafeCommit)
}

// errReplayFailed ends a session whose transaction could not be moved.
func errReplayFailed(reason string) *protocol.Error {
	return &protocol.Error{Code: protocol.ERConnectionKilled, State: "70100",
		Message: "maxproxy: transaction replay failed (" + reason + "); the transaction was rolled back and the session is closed"}
}

var (
	errChecksumMismatch = errors.New("a replayed statement's result differs from the one the client saw")
	errNotReady         = errors.New("the server refused the replay (not ready or ending the connection)")
)

// replayTrx moves the open transaction, whose backend failed (or, after a
// deadlock, was rolled back on a live connection), to a writer: bounded by
// transaction_replay_attempts and transaction_replay_timeout (without one,
// delayed_retry_timeout per attempt). On success s.trx is the new
// connection with the transaction re-executed. sameOK: the failed server
// may be tried again at once (the connection failed, not the node's
// readiness; a dead node refuses the connection quickly).
func (s *Session) replayTrx(failed *Server, sameOK bool, live *backendConn) error {
	cfg := &s.svc.cfg
	start := time.Now()
	timeout := cfg.TransactionReplayTimeout
	if timeout <= 0 {
		timeout = cfg.DelayedRetryTimeout * time.Duration(max(cfg.TransactionReplayAttempts, 1))
	}
	deadline := start.Add(timeout)
	var lastErr error
	for attempt := 1; attempt <= max(cfg.TransactionReplayAttempts, 1); attempt++ {
		bc := live
		if bc == nil {
			var err error
			if bc, err = s.waitWriter(failed, sameOK, deadline); err != nil {
				if lastErr != nil {
					err = fmt.Errorf("%w; before that: %w", err, lastErr)
				}
				return err
			}
		}
		live = nil
		err := s.catchUp(bc)
		if err == nil {
			err = s.rerun(bc)
		}
		if err == nil {
			s.trx, s.prev, s.trxLost = bc, bc, ""
			s.log.Info("transaction replayed", "server", bc.srv.Name, "statements", s.tlog.len(),
				"attempt", attempt, "took", time.Since(start))
			return nil
		}
		lastErr = err
		s.log.Warn("transaction replay attempt failed", "server", bc.srv.Name, "attempt", attempt, "err", err)
		// Closing the connection rolls a partial replay back; the next
		// attempt starts on a fresh one.
		failed, sameOK = nil, true
		switch {
		case bc.bc.Broken():
			s.drop(bc, err)
			failed = bc.srv
		case errors.Is(err, errNotReady):
			s.release(bc)
			failed, sameOK = bc.srv, false
		default:
			s.release(bc)
		}
		if errors.Is(err, errChecksumMismatch) && !cfg.TransactionReplayRetryOnMismatch {
			return err
		}
	}
	return fmt.Errorf("gave up after %d attempts: %w", max(cfg.TransactionReplayAttempts, 1), lastErr)
}

// waitWriter returns a connection to the writer, waiting until deadline
// for the monitor to publish one. The server that failed is taken again
// at once only when sameOK, otherwise (or when connecting to it failed)
// only after the monitor has published a new view.
func (s *Session) waitWriter(failed *Server, sameOK bool, deadline time.Time) (*backendConn, error) {
	var lastErr error
	for {
		snap := s.svc.topo.Load()
		if m := snap.Master(); m != nil && (failed == nil || sameOK || m.Name != failed.Name) {
			srv := s.svc.byName[m.Name]
			if srv == nil {
				return nil, fmt.Errorf("the monitor names server %q, which is not in the service", m.Name)
			}
			bc, err := s.open(srv)
			if err == nil {
				return bc, nil
			}
			lastErr = err
			sameOK = false
		}
		if !s.waitTopology(deadline) {
			if lastErr != nil {
				return nil, fmt.Errorf("no writer before the timeout: %w", lastErr)
			}
			return nil, errors.New(reasonText("no writer before the timeout, last view", snap))
		}
		failed = nil // a new view: whoever it names
	}
}

// catchUp makes a Galera node apply every transaction the cluster had
// committed before the replay reads anything (wsrep_sync_wait): the
// transaction's reads ran on the old writer, and a new one that is still
// applying its queue would answer them with older data (a checksum
// mismatch, or a certification failure at COMMIT). A server that does not
// know MariaDB's SET STATEMENT (maxnode) gets the causal read on a
// connection of its own: the wait is the node's, whichever connection
// asks. A server without wsrep_sync_wait refuses it, which is harmless;
// only a broken session connection counts.
func (s *Session) catchUp(bc *backendConn) error {
	_, err := bc.bc.Exec(s.ctx, syncPrefix+"SELECT 1")
	var pe *protocol.Error
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	if pe.Code == erParse {
		err = s.syncNode(bc.srv)
	}
	if err != nil {
		s.log.Debug("no causality wait before the replay", "server", bc.srv.Name, "err", err)
	}
	return nil
}

// erParse is ER_PARSE_ERROR.
const erParse = 1064

// syncNode runs a causal read on srv over a connection of its own.
func (s *Session) syncNode(srv *Server) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.replayTimeout())
	defer cancel()
	b, err := s.dialSide(ctx, srv)
	if err != nil {
		return err
	}
	defer b.Close()
	if _, err := b.Exec(ctx, markerCausal); err != nil {
		return err
	}
	_, err = b.Exec(ctx, "SELECT 1")
	return err
}

// rerun executes the logged statements on bc and compares checksums.
func (s *Session) rerun(bc *backendConn) error {
	for i := range s.tlog.len() {
		cmd := s.tlog.stmt(i)
		client := s.sum.start(bc, discard{}, true, holdNotReady|holdKilled)
		var err error
		if prep := s.tlog.preps[i]; prep != nil {
			err = s.rerunExecute(bc, prep, cmd, client)
		} else {
			_, err = s.relay(bc, cmd, client, metrics.TargetMaster)
		}
		if err == nil && s.sum.held != nil {
			err = fmt.Errorf("%w: error %d", errNotReady, s.sum.heldCode())
		}
		if err != nil {
			return fmt.Errorf("statement %d of %d: %w", i+1, s.tlog.len(), err)
		}
		got := s.sum.sum()
		want := s.tlog.sums[i]
		if want == ([sumSize]byte{}) {
			continue // not compared (no_insert_id)
		}
		if !bytes.Equal(got[:], want[:]) {
			return fmt.Errorf("statement %d of %d: %w", i+1, s.tlog.len(), errChecksumMismatch)
		}
	}
	return nil
}

// rerunExecute prepares a logged EXECUTE's statement on bc, runs it and
// closes it again (later EXECUTEs prepare it lazily, as on any new
// connection).
func (s *Session) rerunExecute(bc *backendConn, prep, cmd []byte, client backend.Client) error {
	res, err := s.relay(bc, prep, discard{}, metrics.TargetMaster)
	if err != nil {
		return err
	}
	if res.Reply.IsErr {
		return fmt.Errorf("prepare: %w", res.Reply.Error())
	}
	id := res.Reply.StmtID
	p := append(s.replayBuf[:0], cmd...)
	binary.LittleEndian.PutUint32(p[1:], id)
	s.replayBuf = p
	if _, err := s.relay(bc, p, client, metrics.TargetMaster); err != nil {
		return err
	}
	closeCmd := binary.LittleEndian.AppendUint32(append(p[:0], mysql.COM_STMT_CLOSE), id)
	_, err = s.relay(bc, closeCmd, discard{}, metrics.TargetMaster)
	return err
}

// loggedExecute returns the EXECUTE p as the transaction log keeps it:
// the client's statement id, and the parameter types always included so
// that it runs alone on a connection that never saw the statement.
func (s *Session) loggedExecute(p []byte, st *stmt) []byte {
	out := append(s.replayBuf[:0], p...)
	s.replayBuf = out
	if st.params == 0 || st.types == nil {
		return out
	}
	pos := 10 + (int(st.params)+7)/8
	if len(out) <= pos || out[pos] == 1 {
		return out
	}
	out = append(out[:pos], 1)
	out = append(out, st.types...)
	out = append(out, p[pos+1:]...)
	s.replayBuf = out
	return out
}
