package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser"
)

// handshakeTimeout bounds how long a client may take to log in.
const handshakeTimeout = 10 * time.Second

// conn is one client connection. Its goroutine owns everything but the fields under mu, which KILL
// and Shutdown use from other goroutines.
type conn struct {
	srv  *Server
	id   uint32
	nc   net.Conn
	pc   *packetConn
	host string
	salt []byte
	caps uint32 // effective: client's & serverCaps
	user string
	acct Account
	sess Session
	// unwatch stops the goroutine that closes the connection when the engine kills sess.
	unwatch func()

	parser     *parser.Parser
	stmts      map[uint32]*stmt
	lastStmtID uint32
	status     uint16 // SERVER_STATUS_* after the last statement
	multiStmts bool   // CLIENT_MULTI_STATEMENTS, toggled by COM_SET_OPTION

	out []byte  // payload under construction, reused
	row []Value // row buffer, reused

	mu          sync.Mutex
	busy        bool // executing a command
	shutdown    bool // the server is shutting down: exit after the current command
	killed      bool // KILL CONNECTION: exit now
	queryKilled bool // KILL QUERY hit the running statement
	ctx         context.Context
	cancel      context.CancelFunc
}

func newConn(s *Server, id uint32, nc net.Conn) *conn {
	return &conn{
		srv:    s,
		id:     id,
		nc:     nc,
		pc:     newPacketConn(nc, s.cfg.MaxAllowedPacket, s.cfg.WriteTimeout),
		host:   hostOf(nc.RemoteAddr()),
		status: mysql.SERVER_STATUS_AUTOCOMMIT,
	}
}

// hostOf is the client host as accounts match it: the IP address for TCP, localhost otherwise.
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip4 := ta.IP.To4(); ip4 != nil {
			return ip4.String()
		}
		return ta.IP.String()
	}
	return "localhost"
}

func (c *conn) userName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

// refuse answers a connection the server will not serve with one error packet.
func (c *conn) refuse(e *mysql.MyError) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	_ = c.writeErr(e)
	_ = c.pc.flush()
	c.nc.Close()
}

func (c *conn) serve() {
	log := c.srv.log
	defer func() {
		// A bug behind one statement must not take the whole node down: log it, answer the client
		// if possible, and drop the connection (closing the session rolls its transaction back).
		if r := recover(); r != nil {
			log.Error("panic serving connection", "conn", c.id, "panic", r, "stack", string(debug.Stack()))
			_ = c.writeErr(newError(erUnknown, "HY000", "Internal error: %v", r))
			_ = c.pc.flush()
		}
		for _, st := range c.stmts {
			c.closeStmt(st)
		}
		if c.sess != nil {
			c.unwatch()
			c.sess.Close()
		}
		c.nc.Close()
		c.mu.Lock()
		if c.cancel != nil {
			c.cancel()
		}
		c.mu.Unlock()
	}()

	_ = c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := c.handshake(); err != nil {
		log.LogAttrs(context.Background(), slog.LevelDebug, "login failed",
			slog.Uint64("conn", uint64(c.id)), slog.String("host", c.host), slog.Any("err", err))
		return
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.parser = parser.New()
	c.stmts = make(map[uint32]*stmt)
	c.multiStmts = c.caps&mysql.CLIENT_MULTI_STATEMENTS != 0

	for {
		c.pc.seq = 0
		_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
		p, err := c.pc.readPacket()
		if err != nil {
			c.readFailed(err)
			return
		}
		ctx, ok := c.begin()
		if !ok {
			return
		}
		quit, err := c.dispatch(ctx, p)
		if ferr := c.pc.flush(); ferr != nil && err == nil {
			err = ferr
		}
		if !c.end() || quit {
			return
		}
		if err != nil {
			log.LogAttrs(context.Background(), slog.LevelDebug, "closing connection",
				slog.Uint64("conn", uint64(c.id)), slog.Any("err", err))
			return
		}
	}
}

// readFailed answers a command that could not be read, when there is still someone to tell.
func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, errPacketTooLarge):
		_ = c.writeErr(newError(erNetPacketTooLarge, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes"))
	case errors.Is(err, errSequence):
		_ = c.writeErr(newError(erNetPacketsOutOfOrd, "08S01", "Got packets out of order"))
	default:
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			c.srv.log.LogAttrs(context.Background(), slog.LevelDebug, "read failed",
				slog.Uint64("conn", uint64(c.id)), slog.Any("err", err))
		}
		return
	}
	_ = c.pc.flush()
}

