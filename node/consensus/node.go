package consensus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Errors callers branch on with errors.Is.
var (
	// ErrNotCommitted: the proposal is not in the committed log and never will be. Safe to report a rollback.
	ErrNotCommitted = errors.New("consensus: proposal was not committed")
	// ErrUnknownOutcome: the caller stopped waiting before the outcome was known; the entry may still commit.
	ErrUnknownOutcome = errors.New("consensus: proposal outcome unknown")
	// ErrClosed: the node stopped. For a proposal that was already handed to raft the outcome is unknown.
	ErrClosed = errors.New("consensus: node closed")
	// ErrConfChangeInProgress: membership changes are made one at a time.
	ErrConfChangeInProgress = errors.New("consensus: another membership change is in progress")
	// ErrLastVoter: the change would remove or demote the configuration's only voter; it was applied as a no-op.
	ErrLastVoter = errors.New("consensus: cannot remove the only voter")
	// ErrSnapshotUnsupported: the leader sent a raft snapshot; state transfer is done outside raft (SST).
	ErrSnapshotUnsupported = errors.New("consensus: raft snapshots are not supported (log was compacted below this node's position)")
)

// FSM receives committed proposals. Apply runs on the node's owner goroutine, in log order, so it must not
// block for long (hand heavy work to another goroutine and keep the order). Its result is returned by the
// proposer's Propose. After a restart, entries after the last persisted apply position are delivered again;
// the FSM skips indexes it has already made durable.
type FSM interface {
	Apply(index uint64, data []byte) any
}

// Transport carries raft messages to peers. Send must not block and may drop messages (raft retries);
// it may keep the messages, which are never modified after Send, but not the slice. It is called from
// the node's owner and appender goroutines concurrently.
type Transport interface {
	Send(msgs []*pb.Message)
}

// MembershipChange describes one applied configuration change.
type MembershipChange struct {
	Index    uint64
	Type     pb.ConfChangeType
	NodeID   uint64
	Context  []byte // the meta given to AddLearner/AddVoter/RemoveNode
	Voters   []uint64
	Learners []uint64
	// Replayed: the change was applied before (a replay after a crash, Config.ReplayFrom); raft's
	// configuration already contains it, and Voters/Learners are the restored configuration, not the one
	// at Index. It is reported so that an FSM rebuilding its state from the log sees every change.
	Replayed bool
}

// Config configures Start. Zero values take the documented defaults.
type Config struct {
	ID      uint64 // non-zero, unique in the cluster, never reused
	DataDir string // the raft log lives in its LogDirName subdirectory
	// Peers are the initial voters, used only when DataDir holds no raft state. Every founding member must be
	// started with the same list. Empty: join an existing cluster once a member adds this node.
	Peers         []uint64
	ElectionTick  int           // default 10
	HeartbeatTick int           // default 1
	TickInterval  time.Duration // default 100ms
	// NonCandidate makes a voter that never starts an election and hands leadership away if it gets it
	// (the arbitrator). See doc.go.
	NonCandidate              bool
	MaxBatch                  int    // proposals per MsgProp, default 1024
	MaxSizePerMsg             uint64 // default 1 MiB
	MaxInflightMsgs           int    // default 256
	MaxUncommittedEntriesSize uint64 // leader backpressure, default 64 MiB
	Transport                 Transport
	FSM                       FSM
	// OnMembership, if set, is called on the owner goroutine after every applied configuration change.
	OnMembership func(MembershipChange)
	// ReplayFrom, when non-zero and not after the persisted apply position, makes the FSM receive every
	// committed entry from this index on again (a crash restart whose FSM lost its tail, see doc.go,
	// "Replay"). Entries overtaken the first time are skipped again: the per-proposer filter is rebuilt from
	// the checkpoint (Compact) and the retained log before ReplayFrom. A replay from at or before the
	// checkpoint starts right after it and first hands the checkpoint to Restore, which must put the FSM
	// in its state at that index; without Restore (or without a checkpoint, once the log was compacted)
	// Start fails with ErrReplayCompacted.
	ReplayFrom uint64
	Restore    func(*Checkpoint) error
	// OnSnapshot, if set, is called on the owner goroutine (it must not block) when the leader no longer
	// holds the entries this node needs: only a state transfer brings it back (InstallCheckpoint). It is
	// called again for every such message until then.
	OnSnapshot func(SnapshotRequest)
	Logger     *slog.Logger
}

// ErrReplayCompacted: Config.ReplayFrom asks for entries, or filter state, that compaction discarded.
var ErrReplayCompacted = errors.New("consensus: cannot replay: the raft log was compacted")

