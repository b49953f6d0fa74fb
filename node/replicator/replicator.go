package replicator

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maxproxy/maxproxy/node/certify"
	"github.com/maxproxy/maxproxy/node/consensus"
	"github.com/maxproxy/maxproxy/node/storage"
	"github.com/maxproxy/maxproxy/node/writeset"
)

// DefaultReplicateTimeout bounds how long a commit waits for its write-set to be ordered when the caller's
// context has no earlier deadline.
const DefaultReplicateTimeout = 30 * time.Second

var (
	// ErrNotPrimary: the node is not part of a primary component, so the write-set was not proposed. It
	// wraps storage.ErrCertification (the transaction is rolled back, MySQL 1213), as Galera fails
	// transactions that commit while the node is out of the primary component (GALERA.md §3.1).
	ErrNotPrimary = fmt.Errorf("replicator: node is not in the primary component: %w", storage.ErrCertification)
	// ErrNotOrdered: the write-set was proposed but is known never to enter the total order (consensus
	// settled it); rolled back, 1213.
	ErrNotOrdered = fmt.Errorf("replicator: write-set was not ordered: %w", storage.ErrCertification)
	// ErrUnknownOutcome: the write-set may or may not commit (the primary component was lost, or the
	// deadline passed, while it was being ordered). Never report a rollback for it: the SQL layer must close
	// the client connection, which clients treat as an indeterminate commit (GALERA.md §12.5).
	ErrUnknownOutcome = errors.New("replicator: commit outcome unknown")
	// ErrUnclean: the replication state was not saved by a clean shutdown and cannot be rebuilt from the raft
	// log (it was compacted): the node needs a state transfer.
	ErrUnclean = fmt.Errorf("replicator: replication state was not saved by a clean shutdown and cannot be "+
		"rebuilt from the raft log: %w", ErrStateTransfer)
)

// Config configures a Replicator.
type Config struct {
	ID uint64 // raft id of this node: non-zero, unique in the cluster
	// Peers are the members listed in cluster_address, this node included: a node outside the
	// configuration asks them to add it.
	Peers   []uint64
	DataDir string // the raft log (raft/), replicator.state and grastate.dat live here
	// Bootstrap founds a new cluster (--bootstrap, galera_new_cluster): this node proposes the cluster's state
	// UUID and, with no raft state yet, starts raft as the only voter; everyone else joins. Refused when
	// grastate.dat says safe_to_bootstrap: 0.
	Bootstrap bool
	// NodeName and NodeAddress (replication address) are announced to the other members.
	NodeName, NodeAddress string
	// OnPeer, if set, is called (on the consensus goroutine; it must not block) when the log tells this node
	// another member's replication address, e.g. TCPTransport.SetPeer for a joiner not in cluster_address.
	OnPeer func(id uint64, replAddr string)
	// InactiveTimeout is evs.inactive_timeout: the leader evicts (removes from the view and the voter set)
	// a voter it has not heard from for this long. DefaultInactiveTimeout when zero; negative: never.
	InactiveTimeout  time.Duration
	Transport        consensus.Transport
	TickInterval     time.Duration // consensus default when zero
	ElectionTick     int           // consensus default when zero
	Certify          certify.Config
	ReplicateTimeout time.Duration // DefaultReplicateTimeout when zero
	// OnApply, if set, is called on the apply goroutine after every write-set that another node (or an
	// abandoned local commit) made is applied to the storage — e.g. to reload the SQL catalog. It must not
	// block on anything that waits for the total order to advance (a local commit).
	OnApply func(ws *storage.WriteSet)
	// Arbitrator makes this member an arbitrator (garbd): a voter that never starts an election and hands
	// leadership away if it gets it (consensus NonCandidate). It certifies the log like any member (its
	// view and positions are the cluster's) but stores no data: every seqno is applied empty, DDL is not
	// run, and it never donates a state transfer.
	Arbitrator bool
	// FlowControl holds gcs.fc_limit, gcs.fc_factor and gcs.fc_single_primary (flowcontrol.go).
	FlowControl FlowControlConfig
	// ZeroWeight is pc.weight=0: the node is a member (in the view and wsrep_cluster_size, Primary with
	// the component it follows) that never counts in quorum — a raft learner that is never promoted. The
	// default, weight 1, is a voter; raft cannot express larger weights. SetProviderOptions changes it.
	ZeroWeight bool
	// GcacheSize is gcache.size in bytes: the raft log a node keeps for members that fall behind (sst.go).
	// DefaultGcacheSize when zero.
	GcacheSize uint64
	Logger     *slog.Logger
}

