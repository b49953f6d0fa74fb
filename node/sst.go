package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/maxproxy/maxproxy/node/config"
	"github.com/maxproxy/maxproxy/node/consensus"
	"github.com/maxproxy/maxproxy/node/replicator"
)

// stateTransferError: the node must receive a state snapshot transfer before it can run; minIndex is the
// raft index the transfer must reach at least (0: any).
type stateTransferError struct {
	minIndex uint64
	cause    error
}

func (e *stateTransferError) Error() string {
	if e.cause != nil {
		return e.cause.Error()
	}
	return replicator.ErrStateTransfer.Error()
}

func (e *stateTransferError) Unwrap() error { return replicator.ErrStateTransfer }

// sstSettings are wsrep_sst_donor and wsrep_sst_donor_rejects_queries: node.toml gives the first,
// SET GLOBAL changes both at runtime.
type sstSettings struct {
	donor        atomic.Pointer[string]
	donorRejects atomic.Bool
}

func newSSTSettings(cfg config.Config) *sstSettings {
	s := &sstSettings{}
	d := cfg.SSTDonor
	s.donor.Store(&d)
	return s
}

// sstFailed is runNode's exit code after receiveStateTransfer failed: a stop requested while the node
// waited for a donor is a clean shutdown (the next start asks again), anything else an error.
func sstFailed(ctx context.Context, log *slog.Logger, err error) int {
	if ctx.Err() != nil {
		log.Info("shutting down before a state transfer completed; the next start asks again")
		return 0
	}
	log.Error("state transfer failed", "err", err)
	return 1
}

// sstRetry is how long a joiner waits after every member refused or failed a state transfer before it
// asks them again (Galera's joiner keeps retrying every second too).
const sstRetry = time.Second

// sstConnectTimeout bounds connecting to a donor.
const sstConnectTimeout = 5 * time.Second

// receiveStateTransfer asks the other members listed in cluster_address for a state transfer and
// installs the first one that completes into the stopped node's data directory. With wsrep_sst_donor it
// asks the named nodes in their order (every member is asked, only the named one donates), and then, if
// the list ends with a comma, any member. A member that is not Synced refuses and the next is asked;
// after a round without success it waits sstRetry and starts again, until ctx ends. Every second round
// accepts donors that are not Synced (they donate what they applied, which is committed): after a
// member crashed, the others may have no quorum until this node is back.
func receiveStateTransfer(ctx context.Context, cfg config.Config, log *slog.Logger, opts startOptions, minIndex uint64) error {
	settings := opts.sst
	members, self, err := cfg.ClusterMembers()
	if err != nil {
		return err
	}
	donor := cfg.SSTDonor
	if settings != nil {
		donor = *settings.donor.Load()
	}
	names, anyOther, err := config.ParseSSTDonor(donor)
	if err != nil {
		return fmt.Errorf("wsrep_sst_donor: %w", err)
	}
	var passes [][]string // one donor list per pass; nil: any member
	for _, n := range names {
		passes = append(passes, []string{n})
	}
	if anyOther {
		passes = append(passes, nil)
	}
	// An arbitrator stores no data: it receives only the positions.
	req := consensus.StateTransferRequest{Joiner: uint64(self) + 1, MinIndex: minIndex, NoData: opts.arbitrator}
	log.Info("requesting a state transfer (SST)", "min_index", minIndex, "sst_donor", donor)
	for round := 0; ; round++ {
		// Every other round a member that is not Synced may donate too: when the joiner is needed for
		// quorum (a member down, the joiner away for its transfer) nobody is Synced until it is back.
		req.AnyState = round%2 == 1
		for _, pass := range passes {
			req.Donors = pass
			for k := 1; k < len(members); k++ {
				// Start with the member after this one, so joiners spread over the donors.
				i := (self + k + round) % len(members)
				if i == self {
					continue
				}
				start := time.Now()
				seqno, err := transferFrom(ctx, cfg, members[i], req)
				if err == nil {
					log.Info("state transfer received", "donor", members[i], "seqno", seqno, "took", time.Since(start).Round(time.Millisecond))
					return nil
				}
				if ctx.Err() != nil {
					return fmt.Errorf("state transfer: %w", ctx.Err())
				}
				log.Info("state transfer from a member failed; trying the next", "donor", members[i], "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("state transfer: %w", ctx.Err())
		case <-time.After(sstRetry):
		}
	}
}

func transferFrom(ctx context.Context, cfg config.Config, addr string, req consensus.StateTransferRequest) (uint64, error) {
	cctx, cancel := context.WithTimeout(ctx, sstConnectTimeout)
	c, err := consensus.DialStateTransfer(cctx, addr, req, nil)
	cancel()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// Closing the connection ends a transfer blocked on a donor that went silent or on ctx.
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	seqno, err := replicator.ReceiveStateTransfer(ctx, &idleReader{c: c}, cfg.DataDir, cfg.DataDir)
	if err != nil {
		return 0, errors.Join(err, ctx.Err())
	}
	return seqno, nil
}

// sstIdleTimeout is how long a joiner waits for the next bytes from its donor before it gives up on it (a
// donor may first wait up to ten seconds to have applied what the joiner needs).
const sstIdleTimeout = time.Minute

// idleReader gives every read from its connection sstIdleTimeout to return something.
type idleReader struct{ c net.Conn }

func (r *idleReader) Read(p []byte) (int, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(sstIdleTimeout))
	return r.c.Read(p)
}
