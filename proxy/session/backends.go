package session

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/backend"
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/proxy/protocol"
	"github.com/maxproxy/maxproxy/router"
	"github.com/maxproxy/maxproxy/router/classify"
)

// backendConn is one backend connection of a session.
type backendConn struct {
	srv *Server
	bc  *backend.Conn
	// used is when a command was last sent (connection_keepalive).
	used time.Time
}

// discard is the client side of relays whose reply nobody reads: history
// replay, session commands on the non-primary backends, lazy prepares.
type discard struct{}

var errNoClient = errors.New("session: internal command has no client")

func (discard) ReadPacket() ([]byte, error) { return nil, errNoClient }
func (discard) WritePacket([]byte) error    { return nil }
func (discard) Flush() error                { return nil }

// relay runs one command on bc, keeping the server's operation count for
// least_current_operations, counting the command and timing its reply.
func (s *Session) relay(bc *backendConn, cmd []byte, client backend.Client, t metrics.Target) (backend.Result, error) {
	bc.srv.metrics.Routed(t) // counted when sent: the client may look before Relay returns
	bc.srv.active.Add(1)
	start := time.Now()
	bc.used = start
	res, err := bc.bc.Relay(s.ctx, client, cmd)
	if err == nil { // a broken connection's time says nothing about the server's answers
		bc.srv.metrics.Replied(t, time.Since(start))
	}
	bc.srv.active.Add(-1)
	return res, err
}

// open returns the session's connection to srv, opening it (and replaying
// the session command history) when there is none.
func (s *Session) open(srv *Server) (*backendConn, error) {
	for _, c := range s.conns {
		if c.srv == srv {
			return c, nil
		}
	}
	if !s.hist.replayable() {
		return nil, errNoServer(s.svc.cfg.Name, "connection to server "+srv.Name,
			fmt.Sprintf("the session command history exceeded max_sescmd_history (%d) with prune_sescmd_history off, so no new backend connection can be given the session's state", s.hist.max))
	}
	b, err := backend.Dial(s.ctx, srv.Address, s.svc.connect, &protocol.LoginConfig{
		User:               s.info.User,
		Stage1:             s.info.Stage1,
		DB:                 s.db,
		Collation:          s.info.Collation,
		ClientCapabilities: s.info.Capabilities,
		TLS:                srv.TLS,
		Attrs:              s.info.Attrs,
	})
	if err != nil {
		srv.metrics.Errors.Inc()
		s.log.Warn("backend connection failed", "server", srv.Name, "err", err)
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return nil, pe // the backend refused the login: tell the client why
		}
		return nil, errNoServer(s.svc.cfg.Name, fmt.Sprintf("connection to server %q", srv.Name), err.Error())
	}
	s.svc.SetServerVersion(b.Info().ServerVersion)
	c := &backendConn{srv: srv, bc: b, used: time.Now()}
	for _, cmd := range s.hist.cmds {
		res, err := c.bc.Relay(s.ctx, discard{}, cmd)
		if err == nil && res.Reply.IsErr {
			err = res.Reply.Error()
		}
		if err != nil {
			srv.metrics.Errors.Inc()
			_ = b.Close()
			s.log.Warn("session command replay failed on a new backend connection", "server", srv.Name, "err", err)
			return nil, errNoServer(s.svc.cfg.Name, "connection to server "+srv.Name,
				"replaying the session's history failed: "+err.Error())
		}
	}
	s.conns = append(s.conns, c)
	srv.conns.Add(1)
	srv.opened.Add(1)
	srv.metrics.Connections.Inc()
	s.mu.Lock()
	s.threads = append(s.threads, threadRef{srv: srv, id: b.ConnectionID()})
	s.mu.Unlock()
	return c, nil
}

// release closes c and forgets it everywhere in the session.
func (s *Session) release(c *backendConn) {
	_ = c.bc.Close()
	c.srv.conns.Add(-1)
	c.srv.metrics.Connections.Dec()
	s.conns = slices.DeleteFunc(s.conns, func(x *backendConn) bool { return x == c })
	s.mu.Lock()
	s.threads = slices.DeleteFunc(s.threads, func(t threadRef) bool { return t.srv == c.srv && t.id == c.bc.ConnectionID() })
	s.mu.Unlock()
	if s.prev == c {
		s.prev = nil
	}
	if s.fixed == c {
		s.fixed = nil
	}
	if s.writer == c {
		s.writer = nil
	}
	if s.trx == c {
		// Whatever dropped it, the transaction is gone with it: the next
		// command must not silently start over elsewhere.
		s.trx, s.trxLost = nil, c.srv.Name
	}
	for _, st := range s.stmts {
		st.forget(c)
	}
}

