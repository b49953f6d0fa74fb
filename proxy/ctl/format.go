package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/maxproxy/maxproxy/proxy/admin/api"
)

// table writes tab-separated rows as aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// orDash shows an empty value as "-", so columns stay readable.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func itoa[T int | int64 | uint64 | uint32](v T) string { return fmt.Sprint(v) }

func joinNames(r api.Relationship) string { return orDash(strings.Join(r.Names(), ", ")) }

func timestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// galeraState is wsrep_local_state_comment, "-" when the node reported
// none (down, or not a Galera node).
func galeraState(g api.Galera) string { return orDash(g.LocalStateComment) }

// localIndex is wsrep_local_index, "-" when unknown.
func localIndex(a api.ServerAttributes) string {
	if a.Galera.LocalStateComment == "" || a.Galera.LocalIndex < 0 {
		return "-"
	}
	return itoa(a.Galera.LocalIndex)
}

func printServers(w io.Writer, servers []api.ServerResource) error {
	t := newTable(w, "Server", "Address", "Port", "Connections", "State", "Galera", "Index", "Recv Queue", "FC Sent")
	for _, s := range servers {
		a := s.Attributes
		t.row(s.ID, a.Address, itoa(a.Port), itoa(a.Statistics.Connections), a.State,
			galeraState(a.Galera), localIndex(a), itoa(a.Galera.LocalRecvQueue), itoa(a.Galera.FlowControlSent))
	}
	return t.flush()
}

func printServices(w io.Writer, services []api.ServiceResource) error {
	t := newTable(w, "Service", "Router", "State", "Connections", "Total Connections", "Servers")
	for _, s := range services {
		a := s.Attributes
		t.row(s.ID, a.Router, a.State, itoa(a.Statistics.Connections), itoa(a.Statistics.TotalConnections),
			joinNames(s.Relationships[api.TypeServers]))
	}
	return t.flush()
}

func printListeners(w io.Writer, listeners []api.ListenerResource) error {
	t := newTable(w, "Name", "Port", "Host", "State", "Service")
	for _, l := range listeners {
		a := l.Attributes
		t.row(l.ID, itoa(a.Port), a.Address, a.State, joinNames(l.Relationships[api.TypeServices]))
	}
	return t.flush()
}

func printMonitors(w io.Writer, monitors []api.MonitorResource) error {
	t := newTable(w, "Monitor", "Module", "State", "Writer", "Servers")
	for _, m := range monitors {
		a := m.Attributes
		t.row(m.ID, a.Module, a.State, orDash(a.Writer), joinNames(m.Relationships[api.TypeServers]))
	}
	return t.flush()
}

func printSessions(w io.Writer, sessions []api.SessionResource) error {
	t := newTable(w, "Id", "User", "Host", "Connected", "Idle", "State", "Service", "Servers")
	for _, s := range sessions {
		a := s.Attributes
		t.row(s.ID, a.User, a.Remote, timestamp(a.Connected), a.Idle.String(), a.State,
			joinNames(s.Relationships[api.TypeServices]), joinNames(s.Relationships[api.TypeServers]))
	}
	return t.flush()
}

// detail prints key/value rows.
type detail struct{ t *table }

func newDetail(w io.Writer) detail { return detail{newTable(w)} }

func (d detail) add(key, value string) { d.t.row(key, value) }

func printServer(w io.Writer, s api.ServerResource) error {
	a, g := s.Attributes, s.Attributes.Galera
	d := newDetail(w)
	d.add("Server", s.ID)
	d.add("Address", a.Address)
	d.add("Port", itoa(a.Port))
	d.add("State", a.State)
	d.add("Priority", itoa(a.Priority))
	d.add("Services", joinNames(s.Relationships[api.TypeServices]))
	d.add("Monitors", joinNames(s.Relationships[api.TypeMonitors]))
	d.add("Connections", itoa(a.Statistics.Connections))
	d.add("Total Connections", itoa(a.Statistics.TotalConnections))
	state := galeraState(g)
	if g.LocalStateComment != "" {
		state += " (" + itoa(g.LocalState) + ")"
	}
	d.add("Galera State", state)
	d.add("Cluster Status", orDash(g.ClusterStatus))
	d.add("Cluster UUID", orDash(g.ClusterStateUUID))
	d.add("Cluster Size", itoa(g.ClusterSize))
	d.add("Local Index", localIndex(a))
	d.add("Ready", yesNo(g.Ready))
	d.add("Desync", yesNo(g.Desync))
	d.add("Recv Queue", itoa(g.LocalRecvQueue))
	d.add("Flow Control Sent", itoa(g.FlowControlSent))
	d.add("Lagging", yesNo(g.Lagging))
	if a.LastError != "" {
		d.add("Last Error", a.LastError)
	}
	return d.t.flush()
}

