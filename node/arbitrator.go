package node

import (
	"context"
	"log/slog"

	"github.com/maxproxy/maxproxy/node/config"
)

// runArbitrator runs maxnode --arbitrator until ctx ends and returns the exit code. An arbitrator is
// Galera's garbd (GALERA.md §6.4, §12.9): a member that votes, so that an even split of the data nodes
// still leaves one side with a majority, counts in wsrep_cluster_size, and serves no clients. It never
// leads (consensus NonCandidate: it campaigns only when the data nodes cannot elect a leader without it,
// and then hands leadership over). Like garbd it stores no data: it certifies every write-set (so its view
// and positions are the cluster's) but applies each seqno empty and runs no DDL; as a raft voter it keeps
// the recent log (gcache.size) that raft needs. A clean stop leaves the cluster like a data node.
func runArbitrator(ctx context.Context, cfg config.Config, log *slog.Logger, bootstrap bool) int {
	if !cfg.Clustered() {
		log.Error("an arbitrator needs cluster_address")
		return 2
	}
	return runNode(ctx, cfg, log, startOptions{bootstrap: bootstrap, ctx: ctx, arbitrator: true, sst: newSSTSettings(cfg)})
}