// drop releases a backend connection that failed.
func (s *Session) drop(c *backendConn, err error) {
	c.srv.metrics.Errors.Inc()
	s.log.Warn("backend connection lost", "server", c.srv.Name, "thread", c.bc.ConnectionID(), "err", err)
	s.release(c)
}

// primary is the backend whose reply a command sent to several backends
// returns: the master's connection when open, else the oldest one.
func (s *Session) primary() *backendConn {
	if s.fixed != nil {
		return s.fixed
	}
	if len(s.conns) == 0 {
		return nil
	}
	if m := s.svc.topo.Load().Master(); m != nil {
		for _, c := range s.conns {
			if c.srv.Name == m.Name {
				return c
			}
		}
	}
	return s.conns[0]
}

// serverSet is a set of a service's servers by position.
type serverSet uint64

func (s *Service) index(srv *Server) int { return slices.Index(s.servers, srv) }

func (x serverSet) has(i int) bool { return i >= 0 && i < 64 && x&(1<<i) != 0 }
func (x *serverSet) add(i int) {
	if i >= 0 && i < 64 {
		*x |= 1 << i
	}
}

// without returns snap with the servers in x marked down, so that routing
// again avoids the servers that failed this statement. It copies only on
// that failure path.
func (s *Service) without(snap *topology.Snapshot, x serverSet) *topology.Snapshot {
	if x == 0 || snap == nil {
		return snap
	}
	c := *snap
	c.Servers = slices.Clone(snap.Servers)
	for i := range c.Servers {
		if srv := s.byName[c.Servers[i].Name]; srv != nil && x.has(s.index(srv)) {
			c.Servers[i].State &^= topology.Running
		}
	}
	return &c
}

// readerCapped reports whether opening a connection to reader name would
// exceed max_slave_connections.
func (s *Session) readerCapped(name string, snap *topology.Snapshot) bool {
	readers := 0
	for _, c := range s.conns {
		if c.srv.Name == name {
			return false
		}
		if ts := snap.Server(c.srv.Name); ts != nil && !ts.State.Has(topology.Master) {
			readers++
		}
	}
	return readers >= s.svc.cfg.MaxSlaveConnections
}

// openReader returns an open connection to a usable reader, or nil.
func (s *Session) openReader(snap *topology.Snapshot, excluded serverSet) *backendConn {
	for _, c := range s.conns {
		ts := snap.Server(c.srv.Name)
		if ts != nil && ts.State.Has(topology.Slave|topology.Running) && ts.State&topology.Maintenance == 0 &&
			!excluded.has(s.svc.index(c.srv)) {
			return c
		}
	}
	return nil
}

// reasonConnection marks readconnroute's decisions.
const reasonConnection = "connection"

// metricTarget maps a router decision to the bounded metric label.
func metricTarget(d router.Decision) metrics.Target {
	switch d.Reason {
	case reasonConnection:
		return metrics.TargetConn
	case router.ReasonHintMaster, router.ReasonHintSlave, router.ReasonHintServer, router.ReasonHintLast:
		return metrics.TargetHint
	}
	switch d.Target {
	case router.TargetSlave:
		return metrics.TargetSlave
	case router.TargetAll:
		return metrics.TargetAll
	case router.TargetPrevious:
		return metrics.TargetPrevious
	case router.TargetServer:
		return metrics.TargetHint
	}
	return metrics.TargetMaster
}

