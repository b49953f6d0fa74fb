package monitor

import (
	"fmt"
	"maps"

	"github.com/maxproxy/maxproxy/monitor/galera"
)

// SetMaintenance puts a server into maintenance: it is never chosen as
// writer and the router sends it no new work. If it is the writer, the
// next round (run at once) picks another.
func (m *Monitor) SetMaintenance(name string) error {
	return m.setAdmin(name, func(a *galera.Admin) error { a.Maintenance = true; return nil })
}

// ClearMaintenance takes a server out of maintenance.
func (m *Monitor) ClearMaintenance(name string) error {
	return m.setAdmin(name, func(a *galera.Admin) error { a.Maintenance = false; return nil })
}

// SetDrain lets a server's sessions finish while new ones go elsewhere. The
// current writer cannot be drained (ErrDrainWriter).
func (m *Monitor) SetDrain(name string) error {
	return m.setAdmin(name, func(a *galera.Admin) error {
		if w := m.holder.Load().Master(); w != nil && w.Name == name {
			return fmt.Errorf("%w: %s is the writer", ErrDrainWriter, name)
		}
		a.Drain = true
		return nil
	})
}

// ClearDrain ends draining.
func (m *Monitor) ClearDrain(name string) error {
	return m.setAdmin(name, func(a *galera.Admin) error { a.Drain = false; return nil })
}

// Admin returns the operator state of every server that has any.
func (m *Monitor) Admin() map[string]galera.Admin {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.admin)
}

func (m *Monitor) setAdmin(name string, change func(*galera.Admin) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if !m.names[name] {
		return fmt.Errorf("%w: %q", ErrUnknownServer, name)
	}
	old := m.admin[name]
	a := old
	if err := change(&a); err != nil {
		return err
	}
	if a == old {
		return nil
	}
	// Persist first: an operator's decision must not be lost to a restart
	// after we reported success.
	if m.journal != nil {
		if err := m.journal.saveAdmin(name, a); err != nil {
			m.metrics.journalErrors.Inc()
			return fmt.Errorf("monitor: save %s state: %w", name, err)
		}
	}
	if a == (galera.Admin{}) {
		delete(m.admin, name)
	} else {
		m.admin[name] = a
	}
	m.log.Info("server admin state changed", "server", name, "maintenance", a.Maintenance, "drain", a.Drain)
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return nil
}

// Diagnostics is the monitor's own state, for `maxproxy ctl show monitor`
// and the REST API (MaxScale's monitor_diagnostics).
type Diagnostics struct {
	Name    string
	Running bool // Run is active
	// Generation of the last published snapshot; 0 before the first round.
	Generation uint64
	// ClusterUUID and ClusterSize: the group taken as the cluster.
	ClusterUUID string
	ClusterSize int
	// Writer is the current writer, "" when there is none.
	Writer string
	// Marker is the sticky_writer marker as last read.
	Marker galera.WriterMarker
	// Options as configured, with the password removed.
	Options Options
}

// Diagnostics returns a copy of the monitor's current state.
func (m *Monitor) Diagnostics() Diagnostics {
	m.mu.Lock()
	d := m.diag
	d.Running = m.active
	m.mu.Unlock()
	d.Name = m.opts.Name
	d.Options = m.opts
	d.Options.Password = ""
	d.Options.Events = append([]string(nil), m.opts.Events...)
	if s := m.holder.Load(); s != nil {
		d.Generation = s.Generation
		if w := s.Master(); w != nil {
			d.Writer = w.Name
		}
	}
	return d
}
