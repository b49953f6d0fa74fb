package consensus

import (
	"context"
	"slices"
	"time"
)

// Reachable returns the other members (voters and learners of the applied configuration) this node has
// received any message from within d: its side of a partition. Without a leader the members of a
// minority still exchange (pre-)vote requests every election timeout, so a d of two election timeouts
// sees them. It is answered by the owner goroutine.
func (n *Node) Reachable(ctx context.Context, d time.Duration) ([]uint64, error) {
	got := make(chan []uint64, 1)
	f := func() {
		limit := int(d / n.cfg.TickInterval)
		var out []uint64
		for _, id := range append(slices.Clone(n.apply.conf.GetVoters()), n.apply.conf.GetLearners()...) {
			if last, ok := n.heard[id]; ok && id != n.cfg.ID && n.ticks-last < limit {
				out = append(out, id)
			}
		}
		got <- out
	}
	select {
	case n.ctrl <- f:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.done:
		return nil, ErrClosed
	}
	select {
	case ids := <-got:
		return ids, nil
	case <-n.done:
		return nil, ErrClosed
	}
}