// pick routes req with the router and returns the decision and the backend
// connection to run it on (nil for TargetAll, which the caller sends to
// every backend). Servers in excluded failed this statement already. When
// the router finds no server, pick waits for a new topology up to
// delayed_retry_timeout with delayed_retry on (and, before the monitor's
// first report, up to the connect timeout in any case), then fails with a
// *protocol.Error naming the reason.
func (s *Session) pick(req router.Request, excluded serverSet) (router.Decision, *backendConn, error) {
	if s.fixed != nil {
		return router.Decision{Target: router.TargetServer, Server: s.fixed.srv.Name, Reason: reasonConnection}, s.fixed, nil
	}
	if s.svc.cfg.Router == config.ReadConnRoute {
		return router.Decision{}, nil, errNoServer(s.svc.cfg.Name, "server", "the session's server connection was lost")
	}
	var deadline time.Time
	var lastErr error
	for attempts := 0; ; attempts++ {
		snap := s.svc.topo.Load()
		d := router.Route(req, &s.rs, s.svc.without(snap, excluded), &s.svc.ropts, s.svc.load)
		if d.Target == router.TargetAll {
			return d, nil, nil
		}
		if s.trx != nil && s.rs.InTransaction() {
			// The transaction lives on its backend even when the monitor
			// has moved the master meanwhile.
			d.Server = s.trx.srv.Name
			return d, s.trx, nil
		}
		if s.keepWriter(d, snap) {
			d.Server = s.writer.srv.Name
			return d, s.writer, nil
		}
		if d.Target == router.TargetPrevious && s.prev != nil && s.prev.srv.Name == d.Server {
			return d, s.prev, nil
		}
		if d.Target == router.TargetSlave && d.Server != "" && s.readerCapped(d.Server, snap) {
			// max_slave_connections: stay on a reader the session has, or
			// use the writer.
			if c := s.openReader(snap, excluded); c != nil {
				d.Server = c.srv.Name
				return d, c, nil
			}
			req = router.Request{Cmd: router.CmdOther}
			continue
		}
		what := d.Target.String()
		reason := d.Reason
		if d.Server != "" {
			srv := s.svc.byName[d.Server]
			if srv == nil {
				return d, nil, errNoServer(s.svc.cfg.Name, what, fmt.Sprintf("the monitor names server %q, which is not in the service", d.Server))
			}
			toWriter := d.Target == router.TargetMaster
			if toWriter {
				if err := s.mayReconnect(srv); err != nil {
					return d, nil, err
				}
			}
			bc, err := s.open(srv)
			if err == nil {
				if toWriter {
					s.setWriter(bc)
				}
				return d, bc, nil
			}
			lastErr = err
			excluded.add(s.svc.index(srv))
			if d.Target != router.TargetMaster && attempts < len(s.svc.servers) {
				continue // another reader, or the master
			}
			reason = err.Error()
		} else {
			reason = reasonText(d.Reason, snap)
		}
		wait := s.svc.cfg.DelayedRetryTimeout
		switch {
		case snap == nil:
			wait = s.svc.connect
		case !s.svc.cfg.DelayedRetry:
			return d, nil, s.noServer(d, what, reason, lastErr)
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(wait)
		}
		if !s.waitTopology(deadline) {
			return d, nil, s.noServer(d, what, fmt.Sprintf("%s (waited %v)", reason, wait), lastErr)
		}
		excluded, lastErr = 0, nil
	}
}

// noServer is the error for a statement no server can take: the last
// connection failure, or the reason the router gave. With
// master_failure_mode = error_on_write a statement for a missing or
// unreachable master gets MariaDB's read-only error instead, as MaxScale
// sends it.
func (s *Session) noServer(d router.Decision, what, reason string, lastErr error) error {
	switch {
	case d.Target == router.TargetMaster && s.svc.cfg.MasterFailureMode == "error_on_write":
		return errReadOnly()
	case lastErr != nil:
		return lastErr
	}
	return errNoServer(s.svc.cfg.Name, what, reason)
}

func reasonText(reason string, snap *topology.Snapshot) string {
	switch reason {
	case router.ReasonNoMaster:
		return describeStates("no server is Master", snap)
	case router.ReasonNoServer:
		return describeStates("no usable server", snap)
	case router.ReasonReadOnlyTrxLost:
		return describeStates("the server of the read-only transaction is gone", snap)
	}
	return describeStates(reason, snap)
}

// waitTopology waits for a newer snapshot until deadline; false when the
// deadline passed or the session ends.
func (s *Session) waitTopology(deadline time.Time) bool {
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	changed := s.svc.topo.Changed()
	if changed == nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-changed:
		return true
	case <-t.C:
		return false
	case <-s.ctx.Done():
		return false
	}
}

func describeStates(what string, snap *topology.Snapshot) string {
	if snap == nil {
		return what + ": the monitor has not reported the servers' states yet"
	}
	var b strings.Builder
	b.WriteString(what)
	b.WriteString(" (")
	for i, srv := range snap.Servers {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(srv.Name)
		b.WriteString(": ")
		b.WriteString(srv.State.String())
	}
	b.WriteString(")")
	return b.String()
}