// Replicator is the Galera layer of a node: it implements storage.Replicator over consensus and is the
// consensus FSM that certifies and applies the total order. Create it with New, open the storage with it as
// Options.Replicator, then call Start.
type Replicator struct {
	cfg    Config
	log    *slog.Logger
	source writeset.UUID
	db     *storage.DB
	node   *consensus.Node
	trx    atomic.Uint64

	// FSM state, written only by Apply (the consensus owner goroutine) and read by Status, under mu.
	mu          sync.Mutex
	cert        *certify.Certifier
	seqno       uint64 // last seqno of the total order consumed
	index       uint64 // last raft index consumed
	skipThrough uint64 // raft indexes consumed before a clean restart
	durable     uint64 // replay after a crash: seqnos the storage already holds are certified, not applied
	replaying   bool   // replay after a crash: the certifier is rebuilt at the cluster entry
	uuid        writeset.UUID
	haveUUID    bool
	confID      uint64
	view        view // membership, from the log (view.go)
	fatal       error
	waiters     map[uint64]*waiter

	queue      applyQueue
	spaceFloor storage.SpaceID // apply goroutine: the storage has allocated every space id up to this one
	toiCount   uint64          // FSM: TOI entries certified since the cluster entry (toi.go)
	toiExec    TOIExecutor
	fc         *flowControl
	limits     wsLimits        // wsrep_max_ws_rows / wsrep_max_ws_size (wslimits.go)
	stopCtx    context.Context // ends when Close starts
	// applyHook, when set (tests), runs on the apply goroutine before each item: a deliberately slow
	// applier for flow-control tests.
	applyHook func()
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	// Membership protocol (view.go).
	actions      chan memberAction
	startCommit  uint64 // commit index when consensus started: requests up to it are stale
	incoming     atomic.Pointer[string]
	viewCh       chan struct{} // ViewChanged (viewsub.go)
	left         atomic.Bool   // Leave was called: do not ask to join again
	catchingUp   atomic.Bool   // added as learner: Joiner, then Joined until the receive queue is first short (Status)
	weight0      atomic.Bool   // pc.weight=0 (Config.ZeroWeight, SetProviderOptions)
	fresh        bool          // started without replication state (an empty data directory): join requests say so
	fsmReady     atomic.Bool   // haveUUID && fatal == nil, for Primary (updateReadyLocked)
	joined       atomic.Bool   // caught up since it last entered the primary component (runRejoin)
	outsideSince atomic.Int64  // unix nanoseconds since when the node is outside the primary component; 0: inside
	rejoinKick   chan struct{} // Primary asks runRejoin to check now
	caughtUp     atomic.Bool   // a learner that has applied nearly all the log (ready to be promoted)

	certFailures, replicated, replicatedBytes, received, receivedBytes atomic.Uint64
	// wsrep_local_commits, wsrep_repl_keys(_bytes), wsrep_repl_data_bytes, wsrep_causal_reads (stats.go)
	localCommits, replKeys, replKeysBytes, replDataBytes, causalReads atomic.Uint64
	replLatency                                                       latencyStats // under mu: wsrep_evs_repl_latency
	gcache                                                            gcacheMarks  // under mu: wsrep_local_cached_downto

	// State transfer and gcache (sst.go).
	logBytes  atomic.Int64 // log bytes applied since the last checkpoint
	sstOnce   sync.Once
	sstNeeded chan struct{} // closed when only a state transfer brings this node back
	sstIndex  uint64        // the leader's checkpoint index, set before sstNeeded is closed
}

// waiter is a local write-set waiting for its place in the total order. Apply settles it under mu.
type waiter struct {
	settled bool
	seqno   uint64 // 0: not ordered (proposed before the cluster existed)
	ok      bool
	// TOI only: done is closed by the apply goroutine once the statement ran at seqno, with its error.
	done chan struct{}
	err  error
}

