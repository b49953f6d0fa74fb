package node

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/tidb/pkg/parser"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // the parser's value driver

	"github.com/maxproxy/maxproxy/node/config"
	"github.com/maxproxy/maxproxy/node/consensus"
	"github.com/maxproxy/maxproxy/node/replicator"
	"github.com/maxproxy/maxproxy/node/server"
	"github.com/maxproxy/maxproxy/node/sql"
	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/storage"
)

// Version is maxnode's release, stamped at build time with
// -ldflags "-X github.com/maxproxy/maxproxy/node.Version=v1.2.3".
var Version = "dev"

// ServerVersion is the MariaDB version maxnode reports (VERSION(), the handshake).
const ServerVersion = "10.11.99-MariaDB-maxnode"

// shutdownGrace is how long running statements may finish after a stop is requested.
const shutdownGrace = 5 * time.Second

// leaveTimeout bounds a clean stop's graceful leave (replicator.Leave). A leave that does not finish in
// time — the cluster lost its primary component meanwhile — ends like a crash as far as the others'
// view goes, which is safe.
const leaveTimeout = 10 * time.Second

// Main runs maxnode with command-line args (without the program name) until ctx is cancelled, and
// returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("maxnode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration file (node.toml)")
	datadir := fs.String("datadir", "", "data directory (overrides datadir)")
	listen := fs.String("listen", "", "MySQL protocol address host:port (overrides listen)")
	nodeName := fs.String("node-name", "", "node name (overrides node_name)")
	clusterName := fs.String("cluster-name", "", "cluster name (overrides cluster_name)")
	clusterAddress := fs.String("cluster-address", "", "gcomm://host:port,... of every member (overrides cluster_address)")
	nodeAddress := fs.String("node-address", "", "this node's replication address host[:port] (overrides node_address)")
	bootstrap := fs.Bool("bootstrap", false, "found a new cluster from this node (galera_new_cluster)")
	arbitrator := fs.Bool("arbitrator", false, "run as an arbitrator (garbd): a voting member that never leads and serves no clients")
	showVersion := fs.Bool("version", false, "print the version and exit")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for benchmarking)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "maxnode: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "maxnode %s (%s)\n", Version, ServerVersion)
		return 0
	}

	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintf(stderr, "maxnode: %v\n", err)
			return 2
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "datadir":
			cfg.DataDir = *datadir
		case "listen":
			cfg.Listen = *listen
		case "node-name":
			cfg.NodeName = *nodeName
		case "cluster-name":
			cfg.ClusterName = *clusterName
		case "cluster-address":
			cfg.ClusterAddress = *clusterAddress
		case "node-address":
			cfg.NodeAddress = *nodeAddress
		}
	})
	if *bootstrap && !cfg.Clustered() {
		fmt.Fprintln(stderr, "maxnode: --bootstrap needs cluster_address")
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "maxnode: %v\n", err)
		return 2
	}
	if err := cfg.ValidateDataDir(); err != nil {
		fmt.Fprintf(stderr, "maxnode: %v\n", err)
		return 2
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel(cfg.LogLevel)}))
	tuneGC(log)
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "maxnode: %v\n", err)
			return 2
		}
		defer func() {
			if err := stopProfile(); err != nil {
				log.Error("cpu profile", "err", err)
			}
		}()
	}
	if *arbitrator {
		return runArbitrator(ctx, cfg, log, *bootstrap)
	}
	return runNode(ctx, cfg, log, startOptions{bootstrap: *bootstrap, ctx: ctx, sst: newSSTSettings(cfg)})
}