func (c *Config) setDefaults() error {
	if c.ID == 0 {
		return errors.New("consensus: node id must be non-zero")
	}
	if c.DataDir == "" {
		return errors.New("consensus: data dir is required")
	}
	if c.Transport == nil || c.FSM == nil {
		return errors.New("consensus: transport and FSM are required")
	}
	if len(c.Peers) > 0 {
		seen := map[uint64]bool{}
		for _, id := range c.Peers {
			if id == 0 || seen[id] {
				return fmt.Errorf("consensus: peers %v: ids must be non-zero and unique", c.Peers)
			}
			seen[id] = true
		}
		if !seen[c.ID] {
			return fmt.Errorf("consensus: peers %v do not include this node (%d); start a joining node without peers", c.Peers, c.ID)
		}
	}
	if c.NonCandidate && len(c.Peers) == 1 && c.Peers[0] == c.ID {
		return errors.New("consensus: a non-candidate node cannot be the only voter")
	}
	if c.ElectionTick == 0 {
		c.ElectionTick = 10
	}
	if c.HeartbeatTick == 0 {
		c.HeartbeatTick = 1
	}
	if c.ElectionTick <= c.HeartbeatTick {
		return fmt.Errorf("consensus: election tick %d must exceed heartbeat tick %d", c.ElectionTick, c.HeartbeatTick)
	}
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 1024
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 256
	}
	if c.MaxUncommittedEntriesSize == 0 {
		c.MaxUncommittedEntriesSize = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Result is a committed proposal: its raft index and the FSM's return value.
type Result struct {
	Index uint64
	Value any
}

type outcome struct {
	res Result
	err error
}

type proposal struct {
	kind entryKind
	data []byte
	cc   *pb.ConfChange // kindConf only
	seq  uint64
	done chan outcome // buffered 1; nil for internal barriers
}

func (p *proposal) resolve(res Result, err error) {
	if p.done != nil {
		p.done <- outcome{res, err}
	}
}

type readReq struct {
	ctx   context.Context
	id    uint64
	index uint64
	done  chan outcome
}

// Status is a point-in-time view of the node, published after every Ready.
type Status struct {
	ID      uint64
	Lead    uint64
	Term    uint64
	Commit  uint64
	Applied uint64
	// FirstIndex is the first log index still retained (gcache's wsrep_local_cached_downto analogue).
	FirstIndex uint64
	LastIndex  uint64 // last index in the local log
	State      string // StateFollower, StateCandidate, StateLeader, StatePreCandidate
	Voters     []uint64
	Learners   []uint64
	// LeaderContact is when this node last heard from its leader (the publication time on the leader).
	// A learner never campaigns, so it keeps its leader after a partition: this tells whether it is
	// still in touch.
	LeaderContact time.Time
}

// Stats are monotonically increasing event counts.
type Stats struct {
	Syncs          uint64 // fdatasynced log writes (the appender's, one per batch of Readys with durable content)
	Proposals      uint64 // proposals handed to raft
	Batches        uint64 // MsgProp steps carrying them
	Applied        uint64 // entries delivered to the FSM
	DroppedInbound uint64 // inbound messages dropped because the inbox was full
	// SnapshotsNeeded counts raft snapshots this node (as leader) did not send because a follower needs
	// compacted entries: each is a follower that needs a state transfer.
	SnapshotsNeeded uint64
}

// Node runs one raft member. Every method is safe for concurrent use.
type Node struct {
	rc    *raft.Config
	cfg   Config
	log   *slog.Logger
	store *logStore
	rn    *raft.RawNode

	props    chan *proposal
	inbox    chan *pb.Message
	reads    chan *readReq
	ctrl     chan func()
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
	err      error // set before done is closed
	closeErr error // set by Close

	// The appender goroutine (appender.go).
	appends      chan appendJob
	appenderDone chan struct{}
	appendSig    chan struct{} // capacity 1: responses or an error were posted
	appendMu     sync.Mutex
	appended     []*pb.Message // responses to step, posted by the appender
	appendErr    error

	status     atomic.Pointer[Status]
	proposals  atomic.Uint64
	batches    atomic.Uint64
	appliedCnt atomic.Uint64
	dropped    atomic.Uint64
	snapNeeded atomic.Uint64

	// Owned by the run goroutine.
	seq        uint64
	waiters    []*proposal // in seq order
	confWaiter *proposal
	apply      applyState
	applyDirty bool
	// replayConf: during a replay (Config.ReplayFrom), configuration changes up to this index are already
	// part of the restored configuration and are not applied to raft again.
	replayConf    uint64
	readSeq       uint64
	pendingReads  map[uint64]*readReq // waiting for a ReadState
	indexedReads  []*readReq          // waiting for applied >= index
	hs            *pb.HardState       // latest hard state raft reported
	out           []*pb.Message       // reused buffer of outgoing messages
	lead          uint64
	state         raft.StateType
	leadChanged   bool
	ticks         int
	progressTick  int
	leaderContact int               // tick of the last message from a leader (non-candidate only)
	leaderSeen    time.Time         // when a message from a leader last arrived (Status.LeaderContact)
	snapLogged    map[uint64]uint64 // follower -> term in which its need for a snapshot was logged
	fence         map[uint64]bool   // members removed by ForceNewCluster whose messages are dropped
	heardAt       map[uint64]int    // peer -> tick of its last message (Inactive, Reachable)
	fatal         error             // set by control functions that leave the node unusable
}

// Start opens (or creates) the raft state in cfg.DataDir and starts the node's owner goroutine. Attach the
// node's Step method to the transport's inbound side after Start.
func Start(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	store, st, err := openLogStore(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	replayConfIndex := st.confIndex
	if cfg.ReplayFrom > 0 && cfg.ReplayFrom <= st.applied {
		cp, err := store.checkpoint()
		if err == nil {
			err = store.rewind(&st, cfg.ReplayFrom, cp)
		}
		if err == nil && cp != nil && cfg.ReplayFrom <= cp.Index+1 {
			if cfg.Restore == nil {
				err = fmt.Errorf("%w (replay from %d, checkpoint at %d)", ErrReplayCompacted, cfg.ReplayFrom, cp.Index)
			} else if err = cfg.Restore(cp); err != nil {
				err = fmt.Errorf("consensus: restore checkpoint at %d: %w", cp.Index, err)
			}
		}
		if err != nil {
			_ = store.close()
			return nil, err
		}
	} else {
		replayConfIndex = 0
	}
	epoch, err := store.nextEpoch()
	if err != nil {
		_ = store.close()
		return nil, fmt.Errorf("consensus: persist epoch: %w", err)
	}
	rc := &raft.Config{ // also used by ForceNewCluster to restart raft
		ID:                        cfg.ID,
		ElectionTick:              cfg.ElectionTick,
		HeartbeatTick:             cfg.HeartbeatTick,
		Storage:                   store,
		Applied:                   st.applied,
		MaxSizePerMsg:             cfg.MaxSizePerMsg,
		MaxInflightMsgs:           cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: cfg.MaxUncommittedEntriesSize,
		AsyncStorageWrites:        true,
		CheckQuorum:               true,
		PreVote:                   true,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{cfg.Logger.With("component", "raft", "node", cfg.ID)},
	}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		_ = store.close()
		return nil, fmt.Errorf("consensus: %w", err)
	}
	hs, _, _ := store.InitialState()
	last, _ := store.LastIndex()
	if last == 0 && raft.IsEmptyHardState(hs) && len(cfg.Peers) > 0 {
		peers := make([]raft.Peer, len(cfg.Peers))
		for i, id := range cfg.Peers {
			peers[i] = raft.Peer{ID: id}
		}
		if err := rn.Bootstrap(peers); err != nil {
			_ = store.close()
			return nil, fmt.Errorf("consensus: bootstrap: %w", err)
		}
	}
	if st.conf == nil {
		st.conf = store.conf
	}
	n := &Node{
		rc:           rc,
		cfg:          cfg,
		log:          cfg.Logger,
		store:        store,
		rn:           rn,
		props:        make(chan *proposal, cfg.MaxBatch),
		inbox:        make(chan *pb.Message, 4096),
		reads:        make(chan *readReq, 64),
		ctrl:         make(chan func()),
		quit:         make(chan struct{}),
		done:         make(chan struct{}),
		seq:          epoch << 32,
		apply:        st,
		pendingReads: map[uint64]*readReq{},
		snapLogged:   map[uint64]uint64{},
		fence:        map[uint64]bool{},
		heardAt:      map[uint64]int{},
		hs:           hs,
		replayConf:   replayConfIndex,
		appends:      make(chan appendJob, 4096),
		appenderDone: make(chan struct{}),
		appendSig:    make(chan struct{}, 1),
	}
	n.publishStatus()
	go n.runAppender()
	go n.run()
	return n, nil
}

// Close stops the node and waits for its goroutine. Everything already acknowledged is durable; Close
// writes nothing extra, so it is equivalent to a crash as far as raft state is concerned.
func (n *Node) Close() error {
	n.once.Do(func() {
		close(n.quit)
		<-n.done
		n.closeErr = errors.Join(n.err, n.store.close())
	})
	return n.closeErr
}

// Done is closed when the node has stopped (Close, or a fatal storage error reported by Err).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is the error that stopped the node, valid after Done is closed.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.err
	default:
		return nil
	}
}

