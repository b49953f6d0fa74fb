package consensus

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ErrNotVoter: ForceNewCluster on a node that is not a voter of its own configuration.
var ErrNotVoter = errors.New("consensus: this node is not a voter")

// ForceNewCluster makes this node the only voter, whatever the other members think: Galera's
// pc.bootstrap=YES on a non-primary component, for when the others are known to be gone. Raft has no such
// operation, so the node does what etcd's --force-new-cluster does, at runtime: it discards its
// uncommitted log tail (entries no majority is known to hold), appends one committed configuration
// change per other member removing it, in its current term, makes that durable and restarts its raft
// instance from the log. The removals are applied like any configuration change (OnMembership reports
// them) and the node then elects itself.
//
// Safety: everything this node knew committed is kept, so no write acknowledged by this node is lost; a
// write that only the others committed is not here, as in Galera. The former members are fenced off
// (see fenced): their votes and appends are dropped, so they can never overwrite this log; they rejoin
// only by asking to be added (a join request) and must then be able to take this log from the start —
// in practice with an empty data directory.
func (n *Node) ForceNewCluster(ctx context.Context) error {
	errc := make(chan error, 1)
	f := func() { errc <- n.forceNewCluster() }
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

func (n *Node) forceNewCluster() error {
	if !slices.Contains(n.apply.conf.GetVoters(), n.cfg.ID) {
		return ErrNotVoter
	}
	// Raft is restarted from the store below: nothing may be writing to it meanwhile.
	if err := n.drainAppends(); err != nil {
		n.fatal = err
		return err
	}
	bs := n.rn.BasicStatus()
	commit := bs.GetCommit()
	if n.apply.applied > commit {
		commit = n.apply.applied
	}
	// Every member of the applied configuration and of any committed but not yet applied change.
	others := map[uint64]bool{}
	for _, id := range slices.Concat(n.apply.conf.GetVoters(), n.apply.conf.GetLearners(), n.apply.conf.GetVotersOutgoing()) {
		others[id] = true
	}
	if commit > n.apply.applied {
		ents, err := n.store.Entries(n.apply.applied+1, commit+1, 1<<62)
		if err != nil {
			return fmt.Errorf("consensus: force new cluster: %w", err)
		}
		for _, e := range ents {
			cc := &pb.ConfChange{}
			if e.GetType() == pb.EntryConfChange && proto.Unmarshal(e.GetData(), cc) == nil {
				others[cc.GetNodeId()] = true
			}
		}
	}
	delete(others, n.cfg.ID)
	delete(others, raft.None)
	ids := make([]uint64, 0, len(others))
	for id := range others {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	term := bs.GetTerm()
	ents := make([]*pb.Entry, 0, len(ids))
	for i, id := range ids {
		data, err := proto.Marshal(&pb.ConfChange{Type: pb.ConfChangeRemoveNode.Enum(), NodeId: new(id)})
		if err != nil {
			return fmt.Errorf("consensus: force new cluster: %w", err)
		}
		ents = append(ents, &pb.Entry{Type: pb.EntryConfChange.Enum(), Term: new(term), Index: new(commit + 1 + uint64(i)), Data: data})
	}
	hs := &pb.HardState{Term: new(term), Vote: new(n.hs.GetVote()), Commit: new(commit + uint64(len(ents)))}
	if len(ents) == 0 {
		// Already alone: only the uncommitted tail goes (it cannot commit without the others either way).
		ents = nil
	}
	n.applyDirty = false
	if err := n.store.truncateAfter(commit); err != nil {
		n.fatal = err
		return err
	}
	if err := n.store.save(hs, ents, &n.apply); err != nil {
		n.fatal = err
		return err
	}
	n.hs = hs
	n.store.conf = n.apply.conf
	n.rc.Applied = n.apply.applied
	// Responses of appends not stepped yet belong to the raft instance that is discarded.
	if _, err := n.takeAppended(); err != nil {
		n.fatal = err
		return err
	}
	rn, err := raft.NewRawNode(n.rc)
	if err != nil {
		n.fatal = fmt.Errorf("consensus: force new cluster: restart raft: %w", err)
		return n.fatal
	}
	n.rn = rn
	for _, id := range ids {
		n.fence[id] = true
	}
	n.lead, n.state, n.leadChanged = raft.None, raft.StateFollower, true
	n.confWaiter = nil // a pending change of ours was in the discarded tail or is overtaken by the barrier
	n.log.Warn("forced a new single-voter configuration", "node", n.cfg.ID, "removed", ids, "commit", commit)
	// Apply the removals now, then stand for election at once: alone, this node wins.
	if err := n.handleReady(); err != nil {
		n.fatal = err
		return err
	}
	if !slices.Equal(n.apply.conf.GetVoters(), []uint64{n.cfg.ID}) {
		return fmt.Errorf("consensus: force new cluster: configuration is %v after the removals", n.apply.conf.GetVoters())
	}
	if !n.cfg.NonCandidate {
		return n.rn.Campaign()
	}
	return nil
}

// fenced reports whether m comes from a member that ForceNewCluster removed and that has not been added
// back: it still believes in the old configuration, and must never make this node vote for it, follow it
// or take its log. Its proposals pass (it asks to be added again with one). The fence lives as long as
// the process (see doc.go, "Forced new cluster").
func (n *Node) fenced(m *pb.Message) bool {
	return n.fence[m.GetFrom()] && m.GetType() != pb.MsgProp
}

// unfence lifts the fence of a member that is added back (applyConf).
func (n *Node) unfence(cc *pb.ConfChange) {
	if t := cc.GetType(); t == pb.ConfChangeAddNode || t == pb.ConfChangeAddLearnerNode {
		delete(n.fence, cc.GetNodeId())
	}
}