// runNode runs a data node until ctx ends and returns the exit code. When the node learns that only a
// state transfer brings it back (a joiner behind every member's gcache, or a state that cannot be
// rebuilt after a crash), it stops without leaving the cluster, receives an SST and starts again, as
// mysqld does around Galera's SST.
func runNode(ctx context.Context, cfg config.Config, log *slog.Logger, opts startOptions) int {
	for {
		n, err := start(cfg, log, opts)
		var sst *stateTransferError
		if errors.As(err, &sst) {
			if err := receiveStateTransfer(ctx, cfg, log, opts, sst.minIndex); err != nil {
				return sstFailed(ctx, log, err)
			}
			opts.bootstrap = false
			continue
		}
		if err != nil {
			log.Error("start failed", "err", err)
			return 1
		}
		grace := shutdownGrace
		if opts.arbitrator {
			log.Info("arbitrator joined the primary component", "node_name", cfg.NodeName, "node_address", cfg.NodeAddress)
			grace += leaveTimeout
		} else {
			log.Info("ready for connections", "version", Version, "addr", n.Addr().String(), "node_name", cfg.NodeName)
		}

		code, again := 0, false
		select {
		case <-ctx.Done():
			log.Info("shutting down")
		case <-n.served:
			log.Error("server stopped", "err", n.serveErr)
			code = 1
		case <-n.stateTransferNeeded():
			log.Warn("stopping to receive a state transfer (SST); clients are disconnected")
			again = true
		}
		var minIndex uint64
		if again {
			minIndex = n.repl.StateTransferIndex()
		}
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		// A node that needs a state transfer stays a member: it comes back as soon as it has one.
		err = n.close(sctx, !again)
		cancel()
		switch {
		case err == nil:
			log.Info("shutdown complete")
		case errors.Is(err, context.DeadlineExceeded):
			// Statements still running after the grace period were interrupted and rolled back: a normal stop.
			log.Warn("shutdown interrupted running statements", "err", err)
		case again:
			// Its replication state is about to be replaced: what did not close cleanly does not matter.
			log.Info("stopped for the state transfer", "err", err)
		default:
			log.Error("shutdown", "err", err)
			code = 1
		}
		if !again {
			return code
		}
		if err := receiveStateTransfer(ctx, cfg, log, opts, minIndex); err != nil {
			return sstFailed(ctx, log, err)
		}
		opts.bootstrap = false
	}
}

// startCPUProfile profiles the process into path until the returned function is called. A file rather than a
// pprof listener: nothing is exposed on the network.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

func logLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Node is a running maxnode: storage, SQL engine and protocol server, and in a cluster the replicator
// and its transport.
type Node struct {
	db   *storage.DB
	repl *replicator.Replicator  // nil for a standalone node
	tr   *consensus.TCPTransport // nil for a standalone node
	srv  *server.Server
	ln   net.Listener
	log  *slog.Logger

	// catalogChanged is signalled when a replicated write-set changed the catalog; a goroutine reloads the
	// engine's schema (not the apply goroutine itself: a local DDL holds the engine's DDL lock while it
	// waits for its turn in the total order).
	catalogChanged chan struct{}
	catalogDone    chan struct{}
	// catalogGen counts replicated catalog changes, catalogLoaded the count the last reload covered:
	// a causal read (wsrep_sync_wait) waits until the reload has caught up (clusterGate).
	catalogGen, catalogLoaded atomic.Uint64
	// autoInc is wsrep_auto_increment_control (autoinc.go); nil for a standalone node.
	autoInc *autoIncControl

	served   chan struct{} // closed when Serve returns
	serveErr error         // Serve's result, once served is closed

	closeOnce sync.Once
	closeErr  error
}

// Start opens (or initialises) the data directory, applies the configured accounts and starts
// serving on cfg.Listen. With cluster_address set the node joins (never founds) its cluster; Main's
// --bootstrap founds one.
func Start(cfg config.Config, log *slog.Logger) (*Node, error) {
	return start(cfg, log, startOptions{})
}

// startOptions are the settings that are not part of node.toml.
type startOptions struct {
	bootstrap bool
	// replListener, when set, is used instead of listening on node_address (tests bind 127.0.0.1:0).
	replListener net.Listener
	// ctx bounds the wait for the primary component; nil waits until the node gets there.
	ctx context.Context
	// arbitrator runs the node as an arbitrator (arbitrator.go): no SQL service, never the leader.
	arbitrator bool
	// sst holds the state-transfer settings operators change at runtime; they outlive the restarts a
	// state transfer makes. nil: node.toml's values.
	sst *sstSettings
}

