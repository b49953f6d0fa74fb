package consensus

import (
	"context"
	"slices"
	"time"
)

// onOwner runs f on the owner goroutine and returns its result; ErrClosed when the node stops first.
func onOwner[T any](ctx context.Context, n *Node, f func() T) (T, error) {
	var zero T
	got := make(chan T, 1)
	select {
	case n.ctrl <- func() { got <- f() }:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-n.done:
		return zero, ErrClosed
	}
	select {
	case v := <-got:
		return v, nil
	case <-n.done:
		return zero, ErrClosed
	}
}

// members returns the voters and learners of the applied configuration. Owner goroutine only.
func (n *Node) members() []uint64 {
	return append(slices.Clone(n.apply.conf.GetVoters()), n.apply.conf.GetLearners()...)
}

// heard splits the other members by whether a message from them arrived within d. Owner goroutine only.
func (n *Node) heard(d time.Duration, recent bool) []uint64 {
	limit := int(d / n.cfg.TickInterval)
	var out []uint64
	for _, id := range n.members() {
		last, ok := n.heardAt[id]
		if id != n.cfg.ID && (ok && n.ticks-last < limit) == recent {
			out = append(out, id)
		}
	}
	return out
}

// Reachable returns the other members (voters and learners of the applied configuration) this node has
// received any message from within d: its side of a partition. Without a leader the members of a
// minority still exchange (pre-)vote requests every election timeout, so a d of two election timeouts
// sees them.
func (n *Node) Reachable(ctx context.Context, d time.Duration) ([]uint64, error) {
	return onOwner(ctx, n, func() []uint64 { return n.heard(d, true) })
}