// ID returns the node id.
func (n *Node) ID() uint64 { return n.cfg.ID }

// Status returns the last published status.
func (n *Node) Status() Status { return *n.status.Load() }

// Stats returns counters.
func (n *Node) Stats() Stats {
	return Stats{
		Syncs:           n.store.syncs.Load(),
		Proposals:       n.proposals.Load(),
		Batches:         n.batches.Load(),
		Applied:         n.appliedCnt.Load(),
		DroppedInbound:  n.dropped.Load(),
		SnapshotsNeeded: n.snapNeeded.Load(),
	}
}

// Step delivers an inbound message from the transport. It never blocks; when the inbox is full the message
// is dropped, which raft tolerates.
func (n *Node) Step(m *pb.Message) {
	select {
	case n.inbox <- m:
	default:
		n.dropped.Add(1)
	}
}

// ReportUnreachable tells raft that sends to id are failing, so it stops pipelining to it.
func (n *Node) ReportUnreachable(id uint64) {
	n.Step(&pb.Message{Type: pb.MsgUnreachable.Enum(), From: new(id)})
}

// Propose replicates data and waits until it is committed and applied locally. It returns the FSM's
// result; ErrNotCommitted when the entry is known never to commit; ErrUnknownOutcome (joined with the
// context's error) when ctx ended first; ErrClosed when the node stopped first.
func (n *Node) Propose(ctx context.Context, data []byte) (Result, error) {
	return n.submit(ctx, &proposal{kind: kindProposal, data: data, done: make(chan outcome, 1)})
}

// ProposeVia hands data, as a proposal of this node, to member to, which forwards it to its leader. It is
// for a node outside the configuration (a joiner asking to be added): its own raft has no leader to
// forward to. Nothing waits for the outcome: the message may be lost, so callers repeat it until its
// effect shows (and the FSM must treat repeats as harmless). If the entry commits, every FSM, this
// node's included once it receives the log, applies it like any proposal.
func (n *Node) ProposeVia(ctx context.Context, to uint64, data []byte) error {
	if to == 0 || to == n.cfg.ID {
		return fmt.Errorf("consensus: cannot propose via node %d", to)
	}
	errc := make(chan error, 1)
	f := func() {
		if err := n.nextSeq(); err != nil {
			errc <- err
			return
		}
		ent := &pb.Entry{Data: appendEnvelope(make([]byte, 0, envelopeLen+len(data)), kindProposal, n.cfg.ID, n.seq, data)}
		n.cfg.Transport.Send([]*pb.Message{{Type: pb.MsgProp.Enum(), From: new(n.cfg.ID), To: new(to), Entries: []*pb.Entry{ent}}})
		errc <- nil
	}
	select {
	case n.ctrl <- f:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrClosed
	}
	select {
	case err := <-errc:
		return err
	case <-n.done:
		return ErrClosed
	}
}

