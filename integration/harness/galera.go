package harness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// GaleraOptions tunes StartGalera. The zero value is a good default.
type GaleraOptions struct {
	// ClusterName is wsrep_cluster_name; default "maxproxy-test".
	ClusterName string
	// SSTMethod is wsrep_sst_method; only "rsync" (the default) is
	// supported: mariabackup needs the mariadb-backup package and an SST
	// account, which the harness does not set up.
	SSTMethod string
	// ProviderOptions are extra "key=value" wsrep_provider_options, applied
	// after the harness's own (later keys win), e.g. "evs.suspect_timeout=PT2S".
	ProviderOptions []string
	// ExtraArgs are extra mariadbd options for every node, after the
	// harness's own.
	ExtraArgs []string
	// Accounts are created on node 1 once it has bootstrapped; default
	// DefaultAccounts.
	Accounts []Account
	// StartTimeout bounds bringing the whole cluster up; default 3m.
	StartTimeout time.Duration
}

// Galera is a real MariaDB Galera cluster on loopback ports. It implements
// Cluster. Node 1 bootstraps the cluster; the others join it by rsync SST.
type Galera struct {
	scope   *Scope
	tools   Tools
	opts    GaleraOptions
	servers []*Server
	gcomm   []int // group communication port of each node, in order

	// StartupTime is how long NewGalera took, from first process to every
	// node Synced with the accounts in place.
	StartupTime time.Duration

	mu   sync.Mutex
	garb []*Arbitrator
}

var _ Cluster = (*Galera)(nil)