// begin marks the connection busy and returns the context its statements run under. ok is false when
// the connection must close instead (killed, or the server is shutting down).
func (c *conn) begin() (context.Context, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.killed || c.shutdown {
		return nil, false
	}
	c.busy = true
	c.queryKilled = false
	if c.ctx == nil || c.ctx.Err() != nil {
		c.ctx, c.cancel = context.WithCancel(context.Background())
	}
	return c.ctx, true
}

// end marks the connection idle and reports whether it may read the next command.
func (c *conn) end() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy = false
	return !c.killed && !c.shutdown
}

// kill interrupts the running statement and, unless query, closes the connection.
func (c *conn) kill(query bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if query {
		if c.busy && c.cancel != nil {
			c.queryKilled = true
			c.cancel()
		}
		return
	}
	c.markKilledLocked()
	c.nc.Close()
}

// markKilledLocked interrupts the running statement and refuses every later command (c.mu held).
func (c *conn) markKilledLocked() {
	c.killed = true
	if c.cancel != nil {
		c.cancel()
	}
}

// interrupted reports whether KILL hit the statement that just ran.
func (c *conn) interrupted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queryKilled || c.killed
}

// beginShutdown closes an idle connection at once; a busy one exits after its command.
func (c *conn) beginShutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shutdown = true
	if !c.busy {
		c.nc.Close()
	}
}

// handshake greets the client, authenticates it and opens its session.
func (c *conn) handshake() error {
	salt, err := newSalt()
	if err != nil {
		return err
	}
	c.salt = salt
	c.out = appendGreeting(c.out[:0], c.srv.cfg.Version, c.id, salt, c.status)
	if err := c.pc.writePacket(c.out); err != nil {
		return err
	}
	if err := c.pc.flush(); err != nil {
		return err
	}
	p, err := c.pc.readPacket()
	if err != nil {
		return fmt.Errorf("read handshake response: %w", err)
	}
	resp, err := parseHandshakeResponse(p)
	if err != nil {
		if errors.Is(err, errSSLRequested) {
			c.refuse(newError(erNotSupportedYet, "08S01", "SSL connections are not supported by this server"))
		} else {
			c.refuse(newError(erMalformedPacket, "08S01", "Malformed communication packet"))
		}
		return err
	}
	c.caps = resp.caps & serverCaps
	if err := c.authenticate(&resp); err != nil {
		return err
	}
	if !c.acct.KillAny && c.srv.overMaxConnections() {
		// Leave the registry before answering, so the client's next attempt finds the slot free.
		c.srv.removeConn(c)
		c.refuse(newError(erConCount, "08004", "Too many connections"))
		return errors.New("too many connections")
	}
	sess, err := c.srv.cfg.Engine.NewSession(c.id, resp.user, c.host)
	if err != nil {
		c.refuse(asMyError(err))
		return fmt.Errorf("new session: %w", err)
	}
	c.setSession(sess)
	if resp.db != "" {
		if err := sess.UseDB(resp.db); err != nil {
			c.refuse(asMyError(err))
			return fmt.Errorf("connect with db %q: %w", resp.db, err)
		}
	}
	if err := c.writeOK(0, 0, c.status, 0, ""); err != nil {
		return err
	}
	return c.pc.flush()
}

// setSession makes sess the connection's session: it learns the client's capabilities, and a KILL
// CONNECTION the engine executes against it closes the connection as the server's own KILL does.
func (c *conn) setSession(sess Session) {
	c.sess = sess
	sess.SetClientCapabilities(c.caps)
	killed := sess.Killed()
	if killed == nil {
		c.unwatch = func() {}
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-killed:
			c.kill(false)
		case <-stop:
		}
	}()
	c.unwatch = func() {
		close(stop)
		<-done
	}
}