// waitPrimary polls until r is in the primary component (there is no event to wait on: leadership is
// published by consensus after every Ready). It returns a *stateTransferError when r learns that it
// needs a state transfer first.
func waitPrimary(ctx context.Context, r *replicator.Replicator) error {
	if ctx == nil {
		ctx = context.Background()
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !r.Primary() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the primary component: %w", ctx.Err())
		case <-r.StateTransferNeeded():
			return &stateTransferError{minIndex: r.StateTransferIndex()}
		case <-tick.C:
		}
	}
	return nil
}

func start(cfg config.Config, log *slog.Logger, opts startOptions) (_ *Node, err error) {
	if err := cfg.ValidateDataDir(); err != nil {
		return nil, err
	}
	n := &Node{served: make(chan struct{}), catalogChanged: make(chan struct{}, 1), log: log}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.closeCluster())
			n.autoInc.close()
			n.stopCatalogReload()
			if n.db != nil {
				err = errors.Join(err, n.db.Close())
			}
		}
	}()
	sopts := storage.Options{FlushPolicy: flushPolicy(cfg.FlushLogAtTrxCommit), Logger: log}
	if cfg.Clustered() {
		if err := n.startCluster(cfg, log, opts, &sopts); err != nil {
			return nil, err
		}
	}
	if n.db, err = storage.Open(cfg.DataDir, sopts); err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	if n.repl != nil {
		// DDL runs in total order (TOI) on an applier engine of its own; it must be in place before the
		// replicator applies anything.
		applier, err := sql.NewTOIApplier(n.db, log)
		if err != nil {
			return nil, fmt.Errorf("sql TOI applier: %w", err)
		}
		n.repl.SetTOIExecutor(toiExecutor{applier})
		if err := n.repl.Start(n.db); err != nil {
			n.repl = nil // never started: nothing to close
			if errors.Is(err, replicator.ErrStateTransfer) {
				return nil, &stateTransferError{cause: err}
			}
			return nil, err
		}
		n.tr.Attach(n.repl.Node())
		n.tr.HandleStateTransfer(n.repl.ServeStateTransfer)
		// Like a Galera joiner, the node serves clients only once it is part of the primary component: the
		// engine's first start writes accounts, which must be ordered.
		log.Info("waiting for the primary component", "node_address", cfg.NodeAddress, "bootstrap", opts.bootstrap)
		if err := waitPrimary(opts.ctx, n.repl); err != nil {
			return nil, err
		}
		if opts.arbitrator {
			return n, nil
		}
	}
	if err := n.serve(cfg, log, opts.sst); err != nil {
		return nil, err
	}
	return n, nil
}

