package harness

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// MaxnodeOptions tunes StartMaxnodeCluster. The zero value is a good
// default.
type MaxnodeOptions struct {
	// ClusterName is cluster_name; default "maxproxy-test".
	ClusterName string
	// Settings are extra top-level node.toml lines (key = value) for
	// every node.
	Settings []string
	// Accounts are created through node 1 once the cluster is up; default
	// MaxnodeAccounts.
	Accounts []Account
	// StartTimeout bounds bringing the whole cluster up; default 1m.
	StartTimeout time.Duration
	// Arbitrators adds maxnode --arbitrator members (Galera's garbd):
	// voters that serve no clients, numbered after the data nodes
	// (MaxnodeCluster.Arbitrator). wsrep_cluster_size counts them.
	Arbitrators int
	// NetCut routes every replication link through a relay the test can
	// block (MaxnodeCluster.Partition, Heal): a network partition while
	// every process keeps running.
	NetCut bool
}

// MaxnodeAccounts are DefaultAccounts as maxnode can grant them: the same
// users and passwords, with the monitor's SLAVE MONITOR left out (maxnode's
// SQL parser does not know that MariaDB 10.5 privilege; SHOW STATUS needs
// none of them).
var MaxnodeAccounts = []Account{
	AppAccount,
	{User: MonitorAccount.User, Password: MonitorAccount.Password, Grants: []string{"REPLICATION CLIENT, PROCESS, SUPER ON *.*"}},
	ServiceAccount,
}

// MaxnodeCluster is a cluster of bin/maxnode processes on loopback ports,
// started like Galera: node 1 founds it with --bootstrap, the others join.
// It implements Cluster.
type MaxnodeCluster struct {
	scope *Scope
	opts  MaxnodeOptions
	nodes []*Maxnode
	arbs  []*Maxnode // arbitrators, members len(nodes)+1, …
	repl  []int      // replication port of each member (data nodes, then arbitrators)
	cut   *netCut    // nil without MaxnodeOptions.NetCut
}

var _ Cluster = (*MaxnodeCluster)(nil)

