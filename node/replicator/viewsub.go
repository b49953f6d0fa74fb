package replicator

import (
	"slices"

	"github.com/maxproxy/maxproxy/node/consensus"
)

// View subscription: the SQL side follows the view for wsrep_auto_increment_control (GALERA.md §1.3:
// auto_increment_increment = members, auto_increment_offset = own index + 1 on every view).

// ViewChanged receives a value after the view's member set changed (coalesced: one pending value stands
// for any number of changes). Read MemberView then.
func (r *Replicator) ViewChanged() <-chan struct{} { return r.viewCh }

// onMembershipNotify is consensus's OnMembership: the FSM's view follows the change (onMembership), then
// ViewChanged is signalled without blocking the consensus goroutine.
func (r *Replicator) onMembershipNotify(ch consensus.MembershipChange) {
	r.onMembership(ch)
	select {
	case r.viewCh <- struct{}{}:
	default: // a signal is pending; the reader sees this change too
	}
}

// MemberView returns the number of members of the last view this node applied from the log and this
// node's index in it (-1 when it is not a member). Unlike Status it does not depend on the node being
// in the primary component now: a partitioned node keeps its last primary view, as Galera keeps its
// auto-increment settings until the next primary view.
func (r *Replicator) MemberView() (size, index int) {
	r.mu.Lock()
	members := r.view.ids()
	r.mu.Unlock()
	if len(members) == 0 && r.node != nil {
		// No configuration change applied yet (a state saved before views): the raft configuration.
		cs := r.node.Status()
		members = append(slices.Clone(cs.Voters), cs.Learners...)
		slices.Sort(members)
	}
	return len(members), slices.Index(members, r.cfg.ID)
}