// startCluster creates the replication transport and the replicator; the storage is opened with it.
func (n *Node) startCluster(cfg config.Config, log *slog.Logger, opts startOptions, sopts *storage.Options) error {
	members, self, err := cfg.ClusterMembers()
	if err != nil {
		return err
	}
	id := uint64(self) + 1
	ids := make([]uint64, len(members))
	peers := make(map[uint64]string, len(members)-1)
	for i, addr := range members {
		ids[i] = uint64(i) + 1
		if ids[i] != id {
			peers[ids[i]] = addr
		}
	}
	ln := opts.replListener
	if ln == nil {
		if ln, err = net.Listen("tcp", members[self]); err != nil {
			return fmt.Errorf("replication listen: %w", err)
		}
	}
	if n.tr, err = consensus.NewTCPTransport(consensus.TCPConfig{ID: id, Listener: ln, Peers: peers, Logger: log}); err != nil {
		_ = ln.Close()
		return fmt.Errorf("replication transport: %w", err)
	}
	n.repl, err = replicator.New(replicator.Config{
		ID: id, Peers: ids, DataDir: cfg.DataDir, Bootstrap: opts.bootstrap, Transport: n.tr, Logger: log,
		NodeName: cfg.NodeName, NodeAddress: members[self], InactiveTimeout: time.Duration(cfg.EVS.InactiveTimeout),
		// A joiner that is not in this node's cluster_address announces its replication address in the log.
		// cluster_address is the operator's word for its members' addresses (they may be reached through a
		// proxy or NAT): announcements only introduce members it does not list.
		OnPeer: func(id uint64, addr string) {
			if _, listed := peers[id]; !listed {
				n.tr.SetPeer(id, addr)
			}
		},
		Arbitrator:  opts.arbitrator,
		GcacheSize:  uint64(cfg.Gcache.Size),
		ZeroWeight:  cfg.PC.Weight == 0,
		FlowControl: replicator.FlowControlConfig{Limit: cfg.GCS.FCLimit, Factor: cfg.GCS.FCFactor, SinglePrimary: cfg.GCS.FCSinglePrimary},
		OnApply: func(ws *storage.WriteSet) {
			for i := range ws.Ops {
				if ws.Ops[i].Space == catalog.Space {
					n.catalogGen.Add(1)
					select {
					case n.catalogChanged <- struct{}{}:
					default: // a reload is already pending; it will read this change too
					}
					return
				}
			}
		},
	})
	if err != nil {
		return err
	}
	sopts.Replicator = n.repl
	return nil
}

// closeCluster stops the replicator (its consensus node first) and then the transport.
func (n *Node) closeCluster() error {
	var err error
	if n.repl != nil {
		err = n.repl.Close()
	}
	if n.tr != nil {
		err = errors.Join(err, n.tr.Close())
	}
	return err
}

