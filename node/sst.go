package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
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

// sstRetry is how long a joiner waits after every member refused or failed a state transfer before it
// asks them again (Galera's joiner keeps retrying every second too).
const sstRetry = time.Second

// sstConnectTimeout bounds connecting to a donor.
const sstConnectTimeout = 5 * time.Second

// receiveStateTransfer asks the other members listed in cluster_address, in turn, to donate a state
// transfer and installs the first one that completes into the stopped node's data directory. A donor
// that is not Synced refuses and the next is asked; after a round without success it waits sstRetry and
// starts again, until ctx ends.
func receiveStateTransfer(ctx context.Context, cfg config.Config, log *slog.Logger, minIndex uint64) error {
	members, self, err := cfg.ClusterMembers()
	if err != nil {
		return err
	}
	id := uint64(self) + 1
	log.Info("requesting a state transfer (SST)", "min_index", minIndex)
	for round := 0; ; round++ {
		for k := 1; k < len(members); k++ {
			// Start with the member after this one, so joiners spread over the donors.
			i := (self + k + round) % len(members)
			if i == self {
				continue
			}
			start := time.Now()
			seqno, err := transferFrom(ctx, cfg, members[i], id, minIndex)
			if err == nil {
				log.Info("state transfer received", "donor", members[i], "seqno", seqno, "took", time.Since(start).Round(time.Millisecond))
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("state transfer: %w", ctx.Err())
			}
			log.Warn("state transfer from a member failed; trying the next", "donor", members[i], "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("state transfer: %w", ctx.Err())
		case <-time.After(sstRetry):
		}
	}
}

func transferFrom(ctx context.Context, cfg config.Config, addr string, id, minIndex uint64) (uint64, error) {
	cctx, cancel := context.WithTimeout(ctx, sstConnectTimeout)
	c, err := consensus.DialStateTransfer(cctx, addr, id, minIndex, nil)
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
