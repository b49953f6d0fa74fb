// Package backend is one logged-in connection from the proxy to a MariaDB
// server: login (package protocol) plus framed packet I/O plus the reply
// tracker.
//
// Two ways to use it:
//   - Relay writes one client command and streams the reply packets to the
//     client as they arrive, flushing once at the end of the reply. Nothing
//     is materialised: a slow client blocks the backend read when the write
//     buffer is full.
//   - Exec (and Command, Ping, ResetConnection) run internal commands such
//     as session-history replay and return only the reply's summary.
//   - ChangeUser re-authenticates a pooled connection for another account.
//
// A Conn is used by one goroutine at a time. After an error returned by
// Relay or Exec the connection is Broken and must be closed: the position in
// the reply stream is unknown.
package backend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/maxproxy/maxproxy/proxy/protocol"
)

// ErrBroken is returned by Relay and Exec on a connection that failed
// earlier.
var ErrBroken = errors.New("backend: connection is broken")

// ErrInfileRefused is returned by Exec when a statement asks for a LOCAL
// INFILE transfer, which internal statements never do.
var ErrInfileRefused = errors.New("backend: LOCAL INFILE requested by an internal statement")

// Conn is a logged-in backend connection.
type Conn struct {
	conn    *protocol.Conn
	info    protocol.ServerInfo
	tracker protocol.Tracker
	cmd     []byte
	broken  bool

	// watched is the deadline-free context whose cancellation currently
	// interrupts this connection's I/O, and unwatch removes that hook. A
	// session passes the same context with every command, so the hook is
	// registered once instead of once per statement (see watch).
	watched context.Context
	unwatch func() bool
}

// Dial connects to addr over TCP, bounded by ctx and timeout (0: ctx only),
// and logs in with cfg.
func Dial(ctx context.Context, addr string, timeout time.Duration, cfg *protocol.LoginConfig) (*Conn, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", addr, err)
	}
	nc = protocol.RawTCP(nc)
	pc, info, err := protocol.Login(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("backend %s: login: %w", addr, err)
	}
	return &Conn{conn: pc, info: *info}, nil
}

// Info describes the server and the negotiated session.
func (c *Conn) Info() *protocol.ServerInfo { return &c.info }

// ConnectionID is the backend's thread id.
func (c *Conn) ConnectionID() uint32 { return c.info.ConnectionID }

// Broken reports whether the connection must be closed.
func (c *Conn) Broken() bool { return c.broken }

// Close sends COM_QUIT (best effort, bounded) and closes the socket.
func (c *Conn) Close() error {
	if c.unwatch != nil {
		c.unwatch()
		c.unwatch, c.watched = nil, nil
	}
	if !c.broken {
		_ = c.conn.SetDeadline(time.Now().Add(time.Second))
		c.conn.ResetSequence()
		if c.conn.WritePacket([]byte{mysql.COM_QUIT}) == nil {
			_ = c.conn.Flush()
		}
	}
	c.broken = true
	return c.conn.Close()
}

// ChangeUser re-authenticates the idle connection as another account with
// COM_CHANGE_USER, which also resets its session state; pools use it to
// reuse a connection for a different client. A refusal leaves the
// connection Broken (MariaDB closes it) and returns a wrapped
// *protocol.Error.
func (c *Conn) ChangeUser(ctx context.Context, cfg *protocol.LoginConfig) error {
	if c.broken {
		return ErrBroken
	}
	if err := protocol.ChangeUserLogin(ctx, c.conn, &c.info, cfg); err != nil {
		c.broken = true
		return fmt.Errorf("backend %d: change user to %s: %w", c.info.ConnectionID, cfg.User, err)
	}
	return nil
}

// Client is the client side of a relay. *protocol.Conn implements it.
type Client interface {
	ReadPacket() ([]byte, error)
	WritePacket(payload []byte) error
	Flush() error
}

// Result describes a relayed reply.
type Result struct {
	// Reply is the tracker's summary; valid until the next command.
	Reply *protocol.Reply
	// Forwarded counts reply packets handed to the client. Zero means the
	// client saw nothing, so the command may be retried elsewhere; otherwise
	// protocol.Conn.Rewind (with a Mark taken before Relay) tells whether
	// they are still withdrawable from the client's write buffer.
	Forwarded int
	// ClientErr is a failure writing to the client. The reply was still read
	// to its end, so the backend connection stays usable.
	ClientErr error
}

