// Package monitortest runs a real monitor.Monitor over scripted Galera
// nodes, so that packages consuming topology snapshots (the router, the
// proxy) can test failover, donors, maintenance and lag without MariaDB.
//
//	c := monitortest.NewCluster("s1", "s2", "s3")
//	m, _ := monitor.New(opts, c.Servers(), nil, nil, monitor.WithProberFactory(c.Probers()))
//	go m.Run(ctx)
//	c.Node("s1").SetState(monitortest.Donor)
//
// A Node answers probes with whatever wsrep variables it was last given,
// starting as a Synced member of a Primary component. It is safe for
// concurrent use. Import it only from tests.
package monitortest

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"

	"github.com/maxproxy/maxproxy/monitor"
	"github.com/maxproxy/maxproxy/monitor/galera"
)

// LocalState is a wsrep_local_state value (GALERA.md §1.1).
type LocalState int

// The states a Galera node reports.
const (
	Initialized LocalState = 0
	Joiner      LocalState = 1
	Donor       LocalState = 2
	Joined      LocalState = 3
	Synced      LocalState = 4
	Error       LocalState = 5
)

// Cluster is a set of scripted nodes sharing one cluster state UUID.
type Cluster struct {
	names []string
	nodes map[string]*Node
}

// NewCluster makes one Synced node per name, with wsrep_local_index
// following the order of names and addresses 127.0.0.1:3306, :3307, ...
func NewCluster(names ...string) *Cluster {
	c := &Cluster{names: names, nodes: map[string]*Node{}}
	for i, n := range names {
		c.nodes[n] = newNode(n, i, len(names))
	}
	return c
}

// Node returns the named node; it panics for a name the cluster lacks,
// which is a mistake in the test.
func (c *Cluster) Node(name string) *Node {
	n, ok := c.nodes[name]
	if !ok {
		panic(fmt.Sprintf("monitortest: no node %q", name))
	}
	return n
}

// Servers is the monitor configuration for the cluster's nodes.
func (c *Cluster) Servers() []monitor.Server {
	out := make([]monitor.Server, len(c.names))
	for i, n := range c.names {
		out[i] = monitor.Server{Name: n, Address: "127.0.0.1:" + strconv.Itoa(3306+i)}
	}
	return out
}

// Probers plugs the nodes into monitor.WithProberFactory.
func (c *Cluster) Probers() monitor.ProberFactory {
	return func(s monitor.Server) monitor.Prober { return c.Node(s.Name) }
}

// Node is one scripted Galera node. It implements monitor.Prober.
type Node struct {
	mu    sync.Mutex
	vars  map[string]string
	down  bool
	auth  bool
	execs []string
}

var _ monitor.Prober = (*Node)(nil)

func newNode(name string, index, size int) *Node {
	return &Node{vars: map[string]string{
		"wsrep_local_state":               "4",
		"wsrep_local_state_comment":       "Synced",
		"wsrep_ready":                     "ON",
		"wsrep_cluster_status":            "Primary",
		"wsrep_cluster_state_uuid":        "6d2f4a5e-0000-0000-0000-monitortest",
		"wsrep_cluster_size":              strconv.Itoa(size),
		"wsrep_local_index":               strconv.Itoa(index),
		"wsrep_desync":                    "OFF",
		"wsrep_reject_queries":            "NONE",
		"wsrep_sst_donor_rejects_queries": "OFF",
		"wsrep_local_recv_queue":          "0",
		"wsrep_flow_control_sent":         "0",
		"wsrep_sst_method":                "rsync",
		"wsrep_node_name":                 name,
		"wsrep_sst_donor":                 "",
	}}
}

// Set sets one wsrep variable, e.g. Set("wsrep_desync", "ON").
func (n *Node) Set(name, value string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.vars[name] = value
}

// SetState moves the node to a local state with the companion variables a
// real node shows in it (GALERA.md §1.3): Joiner and Initialized are
// non-Primary and not ready; Joined is Primary but not ready; Donor keeps
// wsrep_ready as it was; Synced is ready.
func (n *Node) SetState(s LocalState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	comment, ready, status := "", n.vars["wsrep_ready"], "Primary"
	switch s {
	case Initialized:
		comment, ready, status = "Initialized", "OFF", "non-Primary"
	case Joiner:
		comment, ready, status = "Joining: receiving State Transfer", "OFF", "non-Primary"
	case Donor:
		comment = "Donor/Desynced"
	case Joined:
		comment, ready = "Joined", "OFF"
	case Synced:
		comment, ready = "Synced", "ON"
	case Error:
		comment = "Inconsistent"
	}
	n.vars["wsrep_local_state"] = strconv.Itoa(int(s))
	n.vars["wsrep_local_state_comment"] = comment
	n.vars["wsrep_ready"] = ready
	n.vars["wsrep_cluster_status"] = status
}

// SetDown makes probes fail as if the server were unreachable.
func (n *Node) SetDown(down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = down
}

// SetAuthError makes probes fail as a refused login would.
func (n *Node) SetAuthError(refused bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.auth = refused
}

// Execs returns the statements the monitor ran on the node
// (set_donor_nodes).
func (n *Node) Execs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.execs...)
}

// Probe implements monitor.Prober.
func (n *Node) Probe(ctx context.Context) galera.Probe {
	if err := ctx.Err(); err != nil {
		return galera.Probe{Err: err.Error()}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.auth:
		return galera.Probe{AuthError: true, Err: "ERROR 1045 (28000): Access denied (monitortest)"}
	case n.down:
		return galera.Probe{Err: "connection refused (monitortest)"}
	}
	return galera.Probe{Up: true, HasStatus: true, Status: galera.ParseStatus(maps.Clone(n.vars))}
}

// Exec implements monitor.Prober: it records the statement.
func (n *Node) Exec(_ context.Context, stmt string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return fmt.Errorf("monitortest: %q on a down node", stmt)
	}
	n.execs = append(n.execs, stmt)
	return nil
}

// Close implements monitor.Prober.
func (n *Node) Close() error { return nil }
