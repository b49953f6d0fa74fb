package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/proxy/protocol"
	"github.com/maxproxy/maxproxy/router"
	"github.com/maxproxy/maxproxy/router/classify"
)

// errQuit ends a session normally (COM_QUIT, KILL of itself).
var errQuit = errors.New("session: client quit")

// phase is where a session's goroutine is, as far as shutdown cares.
type phase uint8

const (
	phaseHandshake phase = iota
	phaseIdle            // waiting for the client's next command
	phaseBusy            // running a command
	// phaseKeepalive: idle, and the sweeper holds the backend connections
	// for a keepalive ping (idle.go); the session goroutine waits in
	// setPhase until it hands them back.
	phaseKeepalive
)

// Session is one client connection and the backend connections it owns.
// Exactly one goroutine (the one running Service.Serve) uses the client
// connection and the backend connections; other goroutines only touch the
// fields under mu (shutdown, KILL from another session).
type Session struct {
	svc    *Service
	id     uint32
	nc     net.Conn // the client socket; closed when the session ends
	cancel context.CancelFunc
	log    *slog.Logger
	tls    *tls.Config

	mu        sync.Mutex
	handoff   sync.Cond // L is &mu; signalled when a keepalive ends
	phase     phase
	draining  bool
	expired   bool // wait_timeout ended the session while idle
	stale     bool // idle beyond connection_keepalive: check connections first
	user      string
	threads   []threadRef // backend thread ids, for KILL
	connected time.Time   // for the admin view, like the fields below
	idleSince time.Time
	shownDB   string
	shownTrx  bool

	// Owned by the session goroutine.
	ctx      context.Context
	client   *protocol.Conn
	info     *protocol.Client
	db       string
	conns    []*backendConn
	fixed    *backendConn // readconnroute: the session's only backend
	trx      *backendConn // backend of the open transaction
	trxLost  string       // server whose loss took the open transaction with it
	wrote    bool         // causal_reads: the session wrote since it last synced...
	synced   serverSet    // ...these readers
	prev     *backendConn // backend of the previous statement
	rs       router.Session
	hist     history
	stmts    map[uint32]*stmt
	lastStmt uint32
	nextStmt uint32
	clsBuf   []byte
	scratch  []byte
	// writer is the connection the session's writes go to, writerSrv its
	// server (kept after the connection is lost, for master_reconnection).
	writer    *backendConn
	writerSrv *Server
	// transaction_replay: the open transaction's log and the reply hasher.
	tlog      trxLog
	sum       replySummer
	replayBuf []byte
	mk        commitMarker // transaction_replay_commit_check
	// recheck: the client is back from an idle period longer than
	// connection_keepalive; its connections are pinged before the command.
	recheck bool
}

// threadRef names one backend connection of a session for KILL.
type threadRef struct {
	srv *Server
	id  uint32
}

func newSession(svc *Service, id uint32, nc net.Conn, cancel context.CancelFunc) *Session {
	s := &Session{
		connected: time.Now(),
		svc:       svc,
		id:        id,
		nc:        nc,
		cancel:    cancel,
		log:       svc.log.With("session", id),
		hist: history{
			max:      svc.cfg.MaxSescmdHistory,
			prune:    svc.cfg.PruneSescmdHistory,
			disabled: svc.cfg.DisableSescmdHistory,
		},
		rs:  router.Session{TieBreak: id},
		sum: replySummer{mode: svc.checksum},
	}
	s.handoff.L = &s.mu
	return s
}

// ID returns the connection id the client was given.
func (s *Session) ID() uint32 { return s.id }