// Relay sends cmd (a client command payload) and streams the reply to
// client until the tracker reports its end, answering LOCAL INFILE requests
// with the client's file packets. The client's sequence ids continue from
// the command packet it sent; the backend's start at 0.
//
// An error means the backend connection failed or spoke out of protocol; it
// is then Broken. ctx cancellation interrupts blocked backend I/O; the
// owner of the client connection interrupts client I/O by closing it.
func (c *Conn) Relay(ctx context.Context, client Client, cmd []byte) (Result, error) {
	if c.broken {
		return Result{}, ErrBroken
	}
	res := Result{Reply: c.tracker.Reply()}
	if err := ctx.Err(); err != nil {
		return res, err // nothing sent: the connection is intact
	}
	expect, err := c.tracker.Start(cmd, c.info.Capabilities)
	if err != nil {
		return res, err // nothing was sent: the connection is intact
	}
	if stop := c.watch(ctx); stop != nil {
		defer stop()
	}
	if err := c.send(cmd); err != nil {
		return res, c.fail(ctx, err)
	}
	if !expect {
		if cmd[0] == mysql.COM_QUIT {
			c.broken = true // the server closes the connection
		}
		return res, nil
	}
	for {
		p, err := c.conn.ReadPacket()
		if err != nil {
			return res, c.fail(ctx, fmt.Errorf("read reply: %w", err))
		}
		if res.ClientErr == nil {
			if res.ClientErr = client.WritePacket(p); res.ClientErr == nil {
				res.Forwarded++
			}
		}
		step, err := c.tracker.Feed(p)
		if err != nil {
			return res, c.fail(ctx, err)
		}
		switch step {
		case protocol.Done:
			if res.ClientErr == nil {
				res.ClientErr = client.Flush()
			}
			return res, nil
		case protocol.SendInfile:
			if res.ClientErr == nil {
				res.ClientErr = client.Flush()
			}
			if res.ClientErr != nil {
				// Without the client's file the LOAD cannot finish with the
				// data the client meant; abandon the connection so that
				// nothing partial is committed.
				return res, c.fail(ctx, fmt.Errorf("client gone during LOCAL INFILE: %w", res.ClientErr))
			}
			if err := c.pipeInfile(client); err != nil {
				return res, c.fail(ctx, err)
			}
		}
	}
}

// pipeInfile copies the client's file packets, up to and including the
// empty one that ends the file, to the backend.
func (c *Conn) pipeInfile(client Client) error {
	for {
		p, err := client.ReadPacket()
		if err != nil {
			return fmt.Errorf("read LOCAL INFILE data from client: %w", err)
		}
		if err := c.conn.WritePacket(p); err != nil {
			return fmt.Errorf("forward LOCAL INFILE data: %w", err)
		}
		if len(p) == 0 {
			return c.conn.Flush()
		}
	}
}

// Exec runs one internal statement (session-history replay) and discards
// its rows. A statement the server rejects returns the server's
// *protocol.Error and leaves the connection usable; other errors break it.
// The Reply is valid until the next command.
func (c *Conn) Exec(ctx context.Context, sql string) (*protocol.Reply, error) {
	c.cmd = append(append(c.cmd[:0], mysql.COM_QUERY), sql...)
	return c.Command(ctx, c.cmd)
}

// Ping sends COM_PING (connection keepalive).
func (c *Conn) Ping(ctx context.Context) error {
	_, err := c.Command(ctx, []byte{mysql.COM_PING})
	return err
}

// ResetConnection sends COM_RESET_CONNECTION: session variables, temporary
// tables, prepared statements and locks are dropped, the login stays.
func (c *Conn) ResetConnection(ctx context.Context) error {
	_, err := c.Command(ctx, []byte{mysql.COM_RESET_CONNECTION})
	return err
}

// Command sends one internal command and reads its reply to the end,
// discarding it, with the error semantics of Exec. A LOCAL INFILE request
// is answered with an empty file and reported as ErrInfileRefused.
func (c *Conn) Command(ctx context.Context, cmd []byte) (*protocol.Reply, error) {
	if c.broken {
		return nil, ErrBroken
	}
	if err := ctx.Err(); err != nil {
		return nil, err // nothing sent: the connection is intact
	}
	expect, err := c.tracker.Start(cmd, c.info.Capabilities)
	if err != nil {
		return nil, err
	}
	if stop := c.watch(ctx); stop != nil {
		defer stop()
	}
	if err := c.send(cmd); err != nil {
		return nil, c.fail(ctx, err)
	}
	if !expect {
		if cmd[0] == mysql.COM_QUIT {
			c.broken = true
		}
		return c.tracker.Reply(), nil
	}
	infile := false
	for {
		p, err := c.conn.ReadPacket()
		if err != nil {
			return nil, c.fail(ctx, fmt.Errorf("read reply: %w", err))
		}
		step, err := c.tracker.Feed(p)
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		switch step {
		case protocol.SendInfile:
			infile = true
			if err := c.conn.WritePacket(nil); err != nil {
				return nil, c.fail(ctx, err)
			}
			if err := c.conn.Flush(); err != nil {
				return nil, c.fail(ctx, err)
			}
		case protocol.Done:
			r := c.tracker.Reply()
			if r.IsErr {
				return r, r.Error()
			}
			if infile {
				return r, ErrInfileRefused
			}
			return r, nil
		}
	}
}

func (c *Conn) send(cmd []byte) error {
	c.conn.ResetSequence()
	if err := c.conn.WritePacket(cmd); err != nil {
		return err
	}
	return c.conn.Flush()
}

// watch makes ctx cancellation interrupt blocked I/O on the backend socket.
// It returns the function that undoes it, or nil when nothing is left to
// undo after the call: for contexts that can never end, and for a
// deadline-free context such as a session's, whose hook stays registered
// across commands until the context changes or Close. That keeps the
// per-statement path free of allocations and of the context's lock.
func (c *Conn) watch(ctx context.Context) func() {
	if ctx.Done() == nil {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		if ctx != c.watched {
			if c.unwatch != nil {
				c.unwatch()
			}
			c.watched = ctx
			c.unwatch = context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
		}
		return nil
	}
	if d, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		_ = c.conn.SetDeadline(time.Time{})
	}
}

func (c *Conn) fail(ctx context.Context, err error) error {
	c.broken = true
	return fmt.Errorf("backend %d: %w", c.info.ConnectionID, protocol.ContextError(ctx, err))
}