// AddLearner adds a non-voting member that receives the log (a Galera joiner during catch-up). meta is
// handed to every node's OnMembership (e.g. the member's address).
func (n *Node) AddLearner(ctx context.Context, id uint64, meta []byte) error {
	return n.confChange(ctx, pb.ConfChangeAddLearnerNode, id, meta)
}

// AddVoter adds a voter or promotes a learner.
func (n *Node) AddVoter(ctx context.Context, id uint64, meta []byte) error {
	return n.confChange(ctx, pb.ConfChangeAddNode, id, meta)
}

// RemoveNode removes a member. Transfer leadership away first when removing the leader.
func (n *Node) RemoveNode(ctx context.Context, id uint64, meta []byte) error {
	return n.confChange(ctx, pb.ConfChangeRemoveNode, id, meta)
}

func (n *Node) confChange(ctx context.Context, t pb.ConfChangeType, id uint64, meta []byte) error {
	if id == 0 {
		return errors.New("consensus: node id must be non-zero")
	}
	cc := &pb.ConfChange{Type: t.Enum(), NodeId: new(id), Context: meta}
	_, err := n.submit(ctx, &proposal{kind: kindConf, cc: cc, done: make(chan outcome, 1)})
	return err
}

func (n *Node) submit(ctx context.Context, p *proposal) (Result, error) {
	select {
	case n.props <- p:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("%w: %w", ErrNotCommitted, ctx.Err())
	case <-n.done:
		return Result{}, ErrClosed
	}
	select {
	case o := <-p.done:
		return o.res, o.err
	case <-ctx.Done():
		return Result{}, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
	case <-n.done:
		select {
		case o := <-p.done:
			return o.res, o.err
		default:
			return Result{}, ErrClosed
		}
	}
}

// ReadIndex returns a log index that is at least the cluster's commit index at the time of the call, after
// this node has applied it: anything committed anywhere before ReadIndex was called is visible locally
// when it returns (causal reads, wsrep_sync_wait). It waits for a leader until ctx ends.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	r := &readReq{ctx: ctx, done: make(chan outcome, 1)}
	select {
	case n.reads <- r:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, ErrClosed
	}
	select {
	case o := <-r.done:
		return o.res.Index, o.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, ErrClosed
	}
}

// TransferLeadership asks the leader to hand leadership to id. It returns once the request is queued; watch
// Status for the result.
func (n *Node) TransferLeadership(ctx context.Context, id uint64) error {
	f := func() { n.rn.TransferLeader(id) }
	select {
	case n.ctrl <- f:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrClosed
	}
}

// HandOff makes a leader transfer leadership to the best other voter (recently active, most caught up),
// e.g. before it leaves the cluster. It returns once the request is queued; a node that does not lead
// ignores it. Watch Status for the result.
func (n *Node) HandOff(ctx context.Context) error {
	f := func() {
		if n.state == raft.StateLeader {
			n.handOffLeadership()
		}
	}
	select {
	case n.ctrl <- f:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrClosed
	}
}

// Match returns what this node, as leader, believes member id's log holds (raft's progress Match index);
// false when it does not lead or id is not a member.
func (n *Node) Match(ctx context.Context, id uint64) (uint64, bool, error) {
	type res struct {
		match uint64
		ok    bool
	}
	got := make(chan res, 1)
	f := func() {
		if n.state != raft.StateLeader {
			got <- res{}
			return
		}
		pr, ok := n.rn.Status().Progress[id]
		got <- res{pr.Match, ok}
	}
	select {
	case n.ctrl <- f:
	case <-ctx.Done():
		return 0, false, ctx.Err()
	case <-n.done:
		return 0, false, ErrClosed
	}
	select {
	case r := <-got:
		return r.match, r.ok, nil
	case <-n.done:
		return 0, false, ErrClosed
	}
}

// Inactive returns, on the leader, the other members (voters and learners) it has not heard from for at
// least d (Galera's evs.inactive_timeout); nil on a node that does not lead.
func (n *Node) Inactive(ctx context.Context, d time.Duration) ([]uint64, error) {
	return onOwner(ctx, n, func() []uint64 {
		if n.state != raft.StateLeader {
			return nil
		}
		return n.heard(d, false)
	})
}

// Campaign starts an election on this node now instead of after an election timeout (a freshly
// bootstrapped node, an operator's choice). A non-candidate refuses.
func (n *Node) Campaign(ctx context.Context) error {
	if n.cfg.NonCandidate {
		return errors.New("consensus: a non-candidate node does not campaign")
	}
	errc := make(chan error, 1)
	f := func() { errc <- n.rn.Campaign() }
	select {
	case n.ctrl <- f:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrClosed
	}
	return <-errc
}

func (n *Node) run() {
	defer close(n.done)
	t := time.NewTicker(n.cfg.TickInterval)
	defer t.Stop()
	err := n.loop(t.C)
	n.stopAppender()
	if err != nil {
		n.log.Error("consensus node stopped", "node", n.cfg.ID, "err", err)
	}
	n.shutdown(err)
}

