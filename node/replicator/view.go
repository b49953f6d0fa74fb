package replicator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/maxproxy/maxproxy/node/consensus"
	"github.com/maxproxy/maxproxy/node/writeset"
)

// Membership log entries (see doc.go, "Views and membership").
const (
	// kindMember: flags [1] | node id uvarint | name | replication address | incoming address (each
	// uvarint length + bytes). A node's announcement of itself; with flagJoin it is also a request to be
	// added to the configuration (a joiner).
	kindMember byte = 'M'
	// kindPromote: node id uvarint. A learner that has caught up asks to become a voter.
	kindPromote byte = 'P'
)

// flagJoin marks a member entry that asks for the node to be added. It then ends with the requester's
// last log index. flagFresh, with flagJoin, says the requester started from an empty data directory (no
// replication state): if the cluster still has it as a member and believes its log holds more (its data
// directory was emptied and it restarted under the same id), the leader removes it first — raft would
// never send the entries it lost again — and adds it back on its next request. A member that still has
// its state (it only fell behind, or received a state transfer) is never removed this way, however late
// its request arrives.
const (
	flagJoin  byte = 1
	flagFresh byte = 2
)

// memberInfo is what a node announced about itself; the FSM keeps one per node id, in log order, so every
// node has the same table.
type memberInfo struct {
	Name     string `json:"name,omitempty"`
	Repl     string `json:"repl,omitempty"`     // replication address (wsrep_node_address)
	Incoming string `json:"incoming,omitempty"` // MySQL address clients use (wsrep_incoming_addresses)
}

// view is the FSM's copy of the raft configuration, rebuilt from the configuration changes in the log.
// Galera's view contains joiners too, so the members are voters and learners; only voters count for
// quorum.
type view struct {
	Voters   []uint64              `json:"voters,omitempty"`
	Learners []uint64              `json:"learners,omitempty"`
	Members  map[uint64]memberInfo `json:"members,omitempty"`
	// LastPrimarySize is the number of voters in the last view this node was a voter of: grastate.dat's
	// safe_to_bootstrap is 1 only when it was alone (Galera recomputes it on every primary view).
	LastPrimarySize int `json:"last_primary_size,omitempty"`
	// AddedAt is the raft index at which each member was last added or promoted: a join request
	// ordered before it is stale (it is what got the member added).
	AddedAt map[uint64]uint64 `json:"added_at,omitempty"`
	// JoinedAs is, for each member that joined, the process (Replicator source UUID) whose join request
	// was the last one applied while it was not yet a member: later join requests from that process are
	// late copies, not a restart with an emptied data directory.
	JoinedAs map[uint64]string `json:"joined_as,omitempty"`
}

func (v *view) contains(id uint64) bool {
	return slices.Contains(v.Voters, id) || slices.Contains(v.Learners, id)
}

// ids returns voters and learners in id order: the order of wsrep_local_index and
// wsrep_incoming_addresses.
func (v *view) ids() []uint64 {
	ids := append(slices.Clone(v.Voters), v.Learners...)
	slices.Sort(ids)
	return ids
}