func (s *Session) run(ctx context.Context) {
	s.ctx = ctx
	defer s.closeAll()
	hctx, cancel := context.WithTimeout(ctx, s.svc.hsTime)
	client, info, err := protocol.Accept(hctx, s.nc, &protocol.AcceptConfig{
		ServerVersion: *s.svc.version.Load(),
		ConnectionID:  s.id,
		TLS:           s.tls,
		Authenticator: admitter{Authenticator: s.svc.auth, svc: s.svc},
	})
	cancel()
	if err != nil {
		var refused *protocol.Error
		if errors.As(err, &refused) {
			s.log.Info("client refused", "remote", s.nc.RemoteAddr().String(), "err", err)
		} else {
			s.log.Debug("client connection phase failed", "remote", s.nc.RemoteAddr().String(), "err", err)
		}
		return
	}
	s.client, s.info, s.db = client, info, info.DB
	s.mu.Lock()
	s.user, s.shownDB = info.User, info.DB
	s.mu.Unlock()
	s.svc.total.Add(1)
	s.svc.metrics.SessionsTotal.Inc()
	s.log.Debug("session started", "user", info.User, "remote", s.nc.RemoteAddr().String())

	if s.svc.cfg.Router == config.ReadConnRoute {
		if err := s.openFixed(nil); err != nil {
			_ = s.writeErr(err)
			return
		}
	}
	for {
		if !s.setPhase(phaseIdle) {
			return
		}
		p, err := s.client.ReadCommand()
		if !s.setPhase(phaseBusy) {
			return
		}
		if err != nil {
			s.log.Debug("client read ended the session", "err", err)
			return
		}
		if len(p) == 0 {
			s.log.Debug("empty command packet")
			return
		}
		if s.recheck && p[0] != mysql.COM_QUIT {
			s.recheck = false
			s.pingIdle(time.Now(), s.svc.cfg.ConnectionKeepalive, s.svc.connect)
		}
		if err := s.dispatch(p); err != nil {
			if !errors.Is(err, errQuit) && ctx.Err() == nil {
				s.log.Info("session ended", "err", err)
			}
			return
		}
	}
}

// setPhase records where the goroutine is; it reports false when the
// session must end (shutdown asked it to, or wait_timeout expired it).
// Entering the idle phase while draining ends the session at once. No
// deadline is set here: wait_timeout and connection_keepalive are the
// sweeper's (idle.go), which keeps the statement path free of syscalls.
func (s *Session) setPhase(p phase) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.phase == phaseKeepalive {
		s.handoff.Wait() // the sweeper is pinging this session's backends
	}
	if s.expired || (s.draining && p == phaseIdle) {
		return false
	}
	switch p {
	case phaseIdle:
		s.idleSince, s.shownTrx = time.Now(), s.trx != nil
	case phaseBusy:
		s.recheck, s.stale = s.stale, false
	}
	s.phase = p
	return true
}

// drain asks the session to end at its next command boundary; a session
// waiting for a command (or still in its handshake) ends now.
func (s *Session) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	if s.phase != phaseBusy {
		_ = s.nc.SetReadDeadline(pastDeadline)
	}
}

// abort ends the session from another goroutine: its context is cancelled,
// which interrupts backend I/O, and the client socket closed.
func (s *Session) abort() {
	s.cancel()
	_ = s.nc.Close()
}

func (s *Session) closeAll() {
	s.dropMarker()
	s.releaseAll()
	_ = s.nc.Close()
}

func (s *Session) releaseAll() {
	for len(s.conns) > 0 {
		s.release(s.conns[len(s.conns)-1])
	}
}

func (s *Session) dispatch(p []byte) error {
	if p[0] == mysql.COM_QUIT {
		return errQuit
	}
	if s.trxLost != "" {
		_ = s.writeErr(errBackendLost(s.trxLost, true))
		return fmt.Errorf("transaction lost with server %s", s.trxLost)
	}
	if err := s.leaveStale(); err != nil {
		return err
	}
	switch p[0] {
	case mysql.COM_QUERY:
		return s.query(p)
	case mysql.COM_STMT_PREPARE:
		return s.prepare(p)
	case mysql.COM_STMT_EXECUTE:
		return s.execute(p)
	case mysql.COM_STMT_FETCH:
		return s.fetch(p)
	case mysql.COM_STMT_CLOSE:
		return s.closeStmt(p)
	case mysql.COM_STMT_RESET:
		return s.resetStmt(p)
	case mysql.COM_STMT_SEND_LONG_DATA:
		return s.longData(p)
	case mysql.COM_INIT_DB:
		ok, err := s.sessionCommand(p, router.Request{Cmd: router.CmdInitDB})
		if ok {
			s.db = string(p[1:])
			s.mu.Lock()
			s.shownDB = s.db
			s.mu.Unlock()
		}
		return err
	case mysql.COM_SET_OPTION:
		_, err := s.sessionCommand(p, router.Request{Cmd: router.CmdOther})
		return err
	case mysql.COM_PING:
		return s.ping(p)
	case mysql.COM_CHANGE_USER:
		return s.changeUser(p)
	case mysql.COM_RESET_CONNECTION:
		return s.resetConnection(p)
	case mysql.COM_PROCESS_KILL:
		if len(p) < 5 {
			return s.writeErr(protocol.ErrUnknownCommand())
		}
		return s.kill(uint64(p[1])|uint64(p[2])<<8|uint64(p[3])<<16|uint64(p[4])<<24, false)
	case mysql.COM_FIELD_LIST, mysql.COM_STATISTICS, mysql.COM_PROCESS_INFO:
		return s.routeStatement(p, router.Request{Cmd: router.CmdOther})
	}
	s.log.Debug("unsupported command", "command", fmt.Sprintf("0x%02x", p[0]))
	return s.writeErr(protocol.ErrUnknownCommand())
}