func printService(w io.Writer, s api.ServiceResource) error {
	a := s.Attributes
	d := newDetail(w)
	d.add("Service", s.ID)
	d.add("Router", a.Router)
	d.add("State", a.State)
	d.add("Started At", timestamp(a.StartedAt))
	d.add("Listeners", joinNames(s.Relationships[api.TypeListeners]))
	d.add("Servers", joinNames(s.Relationships[api.TypeServers]))
	d.add("Connections", itoa(a.Statistics.Connections))
	d.add("Total Connections", itoa(a.Statistics.TotalConnections))
	params := "-"
	if len(a.Parameters) > 0 {
		// encoding/json sorts map keys, so the line is stable.
		b, err := json.Marshal(a.Parameters)
		if err != nil {
			return fmt.Errorf("service parameters: %w", err)
		}
		params = string(b)
	}
	d.add("Parameters", params)
	return d.t.flush()
}

func printListener(w io.Writer, l api.ListenerResource) error {
	a := l.Attributes
	d := newDetail(w)
	d.add("Listener", l.ID)
	d.add("Service", joinNames(l.Relationships[api.TypeServices]))
	d.add("Address", a.Address)
	d.add("Port", itoa(a.Port))
	d.add("Protocol", a.Protocol)
	d.add("State", a.State)
	return d.t.flush()
}

func printMonitor(w io.Writer, m api.MonitorResource) error {
	a := m.Attributes
	d := newDetail(w)
	d.add("Monitor", m.ID)
	d.add("Module", a.Module)
	d.add("State", a.State)
	d.add("Interval", a.Interval.String())
	d.add("Writer", orDash(a.Writer))
	d.add("Servers", joinNames(m.Relationships[api.TypeServers]))
	d.add("Cluster UUID", orDash(a.ClusterStateUUID))
	d.add("Cluster Size", itoa(a.ClusterSize))
	d.add("Generation", itoa(a.Generation))
	return d.t.flush()
}

func printSession(w io.Writer, s api.SessionResource) error {
	a := s.Attributes
	d := newDetail(w)
	d.add("Id", s.ID)
	d.add("Service", joinNames(s.Relationships[api.TypeServices]))
	d.add("User", a.User)
	d.add("Host", a.Remote)
	d.add("Database", orDash(a.Database))
	d.add("Connected", timestamp(a.Connected))
	d.add("Idle", a.Idle.String())
	d.add("State", a.State)
	d.add("In Transaction", yesNo(a.InTransaction))
	conns := make([]string, len(a.Connections))
	for i, c := range a.Connections {
		conns[i] = fmt.Sprintf("%s (thread %d)", c.Server, c.ThreadID)
	}
	d.add("Connections", orDash(strings.Join(conns, ", ")))
	return d.t.flush()
}

func printMaxProxy(w io.Writer, m api.MaxProxyResource) error {
	a := m.Attributes
	d := newDetail(w)
	d.add("Version", a.Version)
	d.add("Started At", timestamp(a.StartedAt))
	d.add("Uptime", a.Uptime.String())
	d.add("Config File", orDash(a.ConfigFile))
	d.add("PID", itoa(a.PID))
	return d.t.flush()
}

// printReload says OK, then lists what the reload applied, one row per
// object, and the changed keys that wait for a restart.
func printReload(w io.Writer, r api.ReloadAttributes) error {
	if _, err := fmt.Fprintln(w, "OK"); err != nil {
		return err
	}
	if len(r.Changes) > 0 {
		t := newTable(w, "Applied", "Object", "Keys")
		for _, c := range r.Changes {
			obj := c.Section
			if c.Name != "" {
				obj += " " + strconv.Quote(c.Name)
			}
			t.row(c.Action, obj, orDash(strings.Join(c.Keys, ", ")))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(r.RestartRequired) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("These changes take effect only after a restart (the running values stay):\n")
	for _, k := range r.RestartRequired {
		b.WriteString("  " + k + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