func (v *view) apply(t pb.ConfChangeType, id uint64) {
	if (t == pb.ConfChangeRemoveNode || t == pb.ConfChangeAddLearnerNode) && len(v.Voters) == 1 && v.Voters[0] == id {
		return // consensus refuses to remove or demote the only voter (consensus.ErrLastVoter); a replay reports it
	}
	v.Voters = slices.DeleteFunc(v.Voters, func(x uint64) bool { return x == id })
	v.Learners = slices.DeleteFunc(v.Learners, func(x uint64) bool { return x == id })
	switch t {
	case pb.ConfChangeAddNode:
		v.Voters = append(v.Voters, id)
		slices.Sort(v.Voters)
	case pb.ConfChangeAddLearnerNode:
		v.Learners = append(v.Learners, id)
		slices.Sort(v.Learners)
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(p []byte) (string, []byte, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || uint64(len(p)-k) < n {
		return "", nil, errBadEntry
	}
	return string(p[k : k+int(n)]), p[k+int(n):], nil
}

// memberEntry is a MEMBER log entry: a member announcing its addresses, or (join) asking to be added,
// with its last log index, whether its data directory was empty, and the process that asks.
type memberEntry struct {
	id      uint64
	info    memberInfo
	join    bool
	last    uint64
	fresh   bool
	process writeset.UUID
}

func encodeMember(e memberEntry) []byte {
	m := e.info
	b := make([]byte, 0, 2+binary.MaxVarintLen64+len(m.Name)+len(m.Repl)+len(m.Incoming)+3*binary.MaxVarintLen64+len(e.process))
	b = append(b, kindMember, 0)
	b = binary.AppendUvarint(b, e.id)
	b = appendString(b, m.Name)
	b = appendString(b, m.Repl)
	b = appendString(b, m.Incoming)
	if e.join {
		b[1] = flagJoin
		if e.fresh {
			b[1] |= flagFresh
		}
		b = binary.AppendUvarint(b, e.last)
		b = append(b, e.process[:]...)
	}
	return b
}

func decodeMember(p []byte) (memberEntry, error) {
	var e memberEntry
	if len(p) < 1 || p[0]&^(flagJoin|flagFresh) != 0 || p[0] == flagFresh {
		return e, errBadEntry
	}
	e.join, e.fresh = p[0]&flagJoin != 0, p[0]&flagFresh != 0
	id, k := binary.Uvarint(p[1:])
	if k <= 0 || id == 0 {
		return e, errBadEntry
	}
	e.id, p = id, p[1+k:]
	var err error
	for _, f := range []*string{&e.info.Name, &e.info.Repl, &e.info.Incoming} {
		if *f, p, err = readString(p); err != nil {
			return e, err
		}
	}
	if e.join {
		if e.last, k = binary.Uvarint(p); k <= 0 {
			return e, errBadEntry
		}
		p = p[k:]
		if len(p) == len(e.process) { // absent from requests written before processes were named
			p = p[copy(e.process[:], p):]
		}
	}
	if len(p) != 0 {
		return e, errBadEntry
	}
	return e, nil
}

func encodePromote(id uint64) []byte {
	return binary.AppendUvarint([]byte{kindPromote}, id)
}

func decodePromote(p []byte) (uint64, error) {
	id, k := binary.Uvarint(p)
	if k <= 0 || k != len(p) || id == 0 {
		return 0, errBadEntry
	}
	return id, nil
}

// memberAction is work for the leader, derived from an applied entry: add a joiner as learner, or
// promote a caught-up learner. Only the leader acts; the others drop it. The joiner repeats its requests,
// so a lost action only delays it.
type memberAction struct {
	index   uint64 // raft index of the request
	id      uint64
	promote bool
	last    uint64 // a join request: the requester's last log index
	fresh   bool   // a join request from an empty data directory
	process string // a join request: the sending process (formatUUID of its Replicator's source)
	// announce: not a leader action; this node's own addresses changed, check them now.
	announce bool
}

// applyMember runs in Apply (r.mu held).
func (r *Replicator) applyMember(index uint64, p []byte) {
	e, err := decodeMember(p)
	if err != nil {
		r.log.Error("skipping malformed member entry", "index", index)
		return
	}
	if r.view.Members == nil {
		r.view.Members = map[uint64]memberInfo{}
	}
	r.view.Members[e.id] = e.info
	if e.id != r.cfg.ID && e.info.Repl != "" && r.cfg.OnPeer != nil {
		r.cfg.OnPeer(e.id, e.info.Repl)
	}
	if e.join {
		if !r.view.contains(e.id) && e.process != (writeset.UUID{}) {
			if r.view.JoinedAs == nil {
				r.view.JoinedAs = map[uint64]string{}
			}
			r.view.JoinedAs[e.id] = formatUUID(e.process)
		}
		r.queueAction(memberAction{index: index, id: e.id, last: e.last, fresh: e.fresh, process: formatUUID(e.process)})
	}
}

// applyPromote runs in Apply (r.mu held).
func (r *Replicator) applyPromote(index uint64, p []byte) {
	id, err := decodePromote(p)
	if err != nil {
		r.log.Error("skipping malformed promote entry", "index", index)
		return
	}
	if slices.Contains(r.view.Learners, id) {
		r.queueAction(memberAction{index: index, id: id, promote: true})
	}
}

func (r *Replicator) queueAction(a memberAction) {
	select {
	case r.actions <- a:
	default: // the requester asks again
	}
}

// onMembership is consensus's OnMembership: every applied (or replayed) configuration change, in log
// order on the consensus owner goroutine. After the cluster entry each change of the member set is a new
// view: conf_id + 1.
func (r *Replicator) onMembership(ch consensus.MembershipChange) {
	if ch.Index <= r.skipThrough {
		return // consumed before the last clean shutdown
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.view.contains(ch.NodeID)
	r.view.apply(ch.Type, ch.NodeID)
	if ch.Type == pb.ConfChangeAddNode || ch.Type == pb.ConfChangeAddLearnerNode {
		if r.view.AddedAt == nil {
			r.view.AddedAt = map[uint64]uint64{}
		}
		r.view.AddedAt[ch.NodeID] = ch.Index
	}
	if slices.Contains(r.view.Voters, r.cfg.ID) {
		r.view.LastPrimarySize = len(r.view.Voters)
	}
	if ch.NodeID == r.cfg.ID && ch.Type == pb.ConfChangeAddLearnerNode {
		r.catchingUp.Store(true)
	}
	// Galera's view is its member set: a joiner enters it once; its promotion (Galera's JOINED/SYNCED) is
	// a state change, not a view.
	if r.haveUUID && was != r.view.contains(ch.NodeID) {
		r.confID++
	}
	r.log.Info("view changed", "conf_id", r.confID, "change", ch.Type.String(), "node", ch.NodeID,
		"voters", r.view.Voters, "learners", r.view.Learners, "replayed", ch.Replayed)
}

// SetIncomingAddress sets the MySQL address this node announces in wsrep_incoming_addresses (its
// listener, known only once it serves).
func (r *Replicator) SetIncomingAddress(addr string) {
	r.incoming.Store(&addr)
	r.queueAction(memberAction{announce: true})
}

func (r *Replicator) self() memberInfo {
	m := memberInfo{Name: r.cfg.NodeName, Repl: r.cfg.NodeAddress}
	if a := r.incoming.Load(); a != nil {
		m.Incoming = *a
	}
	return m
}

// membershipLoop runs the membership protocol of this node (see doc.go): every election timeout a node
// outside the configuration asks the members to add it, a learner that has caught up asks to be
// promoted, and a voter announces its addresses when the member table lacks them; as leader it serves
// the actions the applied requests produce.
func (r *Replicator) membershipLoop(ctx context.Context) {
	defer r.wg.Done()
	tick := time.NewTicker(r.electionTimeout())
	defer tick.Stop()
	var outside int // consecutive checks a voter found itself outside the primary component
	r.selfCheck(ctx, &outside)
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-r.actions:
			if a.announce {
				r.selfCheck(ctx, &outside)
			} else {
				r.serveAction(ctx, a)
			}
		case <-tick.C:
			r.selfCheck(ctx, &outside)
			r.evictInactive(ctx)
		}
	}
}

// DefaultInactiveTimeout is Galera's evs.inactive_timeout (PT15S).
const DefaultInactiveTimeout = 15 * time.Second

// evictInactive: the leader of the primary component removes a voter it has not heard from for the
// inactive timeout, one per round, as Galera drops an inactive member from the view. Quorum is then
// computed without it (3 → 2 after a crash; a second crash then leaves 1 of 2, non-Primary, as in
// Galera). The evicted node, when it returns, finds itself outside the primary component and asks to be
// added again.
func (r *Replicator) evictInactive(ctx context.Context) {
	d := r.cfg.InactiveTimeout
	if d == 0 {
		d = DefaultInactiveTimeout
	}
	if d < 0 || !r.Primary() {
		return
	}
	ids, err := r.node.Inactive(ctx, d)
	if err != nil || len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*r.electionTimeout())
	defer cancel()
	r.log.Warn("evicting a member not heard from for evs.inactive_timeout", "node", ids[0], "timeout", d)
	if err := r.node.RemoveNode(ctx, ids[0], nil); err != nil {
		r.log.Info("eviction not made; retrying next round", "node", ids[0], "err", err)
	}
}