// openFixed opens readconnroute's one connection: on prefer when given
// (COM_CHANGE_USER), otherwise where router.RouteConnection says.
func (s *Session) openFixed(prefer *Server) error {
	if prefer != nil {
		c, err := s.open(prefer)
		if err != nil {
			return err
		}
		s.fixed = c
		return nil
	}
	deadline := time.Now().Add(s.svc.connect)
	var excluded serverSet
	var lastErr error
	for {
		snap := s.svc.topo.Load()
		d := router.RouteConnection(s.svc.without(snap, excluded), s.svc.copts, s.svc.connLoad)
		if d.Server != "" {
			srv := s.svc.byName[d.Server]
			if srv == nil {
				return errNoServer(s.svc.cfg.Name, "server", fmt.Sprintf("the monitor names server %q, which is not in the service", d.Server))
			}
			c, err := s.open(srv)
			if err == nil {
				s.fixed = c
				return nil
			}
			lastErr = err
			excluded.add(s.svc.index(srv))
			continue
		}
		if snap != nil || !s.waitTopology(deadline) {
			if lastErr != nil {
				return lastErr
			}
			return errNoServer(s.svc.cfg.Name, "server matching router_options "+strings.Join(s.svc.cfg.RouterOptions, ","),
				reasonText(d.Reason, snap))
		}
	}
}

// isRead reports whether a statement only reads and may be retried on
// another server when nothing of its reply reached the client.
func isRead(c classify.Class) bool {
	const masterFlags = classify.FlagForUpdate | classify.FlagLastInsertID | classify.FlagGetLock |
		classify.FlagSequence | classify.FlagUnknownFunc | classify.FlagIntoOutfile |
		classify.FlagMasterOnly | classify.FlagMultiStmt | classify.FlagUserVarWrite
	return (c.Kind == classify.KindRead || c.Kind == classify.KindShow) && !c.Flags.Any(masterFlags)
}

// canRetry reports whether a failed statement may run again elsewhere:
// an autocommit read, outside any transaction, of which the client has
// seen nothing (retry_failed_reads).
func (s *Session) canRetry(c classify.Class, res backend.Result) bool {
	return res.Forwarded == 0 && res.ClientErr == nil && !s.rs.InTransaction() && isRead(c) &&
		s.svc.cfg.RetryFailedReads && s.svc.cfg.Router != config.ReadConnRoute
}

// routeStatement runs one statement where the router says and relays its
// reply. An autocommit read that fails before anything reached the client
// is retried on another server; a transaction that lost its backend is
// replayed elsewhere when transaction_replay allows (see recover); any
// other failure is reported to the client, and a transaction that lost
// its backend ends the session.
func (s *Session) routeStatement(p []byte, req router.Request) error {
	var rec recovery
	for {
		d, bc, err := s.pick(req, rec.excluded)
		if err != nil {
			if held := rec.held; held != nil {
				// A reader refused the read (1047, or ending the connection)
				// and no other server can take it: the client gets the
				// refusal it would have got.
				return s.sendHeld(held)
			}
			return s.writeErr(err)
		}
		if bc == nil {
			_, err := s.toAll(p, req, true)
			return err
		}
		cmd := p
		if s.needsSync(d, bc) {
			cmd = s.syncWrap(p)
		}
		inTrx := s.rs.InTransaction() && s.trx == bc
		var held []byte
		if inTrx && req.Class.Kind == classify.KindCommit && s.checkCommits() {
			again, answered, h, merr := s.beforeCommit(&rec, bc)
			switch {
			case again:
				continue
			case answered:
				return merr
			}
			held = h
		}
		hashed := s.hashReply(req.Class)
		client := s.sum.start(bc, s.client, hashed, s.holdFor(req.Class, inTrx))
		res, err := s.relayUnlessHeld(bc, cmd, client, metricTarget(d), held)
		if err == nil && s.sum.held == nil {
			started := s.trx == nil
			s.commitAnswered(req.Class)
			s.afterReply(bc, req, d, res.Reply)
			s.causal(req.Class, d, bc, res.Reply)
			s.logStmt(p, nil, req.Class, started, hashed)
			return res.ClientErr
		}
		again, err := s.recover(&rec, bc, req.Class, inTrx, res, err)
		if !again {
			return err
		}
	}
}

// causal_reads = "local": after a write, the session's first read on each
// reader waits until that reader has applied everything the cluster had
// committed when the read arrived (Galera's wsrep_sync_wait), so the
// session reads its own writes. Text reads get the wait through MariaDB's
// SET STATEMENT ... FOR prefix; a prepared read that would need it runs on
// the writer instead. causal_reads_timeout is not applied: Galera's own
// repl.causal_read_timeout bounds the wait.

// needsSync reports whether a read routed to bc must wait for the
// session's earlier writes.
func (s *Session) needsSync(d router.Decision, bc *backendConn) bool {
	return s.svc.causalLocal && s.wrote && d.Target == router.TargetSlave && !s.synced.has(s.svc.index(bc.srv))
}

const syncPrefix = "SET STATEMENT wsrep_sync_wait=1 FOR "