func (n *Node) serve(cfg config.Config, log *slog.Logger, sst *sstSettings) error {
	_, portStr, _ := net.SplitHostPort(cfg.Listen)
	port, _ := strconv.Atoi(portStr) // 0 for a named port; the engine then reports its default
	eopts := sql.EngineOptions{
		ServerVersion: ServerVersion,
		Logger:        log,
		DataDir:       cfg.DataDir,
		Hostname:      cfg.NodeName,
		Port:          port,
	}
	var gate readiness
	if n.repl != nil {
		gate = clusterGate{n.repl, n}
		eopts.ExtraStatus = func() []sql.NameValue { return statusRows(n.repl.Status()) }
		eopts.TOI = func(ctx context.Context, req sql.TOIRequest) error {
			return n.repl.ReplicateTOI(ctx, replicator.TOIRequest(req))
		}
		eopts.SetDesync = func(on bool) error {
			n.repl.SetDesync(on)
			return nil
		}
		eopts.FlushStatus = n.repl.ResetStats
	}
	if sst == nil {
		sst = newSSTSettings(cfg)
	}
	reject := &rejectQueries{donorRejects: &sst.donorRejects}
	if n.repl != nil {
		reject.donating = n.repl.Donating
		eopts.ExtraVariables = clusterVariables(cfg, sst, n.repl.Weight)
	}
	eopts.OnSetGlobal = func(name, value string) error {
		switch name {
		case "wsrep_sst_donor_rejects_queries":
			sst.donorRejects.Store(value == "ON" || value == "1")
		case "wsrep_sst_donor":
			if _, _, err := config.ParseSSTDonor(value); err != nil {
				return fmt.Errorf("wsrep_sst_donor: %w", err)
			}
			sst.donor.Store(&value)
		case "wsrep_reject_queries":
			reject.set(value)
		case "wsrep_max_ws_rows", "wsrep_max_ws_size":
			if n.repl != nil {
				setWSLimit(n.repl, name, value)
			}
		case "wsrep_provider_options":
			// pc.bootstrap=YES makes a non-primary node a one-member primary component (replicator.ForceBootstrap).
			if n.repl == nil {
				return errors.New("wsrep_provider_options: not a cluster node")
			}
			ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
			defer cancel()
			return n.repl.SetProviderOptions(ctx, value)
		}
		return nil
	}
	// In a cluster the first start of several nodes can write the same accounts concurrently: the loser
	// of certification (1213) retries and then finds the winner's rows.
	var eng *sql.Engine
	var err error
	for attempt := 1; ; attempt++ {
		eng, err = sql.NewEngine(n.db, eopts)
		if err == nil {
			err = applyConfig(eng, cfg)
		}
		if err == nil || n.repl == nil || attempt == startRetries || !isConflict(err) {
			break
		}
		log.Info("retrying start-up writes after a certification conflict", "attempt", attempt, "err", err)
	}
	if err != nil {
		return fmt.Errorf("sql engine: %w", err)
	}
	if n.repl != nil {
		n.repl.SetRowSpaces((&rowSpaces{eng: eng}).isRow)
		n.catalogDone = make(chan struct{})
		go n.reloadCatalog(eng, log)
		if n.autoInc, err = startAutoIncControl(eng, n.repl, log); err != nil {
			return fmt.Errorf("wsrep_auto_increment_control: %w", err)
		}
	}
	srv, err := server.New(server.Config{
		Engine:           engine{e: eng, gate: gate, reject: reject},
		Logger:           log,
		Version:          ServerVersion,
		MaxConnections:   cfg.MaxConnections,
		MaxAllowedPacket: cfg.MaxAllowedPacket,
		IdleTimeout:      time.Duration(cfg.WaitTimeout) * time.Second,
		WriteTimeout:     time.Duration(cfg.NetWriteTimeout) * time.Second,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	n.srv, n.ln = srv, ln
	reject.killAll = srv.KillAll
	if n.repl != nil {
		n.repl.SetIncomingAddress(ln.Addr().String()) // wsrep_incoming_addresses
	}
	go func() {
		n.serveErr = srv.Serve(ln)
		close(n.served)
	}()
	return nil
}

// startRetries bounds the start-up attempts after certification conflicts.
const startRetries = 5

func isConflict(err error) bool {
	var se *sql.Error
	return errors.Is(err, storage.ErrCertification) || errors.Is(err, storage.ErrDeadlock) ||
		(errors.As(err, &se) && se.Code == sql.ErDeadlock)
}

// stopCatalogReload stops reloadCatalog; call it after closeCluster, when the apply goroutine that
// signals it has stopped.
func (n *Node) stopCatalogReload() {
	if n.catalogDone != nil {
		close(n.catalogChanged)
		<-n.catalogDone
		n.catalogDone = nil
	}
}

// reloadCatalog reloads the engine's schema whenever a replicated write-set changed the catalog, until
// Close closes catalogChanged.
func (n *Node) reloadCatalog(eng *sql.Engine, log *slog.Logger) {
	defer close(n.catalogDone)
	for range n.catalogChanged {
		gen := n.catalogGen.Load()
		if err := eng.InvalidateCatalog(); err != nil {
			log.Error("reloading the catalog after a replicated change", "err", err)
		}
		n.catalogLoaded.Store(gen)
	}
}

func statusRows(st replicator.Status) []sql.NameValue {
	rows := st.Rows()
	out := make([]sql.NameValue, len(rows))
	for i, r := range rows {
		out[i] = sql.NameValue{Name: r.Name, Value: r.Value}
	}
	return out
}

// clusterVariables are the wsrep_* system variables that mirror the cluster settings.
func clusterVariables(cfg config.Config, sst *sstSettings, weight func() int) func() []sql.NameValue {
	vars := []sql.NameValue{
		{Name: "wsrep_on", Value: "ON"},
		{Name: "wsrep_auto_increment_control", Value: "ON"},
		{Name: "wsrep_cluster_name", Value: cfg.ClusterName},
		{Name: "wsrep_cluster_address", Value: cfg.ClusterAddress},
		{Name: "wsrep_node_address", Value: cfg.NodeAddress},
		{Name: "wsrep_node_name", Value: cfg.NodeName},
		{Name: "wsrep_provider", Value: "maxnode raft replicator"},
		{Name: "wsrep_node_incoming_address", Value: cfg.Listen},
		{Name: "wsrep_data_home_dir", Value: strings.TrimSuffix(cfg.DataDir, "/") + "/"},
	}
	return func() []sql.NameValue {
		rejects := "OFF"
		if sst.donorRejects.Load() {
			rejects = "ON"
		}
		return append(vars[:len(vars):len(vars)],
			sql.NameValue{Name: "wsrep_provider_options", Value: providerOptions(cfg, weight())},
			sql.NameValue{Name: "wsrep_sst_donor", Value: *sst.donor.Load()},
			sql.NameValue{Name: "wsrep_sst_donor_rejects_queries", Value: rejects})
	}
}

// toiExecutor runs the replicator's TOI entries on the SQL layer's applier.
type toiExecutor struct{ a *sql.TOIApplier }

func (x toiExecutor) ExecTOI(ctx context.Context, req replicator.TOIRequest, spaces func() (storage.SpaceID, error)) error {
	return x.a.ExecTOI(ctx, sql.TOIRequest(req), spaces)
}

// flushPolicy maps innodb_flush_log_at_trx_commit onto the storage's policies: 1 is durable per commit;
// 0 and 2 both fsync about once a second.
func flushPolicy(v int) int {
	if v == 1 {
		return 1
	}
	return 2
}

// clusterGate is a cluster node's readiness: the replicator's, with a causal read that also waits for
// the SQL catalog to reflect replicated DDL (reloaded asynchronously after the apply, reloadCatalog), so
// a table created on another node is visible to a wsrep_sync_wait read that follows.
type clusterGate struct {
	*replicator.Replicator
	n *Node
}

func (g clusterGate) SyncWait(ctx context.Context) error {
	if err := g.Replicator.SyncWait(ctx); err != nil {
		return err
	}
	gen := g.n.catalogGen.Load()
	if g.n.catalogLoaded.Load() >= gen {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, replicator.DefaultCausalReadTimeout)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for g.n.catalogLoaded.Load() < gen {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the catalog reload after replicated DDL: %w", replicator.ErrSyncWaitTimeout, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// stateTransferNeeded is closed when the node must stop for a state transfer; nil (never ready) for a
// standalone node.
func (n *Node) stateTransferNeeded() <-chan struct{} {
	if n.repl == nil {
		return nil
	}
	return n.repl.StateTransferNeeded()
}

// Addr is the address the node listens on.
func (n *Node) Addr() net.Addr { return n.ln.Addr() }

// Close shuts the node down gracefully: no new connections, running statements get until ctx is done,
// every session is closed (rolled back), a cluster member leaves the cluster (Galera's graceful leave:
// the others' view shrinks without losing quorum), then storage is closed durably. Later calls return
// the first call's result.
func (n *Node) Close(ctx context.Context) error { return n.close(ctx, true) }

// close is Close; without leave a cluster member stops without telling the others (as if it crashed,
// but with its state saved cleanly).
func (n *Node) close(ctx context.Context, leave bool) error {
	n.closeOnce.Do(func() {
		var err error
		if n.srv != nil { // an arbitrator serves no clients
			err = n.srv.Shutdown(ctx)
			<-n.served
			if !errors.Is(n.serveErr, server.ErrServerClosed) {
				err = errors.Join(err, n.serveErr)
			}
		}
		if leave && n.repl != nil {
			lctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
			switch lerr := n.repl.Leave(lctx); {
			case errors.Is(lerr, replicator.ErrLastMember):
				n.log.Info("last member of the cluster stops (safe_to_bootstrap: 1)")
			case lerr != nil:
				n.log.Warn("could not leave the cluster gracefully; the others see a crash", "err", lerr)
			}
			cancel()
		}
		n.autoInc.close()
		// Sessions are closed, so no commit is in flight: the replicator can save a clean position.
		err = errors.Join(err, n.closeCluster())
		n.stopCatalogReload()
		n.closeErr = errors.Join(err, n.db.Close())
	})
	return n.closeErr
}

// applyConfig makes the engine reflect the configuration: the global variables that mirror node.toml
// settings, and the configured accounts, created or brought up to date. It runs ordinary SQL on an
// internal session (connection id 0, which clients never get).
func applyConfig(eng *sql.Engine, cfg config.Config) error {
	sess := eng.NewSession(0, "root", "localhost")
	defer sess.Close()
	p := parser.New()
	ctx := context.Background()
	run := func(q string) error {
		stmt, err := p.ParseOneStmt(q, "", "")
		if err == nil {
			_, err = sess.Execute(ctx, stmt, q, nil)
		}
		if err != nil {
			return fmt.Errorf("%q: %w", q, err)
		}
		return nil
	}
	for _, q := range []string{
		fmt.Sprintf("SET GLOBAL innodb_lock_wait_timeout = %d", cfg.LockWaitTimeout),
		fmt.Sprintf("SET GLOBAL innodb_flush_log_at_trx_commit = %d", cfg.FlushLogAtTrxCommit),
		fmt.Sprintf("SET GLOBAL max_connections = %d", cfg.MaxConnections),
		fmt.Sprintf("SET GLOBAL max_allowed_packet = %d", cfg.MaxAllowedPacket),
		fmt.Sprintf("SET GLOBAL wait_timeout = %d", cfg.WaitTimeout),
		fmt.Sprintf("SET GLOBAL net_write_timeout = %d", cfg.NetWriteTimeout),
	} {
		if err := run(q); err != nil {
			return fmt.Errorf("apply settings: %w", err)
		}
	}
	for _, u := range cfg.Users {
		for _, q := range userStatements(u) {
			if err := run(q); err != nil {
				return fmt.Errorf("user %s@%s: %w", u.Name, u.Host, err)
			}
		}
	}
	return nil
}

// userStatements are the SQL statements that make account u exist as configured. The config
// validator has already refused names, hosts and passwords that could break out of the quotes.
func userStatements(u config.User) []string {
	acct := fmt.Sprintf("'%s'@'%s'", u.Name, u.Host)
	auth := ""
	switch {
	case u.PasswordHash != "":
		auth = fmt.Sprintf(" IDENTIFIED BY PASSWORD '%s'", u.PasswordHash)
	case u.Password != "":
		auth = fmt.Sprintf(" IDENTIFIED BY '%s'", quote(u.Password))
	}
	qs := []string{"CREATE USER IF NOT EXISTS " + acct + auth}
	if auth != "" {
		qs = append(qs, "ALTER USER "+acct+auth)
	}
	for _, g := range u.Grants {
		qs = append(qs, "GRANT "+g+" TO "+acct)
	}
	return qs
}

// quote escapes a string for a single-quoted SQL literal.
func quote(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// providerOptions renders the provider options maxnode implements as Galera lists them in
// wsrep_provider_options: "key = value" pairs sorted by key, separated by "; ", durations in ISO 8601.
// formatSize writes a size the way Galera prints gcache.size: the largest exact K/M/G unit.
func formatSize(b uint64) string {
	for _, u := range []struct {
		suffix string
		size   uint64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if b >= u.size && b%u.size == 0 {
			return strconv.FormatUint(b/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatUint(b, 10)
}

func providerOptions(cfg config.Config, weight int) string {
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	return strings.Join([]string{
		"evs.inactive_timeout = PT" + strconv.FormatFloat(time.Duration(cfg.EVS.InactiveTimeout).Seconds(), 'f', -1, 64) + "S",
		"gcache.size = " + formatSize(uint64(cfg.Gcache.Size)),
		"gcs.fc_factor = " + strconv.FormatFloat(cfg.GCS.FCFactor, 'f', -1, 64),
		"gcs.fc_limit = " + strconv.Itoa(cfg.GCS.FCLimit),
		"gcs.fc_single_primary = " + yesNo(cfg.GCS.FCSinglePrimary),
		"pc.bootstrap = no",
		"pc.weight = " + strconv.Itoa(weight),
	}, "; ")
}
