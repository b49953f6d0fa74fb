package galera

import (
	"fmt"

	"github.com/maxproxy/maxproxy/monitor/topology"
)

// EventName is one of MaxScale's monitor event names.
type EventName string

// The ten events, spelled as MaxScale's `events` and script `$EVENT` spell them.
const (
	MasterDown EventName = "master_down"
	MasterUp   EventName = "master_up"
	SlaveDown  EventName = "slave_down"
	SlaveUp    EventName = "slave_up"
	ServerDown EventName = "server_down"
	ServerUp   EventName = "server_up"
	LostMaster EventName = "lost_master"
	LostSlave  EventName = "lost_slave"
	NewMaster  EventName = "new_master"
	NewSlave   EventName = "new_slave"
)

// AllEvents lists every event in MaxScale's order.
var AllEvents = []EventName{
	MasterDown, MasterUp, SlaveDown, SlaveUp, ServerDown, ServerUp,
	LostMaster, LostSlave, NewMaster, NewSlave,
}

// ParseEventName accepts one of the ten names.
func ParseEventName(s string) (EventName, error) {
	for _, e := range AllEvents {
		if string(e) == s {
			return e, nil
		}
	}
	return "", fmt.Errorf("unknown monitor event %q", s)
}

// Event is a state change of one server between two snapshots.
type Event struct {
	Name   EventName
	Server string
	Prev   topology.State
	State  topology.State
}

// eventBits are the bits whose changes produce events; MaxScale ignores
// maintenance, draining and the like here.
const eventBits = topology.Running | topology.Master | topology.Slave | topology.Synced

// Diff returns the events between two snapshots, in the order of cur's
// servers. A server absent from prev (or a nil prev) counts as having been
// down, so the first round reports every reachable server coming up, as
// MaxScale does at start-up. Servers in maintenance in either snapshot
// raise none.
func Diff(prev, cur *topology.Snapshot) []Event {
	var out []Event
	for _, s := range cur.Servers {
		var before topology.State
		if p := prev.Server(s.Name); p != nil {
			before = p.State
		}
		// As in MaxScale, a server entering, in, or leaving maintenance
		// raises no events: the operator knows, and its role changes
		// are the operator's doing.
		if (before|s.State)&topology.Maintenance != 0 {
			continue
		}
		if name, ok := eventFor(before, s.State); ok {
			out = append(out, Event{Name: name, Server: s.Name, Prev: before, State: s.State})
		}
	}
	return out
}

// eventFor follows MaxScale's MonitorServer::event_type.
func eventFor(before, after topology.State) (EventName, bool) {
	prev, cur := before&eventBits, after&eventBits
	if prev == cur {
		return "", false
	}
	role := func(s topology.State, master, slave, other EventName) (EventName, bool) {
		switch {
		case s&topology.Master != 0:
			return master, true
		case s&topology.Slave != 0:
			return slave, true
		case other != "":
			return other, true
		}
		// Synced without a role: MaxScale's synced_* events, which are
		// not among ours.
		return "", false
	}
	switch {
	case prev&topology.Running == 0:
		if cur&topology.Running == 0 {
			return "", false
		}
		return role(cur, MasterUp, SlaveUp, ServerUp)
	case cur&topology.Running == 0:
		return role(prev, MasterDown, SlaveDown, ServerDown)
	}
	prevRole := prev & (topology.Master | topology.Slave)
	curRole := cur & (topology.Master | topology.Slave)
	if (prevRole == 0 || curRole == 0 || prevRole == curRole) &&
		prev&(topology.Master|topology.Slave|topology.Synced) != 0 {
		return role(prev, LostMaster, LostSlave, "")
	}
	return role(cur, NewMaster, NewSlave, "")
}