func (n *Node) loop(tick <-chan time.Time) error {
	batch := make([]*proposal, 0, n.cfg.MaxBatch)
	for {
		select {
		case <-n.quit:
			return nil
		case <-tick:
			n.tick()
		case m := <-n.inbox:
			n.step(m)
			// Drain what else arrived so that one Ready (one fsync) covers it.
			for i := 0; i < 256; i++ {
				select {
				case m = <-n.inbox:
					n.step(m)
					continue
				default:
				}
				break
			}
		case p := <-n.props:
			batch = append(batch[:0], p)
		drain:
			for len(batch) < n.cfg.MaxBatch {
				select {
				case p = <-n.props:
					batch = append(batch, p)
				default:
					break drain
				}
			}
			n.propose(batch)
			clear(batch)
			if n.fatal != nil {
				return n.fatal
			}
		case <-n.appendSig:
			msgs, err := n.takeAppended()
			if err != nil {
				return err
			}
			n.deliver(msgs)
		case r := <-n.reads:
			n.startRead(r)
		case f := <-n.ctrl:
			f()
			if n.fatal != nil {
				return n.fatal
			}
		}
		if err := n.handleReady(); err != nil {
			return err
		}
		if n.leadChanged {
			n.leadChanged = false
			n.onLeaderChange()
			if err := n.handleReady(); err != nil {
				return err
			}
		}
	}
}

func (n *Node) tick() {
	n.ticks++
	switch {
	case !n.cfg.NonCandidate:
		n.rn.Tick()
	case n.state == raft.StateLeader:
		n.rn.Tick()
		n.handOffLeadership()
	case n.ticks-n.leaderContact < nonCandidatePatience*n.cfg.ElectionTick:
		// Advance the election clock (so leader leases expire and this node grants votes) without
		// reaching the code that starts an election.
		n.rn.TickQuiesced()
	default:
		// No leader for a long time: the data nodes cannot elect one, typically because this node holds
		// committed entries they lack and so refuses them its vote. Campaign normally, to hand
		// leadership on as soon as it is won (handOffLeadership).
		n.rn.Tick()
	}
	if n.ticks-n.progressTick >= n.cfg.ElectionTick {
		n.progressTick = n.ticks
		if len(n.waiters) > 0 {
			// Something we proposed has been outstanding for an election timeout: a later entry of ours
			// settles it one way or the other (see doc.go).
			n.barrier()
		}
		n.reissueReads()
	}
}

// nonCandidatePatience is how many election timeouts a non-candidate waits without hearing from a leader
// before it campaigns itself.
const nonCandidatePatience = 3

func (n *Node) step(m *pb.Message) {
	switch t := m.GetType(); {
	case t == pb.MsgUnreachable:
		n.rn.ReportUnreachable(m.GetFrom())
		return
	case t == pb.MsgTimeoutNow && n.cfg.NonCandidate:
		n.log.Warn("non-candidate node refuses leadership transfer", "node", n.cfg.ID, "from", m.GetFrom())
		return
	case raft.IsLocalMsg(t):
		return
	case n.fenced(m):
		return
	default:
		n.heardAt[m.GetFrom()] = n.ticks
		if t == pb.MsgApp || t == pb.MsgHeartbeat || t == pb.MsgSnap {
			n.leaderContact = n.ticks // only leaders send these
			n.leaderSeen = time.Now()
		}
	}
	if t := m.GetType(); t == pb.MsgSnap && m.GetSnapshot().GetMetadata().GetIndex() > n.apply.applied {
		// The leader has discarded entries this node needs (see withoutSnapshotData): raft cannot bring
		// it back, a state transfer must. A snapshot at or below the applied index is harmless to raft
		// (it only learns the commit index) and is stepped.
		if n.cfg.OnSnapshot != nil {
			n.cfg.OnSnapshot(SnapshotRequest{From: m.GetFrom(), Index: m.GetSnapshot().GetMetadata().GetIndex()})
		}
		return
	}
	if t := m.GetType(); t == pb.MsgHeartbeat {
		// A leader that believes this node holds entries it does not (its data directory was emptied and
		// it restarted under the same id) sends a commit index beyond its log, on which raft panics.
		// Drop the commit information: the leader's appends bring the log back, and the Galera layer
		// has the node removed and added again (see doc.go, "Membership").
		if last, _ := n.store.LastIndex(); m.GetCommit() > last {
			m = proto.CloneOf(m)
			m.Commit = new(n.rn.BasicStatus().GetCommit())
		}
	}
	if err := n.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
		n.log.Debug("raft step", "node", n.cfg.ID, "type", m.GetType().String(), "err", err)
	}
}

func (n *Node) propose(batch []*proposal) {
	ents := make([]*pb.Entry, 0, len(batch))
	var accepted []*proposal
	for _, p := range batch {
		if p.kind == kindConf {
			n.proposeConf(p)
			continue
		}
		if err := n.nextSeq(); err != nil {
			p.resolve(Result{}, fmt.Errorf("%w: %w", ErrNotCommitted, err))
			continue
		}
		p.seq = n.seq
		ents = append(ents, &pb.Entry{Data: appendEnvelope(make([]byte, 0, envelopeLen+len(p.data)), p.kind, n.cfg.ID, p.seq, p.data)})
		accepted = append(accepted, p)
	}
	if len(ents) == 0 {
		return
	}
	err := n.rn.Step(&pb.Message{Type: pb.MsgProp.Enum(), From: new(n.cfg.ID), Entries: ents})
	if err != nil {
		// Not appended here and not forwarded: it cannot commit.
		for _, p := range accepted {
			p.resolve(Result{}, fmt.Errorf("%w: %w", ErrNotCommitted, err))
		}
		return
	}
	n.batches.Add(1)
	n.proposals.Add(uint64(len(accepted)))
	n.waiters = append(n.waiters, accepted...)
}

func (n *Node) proposeConf(p *proposal) {
	if n.confWaiter != nil {
		p.resolve(Result{}, ErrConfChangeInProgress)
		return
	}
	if err := n.nextSeq(); err != nil {
		p.resolve(Result{}, fmt.Errorf("%w: %w", ErrNotCommitted, err))
		return
	}
	p.seq = n.seq
	cc := proto.CloneOf(p.cc)
	cc.Context = appendEnvelope(nil, kindConf, n.cfg.ID, p.seq, p.cc.GetContext())
	if err := n.rn.ProposeConfChange(cc); err != nil {
		p.resolve(Result{}, fmt.Errorf("%w: %w", ErrNotCommitted, err))
		return
	}
	n.confWaiter = p
	n.waiters = append(n.waiters, p)
}

