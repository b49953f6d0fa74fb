package session

import (
	"fmt"
	"strings"

	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/protocol"
	"github.com/maxproxy/maxproxy/router"
)

// Sessions leaving servers that left routing.
//
// A server the operator put in maintenance, or that the monitor no longer
// reports as a usable Master, Slave or Synced node (down, a donor or
// joiner, outside the primary component), gets no new statements: the
// router skips it. Sessions that already hold a connection to it close
// that connection at its next safe point instead of at once, so that
// no client sees an error for it (MaxScale's readwritesplit does the same
// with servers in maintenance: ongoing requests and open transactions
// finish first). A safe point for a connection is a command boundary at
// which nothing the client may still rely on lives only there (see
// binding). Draining servers keep serving the sessions they have.
//
// When the writer goes into maintenance the monitor names another one and
// the session's writes follow it at their next safe point (through
// master_reconnection, which replays the session command history on the
// new connection). Until then a session whose temporary tables or locks
// are on the old writer keeps writing there: Galera accepts writes on any
// node, and moving would silently lose that state.
//
// An idle session keeps its connection until its next command, as in
// MaxScale; `set server NAME maintenance --force` closes such sessions.
// A readconnroute session has one connection and no history to rebuild
// another, so it is closed instead (leaveFixed).

// binding is a set of reasons a connection must stay open for now.
type binding uint8

const (
	// bindTrx: the session's open transaction runs on the connection.
	bindTrx binding = 1 << iota
	// bindPrevious: the connection ran the previous statement, whose
	// per-statement state the next one may read (FOUND_ROWS(),
	// ROW_COUNT(), SHOW WARNINGS are routed to it).
	bindPrevious
	// bindCursor: a prepared statement has an open cursor on it
	// (COM_STMT_FETCH reads from it).
	bindCursor
	// bindLongData: a prepared statement received SEND_LONG_DATA on it
	// for its next EXECUTE.
	bindLongData
	// bindTempTables, bindNamedLock, bindLockTables: session state the
	// writer connection holds and no other connection can be given.
	bindTempTables
	bindNamedLock
	bindLockTables
)

// writerState is the state that ties a session's writes to its writer.
const writerState = bindTempTables | bindNamedLock | bindLockTables

var bindingNames = [...]string{"open transaction", "previous statement", "open cursor",
	"pending SEND_LONG_DATA", "temporary tables", "GET_LOCK", "LOCK TABLES"}

// String lists the reasons, comma separated.
func (b binding) String() string {
	var parts []string
	for i, n := range bindingNames {
		if b&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ", ")
}

// bindings returns what keeps the session on c; 0 means that c is at a
// safe point and may be closed without the client noticing.
func (s *Session) bindings(c *backendConn) binding {
	var b binding
	if s.fixed == c {
		// readconnroute's only connection: closing it is closing the
		// session. Treated as an open transaction, which it outlives.
		b |= bindTrx
	}
	if s.trx == c && s.rs.InTransaction() {
		b |= bindTrx
	}
	if s.prev == c {
		b |= bindPrevious
	}
	for _, st := range s.stmts {
		if st.cursor && st.last == c {
			b |= bindCursor
		}
		if st.pinned == c {
			b |= bindLongData
		}
	}
	if s.writer == c {
		// TempTables copies: this runs only for connections to servers
		// that left routing, never per statement.
		if len(s.rs.TempTables()) > 0 {
			b |= bindTempTables
		}
		pins := s.rs.Pins()
		if pins&router.PinGetLock != 0 {
			b |= bindNamedLock
		}
		if pins&router.PinLockedTables != 0 {
			b |= bindLockTables
		}
	}
	return b
}

// leftRouting reports whether a server takes no new statements: gone from
// the monitor's view, in maintenance, unreachable, or in no role that
// routing uses (a donor without available_when_donor, a joiner, a node
// outside the primary component).
func leftRouting(ts *topology.Server) bool {
	if ts == nil {
		return true
	}
	st := ts.State
	return st.Has(topology.Maintenance) || !st.Has(topology.Running) ||
		st&(topology.Master|topology.Slave|topology.Synced) == 0
}

// leaveStale closes, at the start of a command, the session's connections
// to servers that left routing and are at a safe point. It allocates
// nothing unless it closes a connection. A non-nil error ends the session
// (readconnroute, see leaveFixed); the client has been told why.
func (s *Session) leaveStale() error {
	if len(s.conns) == 0 {
		return nil
	}
	snap := s.svc.topo.Load()
	if snap == nil {
		return nil
	}
	if s.fixed != nil {
		return s.leaveFixed(snap)
	}
	for i := len(s.conns) - 1; i >= 0; i-- {
		c := s.conns[i]
		ts := snap.Server(c.srv.Name)
		if !leftRouting(ts) || s.bindings(c) != 0 {
			continue
		}
		if c == s.writer && ts != nil && !ts.State.Has(topology.Maintenance) {
			// The writer's connection goes only when the operator says so:
			// after a probe that merely failed, the session would need
			// master_reconnection to get back to the same server.
			continue
		}
		state := "not monitored"
		if ts != nil {
			state = ts.State.String()
		}
		s.log.Info("closing a connection to a server that left routing", "server", c.srv.Name, "state", state)
		s.release(c) // removes s.conns[i]; the lower indexes stay valid
	}
	return nil
}

// leaveFixed ends a readconnroute session whose server went into
// maintenance, at its first command outside a transaction: the
// session's state lives on that one connection (readconnroute keeps no
// session command history), so it cannot move, and a client that
// reconnects is given a server that takes work. MaxScale's readconnroute
// ends such sessions too, without waiting for the transaction. A server
// that changed role keeps its sessions, and so does one the monitor failed
// to reach: if it is really gone the connection fails on its own, and a
// single failed probe must not end every session on a working server.
func (s *Session) leaveFixed(snap *topology.Snapshot) error {
	name := s.fixed.srv.Name
	ts := snap.Server(name)
	if ts != nil && !ts.State.Has(topology.Maintenance) {
		return nil
	}
	if s.trx == s.fixed && s.rs.InTransaction() {
		return nil // the transaction finishes first
	}
	state := "not monitored"
	if ts != nil {
		state = ts.State.String()
	}
	s.log.Info("closing a readconnroute session: its server left routing", "server", name, "state", state)
	if err := s.writeErr(errLeftRouting(name, state)); err != nil {
		return err
	}
	return fmt.Errorf("server %s left routing (%s)", name, state)
}

// errLeftRouting is ER_CONNECTION_KILLED for a readconnroute session
// closed because its server left routing.
func errLeftRouting(server, state string) *protocol.Error {
	return &protocol.Error{Code: protocol.ERConnectionKilled, State: "70100",
		Message: fmt.Sprintf("maxproxy: server %q left routing (%s); this readconnroute session cannot move to another server and is closed, reconnect to continue", server, state)}
}

// keepWriter reports whether a statement for the master stays on the
// session's writer although the monitor names another one: the writer is
// in maintenance but still a joined node, and the session's temporary
// tables or locks are there.
func (s *Session) keepWriter(d router.Decision, snap *topology.Snapshot) bool {
	w := s.writer
	if w == nil || d.Target != router.TargetMaster || d.Server == w.srv.Name {
		return false
	}
	ts := snap.Server(w.srv.Name)
	if ts == nil || !ts.State.Has(topology.Maintenance) || !ts.State.Has(topology.Running|topology.Synced) {
		return false
	}
	return s.bindings(w)&writerState != 0
}
