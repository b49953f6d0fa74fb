package monitor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/maxproxy/maxproxy/monitor/galera"
)

// Prober reads one server's state. The monitor owns one Prober per server
// and never calls it from two goroutines at once.
type Prober interface {
	// Probe connects if needed and reads the server's wsrep status. The
	// result's Server field is filled in by the monitor. Probe returns
	// when ctx is done, at the latest.
	Probe(ctx context.Context) galera.Probe
	// Exec runs one statement on the probing connection (set_donor_nodes).
	Exec(ctx context.Context, stmt string) error
	// Close releases the connection.
	Close() error
}

// ProberFactory makes the Prober for one server.
type ProberFactory func(Server) Prober

// The queries a probe sends. A node that is not ready answers only SET and
// SHOW (GALERA.md §3.1), so everything is read with SHOW. Both are
// filtered on the wsrep prefix on the server and by name here.
const (
	statusQuery    = "SHOW STATUS LIKE 'wsrep%'"
	variablesQuery = "SHOW VARIABLES LIKE 'wsrep%'"
)

var wantedVars = func() map[string]bool {
	m := make(map[string]bool, len(galera.StatusNames))
	for _, n := range galera.StatusNames {
		m[n] = true
	}
	return m
}()

// mysqlProber keeps one go-mysql client connection to a server.
type mysqlProber struct {
	srv  Server
	opts Options
	conn *client.Conn // nil when disconnected
}

func newMySQLProber(opts Options) ProberFactory {
	return func(s Server) Prober { return &mysqlProber{srv: s, opts: opts} }
}

// Close says goodbye with COM_QUIT, so that the server does not log an
// aborted connection, and closes the socket.
func (p *mysqlProber) Close() error {
	if p.conn == nil {
		return nil
	}
	c := p.conn
	p.conn = nil
	if err := c.Quit(); err != nil {
		c.Close()
	}
	return nil
}

// drop discards a connection that failed: nothing more is sent on it.
func (p *mysqlProber) drop() {
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

func (p *mysqlProber) Probe(ctx context.Context) (res galera.Probe) {
	defer func() {
		// go-mysql's client can panic on malformed server packets (for
		// example a public key that is not PEM): a broken server is
		// reported as down instead of taking the proxy with it.
		if v := recover(); v != nil {
			p.drop()
			res = galera.Probe{Err: fmt.Sprintf("%s: MySQL client failed: %v", p.srv.Name, v)}
		}
	}()
	fresh := false
	if p.conn == nil {
		if err := p.connect(ctx); err != nil {
			return galera.Probe{AuthError: isAccessDenied(err), Err: err.Error()}
		}
		fresh = true
	}
	vars, err := p.read(ctx)
	if err != nil && !fresh && !isServerError(err) && !isTimeout(err) && ctx.Err() == nil {
		// The kept connection broke (server restart, idle timeout): one
		// new connection decides whether the server is really down. A
		// server that let the read time out is hung, and waiting for it
		// again would only keep its stale state published longer.
		if cerr := p.connect(ctx); cerr != nil {
			return galera.Probe{AuthError: isAccessDenied(cerr), Err: cerr.Error()}
		}
		vars, err = p.read(ctx)
	}
	if err != nil {
		if !isServerError(err) {
			p.drop()
			return galera.Probe{Err: err.Error()}
		}
		// The server answered with an error: it is running, but we cannot
		// read its state; lacking privileges is MaxScale's Auth Error.
		return galera.Probe{Up: true, AuthError: isAccessDenied(err), Err: err.Error()}
	}
	res = galera.Probe{Up: true, HasStatus: true, Status: galera.ParseStatus(vars)}
	// A node that is not ready refuses SELECTs on tables (1047), and its
	// copy of the marker does not count anyway.
	if p.opts.StickyWriter && res.Status.Ready {
		m, err := p.readMarker(ctx)
		if err != nil {
			res.MarkerErr = err.Error()
			if !isServerError(err) {
				p.drop()
			}
		}
		res.Marker = m
	}
	return res
}

// readMarker reads the writer marker; a missing schema, table or row is a
// marker of version 0 that the first writer creates.
func (p *mysqlProber) readMarker(ctx context.Context) (galera.WriterMarker, error) {
	r, err := p.query(ctx, markerQuery)
	if err != nil {
		var me *mysql.MyError
		if errors.As(err, &me) && (me.Code == mysql.ER_NO_SUCH_TABLE || me.Code == mysql.ER_BAD_DB_ERROR) {
			return galera.WriterMarker{Read: true}, nil
		}
		return galera.WriterMarker{}, err
	}
	m := galera.WriterMarker{Read: true}
	if r.Resultset != nil && len(r.Values) > 0 && len(r.Fields) >= 2 {
		m.Node, _ = r.GetString(0, 0)
		if m.Version, err = r.GetInt(0, 1); err != nil {
			return galera.WriterMarker{}, fmt.Errorf("%s: writer marker version: %w", p.srv.Name, err)
		}
	}
	return m, nil
}

func (p *mysqlProber) Exec(ctx context.Context, stmt string) (err error) {
	defer func() {
		if v := recover(); v != nil {
			p.drop()
			err = fmt.Errorf("%s: MySQL client failed: %v", p.srv.Name, v)
		}
	}()
	if p.conn == nil {
		return fmt.Errorf("%s: not connected", p.srv.Name)
	}
	_, err = p.query(ctx, stmt)
	if err != nil && !isServerError(err) {
		p.drop()
	}
	return err
}

func (p *mysqlProber) connect(ctx context.Context) error {
	p.drop()
	var err error
	for attempt := 0; attempt < p.opts.BackendConnectAttempts; attempt++ {
		var c *client.Conn
		c, err = p.dial(ctx)
		if err == nil {
			p.conn = c
			return nil
		}
		if isAccessDenied(err) || ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("connect to %s (%s): %w", p.srv.Name, p.srv.Address, err)
}

func (p *mysqlProber) dial(ctx context.Context) (conn *client.Conn, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.BackendConnectTimeout)
	defer cancel()
	d := &net.Dialer{Timeout: p.opts.BackendConnectTimeout}
	var raw net.Conn
	stop := func() bool { return true }
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			// backend_connect_timeout bounds the login too, as in
			// MaxScale: a server that accepts but never greets is down.
			raw = c
			stop = context.AfterFunc(ctx, func() { c.Close() })
		}
		return c, err
	}
	defer func() {
		// See Probe: a panic in the handshake must not leak the socket.
		if v := recover(); v != nil {
			if raw != nil {
				raw.Close()
			}
			conn, err = nil, fmt.Errorf("handshake failed: %v", v)
		}
	}()
	defer func() {
		if !stop() {
			// Whatever the handshake returned, the timer closed its socket.
			conn, err = nil, fmt.Errorf("no login within backend_connect_timeout (%v): %w",
				p.opts.BackendConnectTimeout, ctx.Err())
		}
	}()
	configure := func(c *client.Conn) error {
		// Queries are bounded by their own deadline (see query); the
		// per-packet read timeout is only a backstop behind it, longer so
		// that a timeout is always seen as the query's.
		c.ReadTimeout = p.opts.BackendReadTimeout + p.opts.BackendConnectTimeout
		c.WriteTimeout = p.opts.BackendWriteTimeout
		// go-mysql defaults to utf8mb4_0900_ai_ci (255), which MariaDB
		// does not know (DEPS.md pitfall 3).
		return c.SetCollation("utf8mb4_general_ci")
	}
	return client.ConnectWithDialer(ctx, "", p.srv.Address, p.opts.User, p.opts.Password, "", dial, configure)
}