// StartGalera starts an n-node Galera cluster for t and fails t if it does
// not come up; it skips t (with the install command) when the packages are
// missing. Everything is stopped when t ends.
func StartGalera(t testing.TB, n int, opts GaleraOptions) *Galera {
	t.Helper()
	RequireGalera(t)
	g, err := NewGalera(context.Background(), TestScope(t), n, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// NewGalera starts an n-node cluster in scope and waits until every node is
// Synced with wsrep_cluster_size=n and the accounts can log in over TCP on
// every node. Missing packages give a *MissingError.
func NewGalera(ctx context.Context, scope *Scope, n int, opts GaleraOptions) (*Galera, error) {
	if n < 1 {
		return nil, fmt.Errorf("harness: galera needs at least 1 node, got %d", n)
	}
	if opts.ClusterName == "" {
		opts.ClusterName = "maxproxy-test"
	}
	if opts.SSTMethod == "" {
		opts.SSTMethod = "rsync"
	}
	if opts.SSTMethod != "rsync" {
		return nil, fmt.Errorf("harness: wsrep_sst_method %q is not supported, only rsync", opts.SSTMethod)
	}
	if opts.Accounts == nil {
		opts.Accounts = DefaultAccounts
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 3 * time.Minute
	}
	tools := Find()
	if err := tools.Require(GaleraTools...); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	start := time.Now()

	// Four ports per node: MySQL, group communication, IST, SST.
	ports, err := FreePorts(4 * n)
	if err != nil {
		return nil, err
	}
	g := &Galera{scope: scope, tools: tools, opts: opts}
	for i := range n {
		g.gcomm = append(g.gcomm, ports[4*i+1])
	}
	for i := range n {
		srv, err := newServer(scope, tools, fmt.Sprintf("node%d", i+1), ports[4*i])
		if err != nil {
			return nil, err
		}
		srv.galera = g
		srv.args = append(srv.args, g.wsrepArgs(srv, ports[4*i+1], ports[4*i+2], ports[4*i+3])...)
		srv.args = append(srv.args, opts.ExtraArgs...)
		g.servers = append(g.servers, srv)
	}

	// Only the bootstrap node needs system tables: joiners start with an
	// empty datadir and receive node 1's by SST, accounts included.
	first := g.servers[0]
	if err := first.installDB(ctx, tools); err != nil {
		return nil, err
	}
	if err := first.Bootstrap(ctx); err != nil {
		return nil, fmt.Errorf("galera: bootstrap: %w", err)
	}
	bootstrapped := time.Since(start)
	if err := setupAccounts(ctx, first, opts.Accounts); err != nil {
		return nil, fmt.Errorf("galera: %s: %w", first.name, err)
	}
	// Joiners start together; the donor serves one SST at a time and the
	// others wait their turn, as in a real rolling join.
	eg, ectx := errgroup.WithContext(ctx)
	for _, srv := range g.servers[1:] {
		eg.Go(func() error { return srv.Start(ectx) })
	}
	if err := eg.Wait(); err != nil {
		return nil, fmt.Errorf("galera: join: %w", err)
	}
	if err := WaitSynced(ctx, g.Nodes(), n); err != nil {
		return nil, fmt.Errorf("galera: %w", err)
	}
	for _, srv := range g.servers {
		if err := waitAccounts(ctx, srv, opts.Accounts); err != nil {
			return nil, fmt.Errorf("galera: %w", err)
		}
	}
	g.StartupTime = time.Since(start)
	scope.Logf("harness: galera cluster of %d up in %v (bootstrap %v) under %s",
		n, g.StartupTime.Round(time.Millisecond), bootstrapped.Round(time.Millisecond), scope.Dir())
	return g, nil
}

// wsrepArgs are one node's Galera options. Every address is on loopback
// with its own port, so several clusters can run on one machine.
func (g *Galera) wsrepArgs(srv *Server, gcomm, ist, sst int) []string {
	provider := []string{
		"gmcast.listen_addr=tcp://" + loopback(gcomm),
		"ist.recv_addr=" + loopback(ist),
		// The default 128M ring buffer file costs start-up time and disk.
		"gcache.size=32M",
	}
	provider = append(provider, g.opts.ProviderOptions...)
	return []string{
		"--wsrep-on=ON",
		"--wsrep-provider=" + g.tools.paths[GaleraLib],
		"--wsrep-cluster-name=" + g.opts.ClusterName,
		"--wsrep-cluster-address=" + g.Address(),
		"--wsrep-node-name=" + srv.name,
		"--wsrep-node-address=" + loopback(gcomm),
		"--wsrep-node-incoming-address=" + srv.Addr(),
		"--wsrep-sst-method=" + g.opts.SSTMethod,
		"--wsrep-sst-receive-address=" + loopback(sst),
		"--wsrep-provider-options=" + strings.Join(provider, ";"),
	}
}

// Address is the gcomm:// URL listing every node, what
// wsrep_cluster_address (and garbd's --address) is set to.
func (g *Galera) Address() string {
	peers := make([]string, len(g.gcomm))
	for i, p := range g.gcomm {
		peers[i] = loopback(p)
	}
	return "gcomm://" + strings.Join(peers, ",")
}

// Name is wsrep_cluster_name.
func (g *Galera) Name() string { return g.opts.ClusterName }

// Size is the number of mariadbd nodes (arbitrators not counted).
func (g *Galera) Size() int { return len(g.servers) }

// Nodes returns the nodes in order.
func (g *Galera) Nodes() []Node {
	out := make([]Node, len(g.servers))
	for i, s := range g.servers {
		out[i] = s
	}
	return out
}

// Node returns node i (1-based, like its name).
func (g *Galera) Node(i int) Node { return g.Server(i) }

// Server returns node i (1-based) with its mariadbd-specific methods.
func (g *Galera) Server(i int) *Server {
	if i < 1 || i > len(g.servers) {
		panic(fmt.Sprintf("harness: node %d out of range 1..%d", i, len(g.servers)))
	}
	return g.servers[i-1]
}

// WaitSynced waits until every running node is Synced in a cluster whose
// size counts the running nodes and arbitrators, e.g. after Start(i).
func (g *Galera) WaitSynced(ctx context.Context) error {
	var running []Node
	for _, s := range g.servers {
		if s.PID() != 0 {
			running = append(running, s)
		}
	}
	size := len(running)
	g.mu.Lock()
	for _, a := range g.garb {
		if a.PID() != 0 {
			size++
		}
	}
	g.mu.Unlock()
	return WaitSynced(ctx, running, size)
}

// Arbitrator is a garbd process: a voting member that stores no data.
type Arbitrator struct {
	g    *Galera
	name string
	port int
	bin  string

	mu   sync.Mutex
	proc *Process
}

// StartArbitrator starts a garbd in the cluster and waits until the running
// nodes count it in wsrep_cluster_size.
func (g *Galera) StartArbitrator(ctx context.Context) (*Arbitrator, error) {
	bin, err := g.tools.Path(Garbd)
	if err != nil {
		return nil, err
	}
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	a := &Arbitrator{g: g, name: fmt.Sprintf("garb%d", len(g.garb)+1), port: ports[0], bin: bin}
	g.garb = append(g.garb, a)
	g.mu.Unlock()
	if err := a.Start(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Name is the arbitrator's node name.
func (a *Arbitrator) Name() string { return a.name }

// Start (re)starts garbd and waits until the cluster counts it.
func (a *Arbitrator) Start(ctx context.Context) error {
	if a.PID() != 0 {
		return fmt.Errorf("%s: already running", a.name)
	}
	proc, err := a.g.scope.StartProcess(ProcessSpec{
		Name: a.name,
		Path: a.bin,
		Args: []string{
			"--address=" + a.g.Address(),
			"--group=" + a.g.opts.ClusterName,
			"--name=" + a.name,
			"--options=gmcast.listen_addr=tcp://" + loopback(a.port),
		},
		Dir:          a.g.scope.Dir(),
		AsServerUser: true,
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.proc = proc
	a.mu.Unlock()
	err = a.g.WaitSynced(ctx)
	if done, werr := proc.Exited(); done {
		err = fmt.Errorf("%s exited (%v)", a.name, werr)
	}
	if err != nil {
		return fmt.Errorf("%s: %w\n--- last %d lines of %s ---\n%s", a.name, err, tailLines, proc.LogPath(), proc.Tail(tailLines))
	}
	return nil
}

// PID of the running garbd, or 0.
func (a *Arbitrator) PID() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc == nil {
		return 0
	}
	if done, _ := a.proc.Exited(); done {
		return 0
	}
	return a.proc.PID()
}

// Stop makes garbd leave gracefully.
func (a *Arbitrator) Stop() error { return a.withProc((*Process).Stop) }

// Kill crashes garbd.
func (a *Arbitrator) Kill() error { return a.withProc((*Process).Kill) }

// Pause freezes garbd.
func (a *Arbitrator) Pause() error { return a.withProc((*Process).Pause) }

// Resume continues a paused garbd.
func (a *Arbitrator) Resume() error { return a.withProc((*Process).Resume) }

func (a *Arbitrator) withProc(f func(*Process) error) error {
	a.mu.Lock()
	p := a.proc
	a.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%s: never started", a.name)
	}
	if err := f(p); err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	return nil
}