// authenticate checks resp's credentials, switching the client to mysql_native_password if it proposed
// another plugin. It answers failures itself.
func (c *conn) authenticate(resp *handshakeResponse) error {
	reply := resp.auth
	if c.caps&mysql.CLIENT_PLUGIN_AUTH != 0 && resp.plugin != "" && resp.plugin != nativePlugin {
		c.out = appendAuthSwitch(c.out[:0], c.salt)
		if err := c.pc.writePacket(c.out); err != nil {
			return err
		}
		if err := c.pc.flush(); err != nil {
			return err
		}
		p, err := c.pc.readPacket()
		if err != nil {
			return fmt.Errorf("read auth switch response: %w", err)
		}
		reply = append([]byte(nil), p...)
	}
	acct, ok := c.srv.cfg.Engine.Account(resp.user, c.host)
	if !ok || !checkNative(c.salt, reply, acct.NativeHash) {
		c.loginFailed()
		c.refuse(accessDenied(resp.user, c.host, len(reply) > 0))
		return fmt.Errorf("access denied for %q", resp.user)
	}
	if acct.Locked {
		// MariaDB checks the password first, so a locked account does not reveal whether it was right.
		c.loginFailed()
		c.refuse(newError(erAccountLocked, "HY000", "Access denied, this account is locked"))
		return fmt.Errorf("account %q is locked", resp.user)
	}
	c.mu.Lock()
	c.user = resp.user
	c.mu.Unlock()
	c.acct = acct
	return nil
}

func (c *conn) loginFailed() {
	if counter, ok := c.srv.cfg.Engine.(AbortedConnectCounter); ok {
		counter.AbortedConnect()
	}
}

// dispatch runs one command. quit reports COM_QUIT; err a broken connection or protocol violation
// (the client has been told when it can be).
func (c *conn) dispatch(ctx context.Context, p []byte) (quit bool, err error) {
	if len(p) == 0 {
		return false, c.malformed()
	}
	c.srv.questions.Add(1)
	data := p[1:]
	switch p[0] {
	case mysql.COM_QUIT:
		return true, nil
	case mysql.COM_PING:
		return false, c.writeOK(0, 0, c.status, 0, "")
	case mysql.COM_QUERY:
		return false, c.comQuery(ctx, data)
	case mysql.COM_INIT_DB:
		if err := c.sess.UseDB(string(data)); err != nil {
			return false, c.writeErr(asMyError(err))
		}
		return false, c.writeOK(0, 0, c.status, 0, "")
	case mysql.COM_FIELD_LIST:
		return false, c.comFieldList(ctx, data)
	case mysql.COM_STATISTICS:
		return false, c.comStatistics()
	case mysql.COM_PROCESS_KILL:
		if len(data) < 4 {
			return false, c.malformed()
		}
		id := uint64(uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24)
		return false, c.killCommand(id, false)
	case mysql.COM_SET_OPTION:
		return false, c.comSetOption(data)
	case mysql.COM_RESET_CONNECTION:
		return false, c.comResetConnection()
	case mysql.COM_CHANGE_USER:
		return false, c.comChangeUser(data)
	case mysql.COM_STMT_PREPARE:
		return false, c.comStmtPrepare(ctx, data)
	case mysql.COM_STMT_EXECUTE:
		return false, c.comStmtExecute(ctx, data)
	case mysql.COM_STMT_SEND_LONG_DATA:
		return false, c.comStmtSendLongData(data)
	case mysql.COM_STMT_CLOSE:
		return false, c.comStmtClose(data)
	case mysql.COM_STMT_RESET:
		return false, c.comStmtReset(data)
	case mysql.COM_STMT_FETCH:
		return false, c.writeErr(notSupported("cursors"))
	default:
		return false, c.writeErr(newError(erUnknownCom, "08S01", "Unknown command"))
	}
}

// malformed answers an undecodable command and ends the connection.
func (c *conn) malformed() error {
	_ = c.writeErr(newError(erMalformedPacket, "08S01", "Malformed communication packet"))
	return errMalformed
}