// read runs both SHOW statements and returns the wanted rows.
func (p *mysqlProber) read(ctx context.Context) (map[string]string, error) {
	vars := make(map[string]string, len(wantedVars))
	for _, q := range []string{statusQuery, variablesQuery} {
		res, err := p.query(ctx, q)
		if err != nil {
			return nil, err
		}
		if res.Resultset == nil || len(res.Fields) < 2 {
			return nil, fmt.Errorf("%s: %q returned no two-column result", p.srv.Name, q)
		}
		for i := range res.Values {
			name, _ := res.GetString(i, 0)
			name = strings.ToLower(name)
			if !wantedVars[name] {
				continue
			}
			v, _ := res.GetString(i, 1)
			vars[name] = v
		}
	}
	return vars, nil
}

// query runs one statement under the read timeout; cancelling ctx closes
// the connection so that a hung server cannot hold the probe.
func (p *mysqlProber) query(ctx context.Context, q string) (*mysql.Result, error) {
	conn := p.conn
	if conn == nil {
		return nil, fmt.Errorf("%s: not connected", p.srv.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.BackendReadTimeout)
	defer cancel()
	// Only the socket may be closed from another goroutine: go-mysql's
	// Close also resets protocol state that Execute is using.
	raw := conn.Conn.Conn
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	res, err := conn.Execute(q)
	if !stop() {
		// The deadline fired or the monitor is closing: whatever Execute
		// returned, the connection is gone.
		p.conn = nil
		return nil, fmt.Errorf("%s: %s: %w", p.srv.Name, q, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", p.srv.Name, q, err)
	}
	return res, nil
}

// isTimeout reports whether err is a read or write deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// isServerError reports whether the server itself answered with an error
// packet (as opposed to a network failure).
func isServerError(err error) bool {
	var me *mysql.MyError
	return errors.As(err, &me)
}

// isAccessDenied: the server refused our credentials or privileges.
func isAccessDenied(err error) bool {
	var me *mysql.MyError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Code {
	case mysql.ER_ACCESS_DENIED_ERROR, mysql.ER_DBACCESS_DENIED_ERROR,
		mysql.ER_ACCESS_DENIED_NO_PASSWORD_ERROR, mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR,
		mysql.ER_TABLEACCESS_DENIED_ERROR:
		return true
	}
	return false
}

var _ Prober = (*mysqlProber)(nil)
