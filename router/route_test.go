package router

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/router/classify"
)

func threeSynced() *topology.Snapshot {
	return &topology.Snapshot{Servers: []topology.Server{
		{Name: "node1", State: topology.Master | topology.Synced | topology.Running},
		{Name: "node2", State: topology.Slave | topology.Synced | topology.Running},
		{Name: "node3", State: topology.Slave | topology.Synced | topology.Running},
	}}
}

// TestClassifyAndRouteDoNotAllocate checks the per-statement hot path:
// a cached classification followed by a routing decision and Advance.
func TestClassifyAndRouteDoNotAllocate(t *testing.T) {
	cls := classify.New(1024)
	snap := threeSynced()
	var o Options
	var s Session
	load := Load(func(string) int { return 0 })
	stmts := [][]byte{
		[]byte("SELECT c FROM sbtest1 WHERE id=42"),
		[]byte("UPDATE sbtest1 SET k=k+1 WHERE id=42"),
		[]byte("SELECT 1 -- maxproxy route to slave"),
	}
	for _, q := range stmts {
		cls.Classify(q)
	}
	for _, q := range stmts {
		allocs := testing.AllocsPerRun(100, func() {
			c, h := cls.Classify(q)
			req := Request{Cmd: CmdQuery, Class: c, Hint: h}
			d := Route(req, &s, snap, &o, load)
			s.Advance(req, d, Reply{OK: true, HasStatus: true, Status: StatusAutocommit}, &o)
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per statement", q, allocs)
		}
	}
}

func TestRouteNilSnapshot(t *testing.T) {
	var s Session
	var o Options
	for _, c := range []classify.Class{{Kind: classify.KindRead}, {Kind: classify.KindWrite}} {
		d := Route(Request{Cmd: CmdQuery, Class: c}, &s, nil, &o, nil)
		if d.Server != "" {
			t.Errorf("%v with no topology routed to %q", c, d.Server)
		}
	}
	if d := RouteConnection(nil, DefaultConnOptions(), nil); d.Server != "" || d.Reason != ReasonNoServer {
		t.Errorf("RouteConnection(nil) = %+v", d)
	}
}

func TestParseRoles(t *testing.T) {
	r, err := ParseRoles(" master , Slave")
	if err != nil || r != RoleMaster|RoleSlave || r.String() != "master,slave" {
		t.Errorf("ParseRoles = %v, %v", r, err)
	}
	if _, err := ParseRoles("master,primary"); err == nil || !strings.Contains(err.Error(), `"primary"`) {
		t.Errorf("ParseRoles(primary) error = %v, want one naming the bad role", err)
	}
}

func TestSessionCloneIsIndependent(t *testing.T) {
	var s Session
	var o Options
	snap := threeSynced()
	cls := classify.New(0)
	for _, q := range []string{"CREATE TEMPORARY TABLE tmp (a INT)", "PREPARE p FROM 'SELECT 1'"} {
		c, _ := cls.Classify([]byte(q))
		req := Request{Cmd: CmdQuery, Class: c}
		s.Advance(req, Route(req, &s, snap, &o, nil), Reply{OK: true}, &o)
	}
	c := s.Clone()
	drop, _ := cls.Classify([]byte("DROP TEMPORARY TABLE tmp"))
	req := Request{Cmd: CmdQuery, Class: drop}
	s.Advance(req, Route(req, &s, snap, &o, nil), Reply{OK: true}, &o)
	if len(s.TempTables()) != 0 || len(c.TempTables()) != 1 {
		t.Errorf("after drop: session %v, clone %v", s.TempTables(), c.TempTables())
	}
}

// TestDependencies enforces the layering: the router sees topology only as
// values and never links the proxy, the node or the monitor's probing code.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/maxproxy/maxproxy/"
	allowed := map[string]bool{mod + "router": true, mod + "router/classify": true, mod + "monitor/topology": true}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, mod) && !allowed[p] {
			t.Errorf("router depends on %s", p)
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	cls := classify.New(1024)
	snap := threeSynced()
	var o Options
	var s Session
	load := Load(func(string) int { return 0 })
	for _, bc := range []struct{ name, sql string }{
		{"point_select", "SELECT c FROM sbtest1 WHERE id=42"},
		{"update", "UPDATE sbtest1 SET k=k+1 WHERE id=42"},
	} {
		c, h := cls.Classify([]byte(bc.sql))
		req := Request{Cmd: CmdQuery, Class: c, Hint: h}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			reportCPU(b, func() {
				for b.Loop() {
					Route(req, &s, snap, &o, load)
				}
			})
		})
	}
}

// BenchmarkClassifyAndRoute is the whole per-statement decision cost for a
// cached statement shape.
func BenchmarkClassifyAndRoute(b *testing.B) {
	cls := classify.New(1024)
	snap := threeSynced()
	var o Options
	var s Session
	load := Load(func(string) int { return 0 })
	sql := []byte("SELECT c FROM sbtest1 WHERE id=42")
	cls.Classify(sql)
	reply := Reply{OK: true, HasStatus: true, Status: StatusAutocommit}
	b.ReportAllocs()
	reportCPU(b, func() {
		for b.Loop() {
			c, h := cls.Classify(sql)
			req := Request{Cmd: CmdQuery, Class: c, Hint: h}
			d := Route(req, &s, snap, &o, load)
			s.Advance(req, d, reply, &o)
		}
	})
}