// rejoinChecks is how many election timeouts a voter stays outside the primary component before it also
// asks to be added: its configuration may be stale (it was removed while it was down, or by a forced new
// cluster); a leader that has it as a member ignores the request.
const rejoinChecks = 3

// promoteLag is how far (log entries, and queued seqnos) a learner may still be behind when it asks to
// become a voter: under a steady write load it would otherwise never be exactly caught up. It is then
// Joined until its receive queue drains (Galera's JOINED applies its backlog the same way).
const promoteLag = 64

func (r *Replicator) selfCheck(ctx context.Context, outside *int) {
	if r.left.Load() {
		return // a node that left does not ask back in
	}
	st := r.node.Status()
	ctx, cancel := context.WithTimeout(ctx, 3*r.electionTimeout())
	defer cancel()
	me := r.self()
	switch {
	case slices.Contains(st.Voters, r.cfg.ID):
		// Outside the primary component, not merely catching up after re-entering it (Primary's Joiner
		// phase): that can take long on a node far behind, and it is no reason to ask to be added.
		if !r.inPrimaryComponent() {
			if *outside++; *outside >= rejoinChecks {
				r.askToJoin(ctx, me, st.LastIndex)
			}
			return
		}
		*outside = 0
		if r.weight0.Load() {
			// pc.weight=0: stop counting in quorum (consensus refuses to demote the last voter).
			r.caughtUp.Store(true)
			r.log.Info("pc.weight=0: this member no longer counts in quorum")
			if err := r.node.AddLearner(ctx, r.cfg.ID, nil); err != nil {
				r.log.Info("demotion to a non-voting member not made; retrying", "err", err)
			}
			return
		}
		r.mu.Lock()
		known, ok := r.view.Members[r.cfg.ID]
		r.mu.Unlock()
		if !ok || known != me {
			if _, err := r.node.Propose(ctx, encodeMember(memberEntry{id: r.cfg.ID, info: me})); err != nil {
				r.log.Debug("announcing this member", "err", err)
			}
		}
	case slices.Contains(st.Learners, r.cfg.ID):
		r.mu.Lock()
		ready := r.haveUUID && r.fatal == nil
		r.mu.Unlock()
		if ready && st.Commit > 0 && st.Applied+promoteLag >= st.Commit && r.queue.len() <= promoteLag {
			r.caughtUp.Store(true)
			if r.weight0.Load() {
				return // pc.weight=0: a member that never counts in quorum stays a learner
			}
			if _, err := r.node.Propose(ctx, encodePromote(r.cfg.ID)); err != nil {
				r.log.Debug("asking to be promoted to voter", "err", err)
			}
		}
	default:
		r.askToJoin(ctx, me, st.LastIndex)
	}
}