func (s *Session) query(p []byte) error {
	c, h, buf := s.svc.cls.ClassifyBuf(s.clsBuf[:0], p[1:])
	if cap(buf) <= maxKeptBuffer {
		s.clsBuf = buf
	}
	if c.Kind == classify.KindKill {
		if id, query, ok := parseKill(p[1:]); ok {
			return s.kill(id, query)
		}
	}
	return s.routeStatement(p, router.Request{Cmd: router.CmdQuery, Class: c, Hint: h})
}

// maxKeptBuffer bounds scratch buffers a session keeps between commands.
const maxKeptBuffer = 64 << 10

// writeErr sends a proxy-generated error as the reply to the current
// command. Errors that are not *protocol.Error are reported generically.
func (s *Session) writeErr(err error) error {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		pe = errNoServer(s.svc.cfg.Name, "server", err.Error())
	}
	caps := uint32(0)
	if s.info != nil {
		caps = s.info.Capabilities
	}
	if werr := protocol.WriteError(s.client, pe, caps); werr != nil {
		return fmt.Errorf("send error to client: %w", werr)
	}
	return nil
}

// writeOK answers the current command with an OK packet carrying the
// session's transaction state.
func (s *Session) writeOK() error {
	var status uint16
	if !s.rs.AutocommitOff() {
		status |= mysql.SERVER_STATUS_AUTOCOMMIT
	}
	if s.trx != nil {
		status |= mysql.SERVER_STATUS_IN_TRANS
	}
	s.scratch = protocol.AppendOK(s.scratch[:0], protocol.OK{Status: status}, s.info.Capabilities)
	if err := s.client.WritePacket(s.scratch); err != nil {
		return err
	}
	return s.client.Flush()
}

// ping answers from the session's primary backend when it has one (so a
// dead backend shows), locally otherwise.
func (s *Session) ping(p []byte) error {
	bc := s.primary()
	if bc == nil {
		return s.writeOK()
	}
	res, err := s.relay(bc, p, s.client, metrics.TargetPrevious)
	if err != nil {
		s.drop(bc, err)
		if res.ClientErr != nil || res.Forwarded > 0 {
			return fmt.Errorf("ping: %w", err)
		}
		if s.fixed == nil {
			return s.writeOK()
		}
		_ = s.writeErr(errBackendLost(bc.srv.Name, false))
		return err
	}
	return res.ClientErr
}

// changeUser re-authenticates the client. Backend connections carry the
// old user's identity and state, so all are closed and reopened lazily
// (readconnroute reconnects to its server at once).
func (s *Session) changeUser(p []byte) error {
	info, err := protocol.AcceptChangeUser(s.ctx, s.client, s.info, p, s.svc.auth)
	if err != nil {
		// The client got ERR; MariaDB closes such a session too.
		return fmt.Errorf("change user: %w", err)
	}
	var fixedSrv *Server
	if s.fixed != nil {
		fixedSrv = s.fixed.srv
	}
	s.resetState()
	s.releaseAll()
	s.info, s.db = info, info.DB
	s.mu.Lock()
	s.user, s.shownDB = info.User, info.DB
	s.mu.Unlock()
	if fixedSrv != nil {
		if err := s.openFixed(fixedSrv); err != nil {
			_ = s.writeErr(err)
			return err
		}
	}
	return nil
}

// resetConnection sends COM_RESET_CONNECTION to every open backend and
// forgets the session's state: history, prepared statements, locks,
// temporary tables, transaction.
func (s *Session) resetConnection(p []byte) error {
	s.resetState()
	if len(s.conns) == 0 {
		return s.writeOK()
	}
	_, err := s.toAll(p, router.Request{Cmd: router.CmdResetConnection}, false)
	return err
}

func (s *Session) resetState() {
	s.trxLost, s.wrote, s.synced = "", false, 0
	s.hist.reset()
	s.rs = router.Session{TieBreak: s.id}
	s.stmts = nil
	s.lastStmt = 0
	s.trx = nil
	s.tlog.reset()
	s.writer, s.writerSrv = nil, nil
}