// nextSeq advances the proposal sequence number. Seqs are epoch<<32 | counter with the epoch persisted
// before use, so they grow across restarts; when a run exhausts its 2^32 counter a new epoch is persisted.
func (n *Node) nextSeq() error {
	if n.seq&(1<<32-1) == 1<<32-1 {
		if err := n.drainAppends(); err != nil {
			n.fatal = err
			return err
		}
		epoch, err := n.store.nextEpoch()
		if err != nil {
			n.fatal = fmt.Errorf("consensus: persist epoch: %w", err)
			return n.fatal
		}
		n.seq = epoch << 32
	}
	n.seq++
	return nil
}

// barrier proposes an empty entry of ours; when it applies, every earlier proposal of ours that has not
// applied is settled as ErrNotCommitted (the apply filter guarantees they never will).
func (n *Node) barrier() {
	n.propose([]*proposal{{kind: kindBarrier}})
}

func (n *Node) onLeaderChange() {
	if n.state == raft.StateLeader {
		// A new leader has not been listening to every peer: count them all as heard now.
		for _, id := range n.members() {
			n.heardAt[id] = n.ticks
		}
	}
	if len(n.waiters) > 0 {
		n.barrier()
	}
	n.reissueReads()
	if n.cfg.NonCandidate && n.state == raft.StateLeader {
		n.handOffLeadership()
	}
}

// handOffLeadership moves leadership from a non-candidate to the best voter: one raft has heard from
// recently, most caught up. Raft first brings the transferee up to date, then tells it to campaign; if
// that fails within an election timeout raft abandons the transfer and the next tick picks again.
func (n *Node) handOffLeadership() {
	st := n.rn.Status()
	if st.LeadTransferee != raft.None {
		return
	}
	var best uint64
	var bestActive bool
	var bestMatch uint64
	for id, pr := range st.Progress {
		if id == n.cfg.ID || pr.IsLearner {
			continue
		}
		if best == 0 || (pr.RecentActive && !bestActive) || (pr.RecentActive == bestActive && pr.Match > bestMatch) {
			best, bestActive, bestMatch = id, pr.RecentActive, pr.Match
		}
	}
	if best != 0 {
		n.log.Info("transferring leadership", "node", n.cfg.ID, "to", best, "non_candidate", n.cfg.NonCandidate)
		n.rn.TransferLeader(best)
	}
}

func (n *Node) handleReady() error {
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		if rd.SoftState != nil {
			if rd.SoftState.Lead != n.lead || rd.SoftState.RaftState != n.state {
				n.leadChanged = true
			}
			n.lead, n.state = rd.SoftState.Lead, rd.SoftState.RaftState
		}
		// Raft runs with asynchronous storage writes: everything that may only leave after this node's
		// pending writes are durable is held back as Responses of the storage messages below, so the rest
		// goes out now. That lets the leader's appends reach the followers while it fsyncs its own copy.
		var local []*pb.Message
		out := n.out[:0]
		for _, m := range rd.Messages {
			if to := m.GetTo(); to == raft.LocalAppendThread || to == raft.LocalApplyThread {
				local = append(local, m)
			} else {
				out = append(out, m)
			}
		}
		n.send(out)
		for _, rs := range rd.ReadStates {
			n.readStateReady(rs)
		}
		for _, m := range local {
			switch m.GetType() {
			case pb.MsgStorageAppend:
				// The appender releases its responses once the write is durable.
				if err := n.persist(m); err != nil {
					return err
				}
			case pb.MsgStorageApply:
				if err := n.applyEntries(m.GetEntries()); err != nil {
					return err
				}
				n.deliver(m.GetResponses())
			}
		}
		n.completeReads()
		n.publishStatus()
	}
	return nil
}

// persist queues one MsgStorageAppend for the appender: entries, hard state and (riding along) the apply
// position go in one fdatasynced write. A hard state whose term and vote are unchanged (only the commit
// index moved) does not need to be durable — raft re-learns the commit index from the leader — so alone
// it costs no fsync; it is written with the next durable write, and since that write always carries the
// latest hard state the persisted commit index never trails the persisted apply position.
func (n *Node) persist(m *pb.Message) error {
	if !raft.IsEmptySnap(m.GetSnapshot()) {
		return ErrSnapshotUnsupported
	}
	hs := &pb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
	hasHS := !raft.IsEmptyHardState(hs)
	mustSync := len(m.GetEntries()) > 0 ||
		(hasHS && (hs.GetTerm() != n.hs.GetTerm() || hs.GetVote() != n.hs.GetVote()))
	if hasHS {
		n.hs = hs
	}
	j := appendJob{ents: m.GetEntries(), sync: mustSync, resps: m.GetResponses(), hs: n.hs}
	if mustSync && n.applyDirty {
		b, err := encodeApplyState(&n.apply)
		if err != nil {
			return fmt.Errorf("persist raft state: %w", err)
		}
		j.apply = b
		n.applyDirty = false
	}
	return n.queueAppend(j)
}

// deliver steps responses addressed to this node and sends the others.
func (n *Node) deliver(msgs []*pb.Message) {
	out := n.out[:0]
	for _, m := range msgs {
		if m.GetTo() == n.cfg.ID {
			if err := n.rn.Step(m); err != nil {
				n.log.Debug("raft step local response", "node", n.cfg.ID, "type", m.GetType().String(), "err", err)
			}
		} else {
			out = append(out, m)
		}
	}
	n.send(out)
}