// killCommand runs KILL [QUERY] id from this connection.
func (c *conn) killCommand(id uint64, query bool) error {
	if err := c.srv.kill(c, id, query); err != nil {
		return c.writeErr(asMyError(err))
	}
	if !query && id == uint64(c.id) {
		// Killing oneself: MariaDB reports it to the client before the connection goes.
		return c.writeErr(newError(erConnectionKilled, "70100", "Connection was killed"))
	}
	return c.writeOK(0, 0, c.status, 0, "")
}

func (c *conn) comSetOption(data []byte) error {
	if len(data) != 2 {
		return c.malformed()
	}
	switch uint16(data[0]) | uint16(data[1])<<8 {
	case 0:
		c.multiStmts = true
	case 1:
		c.multiStmts = false
	default:
		return c.writeErr(newError(erUnknownCom, "08S01", "Unknown command"))
	}
	return c.writeEOF(0, c.status)
}

func (c *conn) comStatistics() error {
	s := c.srv
	uptime := max(int64(time.Since(s.started)/time.Second), 1)
	q := s.questions.Load()
	c.out = c.out[:0]
	c.out = append(c.out, "Uptime: "...)
	c.out = strconv.AppendInt(c.out, uptime, 10)
	c.out = append(c.out, "  Threads: "...)
	c.out = strconv.AppendInt(c.out, int64(s.ConnCount()), 10)
	c.out = append(c.out, "  Questions: "...)
	c.out = strconv.AppendUint(c.out, q, 10)
	c.out = append(c.out, "  Slow queries: 0  Opens: 0  Open tables: 0  Queries per second avg: "...)
	c.out = strconv.AppendFloat(c.out, float64(q)/float64(uptime), 'f', 3, 64)
	return c.pc.writePacket(c.out)
}

// comResetConnection gives the client a fresh session as COM_RESET_CONNECTION does in MariaDB: rolled
// back, prepared statements and session state gone, the same default database and connection id.
func (c *conn) comResetConnection() error {
	db := c.sess.CurrentDB()
	if err := c.replaceSession(c.user, db); err != nil {
		return err
	}
	return c.writeOK(0, 0, c.status, 0, "")
}

// comChangeUser re-authenticates the connection as another user.
func (c *conn) comChangeUser(data []byte) error {
	resp, err := parseChangeUser(data, c.caps)
	if err != nil {
		return c.malformed()
	}
	reply := resp.auth
	if c.caps&mysql.CLIENT_PLUGIN_AUTH != 0 && resp.plugin != "" && resp.plugin != nativePlugin {
		c.out = appendAuthSwitch(c.out[:0], c.salt)
		if err := c.pc.writePacket(c.out); err != nil {
			return err
		}
		if err := c.pc.flush(); err != nil {
			return err
		}
		p, err := c.pc.readPacket()
		if err != nil {
			return err
		}
		reply = append([]byte(nil), p...)
	}
	acct, ok := c.srv.cfg.Engine.Account(resp.user, c.host)
	if !ok || !checkNative(c.salt, reply, acct.NativeHash) || acct.Locked {
		// MariaDB closes the connection after a failed change-user.
		_ = c.writeErr(accessDenied(resp.user, c.host, len(reply) > 0))
		return errors.New("change user: access denied")
	}
	c.acct = acct
	if err := c.replaceSession(resp.user, resp.db); err != nil {
		return err
	}
	return c.writeOK(0, 0, c.status, 0, "")
}

// replaceSession closes the session and its prepared statements and opens a new one. A failure is
// answered to the client and ends the connection, which then has no usable session.
func (c *conn) replaceSession(user, db string) error {
	for _, st := range c.stmts {
		c.closeStmt(st)
	}
	c.unwatch()
	c.sess.Close()
	c.sess = nil
	c.status = mysql.SERVER_STATUS_AUTOCOMMIT
	c.mu.Lock()
	c.user = user
	c.mu.Unlock()
	sess, err := c.srv.cfg.Engine.NewSession(c.id, user, c.host)
	if err != nil {
		_ = c.writeErr(asMyError(err))
		return fmt.Errorf("new session: %w", err)
	}
	c.setSession(sess)
	if db != "" {
		if err := sess.UseDB(db); err != nil {
			_ = c.writeErr(asMyError(err))
			return fmt.Errorf("use %q: %w", db, err)
		}
	}
	return nil
}