// StartMaxnodeCluster starts an n-node maxnode cluster for t and fails t if
// it does not come up. Everything is stopped when t ends.
func StartMaxnodeCluster(t testing.TB, n int, opts MaxnodeOptions) *MaxnodeCluster {
	t.Helper()
	c, err := NewMaxnodeCluster(context.Background(), TestScope(t), n, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// NewMaxnodeCluster starts n maxnode processes in scope and waits until
// every node is Synced with wsrep_cluster_size=n and every account logs in
// over TCP on every node.
//
// The nodes start together, node 1 with --bootstrap: it founds the cluster
// alone and the others join it (each serves clients once it is a voter of
// the primary component).
func NewMaxnodeCluster(ctx context.Context, scope *Scope, n int, opts MaxnodeOptions) (*MaxnodeCluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("harness: maxnode cluster needs at least 1 node, got %d", n)
	}
	if opts.ClusterName == "" {
		opts.ClusterName = "maxproxy-test"
	}
	if opts.Accounts == nil {
		opts.Accounts = MaxnodeAccounts
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	start := time.Now()

	// Two ports per member: MySQL and replication.
	members := n + opts.Arbitrators
	ports, err := FreePorts(2 * members)
	if err != nil {
		return nil, err
	}
	c := &MaxnodeCluster{scope: scope, opts: opts}
	for i := range members {
		c.repl = append(c.repl, ports[2*i+1])
	}
	for i := range members {
		nd := &Maxnode{cluster: c, port: ports[2*i]}
		if i < n {
			nd.name = fmt.Sprintf("node%d", i+1)
			c.nodes = append(c.nodes, nd)
		} else {
			nd.name, nd.arbitrator = fmt.Sprintf("garb%d", i-n+1), true
			c.arbs = append(c.arbs, nd)
		}
		nd.datadir = filepath.Join(scope.Dir(), nd.name+"-data")
	}
	if opts.NetCut {
		if err := c.startNetCut(); err != nil {
			return nil, err
		}
	}
	scope.OnClose(c.closeAdmin)
	eg, ectx := errgroup.WithContext(ctx)
	for i, nd := range append(slices.Clone(c.nodes), c.arbs...) {
		eg.Go(func() error { return nd.start(ectx, i == 0) })
	}
	if err := eg.Wait(); err != nil {
		return nil, fmt.Errorf("maxnode cluster: %w", err)
	}
	if err := WaitSynced(ctx, c.Nodes(), members); err != nil {
		return nil, fmt.Errorf("maxnode cluster: %w", err)
	}
	if err := setupAccounts(ctx, c.nodes[0], opts.Accounts); err != nil {
		return nil, fmt.Errorf("maxnode cluster: %s: %w", c.nodes[0].name, err)
	}
	for _, nd := range c.nodes {
		if err := waitAccounts(ctx, nd, opts.Accounts); err != nil {
			return nil, fmt.Errorf("maxnode cluster: %w", err)
		}
	}
	scope.Logf("harness: maxnode cluster of %d up in %v under %s", n, time.Since(start).Round(time.Millisecond), scope.Dir())
	return c, nil
}

// closeAdmin closes every node's administrative pool before the scope
// stops the processes.
func (c *MaxnodeCluster) closeAdmin() {
	for _, nd := range c.nodes {
		nd.mu.Lock()
		if nd.admin != nil {
			nd.admin.Close()
			nd.admin = nil
		}
		nd.mu.Unlock()
	}
}

// Address is the gcomm:// URL listing every node's replication address.
func (c *MaxnodeCluster) Address() string {
	peers := make([]string, len(c.repl))
	for i, p := range c.repl {
		peers[i] = loopback(p)
	}
	return "gcomm://" + strings.Join(peers, ",")
}

// Nodes returns the nodes in order.
func (c *MaxnodeCluster) Nodes() []Node {
	out := make([]Node, len(c.nodes))
	for i, nd := range c.nodes {
		out[i] = nd
	}
	return out
}

// Node returns node i (1-based, like its name).
func (c *MaxnodeCluster) Node(i int) Node { return c.Maxnode(i) }

// Maxnode returns node i (1-based) with its maxnode-specific methods.
func (c *MaxnodeCluster) Maxnode(i int) *Maxnode {
	if i < 1 || i > len(c.nodes) {
		panic(fmt.Sprintf("harness: node %d out of range 1..%d", i, len(c.nodes)))
	}
	return c.nodes[i-1]
}

// Maxnode is one bin/maxnode process of a MaxnodeCluster. Its
// administrative connection is root@127.0.0.1 with an empty password over
// TCP, the account maxnode creates on its first start.
type Maxnode struct {
	cluster *MaxnodeCluster
	name    string
	port    int
	datadir string

	arbitrator bool // maxnode --arbitrator: no SQL service

	mu    sync.Mutex
	proc  *Process
	admin *sql.DB
}

var _ Node = (*Maxnode)(nil)

// Name is the node's node_name (node1, node2, …).
func (m *Maxnode) Name() string { return m.name }

// Addr is the MySQL protocol listener.
func (m *Maxnode) Addr() string { return loopback(m.port) }

// Port is the MySQL protocol port.
func (m *Maxnode) Port() int { return m.port }

// DataDir is the node's data directory (grastate.dat lives there).
func (m *Maxnode) DataDir() string { return m.datadir }

// DSN returns a go-sql-driver/mysql DSN for user over TCP.
func (m *Maxnode) DSN(user, password, db string) string {
	return TCPDSN(m.Addr(), user, password, db)
}

// config is the node's node.toml.
func (m *Maxnode) config() []byte {
	c := m.cluster
	var b strings.Builder
	fmt.Fprintf(&b, "datadir = %q\nlisten = %q\nnode_name = %q\n", m.datadir, m.Addr(), m.name)
	fmt.Fprintf(&b, "cluster_name = %q\ncluster_address = %q\n", c.opts.ClusterName, c.addressFor(m.index()))
	fmt.Fprintf(&b, "node_address = %q\n", loopback(c.repl[m.index()]))
	for _, s := range c.opts.Settings {
		b.WriteString(s + "\n")
	}
	return []byte(b.String())
}

func (m *Maxnode) index() int {
	for i, nd := range m.cluster.nodes {
		if nd == m {
			return i
		}
	}
	for i, nd := range m.cluster.arbs {
		if nd == m {
			return len(m.cluster.nodes) + i
		}
	}
	panic("harness: maxnode not in its cluster")
}

// Start restarts a stopped node and waits until it serves clients and is
// Synced. Whether a crashed (Killed) node comes back is maxnode's
// crash-restart rule (node/replicator); when it refuses, Start returns the
// error with the log's tail.
func (m *Maxnode) Start(ctx context.Context) error {
	if err := m.start(ctx, false); err != nil {
		return err
	}
	if m.arbitrator {
		return nil // no SQL to ask; the data nodes' wsrep_cluster_size counts it once it is back
	}
	return checkSynced(ctx, m, "")
}

// StartBootstrap restarts a stopped node with --bootstrap (galera_new_cluster)
// and waits until it serves clients and is Synced. maxnode refuses when the
// node's grastate.dat says safe_to_bootstrap: 0; the error then carries the
// log's tail.
func (m *Maxnode) StartBootstrap(ctx context.Context) error {
	if err := m.start(ctx, true); err != nil {
		return err
	}
	return checkSynced(ctx, m, "")
}

func (m *Maxnode) start(ctx context.Context, bootstrap bool) error {
	if pid := m.PID(); pid != 0 {
		return fmt.Errorf("%s: already running (pid %d)", m.name, pid)
	}
	var args []string
	if bootstrap {
		args = append(args, "--bootstrap")
	}
	if m.arbitrator {
		args = append(args, "--arbitrator")
	}
	proc, err := m.cluster.scope.StartBinary(BinarySpec{Name: m.name, Binary: "maxnode", Config: m.config(), Args: args})
	if err != nil {
		return err
	}
	if m.arbitrator {
		// No SQL service: the data nodes' wsrep_cluster_size tells when it
		// has joined; here only that it did not exit at once.
		m.mu.Lock()
		m.proc = proc
		m.mu.Unlock()
		if done, werr := proc.Exited(); done {
			return fmt.Errorf("%s exited (%v)\n--- last %d lines of %s ---\n%s", m.name, werr, tailLines, proc.LogPath(), proc.Tail(tailLines))
		}
		return nil
	}
	admin, err := sql.Open("mysql", m.DSN("root", "", ""))
	if err != nil {
		_ = proc.Kill()
		return fmt.Errorf("%s: %w", m.name, err)
	}
	// No idle connections: a pooled one would be stale after the node
	// restarts or is killed.
	admin.SetMaxOpenConns(4)
	admin.SetMaxIdleConns(0)
	m.mu.Lock()
	if m.admin != nil {
		m.admin.Close()
	}
	m.proc, m.admin = proc, admin
	m.mu.Unlock()

	// maxnode opens its listener only once it is in the primary component,
	// so a successful ping means the node has joined.
	err = Poll(ctx, m.name+" serving root@"+m.Addr(), 50*time.Millisecond, func(ctx context.Context) error {
		if done, werr := proc.Exited(); done {
			return Permanent(fmt.Errorf("%s exited (%v)", m.name, werr))
		}
		return admin.PingContext(ctx)
	})
	if err != nil {
		return fmt.Errorf("%w\n--- last %d lines of %s ---\n%s", err, tailLines, proc.LogPath(), proc.Tail(tailLines))
	}
	return nil
}

// PID of the running maxnode, or 0.
func (m *Maxnode) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return 0
	}
	if done, _ := m.proc.Exited(); done {
		return 0
	}
	return m.proc.PID()
}

