package session

import (
	"testing"

	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/router"
	"github.com/maxproxy/maxproxy/router/classify"
)

// TestBindings: what keeps a session on a connection to a server that
// left routing, statement by statement as a client would run them.
func TestBindings(t *testing.T) {
	cls := classify.New(100)
	var opts router.Options
	const (
		inTrx      = router.StatusInTrans | router.StatusAutocommit
		autocommit = router.StatusAutocommit
	)
	type step struct {
		sql    string
		on     string // "w" (writer) or "r" (reader): the connection that ran it
		status uint16
	}
	for _, tc := range []struct {
		name   string
		steps  []step
		writer binding // expected on the writer connection
		reader binding // expected on the reader connection
	}{
		{"idle after a write and a read", []step{{"INSERT INTO t VALUES (1)", "w", autocommit}, {"SELECT 1", "r", autocommit}},
			0, bindPrevious},
		{"previous statement on the writer", []step{{"SELECT 1", "r", autocommit}, {"INSERT INTO t VALUES (1)", "w", autocommit}},
			bindPrevious, 0},
		{"open transaction on the writer", []step{{"SELECT 1", "r", autocommit}, {"BEGIN", "w", inTrx}, {"INSERT INTO t VALUES (1)", "w", inTrx}},
			bindTrx | bindPrevious, 0},
		{"committed transaction", []step{{"BEGIN", "w", inTrx}, {"INSERT INTO t VALUES (1)", "w", inTrx}, {"COMMIT", "w", autocommit}, {"SELECT 1", "r", autocommit}},
			0, bindPrevious},
		{"read-only transaction on the reader", []step{{"INSERT INTO t VALUES (1)", "w", autocommit}, {"START TRANSACTION READ ONLY", "r", inTrx | router.StatusInTransReadOnly}, {"SELECT 1", "r", inTrx}},
			0, bindTrx | bindPrevious},
		{"temporary table", []step{{"CREATE TEMPORARY TABLE tmp (x INT)", "w", autocommit}, {"SELECT 1", "r", autocommit}},
			bindTempTables, bindPrevious},
		{"temporary table dropped", []step{{"CREATE TEMPORARY TABLE tmp (x INT)", "w", autocommit}, {"DROP TEMPORARY TABLE tmp", "w", autocommit}, {"SELECT 1", "r", autocommit}},
			0, bindPrevious},
		{"named lock", []step{{"SELECT GET_LOCK('l', 1)", "w", autocommit}, {"SELECT 1", "r", autocommit}},
			bindNamedLock, bindPrevious},
		{"named lock released", []step{{"SELECT GET_LOCK('l', 1)", "w", autocommit}, {"SELECT RELEASE_LOCK('l')", "w", autocommit}, {"SELECT 1", "r", autocommit}},
			0, bindPrevious},
		{"LOCK TABLES", []step{{"LOCK TABLES t WRITE", "w", autocommit}, {"SELECT 1", "r", autocommit}},
			bindLockTables, bindPrevious},
		{"UNLOCK TABLES", []step{{"LOCK TABLES t WRITE", "w", autocommit}, {"UNLOCK TABLES", "w", autocommit}, {"SELECT 1", "r", autocommit}},
			0, bindPrevious},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &backendConn{srv: &Server{Name: "w"}}
			r := &backendConn{srv: &Server{Name: "r"}}
			s := &Session{conns: []*backendConn{w, r}, writer: w, writerSrv: w.srv}
			for _, st := range tc.steps {
				c, _ := cls.Classify([]byte(st.sql))
				bc, target := w, router.TargetMaster
				if st.on == "r" {
					bc, target = r, router.TargetSlave
				}
				req := router.Request{Cmd: router.CmdQuery, Class: c}
				s.rs.Advance(req, router.Decision{Target: target, Server: bc.srv.Name}, router.Reply{OK: true, Status: st.status, HasStatus: true}, &opts)
				// As afterReply does with the reply's status.
				switch {
				case st.status&router.StatusInTrans == 0:
					s.trx = nil
				case s.trx == nil:
					s.trx = bc
				}
				s.prev = bc
			}
			if got := s.bindings(w); got != tc.writer {
				t.Errorf("writer bindings = %q, want %q", got, tc.writer)
			}
			if got := s.bindings(r); got != tc.reader {
				t.Errorf("reader bindings = %q, want %q", got, tc.reader)
			}
		})
	}
}