// New returns a replicator for cfg; it does nothing until Start.
func New(cfg Config) (*Replicator, error) {
	if cfg.ID == 0 || cfg.DataDir == "" || cfg.Transport == nil || !slices.Contains(cfg.Peers, cfg.ID) {
		return nil, errors.New("replicator: config needs ID, DataDir, Transport and Peers including ID")
	}
	if cfg.ReplicateTimeout == 0 {
		cfg.ReplicateTimeout = DefaultReplicateTimeout
	}
	if cfg.Certify.Window == 0 {
		cfg.Certify.Window = certify.DefaultWindow // so that a restored certifier's config compares equal
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Replicator{cfg: cfg, log: cfg.Logger.With("component", "replicator"), waiters: map[uint64]*waiter{}}
	// A new source UUID per process, like Galera's gcomm UUID: write-sets from an earlier incarnation of this
	// node are certified as another node's, which is only stricter.
	if _, err := rand.Read(r.source[:]); err != nil {
		return nil, fmt.Errorf("replicator: node uuid: %w", err)
	}
	r.queue.signal = make(chan struct{}, 1)
	if err := cfg.FlowControl.Validate(); err != nil {
		return nil, fmt.Errorf("replicator: %w", err)
	}
	r.fc = newFlowControl(cfg.FlowControl, cfg.ID)
	r.queue.onPush = r.fc.poke
	r.actions = make(chan memberAction, 16)
	r.viewCh = make(chan struct{}, 1)
	r.sstNeeded = make(chan struct{})
	r.rejoinKick = make(chan struct{}, 1)
	r.weight0.Store(cfg.ZeroWeight)
	return r, nil
}

// Start restores the saved position, starts consensus and the apply goroutine. db must have been opened
// with r as its Replicator.
func (r *Replicator) Start(db *storage.DB) error {
	if err := os.MkdirAll(r.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("replicator: %w", err)
	}
	gs, err := readGrastate(r.cfg.DataDir)
	if err != nil {
		return err
	}
	if r.cfg.Bootstrap && gs != nil && !gs.SafeToBootstrap {
		return ErrUnsafeBootstrap
	}
	if StateTransferIncomplete(r.cfg.DataDir) {
		return fmt.Errorf("%w: the last one was interrupted while it was being installed", ErrStateTransfer)
	}
	st, err := readState(r.cfg.DataDir)
	if err != nil {
		return err
	}
	r.db = db
	switch {
	case st == nil && db.LastCommitted() != 0 && !r.cfg.Bootstrap:
		// Galera replaces such a joiner's data with the cluster's by SST; found a cluster from it with
		// --bootstrap instead to keep it.
		return fmt.Errorf("%w: the data directory holds data up to seqno %d but no cluster state",
			ErrStateTransfer, db.LastCommitted())
	case st == nil:
		r.fresh = true
		r.seqno = db.LastCommitted()
		r.cert = certify.New(r.cfg.Certify, r.seqno)
	case st.Running || db.LastCommitted() != st.Seqno:
		// Not stopped cleanly (or the storage disagrees with the saved position): replay the whole raft log.
		// The certifier's state is a function of the log from the cluster entry on (its window starts at the
		// cluster's base seqno), so replaying from index 1 rebuilds it exactly as it was; seqnos the
		// storage made durable are certified again but not applied. See doc.go, "Crash restart".
		r.replaying, r.durable = true, db.DurableSeqno()
		r.cert = certify.New(r.cfg.Certify, r.durable) // replaced at the cluster entry
		if st.UUID != "" {
			// Only for grastate.dat until the cluster entry is replayed: operators keep seeing the cluster.
			if r.uuid, err = parseUUID(st.UUID); err != nil {
				return err
			}
		}
		r.log.Warn("replication state not saved cleanly; replaying the raft log", "storage_seqno", r.durable)
	default:
		if err := r.restoreLocked(st); err != nil {
			return err
		}
	}
	var replayFrom uint64
	if r.replaying {
		replayFrom = 1
	}
	if err := r.saveState(true); err != nil {
		return err
	}
	var founders []uint64 // without raft state: the bootstrapper founds raft alone, the others join
	if r.cfg.Bootstrap {
		founders = []uint64{r.cfg.ID}
	}
	node, err := consensus.Start(consensus.Config{
		ID: r.cfg.ID, DataDir: r.cfg.DataDir, Peers: founders,
		TickInterval: r.cfg.TickInterval, ElectionTick: r.cfg.ElectionTick,
		NonCandidate: r.cfg.Arbitrator,
		Transport:    r.cfg.Transport, FSM: r, OnMembership: r.onMembershipNotify, Logger: r.cfg.Logger,
		ReplayFrom: replayFrom, Restore: r.restoreCheckpoint, OnSnapshot: r.onSnapshot,
	})
	if errors.Is(err, consensus.ErrReplayCompacted) || errors.Is(err, ErrStateTransfer) {
		return errors.Join(fmt.Errorf("%w: %w", ErrUnclean, err), r.saveState(true))
	}
	if err != nil {
		// Nothing was applied: leave the saved position clean so the next start is not refused.
		return errors.Join(fmt.Errorf("replicator: %w", err), r.saveState(false))
	}
	r.node = node
	r.startCommit = node.Status().Commit
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.stopCtx = ctx
	r.wg.Add(1)
	go r.runFlowControl(ctx)
	r.wg.Add(4)
	go r.applyLoop()
	go r.membershipLoop(ctx)
	go r.runGcache(ctx)
	go r.runRejoin(ctx)
	if r.cfg.Bootstrap {
		r.wg.Add(1)
		go r.bootstrap(ctx, clusterEntry{uuid: newUUID(), base: r.seqno})
	}
	return nil
}

func newUUID() writeset.UUID {
	var u writeset.UUID
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails on supported platforms
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// Node is the consensus node; attach its Step method to the transport's inbound side.
func (r *Replicator) Node() *consensus.Node { return r.node }

// Source is this process's node UUID in write-sets.
func (r *Replicator) Source() writeset.UUID { return r.source }

// bootstrap proposes the cluster entry until the log has one (this node's or another bootstrapper's).
func (r *Replicator) bootstrap(ctx context.Context, c clusterEntry) {
	defer r.wg.Done()
	data := encodeCluster(c)
	tick := time.NewTicker(r.electionTimeout())
	defer tick.Stop()
	for {
		r.mu.Lock()
		done := r.haveUUID || r.fatal != nil
		r.mu.Unlock()
		if done {
			return
		}
		_, err := r.node.Propose(ctx, data)
		if err == nil {
			continue
		}
		if !errors.Is(err, consensus.ErrNotCommitted) {
			if ctx.Err() == nil && !errors.Is(err, consensus.ErrClosed) {
				r.log.Warn("proposing the cluster bootstrap entry", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C: // no leader yet: the first election takes an election timeout
		}
	}
}

func (c *Config) tick() time.Duration {
	if c.TickInterval == 0 {
		return 100 * time.Millisecond // consensus's default
	}
	return c.TickInterval
}

func (r *Replicator) electionTimeout() time.Duration {
	e := r.cfg.ElectionTick
	if e == 0 {
		e = 10 // consensus's default
	}
	return r.cfg.tick() * time.Duration(e)
}

// Replicate implements storage.Replicator: it orders and certifies ws and returns nil (ws.Seqno set, the
// storage commits it at that position), ErrCertification (with ws.Seqno set when it consumed a seqno),
// ErrNotPrimary / ErrNotOrdered (nothing consumed, rolled back), ErrMaxWSRows / ErrMaxWSSize (over a
// limit: nothing proposed, rolled back) or an error wrapping ErrUnknownOutcome.
//
// A proposal that consensus settles as never committed (a leader change while it was forwarded) is
// proposed again while the node stays in the primary component and time remains: it was never ordered,
// the transaction still holds its locks, so this is only a later commit, invisible to the client.
func (r *Replicator) Replicate(ctx context.Context, sws *storage.WriteSet) error {
	if tc, ok := ctx.Value(toiCommitKey{}).(*toiCommit); ok {
		return tc.commit(sws) // a TOI statement's commit, already ordered (toi.go)
	}
	if err := r.limits.checkRows(sws.Ops); err != nil {
		return err
	}
	if !r.Primary() {
		return ErrNotPrimary
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ReplicateTimeout)
	defer cancel()
	if err := r.fc.wait(ctx); err != nil {
		return err
	}
	ws := writeset.WriteSet{
		Source:   r.source,
		LastSeen: r.cfg.Certify.Policy.LastSeen(sws.Snapshot, r.db.LastCommitted()),
		Flags:    writeset.FlagCommit,
		Keys:     certKeys(sws.Ops, make([]writeset.Key, 0, len(sws.Ops))),
		Ops:      sws.Ops,
	}
	retry := time.NewTicker(r.cfg.tick())
	defer retry.Stop()
	for {
		err := r.proposeOnce(ctx, sws, &ws)
		if !errors.Is(err, errRetry) {
			return err
		}
		// Wait a tick, then go again once a leader is known; the deadline turns into a plain rollback,
		// since nothing was ordered.
		for {
			select {
			case <-ctx.Done():
				return ErrNotOrdered
			case <-retry.C:
			}
			if r.Primary() {
				break
			}
		}
	}
}

// errRetry: the proposal is known never to commit and may be proposed again.
var errRetry = errors.New("replicator: proposal dropped, retry")

func (r *Replicator) proposeOnce(ctx context.Context, sws *storage.WriteSet, ws *writeset.WriteSet) error {
	id := r.trx.Add(1)
	ws.TrxID = id
	data, err := encodeWriteSet(ws)
	if err != nil {
		return errors.Join(ErrNotOrdered, err)
	}
	if err := r.limits.checkSize(len(data)); err != nil {
		return err
	}
	w := &waiter{}
	r.mu.Lock()
	r.waiters[id] = w
	r.mu.Unlock()

	start := time.Now()
	_, perr := r.node.Propose(ctx, data)

	r.mu.Lock()
	settled, seqno, ok := w.settled, w.seqno, w.ok
	if !settled {
		delete(r.waiters, id) // from now on Apply treats the entry like a remote one
	} else if seqno != 0 {
		now := time.Now()
		r.replLatency.add(now, now.Sub(start))
	}
	r.mu.Unlock()
	switch {
	case settled && seqno == 0:
		return ErrNotOrdered
	case settled:
		sws.Seqno = seqno
		r.replicated.Add(1)
		r.replicatedBytes.Add(uint64(len(data)))
		r.countReplicated(ws)
		if !ok {
			return fmt.Errorf("replicator: certification failed at seqno %d: %w", seqno, storage.ErrCertification)
		}
		r.localCommits.Add(1)
		return nil
	case errors.Is(perr, consensus.ErrNotCommitted):
		return errRetry
	case perr == nil:
		return fmt.Errorf("%w: write-set applied without reaching the certifier", ErrUnknownOutcome)
	default:
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, perr)
	}
}

// logEntryOverhead approximates what an entry costs in the raft log beyond its payload (envelope, key).
const logEntryOverhead = 40

// Apply is the consensus FSM: it runs on the consensus owner goroutine, in log order, on every node.
func (r *Replicator) Apply(index uint64, data []byte) any {
	if index <= r.skipThrough {
		return nil // consumed before the last clean shutdown
	}
	r.logBytes.Add(int64(len(data)) + logEntryOverhead)
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.updateReadyLocked()
	r.index = index
	r.gcache.note(index, r.seqno)
	if r.fatal != nil || len(data) == 0 {
		return nil
	}
	switch data[0] {
	case kindCluster:
		r.applyCluster(index, data[1:])
	case kindWriteSet:
		r.applyWriteSet(index, data[1:])
	case kindTOI:
		r.applyTOIEntry(index, data[1:])
	case kindFC:
		r.applyFC(index, data[1:])
	case kindMember:
		r.applyMember(index, data[1:])
	case kindPromote:
		r.applyPromote(index, data[1:])
	default:
		// Every node sees the same bytes, so skipping is deterministic.
		r.log.Error("skipping unknown log entry", "index", index, "kind", data[0])
	}
	return nil
}

func (r *Replicator) applyCluster(index uint64, p []byte) {
	c, err := decodeCluster(p)
	if err != nil {
		r.log.Error("skipping malformed cluster entry", "index", index)
		return
	}
	if r.haveUUID {
		r.log.Warn("ignoring a second cluster bootstrap entry", "index", index, "uuid", formatUUID(c.uuid))
		return
	}
	if r.replaying {
		if c.base > r.durable {
			r.fatal = fmt.Errorf("%w: cluster founded at seqno %d but this node's storage is at seqno %d",
				ErrStateTransfer, c.base, r.durable)
			r.log.Error("cannot replay the raft log", "err", r.fatal)
			r.requestStateTransfer()
			return
		}
		r.seqno, r.cert = c.base, certify.New(r.cfg.Certify, c.base)
		r.toiCount = 0
	}
	if c.base != r.seqno {
		r.fatal = fmt.Errorf("%w: cluster founded at seqno %d but this node's data is at seqno %d",
			ErrStateTransfer, c.base, r.seqno)
		r.log.Error("cannot join cluster", "err", r.fatal)
		r.requestStateTransfer()
		return
	}
	r.uuid, r.haveUUID = c.uuid, true
	r.confID++
	r.consume(nil)
	r.log.Info("cluster state established", "uuid", formatUUID(c.uuid), "seqno", r.seqno)
}

// consume gives the next seqno to the certifier (as a non-write-set when ws is nil) and queues its apply.
func (r *Replicator) consume(ws *storage.WriteSet) {
	r.seqno++
	if ws == nil {
		if err := r.cert.Advance(r.seqno); err != nil {
			r.fatal = fmt.Errorf("replicator: %w", err)
			return
		}
	}
	r.enqueue(applyItem{seqno: r.seqno, ws: ws})
}

// enqueue hands a seqno to the apply goroutine unless the storage already holds it (crash replay).
func (r *Replicator) enqueue(it applyItem) {
	if it.seqno > r.durable {
		r.queue.push(it)
	}
}

func (r *Replicator) applyWriteSet(index uint64, p []byte) {
	var ws writeset.WriteSet
	if err := writeset.Decode(p, &ws); err != nil {
		r.log.Error("malformed write-set consumes its seqno without effect", "index", index, "err", err)
		r.consume(nil)
		return
	}
	local := ws.Source == r.source
	if !r.haveUUID {
		// Proposed before the cluster existed: dropped on every node without a seqno.
		if w := r.waiters[ws.TrxID]; local && w != nil {
			delete(r.waiters, ws.TrxID)
			w.settled = true
		}
		return
	}
	r.seqno++
	seqno := r.seqno
	v, err := r.cert.Certify(seqno, &ws)
	if err != nil {
		r.fatal = fmt.Errorf("replicator: certify seqno %d: %w", seqno, err)
		r.log.Error("certification state broken", "err", r.fatal)
		return
	}
	if local {
		if !v.OK {
			r.certFailures.Add(1)
		}
		if w := r.waiters[ws.TrxID]; w != nil {
			// The origin's session consumes the seqno itself (commit, or empty apply on failure).
			delete(r.waiters, ws.TrxID)
			w.settled, w.seqno, w.ok = true, seqno, v.OK
			return
		}
		// The session gave up waiting (unknown outcome): apply the entry like any remote one.
	} else if seqno > r.durable {
		// Replayed entries the storage already holds were received in an earlier run.
		r.received.Add(1)
		r.receivedBytes.Add(uint64(len(p) + 1))
	}
	item := applyItem{seqno: seqno, ws: &storage.WriteSet{}}
	if v.OK {
		item.ws.Ops = ws.Ops
	}
	r.enqueue(item)
}

// applyLoop applies queued seqnos to the storage in order (remote write-sets BF-abort conflicting local
// transactions there) and keeps the space-id allocator ahead of replicated spaces. It runs until Close
// has stopped consensus and the queue is empty.
func (r *Replicator) applyLoop() {
	defer r.wg.Done()
	for {
		r.queue.done() // the previous item, OnApply included, is finished (SyncWait)
		it, ok := r.queue.pop()
		if !ok {
			return
		}
		r.fc.poke()
		if r.applyHook != nil {
			r.applyHook()
		}
		if it.toi != nil {
			if err := r.execTOI(it.seqno, it.toi); err != nil {
				r.stopApplying(it.seqno, err)
				return
			}
			continue
		}
		ws := it.ws
		if ws == nil || r.cfg.Arbitrator {
			// An arbitrator stores no data (garbd): its storage only records the position.
			ws = &storage.WriteSet{}
		}
		// Reserve first: once the seqno is visible, a local CREATE TABLE cannot get one of its spaces.
		r.reserveSpaces(ws)
		if err := r.db.Apply(context.Background(), ws, it.seqno); err != nil {
			r.mu.Lock()
			r.fatal = fmt.Errorf("replicator: apply seqno %d: %w", it.seqno, err)
			r.updateReadyLocked()
			r.mu.Unlock()
			r.log.Error("apply failed; the node leaves the primary component", "seqno", it.seqno, "err", err)
			r.queue.close()
			return
		}
		if len(ws.Ops) > 0 && r.cfg.OnApply != nil {
			r.cfg.OnApply(ws)
		}
	}
}

// maxSpaceBurn bounds how many space ids reserveSpaces allocates for one write-set.
const maxSpaceBurn = 1 << 16

// reserveSpaces keeps the storage's local space-id allocator above every space a replicated write-set
// wrote: storage allocates space ids locally, so without this a table created here after one created on
// another node could get the same space. It allocates (and discards) ids until the allocator has passed
// the highest space used. Runs on the apply goroutine only.
func (r *Replicator) reserveSpaces(ws *storage.WriteSet) {
	var top storage.SpaceID
	for i := range ws.Ops {
		if sp := ws.Ops[i].Space; sp < TOISpaceBase { // TOI spaces never come from the local allocator
			top = max(top, sp)
		}
	}
	for burned := 0; top > r.spaceFloor; burned++ {
		if burned == maxSpaceBurn {
			r.log.Error("space ids of a replicated write-set are far above the local allocator", "space", top, "allocator", r.spaceFloor)
			return
		}
		id, err := r.db.AllocSpaceID()
		if err != nil {
			r.log.Error("reserving space ids used by a replicated write-set", "space", top, "err", err)
			return
		}
		r.spaceFloor = id
	}
}

// Close stops consensus and the apply goroutine and, when the storage has every consumed seqno, saves the
// position (a clean shutdown) and grastate.dat. Close sessions first and the storage after.
func (r *Replicator) Close() error {
	if r.node == nil {
		return nil
	}
	r.cancel()
	cerr := r.node.Close()
	r.queue.close()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fatal != nil {
		return errors.Join(cerr, r.fatal)
	}
	if got := r.db.LastCommitted(); got != r.seqno {
		return errors.Join(cerr, fmt.Errorf("replicator: storage is at seqno %d, total order at %d: state not saved", got, r.seqno))
	}
	return errors.Join(cerr, r.saveStateLocked(false))
}

func (r *Replicator) saveState(running bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.saveStateLocked(running)
}

func (r *Replicator) saveStateLocked(running bool) error {
	st := &savedState{Running: running, Index: r.index, Seqno: r.seqno, ConfID: r.confID, CertState: r.cert.AppendState(nil), View: r.view}
	if r.haveUUID {
		st.UUID = formatUUID(r.uuid)
	}
	st.TOICount = r.toiCount
	if err := writeState(r.cfg.DataDir, st); err != nil {
		return err
	}
	// Galera recomputes safe_to_bootstrap on every primary view: 1 only while the node is its only member.
	// A node that left, or was one of several voters when it stopped, is not safe to bootstrap from.
	g := grastate{UUID: r.uuid, Seqno: -1,
		SafeToBootstrap: r.view.LastPrimarySize == 1 && slices.Contains(r.view.Voters, r.cfg.ID)}
	if !running {
		g.Seqno = int64(r.seqno)
	}
	return writeGrastate(r.cfg.DataDir, g)
}

// updateReadyLocked publishes whether the FSM can serve (the cluster exists, nothing broke) for
// Primary, which runs on the query path and must not wait for r.mu (held while entries are certified).
func (r *Replicator) updateReadyLocked() { r.fsmReady.Store(r.haveUUID && r.fatal == nil) }

// Primary reports whether this node is in the primary component and caught up with it: the cluster
// exists, the node is a voter, it knows a leader that has quorum contact (with CheckQuorum a leader
// that loses its majority steps down, and a follower that stops hearing from it forgets it after an
// election timeout) — and since it last entered that state after being away longer than an election
// (noteOutside) it has applied everything the leader had committed then (runRejoin). Until then it is a Joiner receiving the log, as a Galera node that
// rejoins is until its IST is done: it neither serves reads of a state the others have left behind
// nor takes writes. A pc.weight=0 member (a learner for good) is in it once it has caught up and while
// it hears from the leader (a learner never campaigns, so it would keep its leader forever).
func (r *Replicator) Primary() bool {
	if !r.inPrimaryComponent() {
		r.noteOutside()
		return false
	}
	if r.outsideSince.Load() != 0 {
		r.outsideSince.Store(0)
	}
	if r.joined.Load() {
		return true
	}
	select {
	case r.rejoinKick <- struct{}{}:
	default:
	}
	return false
}

// noteOutside records that the node is outside the primary component. Once it has been outside for
// longer than an election timeout, it must catch up again when it returns; the few hundred
// milliseconds without a leader while the members elect a new one are not a departure — a Galera node
// stays Synced through them — and the node serves again as soon as there is a leader.
func (r *Replicator) noteOutside() {
	now := time.Now().UnixNano()
	since := r.outsideSince.Load()
	if since == 0 {
		r.outsideSince.CompareAndSwap(0, now)
		return
	}
	if r.joined.Load() && time.Duration(now-since) > r.electionTimeout() {
		r.joined.Store(false)
	}
}

// inPrimaryComponent is Primary without the catch-up condition.
func (r *Replicator) inPrimaryComponent() bool {
	if r.node == nil {
		return false // not started
	}
	select {
	case <-r.node.Done():
		return false // consensus stopped (Close, or a fatal storage error)
	default:
	}
	if !r.fsmReady.Load() {
		return false
	}
	st := r.node.Status()
	if st.Lead == 0 {
		return false
	}
	if slices.Contains(st.Voters, r.cfg.ID) {
		return true
	}
	return r.weight0.Load() && r.caughtUp.Load() && slices.Contains(st.Learners, r.cfg.ID) &&
		time.Since(st.LeaderContact) < r.electionTimeout()
}

// runRejoin completes Primary's catch-up condition: whenever the node is in the primary component
// without having caught up since it (re)entered it, it asks the leader for its commit index
// (consensus ReadIndex, which returns once this node has applied that far). It also notices, every
// tick, a node that left the primary component without anyone asking Primary meanwhile.
func (r *Replicator) runRejoin(ctx context.Context) {
	defer r.wg.Done()
	tick := time.NewTicker(r.cfg.tick())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.rejoinKick:
		case <-tick.C:
		}
		if !r.inPrimaryComponent() {
			r.noteOutside()
			continue
		}
		r.outsideSince.Store(0)
		if r.joined.Load() {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, r.electionTimeout())
		_, err := r.node.ReadIndex(rctx)
		cancel()
		if err == nil && r.inPrimaryComponent() {
			r.catchingUp.Store(true) // Joined until the receive queue is short, then Synced
			r.joined.Store(true)
		}
	}
}

// DefaultCausalReadTimeout is Galera's repl.causal_read_timeout (PT30S), the bound of SyncWait.
const DefaultCausalReadTimeout = 30 * time.Second

// ErrSyncWaitTimeout: SyncWait did not see the cluster's commit point in time (MySQL 1205, GALERA.md §3.6).
var ErrSyncWaitTimeout = errors.New("replicator: causal read timed out")

// SyncWait is wsrep_sync_wait's causal read: it returns once everything committed anywhere in the cluster
// before the call is committed in the local storage. It asks the leader for its commit index (a
// heartbeat round), waits for the FSM to reach it and then for the storage to commit the seqnos it
// assigned. ErrSyncWaitTimeout after DefaultCausalReadTimeout.
func (r *Replicator) SyncWait(ctx context.Context) error {
	r.causalReads.Add(1)
	ctx, cancel := context.WithTimeout(ctx, DefaultCausalReadTimeout)
	defer cancel()
	if _, err := r.node.ReadIndex(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrSyncWaitTimeout, err)
		}
		return fmt.Errorf("replicator: sync wait: %w", err)
	}
	target := r.LastSeqno()
	// The last seqnos are being applied (apply goroutine) or committed by their local sessions: both
	// take microseconds to milliseconds, and the storage has no commit notification to wait on. The
	// apply goroutine must also be past them, so that what it does after applying (OnApply: the SQL
	// layer's catalog reload after replicated DDL) has been started for every seqno up to target.
	if err := waitFor(ctx, func() bool { return r.db.LastCommitted() >= target && !r.queue.pendingThrough(target) }); err != nil {
		return fmt.Errorf("%w: storage at seqno %d, waiting for %d", ErrSyncWaitTimeout, r.db.LastCommitted(), target)
	}
	return nil
}

