package router

import "github.com/maxproxy/maxproxy/monitor/topology"

// usable reports whether new statements may run on a server at all.
// Draining servers keep serving the sessions they already have.
func usable(st topology.State) bool {
	return st.Has(topology.Running) && !st.Has(topology.Maintenance) && !st.Has(topology.AuthError)
}

// degraded servers serve reads only when no healthy reader is left.
func degraded(st topology.State) bool {
	return st.Has(topology.Lagging) || st.Has(topology.Draining) || st.Has(topology.Donor)
}

func (r *router) usableMaster() *topology.Server {
	if r.snap == nil {
		return nil
	}
	for i := range r.snap.Servers {
		srv := &r.snap.Servers[i]
		if srv.State.Has(topology.Master) && usable(srv.State) {
			return srv
		}
	}
	return nil
}

// isReader reports whether a server may take reads under the options.
func (r *router) isReader(st topology.State) bool {
	if !usable(st) {
		return false
	}
	if st.Has(topology.Master) {
		return r.o.MasterAcceptReads
	}
	if r.o.ReadFromSynced {
		return st.Has(topology.Synced)
	}
	return st.Has(topology.Slave)
}

// pickReader chooses a reader by least_current_operations: healthy ones
// before degraded ones (Lagging, Draining, Donor), then the lowest load,
// then the server the session used last (fewer backend connections), then
// a rotation by the session's TieBreak. degraded reports that only
// degraded readers were left.
func (r *router) pickReader() (name string, isDegraded bool) {
	if r.snap == nil {
		return "", false
	}
	readers := 0
	for i := range r.snap.Servers {
		if r.isReader(r.snap.Servers[i].State) {
			readers++
		}
	}
	if readers == 0 {
		return "", false
	}
	shift := int(r.s.TieBreak % uint32(readers))
	best, ordinal := -1, 0
	var bestDeg, bestLast bool
	var bestLoad, bestRank int
	for i := range r.snap.Servers {
		srv := &r.snap.Servers[i]
		if !r.isReader(srv.State) {
			continue
		}
		deg := degraded(srv.State)
		load := r.load.of(srv.Name)
		last := srv.Name == r.s.last
		rank := (ordinal + readers - shift) % readers
		ordinal++
		if best >= 0 {
			switch {
			case deg != bestDeg:
				if deg {
					continue
				}
			case load != bestLoad:
				if load > bestLoad {
					continue
				}
			case last != bestLast:
				if !last {
					continue
				}
			case rank > bestRank:
				continue
			}
		}
		best, bestDeg, bestLoad, bestLast, bestRank = i, deg, load, last, rank
	}
	if best < 0 {
		return "", false
	}
	return r.snap.Servers[best].Name, bestDeg
}