// TestBindingsStatements: prepared statements keep the connection that has
// their open cursor or their pending long data, and only that one.
func TestBindingsStatements(t *testing.T) {
	w := &backendConn{srv: &Server{Name: "w"}}
	r := &backendConn{srv: &Server{Name: "r"}}
	s := &Session{conns: []*backendConn{w, r}, stmts: map[uint32]*stmt{
		1: {last: r, cursor: true},
		2: {last: w},            // executed, no cursor
		3: {pinned: w, last: r}, // long data sent to w, last run on r without a cursor
	}}
	if got := s.bindings(r); got != bindCursor {
		t.Errorf("reader bindings = %q, want open cursor", got)
	}
	if got := s.bindings(w); got != bindLongData {
		t.Errorf("writer bindings = %q, want pending SEND_LONG_DATA", got)
	}
	s.stmts[1].cursor = false
	if got := s.bindings(r); got != 0 {
		t.Errorf("reader bindings after the cursor closed = %q, want none", got)
	}
	// readconnroute's connection is never left at a command boundary.
	s.fixed = r
	if got := s.bindings(r); got&bindTrx == 0 {
		t.Errorf("readconnroute connection bindings = %q, want it kept", got)
	}
}

func TestLeftRouting(t *testing.T) {
	const synced = topology.Running | topology.Synced
	for _, tc := range []struct {
		name string
		srv  *topology.Server
		left bool
	}{
		{"not monitored", nil, true},
		{"slave", &topology.Server{State: synced | topology.Slave}, false},
		{"master", &topology.Server{State: synced | topology.Master}, false},
		{"synced without role setting", &topology.Server{State: synced}, false},
		{"slave in maintenance", &topology.Server{State: synced | topology.Slave | topology.Maintenance}, true},
		{"master in maintenance", &topology.Server{State: synced | topology.Master | topology.Maintenance}, true},
		{"draining slave keeps its sessions", &topology.Server{State: synced | topology.Slave | topology.Draining}, false},
		{"donor", &topology.Server{State: topology.Running | topology.Donor}, true},
		{"available donor", &topology.Server{State: synced | topology.Slave | topology.Donor}, false},
		{"non-primary", &topology.Server{State: topology.Running}, true},
		{"down", &topology.Server{State: 0}, true},
	} {
		if got := leftRouting(tc.srv); got != tc.left {
			t.Errorf("%s: leftRouting = %v, want %v", tc.name, got, tc.left)
		}
	}
}

// TestKeepWriter: writes stay on a writer in maintenance only while the
// session's temporary tables or locks are there and the node is joined.
func TestKeepWriter(t *testing.T) {
	cls := classify.New(100)
	var opts router.Options
	w := &backendConn{srv: &Server{Name: "w"}}
	snap := func(old topology.State) *topology.Snapshot {
		return &topology.Snapshot{Servers: []topology.Server{
			{Name: "w", State: old},
			{Name: "n", State: topology.Running | topology.Synced | topology.Master},
		}}
	}
	const inMaint = topology.Running | topology.Synced | topology.Maintenance
	toNew := router.Decision{Target: router.TargetMaster, Server: "n"}

	s := &Session{conns: []*backendConn{w}, writer: w, writerSrv: w.srv}
	if s.keepWriter(toNew, snap(inMaint)) {
		t.Error("a session without state on the old writer stays there")
	}
	c, _ := cls.Classify([]byte("CREATE TEMPORARY TABLE tmp (x INT)"))
	s.rs.Advance(router.Request{Cmd: router.CmdQuery, Class: c}, toNew, router.Reply{OK: true}, &opts)
	if !s.keepWriter(toNew, snap(inMaint)) {
		t.Error("a session with a temporary table on the old writer in maintenance moved")
	}
	if s.keepWriter(router.Decision{Target: router.TargetSlave, Server: "n"}, snap(inMaint)) {
		t.Error("a read kept on the old writer")
	}
	if s.keepWriter(toNew, snap(topology.Running|topology.Slave|topology.Synced)) {
		t.Error("kept on an old writer that is not in maintenance (a failover, not an operator's move)")
	}
	if s.keepWriter(toNew, snap(topology.Running|topology.Maintenance)) {
		t.Error("kept on an old writer that is no longer joined")
	}
}

// staticTopo is a Topology that never changes.
type staticTopo struct{ s *topology.Snapshot }

func (t staticTopo) Load() *topology.Snapshot { return t.s }
func (t staticTopo) Changed() <-chan struct{} { return nil }

// BenchmarkLeaveStale is the per-command cost of the check when nothing
// left routing: a session with a writer and two reader connections.
func BenchmarkLeaveStale(b *testing.B) {
	const up = topology.Running | topology.Synced
	snap := &topology.Snapshot{Servers: []topology.Server{
		{Name: "node1", State: up | topology.Master},
		{Name: "node2", State: up | topology.Slave},
		{Name: "node3", State: up | topology.Slave},
	}}
	s := &Session{svc: &Service{topo: staticTopo{snap}}}
	for _, n := range []string{"node1", "node2", "node3"} {
		s.conns = append(s.conns, &backendConn{srv: &Server{Name: n}})
	}
	s.writer, s.prev = s.conns[0], s.conns[2]
	b.ReportAllocs()
	for b.Loop() {
		if err := s.leaveStale(); err != nil || len(s.conns) != 3 {
			b.Fatalf("leaveStale: %v, %d connections left", err, len(s.conns))
		}
	}
}