// LastSeqno is the last seqno of the total order this node's FSM has consumed (applied or queued).
func (r *Replicator) LastSeqno() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seqno
}

type applyItem struct {
	seqno uint64
	ws    *storage.WriteSet // nil or empty: only advances the position
	toi   *toiItem          // a DDL to execute at seqno (toi.go)
}

// applyQueue is the receive queue between the FSM and the apply goroutine (wsrep_local_recv_queue). It is
// unbounded: raft already holds these entries in memory, and flow control (flowcontrol.go) keeps it near
// gcs.fc_limit by pausing new proposals cluster-wide while it is longer.
type applyQueue struct {
	mu       sync.Mutex
	items    []applyItem
	inflight uint64 // seqno of the item the apply goroutine is processing; 0 between items
	closed   bool
	signal   chan struct{}
	onPush   func() // flow control looks at the new length; never blocks
	stats    queueStats
}

func (q *applyQueue) push(it applyItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.stats.sample(len(q.items))
	q.mu.Unlock()
	if q.onPush != nil {
		q.onPush()
	}
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// pop returns the next item; false once the queue is closed and empty.
func (q *applyQueue) pop() (applyItem, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items[0] = applyItem{}
			q.items = q.items[1:]
			q.inflight = it.seqno
			q.stats.observe(len(q.items))
			q.mu.Unlock()
			return it, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return applyItem{}, false
		}
		<-q.signal
	}
}

// done marks the item last popped as finished.
func (q *applyQueue) done() {
	q.mu.Lock()
	q.inflight = 0
	q.mu.Unlock()
}

// pendingThrough reports whether an item with a seqno at or below target is queued or being processed.
func (q *applyQueue) pendingThrough(target uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return (q.inflight != 0 && q.inflight <= target) || (len(q.items) > 0 && q.items[0].seqno <= target)
}

func (q *applyQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *applyQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// resetStats restarts the queue-length statistics (FLUSH STATUS).
func (q *applyQueue) resetStats() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stats.reset(len(q.items))
}
