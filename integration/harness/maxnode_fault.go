package harness

import (
	"fmt"
	"strings"
)

// Fault injection for MaxnodeCluster: arbitrators and network partitions.

// Arbitrator returns arbitrator i (1-based; MaxnodeOptions.Arbitrators).
// Only its process methods (Stop, Kill, Pause, Resume, Start) apply: it
// serves no SQL.
func (c *MaxnodeCluster) Arbitrator(i int) *Maxnode {
	if i < 1 || i > len(c.arbs) {
		panic(fmt.Sprintf("harness: arbitrator %d out of range 1..%d", i, len(c.arbs)))
	}
	return c.arbs[i-1]
}

// startNetCut creates the relays; each member's cluster_address then lists
// them (addressFor).
func (c *MaxnodeCluster) startNetCut() error {
	targets := make([]string, len(c.repl))
	for i, p := range c.repl {
		targets[i] = loopback(p)
	}
	nc, err := newNetCut(targets)
	if err != nil {
		return err
	}
	c.cut = nc
	c.scope.OnClose(nc.close)
	return nil
}

// addressFor is member i's cluster_address (0-based: data nodes, then
// arbitrators): its own replication listener and, with NetCut, the relays
// of its links to the others. The members keep one order everywhere, so
// each has the same id on every node.
func (c *MaxnodeCluster) addressFor(i int) string {
	if c.cut == nil {
		return c.Address()
	}
	peers := make([]string, len(c.repl))
	for j, p := range c.repl {
		if j == i {
			peers[j] = loopback(p)
		} else {
			peers[j] = c.cut.addr(i, j)
		}
	}
	return "gcomm://" + strings.Join(peers, ",")
}

// Partition splits the cluster's network into groups of members, named by
// number: data nodes 1..n, then arbitrators n+1, …. Every replication link
// between members of different groups is cut (connections closed, new ones
// refused); links within a group work. A member listed in no group keeps
// all its links. It needs MaxnodeOptions.NetCut.
func (c *MaxnodeCluster) Partition(groups ...[]int) error {
	if c.cut == nil {
		return fmt.Errorf("harness: Partition needs MaxnodeOptions.NetCut")
	}
	members := len(c.repl)
	idx := make([][]int, len(groups))
	for g, grp := range groups {
		for _, m := range grp {
			if m < 1 || m > members {
				return fmt.Errorf("harness: member %d out of range 1..%d", m, members)
			}
			idx[g] = append(idx[g], m-1)
		}
	}
	c.cut.partition(idx)
	c.scope.Logf("harness: partitioned replication network into %v", groups)
	return nil
}

// Heal restores every replication link.
func (c *MaxnodeCluster) Heal() error {
	if c.cut == nil {
		return fmt.Errorf("harness: Heal needs MaxnodeOptions.NetCut")
	}
	c.cut.heal()
	c.scope.Logf("harness: healed the replication network")
	return nil
}
