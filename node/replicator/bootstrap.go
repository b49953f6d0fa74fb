package replicator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNoClusterState: pc.bootstrap on a node that never saw the cluster's bootstrap entry — it has no state
// to found a component on.
var ErrNoClusterState = errors.New("replicator: this node has no cluster state to bootstrap from")

// ForceBootstrap is Galera's pc.bootstrap=YES: it makes this node, outside the primary component, a new
// one-member primary component with the data it has (consensus.ForceNewCluster: the node becomes the only
// voter). Nothing this node knew committed is lost; writes only the unreachable members committed are not
// in the new component — run it on the most advanced survivor (highest wsrep_last_committed), and only when
// the others are really gone, as with Galera. A node already in the primary component ignores it. The
// former members are fenced off and rejoin by asking to be added, with an empty data directory (doc.go).
func (r *Replicator) ForceBootstrap(ctx context.Context) error {
	if r.node == nil {
		return errors.New("replicator: not started")
	}
	if r.Primary() {
		return nil
	}
	r.mu.Lock()
	ok, fatal := r.haveUUID, r.fatal
	r.mu.Unlock()
	switch {
	case fatal != nil:
		return fmt.Errorf("replicator: pc.bootstrap: %w", fatal)
	case !ok:
		return ErrNoClusterState
	}
	r.log.Warn("pc.bootstrap: forcing a new primary component of this node alone", "seqno", r.LastSeqno())
	if err := r.node.ForceNewCluster(ctx); err != nil {
		return fmt.Errorf("replicator: pc.bootstrap: %w", err)
	}
	tick := time.NewTicker(r.cfg.tick())
	defer tick.Stop()
	for !r.Primary() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("replicator: pc.bootstrap: waiting for the new primary component: %w", ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// SetProviderOptions applies SET GLOBAL wsrep_provider_options='k=v; ...'. pc.bootstrap (YES/TRUE/ON/1
// runs ForceBootstrap; NO/FALSE/OFF/0 does nothing, as in Galera) and pc.weight (0 or 1, SetWeight) are
// dynamic; any other option is refused with an error naming it rather than silently ignored.
func (r *Replicator) SetProviderOptions(ctx context.Context, opts string) error {
	for _, kv := range strings.Split(opts, ";") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, found := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.ToUpper(strings.TrimSpace(v))
		switch {
		case found && k == "pc.bootstrap":
			switch v {
			case "YES", "TRUE", "ON", "1":
				if err := r.ForceBootstrap(ctx); err != nil {
					return err
				}
			case "NO", "FALSE", "OFF", "0":
			default:
				return fmt.Errorf("replicator: pc.bootstrap: bad value %q", v)
			}
		case found && k == "pc.weight":
			w, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("replicator: pc.weight: bad value %q", v)
			}
			if err := r.SetWeight(w); err != nil {
				return err
			}
		default:
			return fmt.Errorf("replicator: provider option %q cannot be changed at runtime (only pc.bootstrap and pc.weight)", k)
		}
	}
	return nil
}

// ErrWeight: a pc.weight raft cannot express.
var ErrWeight = errors.New("replicator: pc.weight must be 0 (a member that never counts in quorum) or 1 (a voter): " +
	"raft counts every voter once, so larger weights cannot be expressed")

// SetWeight is pc.weight: 0 makes this member stop counting in quorum (it becomes a raft learner that
// stays in the view and the primary component), 1 makes it a voter again. The membership protocol
// carries the change out within an election timeout.
func (r *Replicator) SetWeight(w int) error {
	if w != 0 && w != 1 {
		if w < 0 || w > 255 {
			return fmt.Errorf("replicator: pc.weight %d is out of range 0..255", w)
		}
		return fmt.Errorf("%w (got %d)", ErrWeight, w)
	}
	r.weight0.Store(w == 0)
	r.queueAction(memberAction{announce: true})
	return nil
}

// Weight is the current pc.weight (0 or 1).
func (r *Replicator) Weight() int {
	if r.weight0.Load() {
		return 0
	}
	return 1
}
