package router

import (
	"fmt"
	"strings"

	"github.com/maxproxy/maxproxy/monitor/topology"
)

// Roles is readconnroute's router_options: which servers a new client
// connection may be given.
type Roles uint8

// The router_options roles.
const (
	RoleMaster  Roles = 1 << iota // the server with the Master role
	RoleSlave                     // servers with the Slave role (the master if none is left)
	RoleSynced                    // Galera nodes in Synced state
	RoleRunning                   // any running server
)

var roleNames = [...]string{"master", "slave", "synced", "running"}

// ParseRoles parses a router_options value such as "master,slave".
func ParseRoles(s string) (Roles, error) {
	var r Roles
	for _, part := range strings.Split(s, ",") {
		part = strings.ToLower(strings.TrimSpace(part))
		found := false
		for i, n := range roleNames {
			if part == n {
				r |= 1 << i
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("router_options: unknown role %q (want master, slave, synced or running)", part)
		}
	}
	return r, nil
}

// String renders the roles as router_options does.
func (r Roles) String() string {
	var parts []string
	for i, n := range roleNames {
		if r&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ",")
}

// ConnOptions are readconnroute's parameters.
type ConnOptions struct {
	// Roles is router_options; zero means running (MaxScale's default).
	Roles Roles
	// MasterAcceptReads (true by default in MaxScale's readconnroute): when
	// false and Roles lacks master, the master is not given connections.
	MasterAcceptReads bool
}

// DefaultConnOptions returns readconnroute's defaults: running, and the
// master accepts reads.
func DefaultConnOptions() ConnOptions {
	return ConnOptions{Roles: RoleRunning, MasterAcceptReads: true}
}

// RouteConnection picks the server for a whole client connection
// (readconnroute): among usable servers matching the roles, the least
// loaded (load counts connections), healthy before Lagging/Draining/Donor,
// then configuration order. With the slave role and no slave left, the
// master is used unless MasterAcceptReads is off. Hints do not apply. The decision's Target is
// TargetServer, or Server is empty with Reason no_server.
func RouteConnection(snap *topology.Snapshot, o ConnOptions, load Load) Decision {
	roles := o.Roles
	if roles == 0 {
		roles = RoleRunning
	}
	if snap == nil {
		return Decision{Target: TargetServer, Reason: ReasonNoServer}
	}
	best := -1
	var bestDeg bool
	var bestLoad int
	var bestReason string
	for i := range snap.Servers {
		srv := &snap.Servers[i]
		st := srv.State
		if !usable(st) || st.Has(topology.Draining) {
			continue // Draining: no new connections
		}
		reason := matchRole(st, roles)
		if reason == "" {
			continue
		}
		if st.Has(topology.Master) && !o.MasterAcceptReads && roles&RoleMaster == 0 {
			continue
		}
		deg, l := degraded(st), load.of(srv.Name)
		if best >= 0 && (deg && !bestDeg || deg == bestDeg && l >= bestLoad) {
			continue
		}
		best, bestDeg, bestLoad, bestReason = i, deg, l, reason
	}
	if best >= 0 {
		return Decision{Target: TargetServer, Server: snap.Servers[best].Name, Reason: bestReason}
	}
	if roles&RoleSlave != 0 && o.MasterAcceptReads {
		for i := range snap.Servers {
			srv := &snap.Servers[i]
			if srv.State.Has(topology.Master) && usable(srv.State) && !srv.State.Has(topology.Draining) {
				return Decision{Target: TargetServer, Server: srv.Name, Reason: ReasonConnSlaveFallback}
			}
		}
	}
	return Decision{Target: TargetServer, Reason: ReasonNoServer}
}

// matchRole returns the name of the first role in roles the state
// satisfies, or "".
func matchRole(st topology.State, roles Roles) string {
	switch {
	case roles&RoleMaster != 0 && st.Has(topology.Master):
		return "master"
	case roles&RoleSlave != 0 && st.Has(topology.Slave):
		return "slave"
	case roles&RoleSynced != 0 && st.Has(topology.Synced):
		return "synced"
	case roles&RoleRunning != 0:
		return "running"
	}
	return ""
}