// syncWrap returns the COM_QUERY p with the causal-read prefix, built in
// the session's scratch buffer.
func (s *Session) syncWrap(p []byte) []byte {
	out := append(s.scratch[:0], p[0])
	out = append(out, syncPrefix...)
	out = append(out, p[1:]...)
	if cap(out) <= maxKeptBuffer {
		s.scratch = out
	}
	return out
}

// causal records what a successful statement means for causal reads: a
// write makes every reader unsynced, a synced read marks its reader.
func (s *Session) causal(c classify.Class, d router.Decision, bc *backendConn, r *protocol.Reply) {
	if !s.svc.causalLocal || r.IsErr {
		return
	}
	switch {
	case d.Target == router.TargetSlave:
		if s.wrote {
			s.synced.add(s.svc.index(bc.srv))
		}
	case !isRead(c):
		s.wrote, s.synced = true, 0
	}
}

// lost reports a backend that failed under a statement. When part of the
// reply already reached the client, or a transaction (or readconnroute's
// only connection) was lost, the session ends: the client sees the
// connection close after the error, never a silent loss.
func (s *Session) lost(bc *backendConn, res backend.Result, inTrx bool, err error) error {
	if res.ClientErr != nil {
		return fmt.Errorf("client: %w", res.ClientErr)
	}
	if res.Forwarded > 0 {
		return fmt.Errorf("backend %s failed mid-reply: %w", bc.srv.Name, err)
	}
	// master_failure_mode = fail_instantly closes the session when a
	// connection other than to a reader fails, as MaxScale closes it when
	// the master fails.
	fatal := inTrx || s.svc.cfg.Router == config.ReadConnRoute
	if s.svc.cfg.MasterFailureMode == "fail_instantly" {
		ts := s.svc.topo.Load().Server(bc.srv.Name)
		fatal = fatal || ts == nil || !ts.State.Has(topology.Slave)
	}
	if werr := s.writeErr(errBackendLost(bc.srv.Name, fatal)); werr != nil {
		return werr
	}
	if fatal {
		return fmt.Errorf("backend %s failed: %w", bc.srv.Name, err)
	}
	return nil
}

// afterReply updates the session from a completed reply of bc.
func (s *Session) afterReply(bc *backendConn, req router.Request, d router.Decision, r *protocol.Reply) {
	if bc != nil {
		d.Server = bc.srv.Name
	}
	s.rs.Advance(req, d, router.Reply{OK: !r.IsErr, Status: r.Status, HasStatus: r.HasStatus}, &s.svc.ropts)
	if r.HasStatus {
		switch {
		case !r.InTransaction():
			s.trx = nil
		case s.trx == nil && bc != nil:
			s.trx = bc
		}
	}
	if bc != nil {
		s.prev = bc
	}
}

// sessionCommand sends a session command to every open backend and records
// it in the history; it reports whether it succeeded.
func (s *Session) sessionCommand(p []byte, req router.Request) (bool, error) {
	return s.toAll(p, req, true)
}

// toAll relays p to the primary backend for the client and to every other
// open backend with the reply discarded; a backend whose reply differs
// (an error where the primary succeeded) is dropped, as MaxScale drops a
// replica on which a session command failed. Without any open backend,
// the writer (or, without one, a reader) is opened first.
func (s *Session) toAll(p []byte, req router.Request, record bool) (bool, error) {
	if len(s.conns) == 0 {
		if _, _, err := s.pick(router.Request{Cmd: router.CmdOther}, 0); err != nil {
			read := router.Request{Cmd: router.CmdQuery, Class: classify.Class{Kind: classify.KindRead}}
			if _, _, rerr := s.pick(read, 0); rerr != nil {
				return false, s.writeErr(err)
			}
		}
	}
	primary := s.primary()
	d := router.Decision{Target: router.TargetAll}
	inTrx := s.rs.InTransaction() && s.trx == primary
	res, err := s.relay(primary, p, s.client, metrics.TargetAll)
	if err != nil {
		s.drop(primary, err)
		return false, s.lost(primary, res, inTrx, err)
	}
	ok := !res.Reply.IsErr
	s.afterReply(nil, req, d, res.Reply)
	if ok {
		for _, o := range slices.Clone(s.conns) {
			if o == primary {
				continue
			}
			r, err := s.relay(o, p, discard{}, metrics.TargetAll)
			if err == nil && r.Reply.IsErr {
				err = r.Reply.Error()
			}
			if err != nil {
				s.drop(o, fmt.Errorf("session command failed here but not on %s: %w", primary.srv.Name, err))
			}
		}
		if record {
			s.hist.add(p)
		}
	}
	return ok, res.ClientErr
}