// Process is the current (or last) process, nil before the first start.
func (m *Maxnode) Process() *Process {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc
}

// Stop shuts the node down with SIGTERM: sessions roll back and the
// storage and grastate.dat are closed cleanly.
func (m *Maxnode) Stop() error { return m.withProc((*Process).Stop) }

// Kill crashes the node with SIGKILL.
func (m *Maxnode) Kill() error { return m.withProc((*Process).Kill) }

// Pause freezes the node with SIGSTOP.
func (m *Maxnode) Pause() error { return m.withProc((*Process).Pause) }

// Resume continues a paused node.
func (m *Maxnode) Resume() error { return m.withProc((*Process).Resume) }

func (m *Maxnode) withProc(f func(*Process) error) error {
	p := m.Process()
	if p == nil {
		return fmt.Errorf("%s: never started", m.name)
	}
	if err := f(p); err != nil {
		return fmt.Errorf("%s: %w", m.name, err)
	}
	return nil
}

func (m *Maxnode) adminDB() (*sql.DB, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.admin == nil {
		return nil, fmt.Errorf("%s: not started", m.name)
	}
	return m.admin, nil
}

// Exec runs a statement as root.
func (m *Maxnode) Exec(ctx context.Context, query string, args ...any) error {
	db, err := m.adminDB()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("%s: %w", m.name, err)
	}
	return nil
}

// Query runs a query as root and returns all rows as strings.
func (m *Maxnode) Query(ctx context.Context, query string, args ...any) ([][]string, error) {
	db, err := m.adminDB()
	if err != nil {
		return nil, err
	}
	rows, err := queryRows(ctx, db, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.name, err)
	}
	return rows, nil
}

// QueryString runs a query as root and returns the first column of its
// first row.
func (m *Maxnode) QueryString(ctx context.Context, query string, args ...any) (string, error) {
	db, err := m.adminDB()
	if err != nil {
		return "", err
	}
	v, err := queryString(ctx, db, query, args...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", m.name, err)
	}
	return v, nil
}

// Status reads a global status variable.
func (m *Maxnode) Status(ctx context.Context, name string) (string, error) {
	db, err := m.adminDB()
	if err != nil {
		return "", err
	}
	v, err := globalStatus(ctx, db, name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", m.name, err)
	}
	return v, nil
}
