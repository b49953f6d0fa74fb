package node

import (
	"sync/atomic"
)

// rejectQueries is wsrep_reject_queries (GALERA.md §3.4): with ALL or ALL_KILL a cluster node answers
// 1047 to every client statement Galera would refuse on a node that is not ready, while it stays in
// the cluster and keeps applying; ALL_KILL also ends every client connection at once, the one that
// set it included. Operators use it to take a node out of service before maintenance, and proxies
// read it to stop routing there.
type rejectQueries struct {
	all     atomic.Bool
	killAll func() // ends every client connection; set before the server accepts any
	// wsrep_sst_donor_rejects_queries: while donating a state transfer (donating), refuse the same way,
	// so that proxies and load balancers move the load off the donor.
	donorRejects *atomic.Bool
	donating     func() bool
}

// set applies a new value of the variable (already validated by the SQL layer).
func (r *rejectQueries) set(value string) {
	switch value {
	case "ALL":
		r.all.Store(true)
	case "ALL_KILL":
		r.all.Store(true)
		if r.killAll != nil {
			r.killAll()
		}
	default:
		r.all.Store(false)
	}
}

// rejecting reports whether client statements are refused.
func (r *rejectQueries) rejecting() bool {
	if r == nil {
		return false
	}
	return r.all.Load() || (r.donorRejects != nil && r.donorRejects.Load() && r.donating != nil && r.donating())
}
