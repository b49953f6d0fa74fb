package galera

import (
	"sort"
	"strings"

	"github.com/maxproxy/maxproxy/monitor/topology"
)

// DonorUpdate is a statement set_donor_nodes must run on one server.
type DonorUpdate struct {
	Server    string
	Statement string
}

// DonorUpdates implements galeramon's set_donor_nodes: every Slave gets
// wsrep_sst_donor set to the Slaves' wsrep_node_name list, ordered so that
// the likeliest writer candidates come last (by wsrep_local_index
// descending, or with use_priority by priority descending after the nodes
// without one), so a joiner takes its state from a node that matters
// least. Unlike galeramon, which sends the statement every round, an
// update is returned only for servers whose current value differs.
// probes and snap must come from the same round.
func DonorUpdates(snap *topology.Snapshot, probes []Probe, o Options) []DonorUpdate {
	type slave struct {
		name, node string
		prio, idx  int
		current    string
	}
	var slaves []slave
	joined := 0
	usePrio := false
	for i, s := range snap.Servers {
		if s.State.Has(topology.Synced) {
			joined++
		}
		if !s.State.Has(topology.Slave|topology.Synced) || i >= len(probes) || !probes[i].HasStatus {
			continue
		}
		st := probes[i].Status
		slaves = append(slaves, slave{s.Name, st.NodeName, s.Priority, st.LocalIndex, st.SSTDonor})
		if o.UsePriority && s.Priority > 0 {
			usePrio = true
		}
	}
	if joined <= 1 || len(slaves) == 0 {
		return nil
	}
	ordered := append([]slave(nil), slaves...)
	sort.SliceStable(ordered, func(a, b int) bool {
		x, y := ordered[a], ordered[b]
		if usePrio {
			hx, hy := x.prio > 0, y.prio > 0
			if hx != hy {
				return !hx // nodes without a priority first
			}
			return x.prio > y.prio
		}
		return x.idx > y.idx
	})
	names := make([]string, 0, len(ordered))
	for _, s := range ordered {
		if s.node != "" {
			names = append(names, s.node)
		}
	}
	if len(names) == 0 {
		return nil
	}
	list := strings.Join(names, ",")
	stmt := "SET GLOBAL wsrep_sst_donor = " + quote(list)
	var out []DonorUpdate // in configuration order
	for _, s := range slaves {
		if s.current != list {
			out = append(out, DonorUpdate{Server: s.name, Statement: stmt})
		}
	}
	return out
}

// quote makes a single-quoted SQL string literal.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}