// send hands msgs (a slice of n.out) to the transport and keeps the buffer for the next batch.
func (n *Node) send(msgs []*pb.Message) {
	if msgs = n.withoutSnapshotData(dropSuperseded(msgs)); len(msgs) > 0 {
		n.cfg.Transport.Send(msgs)
	}
	clear(msgs)
	n.out = msgs[:0]
}

// withoutSnapshotData strips raft snapshot messages down to their metadata: a follower that needs
// entries this node has discarded gets a state transfer from a member of its choice (InstallCheckpoint),
// not the checkpoint through raft; the message only tells it so (Config.OnSnapshot). Raft is told the
// snapshot failed so it keeps probing the follower, which after its transfer holds the entries it needs.
// Each is counted, and logged once per follower and term.
func (n *Node) withoutSnapshotData(msgs []*pb.Message) []*pb.Message {
	for i, m := range msgs {
		if m.GetType() != pb.MsgSnap {
			continue
		}
		n.snapNeeded.Add(1)
		md := m.GetSnapshot().GetMetadata()
		if n.snapLogged[m.GetTo()] != m.GetTerm() {
			n.snapLogged[m.GetTo()] = m.GetTerm()
			n.log.Warn("follower needs entries below the retained log; it needs a state transfer",
				"node", n.cfg.ID, "follower", m.GetTo(), "checkpoint", md.GetIndex())
		}
		msgs[i] = &pb.Message{Type: m.Type, To: m.To, From: m.From, Term: m.Term,
			Snapshot: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: md.Index, Term: md.Term}}}
		n.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
	}
	return msgs
}

// announceCommit sends every other member the commit index it can take (raft's own heartbeat, with the
// commit bounded by what the member holds). raft steps a leader down as it applies its own removal or
// demotion, and says nothing more: without this, the members that stay may never learn that the change
// committed — a member left alone would not know it is the only voter, and could not win an election
// either, since the others no longer count.
func (n *Node) announceCommit() {
	st := n.rn.Status()
	msgs := make([]*pb.Message, 0, len(st.Progress))
	for id, pr := range st.Progress {
		if id != n.cfg.ID {
			msgs = append(msgs, &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(n.cfg.ID), To: new(id),
				Term: new(st.GetTerm()), Commit: new(min(pr.Match, st.GetCommit()))})
		}
	}
	n.cfg.Transport.Send(msgs)
}

func (n *Node) applyEntries(ents []*pb.Entry) error {
	for _, e := range ents {
		switch e.GetType() {
		case pb.EntryNormal:
			n.applyNormal(e)
		case pb.EntryConfChange:
			if err := n.applyConf(e); err != nil {
				return err
			}
		case pb.EntryConfChangeV2:
			// This package never proposes V2 changes; apply them so the configuration stays in step.
			cc := &pb.ConfChangeV2{}
			if err := proto.Unmarshal(e.GetData(), cc); err != nil {
				return fmt.Errorf("decode conf change v2 at %d: %w", e.GetIndex(), err)
			}
			if e.GetIndex() > n.replayConf {
				n.apply.conf = n.rn.ApplyConfChange(cc)
				n.apply.confIndex = e.GetIndex()
			}
		}
		n.apply.applied = e.GetIndex()
		n.applyDirty = true
	}
	return nil
}

// admit reports whether an entry of proposer with seq is applied: a proposer's entries apply only in
// increasing seq order, so an entry overtaken by a later one of the same proposer is skipped on every node.
func (n *Node) admit(proposer, seq uint64) bool {
	if seq <= n.apply.lastSeq[proposer] {
		return false
	}
	n.apply.lastSeq[proposer] = seq
	return true
}

func (n *Node) applyNormal(e *pb.Entry) {
	data := e.GetData()
	if len(data) == 0 {
		return // a new leader's empty entry
	}
	k, proposer, seq, payload, err := parseEnvelope(data)
	if err != nil || k == kindConf {
		// Every node sees the same bytes, so skipping is deterministic.
		n.log.Error("skipping malformed log entry", "node", n.cfg.ID, "index", e.GetIndex())
		return
	}
	if !n.admit(proposer, seq) {
		return
	}
	var val any
	if k == kindProposal {
		val = n.cfg.FSM.Apply(e.GetIndex(), payload)
		n.appliedCnt.Add(1)
	}
	if proposer == n.cfg.ID {
		n.settle(seq, Result{Index: e.GetIndex(), Value: val}, nil)
	}
}