// askToJoin sends a join request through every other member listed in cluster_address.
func (r *Replicator) askToJoin(ctx context.Context, me memberInfo, last uint64) {
	req := encodeMember(memberEntry{id: r.cfg.ID, info: me, join: true, last: last, fresh: r.fresh, process: r.source})
	for _, id := range r.cfg.Peers {
		if id == r.cfg.ID {
			continue
		}
		if err := r.node.ProposeVia(ctx, id, req); err != nil {
			r.log.Debug("asking to join", "via", id, "err", err)
		}
	}
}

// serveAction adds a joiner as learner or promotes a learner, if this node leads. Requests replayed at
// start (index at or below the commit index at start) are stale and dropped.
func (r *Replicator) serveAction(ctx context.Context, a memberAction) {
	st := r.node.Status()
	if st.State != "StateLeader" || a.index <= r.startCommit {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*r.electionTimeout())
	defer cancel()
	var err error
	switch {
	case a.promote && slices.Contains(st.Learners, a.id):
		r.log.Info("promoting caught-up learner to voter", "node", a.id)
		err = r.node.AddVoter(ctx, a.id, nil)
	case !a.promote && !slices.Contains(st.Voters, a.id) && !slices.Contains(st.Learners, a.id):
		r.log.Info("adding joiner as learner", "node", a.id)
		err = r.node.AddLearner(ctx, a.id, nil)
	case !a.promote:
		r.mu.Lock()
		added, joinedAs := r.view.AddedAt[a.id], r.view.JoinedAs[a.id]
		r.mu.Unlock()
		if a.index < added || a.process == joinedAs {
			// Ordered before the member was (re)added (the request that got it added), or a late copy
			// from the process that joined: it asks through every member at once, and keeps asking
			// until it has applied its own addition.
			return
		}
		match, ok, merr := r.node.Match(ctx, a.id)
		if merr != nil || !ok || match <= a.last || !a.fresh {
			// A member that has what raft thinks it has, or that kept its state (a late request from
			// before it caught up or received a state transfer): raft brings it up to date.
			return
		}
		r.log.Warn("a member asks to join with less log than it acknowledged (its data was lost); removing it before adding it again",
			"node", a.id, "acknowledged", match, "has", a.last)
		err = r.node.RemoveNode(ctx, a.id, nil)
	}
	if err != nil {
		r.log.Info("membership change not made; the node will ask again", "node", a.id, "promote", a.promote, "err", err)
	}
}

// ErrLastMember: Leave on the only voter — there is nobody to leave to; the node stops as the last
// member (safe_to_bootstrap: 1).
var ErrLastMember = errors.New("replicator: this node is the cluster's only voter")

// Leave removes this node from the cluster's configuration: Galera's graceful leave, done before a clean
// shutdown so that the others' quorum is computed without it (3 → 2 → 1 by clean stops stays Primary).
// A leader first hands leadership to another voter (so the removal is committed and learned by a leader
// that stays), then the node proposes its own removal and waits until it has applied it. Outside the
// primary component (for two election timeouts) there is nobody to tell: Leave returns nil and the node
// stops as if it crashed.
func (r *Replicator) Leave(ctx context.Context) error {
	if r.node == nil {
		return nil
	}
	r.left.Store(true)
	tick := time.NewTicker(r.cfg.tick())
	defer tick.Stop()
	var outsideSince time.Time // zero while in the primary component
	// A leader that cannot hand off (the others are down or slow) removes itself after this many ticks:
	// raft commits the removal with the old configuration's majority and the leader then steps down.
	handOffTicks := 2 * r.electionTicks()
	for led := 0; ; {
		st := r.node.Status()
		if !slices.Contains(st.Voters, r.cfg.ID) && !slices.Contains(st.Learners, r.cfg.ID) {
			r.log.Info("left the cluster")
			return nil
		}
		if len(st.Voters) == 1 && st.Voters[0] == r.cfg.ID {
			return ErrLastMember // the others left at the same time
		}
		// Members leaving at the same time take the leader with them: the one that stays may be between
		// leaders, or not yet have applied the last removal, for a moment. Longer than two election
		// timeouts, the node is partitioned, or its removal committed without it learning so (a leader
		// stops talking to a member it removed): either way nobody is left to tell.
		switch {
		case r.Primary():
			outsideSince = time.Time{}
		case outsideSince.IsZero():
			outsideSince = time.Now()
		case time.Since(outsideSince) > 2*r.electionTimeout():
			r.log.Info("stopping outside the primary component without having left")
			return nil
		}
		var err error
		switch {
		case st.State == "StateLeader" && led < handOffTicks:
			led++
			err = r.node.HandOff(ctx)
		case st.Lead != 0:
			// Each attempt is bounded: under load a proposal can be dropped with the leadership moving
			// (others leaving at the same time); the next round looks at the configuration again.
			actx, cancel := context.WithTimeout(ctx, 3*r.electionTimeout())
			err = r.node.RemoveNode(actx, r.cfg.ID, nil)
			cancel()
			if errors.Is(err, consensus.ErrLastVoter) {
				return ErrLastMember // the others left at the same time
			}
			if errors.Is(err, consensus.ErrUnknownOutcome) && ctx.Err() == nil {
				err = nil // it may still apply: the configuration tells, next round
			}
		}
		if err != nil && !errors.Is(err, consensus.ErrNotCommitted) && !errors.Is(err, consensus.ErrConfChangeInProgress) {
			return fmt.Errorf("replicator: leave: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replicator: leave: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// incomingAddresses is wsrep_incoming_addresses: the members' MySQL addresses in view order (r.mu held).
func (r *Replicator) incomingAddresses(ids []uint64) string {
	addrs := make([]string, 0, len(ids))
	for _, id := range ids {
		if m := r.view.Members[id]; m.Incoming != "" {
			addrs = append(addrs, m.Incoming)
		}
	}
	return strings.Join(addrs, ",")
}

func (r *Replicator) electionTicks() int {
	if r.cfg.ElectionTick == 0 {
		return 10 // consensus's default
	}
	return r.cfg.ElectionTick
}