func (n *Node) applyConf(e *pb.Entry) error {
	cc := &pb.ConfChange{}
	if err := proto.Unmarshal(e.GetData(), cc); err != nil {
		return fmt.Errorf("decode conf change at %d: %w", e.GetIndex(), err)
	}
	userCtx := cc.GetContext()
	k, proposer, seq, payload, perr := parseEnvelope(cc.GetContext())
	enveloped := perr == nil && k == kindConf
	if enveloped {
		userCtx = payload
		if !n.admit(proposer, seq) {
			cc.NodeId = new(uint64(raft.None)) // overtaken: apply as a no-op on every node
		}
	}
	replayed := e.GetIndex() <= n.replayConf // the restored configuration already contains it
	var refused bool
	if v := n.apply.conf.GetVoters(); !replayed && (cc.GetType() == pb.ConfChangeRemoveNode || cc.GetType() == pb.ConfChangeAddLearnerNode) &&
		len(v) == 1 && v[0] == cc.GetNodeId() {
		// Members leaving (or demoting themselves) at the same time can each propose their own change
		// while there were still others; raft would panic applying the one that removes the last voter.
		// The configuration is log-derived, so every node refuses the same change.
		n.log.Warn("refusing to remove the only voter", "node", cc.GetNodeId(), "index", e.GetIndex())
		cc.NodeId = new(uint64(raft.None))
		refused = true
	}
	if !replayed {
		n.unfence(cc)
		if t := cc.GetType(); n.state == raft.StateLeader && cc.GetNodeId() == n.cfg.ID &&
			(t == pb.ConfChangeRemoveNode || t == pb.ConfChangeAddLearnerNode) {
			n.announceCommit()
		}
		n.apply.conf = n.rn.ApplyConfChange(cc)
		n.apply.confIndex = e.GetIndex()
		if t := cc.GetType(); t == pb.ConfChangeAddNode || t == pb.ConfChangeAddLearnerNode {
			n.heardAt[cc.GetNodeId()] = n.ticks // a new member has its inactive timeout to answer first
		}
	}
	if cc.GetNodeId() != raft.None && n.cfg.OnMembership != nil {
		n.cfg.OnMembership(MembershipChange{
			Index: e.GetIndex(), Type: cc.GetType(), NodeID: cc.GetNodeId(), Context: userCtx,
			Voters: slices.Clone(n.apply.conf.GetVoters()), Learners: slices.Clone(n.apply.conf.GetLearners()),
			Replayed: replayed,
		})
	}
	if replayed {
		return nil
	}
	// Make the change durable as committed and applied now, not with the next log write: a node that
	// restarts with an older configuration may need a vote from a member that has since left (a last
	// voter whose peers left gracefully could never be elected again).
	if n.hs.GetCommit() < e.GetIndex() {
		n.hs = &pb.HardState{Term: n.hs.Term, Vote: n.hs.Vote, Commit: new(e.GetIndex())}
	}
	n.applyDirty = false
	if err := n.drainAppends(); err != nil {
		return err
	}
	if err := n.store.save(n.hs, nil, &n.apply); err != nil {
		return err
	}
	if enveloped && proposer == n.cfg.ID && (cc.GetNodeId() != raft.None || refused) {
		var err error
		if refused {
			err = ErrLastVoter
		}
		n.settle(seq, Result{Index: e.GetIndex()}, err)
	}
	return nil
}

// settle resolves the waiter for seq with (res, err) and every earlier waiter as not committed.
func (n *Node) settle(seq uint64, res Result, err error) {
	i := 0
	for ; i < len(n.waiters) && n.waiters[i].seq <= seq; i++ {
		p := n.waiters[i]
		if p == n.confWaiter {
			n.confWaiter = nil
		}
		if p.seq == seq {
			p.resolve(res, err)
		} else {
			p.resolve(Result{}, ErrNotCommitted)
		}
		n.waiters[i] = nil
	}
	n.waiters = n.waiters[i:]
	n.progressTick = n.ticks
}

func (n *Node) startRead(r *readReq) {
	n.readSeq++
	r.id = n.readSeq
	n.pendingReads[r.id] = r
	n.rn.ReadIndex(binary.BigEndian.AppendUint64(nil, r.id))
}

// reissueReads repeats read requests raft may have dropped (no leader, leader changed).
func (n *Node) reissueReads() {
	for id, r := range n.pendingReads {
		if r.ctx.Err() != nil {
			delete(n.pendingReads, id)
			continue
		}
		n.rn.ReadIndex(binary.BigEndian.AppendUint64(nil, id))
	}
}

func (n *Node) readStateReady(rs raft.ReadState) {
	if len(rs.RequestCtx) != 8 {
		return
	}
	id := binary.BigEndian.Uint64(rs.RequestCtx)
	r, ok := n.pendingReads[id]
	if !ok {
		return
	}
	delete(n.pendingReads, id)
	r.index = rs.Index
	n.indexedReads = append(n.indexedReads, r)
}

func (n *Node) completeReads() {
	kept := n.indexedReads[:0]
	for _, r := range n.indexedReads {
		if r.index <= n.apply.applied {
			r.done <- outcome{res: Result{Index: r.index}}
		} else {
			kept = append(kept, r)
		}
	}
	clear(n.indexedReads[len(kept):])
	n.indexedReads = kept
}

func (n *Node) publishStatus() {
	bs := n.rn.BasicStatus()
	first, _ := n.store.FirstIndex()
	last, _ := n.store.LastIndex()
	seen := n.leaderSeen
	if bs.RaftState == raft.StateLeader {
		seen = time.Now()
	}
	n.status.Store(&Status{
		LeaderContact: seen,
		FirstIndex:    first,
		LastIndex:     last,
		ID:            n.cfg.ID,
		Lead:          bs.Lead,
		Term:          bs.GetTerm(),
		Commit:        bs.GetCommit(),
		Applied:       n.apply.applied,
		State:         bs.RaftState.String(),
		Voters:        slices.Clone(n.apply.conf.GetVoters()),
		Learners:      slices.Clone(n.apply.conf.GetLearners()),
	})
}

func (n *Node) shutdown(err error) {
	n.err = err
	for _, p := range n.waiters {
		p.resolve(Result{}, ErrClosed)
	}
	n.waiters = nil
	for {
		select {
		case p := <-n.props:
			// Never handed to raft.
			p.resolve(Result{}, fmt.Errorf("%w: %w", ErrNotCommitted, ErrClosed))
			continue
		default:
		}
		break
	}
	for _, r := range n.pendingReads {
		r.done <- outcome{err: ErrClosed}
	}
	for _, r := range n.indexedReads {
		r.done <- outcome{err: ErrClosed}
	}
}
