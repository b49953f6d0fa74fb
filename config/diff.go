package config

import (
	"reflect"
	"strconv"
	"strings"
)

// Action is what a reload does to an object or a global table.
type Action string

// Actions of a Change.
const (
	Added   Action = "added"
	Removed Action = "removed"
	Changed Action = "changed"
)

// Change is one difference a reload applies: an object (server, monitor,
// service, listener) added, removed or changed, or a global table (proxy,
// log, admin, metrics) whose hot keys changed.
type Change struct {
	Section string // the table's key in the file: "server", "log", ...
	Name    string // the object's name; empty for a global table
	Action  Action
	// Keys are the changed hot keys, in schema order (Changed only).
	Keys []string
}

// Object renders what the change is about: `server "node4"` or `log`.
func (c Change) Object() string {
	if c.Name == "" {
		return c.Section
	}
	return c.Section + " " + strconv.Quote(c.Name)
}

// String renders the change for a log line or an operator:
// `added server "node4"`, `changed service "rw" (max_connections, servers)`.
func (c Change) String() string {
	s := string(c.Action) + " " + c.Object()
	if len(c.Keys) > 0 {
		s += " (" + strings.Join(c.Keys, ", ") + ")"
	}
	return s
}

// Diff is what differs between a running configuration and a new one.
type Diff struct {
	// Changes are the differences a reload applies, in file order: global
	// tables, then servers, monitors, services and listeners, each kind
	// in the order of the new file with its removals last.
	Changes []Change
	// RestartRequired are the full paths of the changed keys only a
	// restart applies, e.g. `admin.listen` or `proxy.datadir`.
	RestartRequired []string
}

// Empty reports whether the two configurations are the same.
func (d Diff) Empty() bool { return len(d.Changes) == 0 && len(d.RestartRequired) == 0 }

// Find returns the change of the named object of a section, if any.
func (d Diff) Find(section, name string) (Change, bool) {
	for _, c := range d.Changes {
		if c.Section == section && c.Name == name {
			return c, true
		}
	}
	return Change{}, false
}

// Compare lists what a reload from old to next changes.
//
// The rule: a key tagged reload:"restart" (a socket the process binds
// other than a listener's, a process-wide structure, the kind of a
// monitor or a listener's protocol) needs a restart when its value
// changes; every other change is applied by a reload, to new sessions and
// connections and to the monitor's next round. Objects are matched by
// name, so a renamed object is a removal plus an addition. Both
// configurations must be complete (as Parse returns them).
func Compare(old, next *Config) Diff {
	var d Diff
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(next).Elem()
	for _, sec := range sections() {
		o, n := ov.Field(sec.index), nv.Field(sec.index)
		if !sec.many {
			hot, restart := changedFields(site{sec: &sec, index: -1}, o, n)
			d.RestartRequired = append(d.RestartRequired, restart...)
			if len(hot) > 0 {
				d.Changes = append(d.Changes, Change{Section: sec.key, Action: Changed, Keys: hot})
			}
			continue
		}
		for i := 0; i < n.Len(); i++ {
			elem := n.Index(i)
			name := elem.FieldByName("Name").String()
			prev, found := byName(o, name)
			if !found {
				d.Changes = append(d.Changes, Change{Section: sec.key, Name: name, Action: Added})
				continue
			}
			hot, restart := changedFields(site{sec: &sec, index: i, name: name}, prev, elem)
			d.RestartRequired = append(d.RestartRequired, restart...)
			if len(hot) > 0 {
				d.Changes = append(d.Changes, Change{Section: sec.key, Name: name, Action: Changed, Keys: hot})
			}
		}
		for i := 0; i < o.Len(); i++ {
			name := o.Index(i).FieldByName("Name").String()
			if _, found := byName(n, name); !found {
				d.Changes = append(d.Changes, Change{Section: sec.key, Name: name, Action: Removed})
			}
		}
	}
	return d
}

// changedFields splits the fields that differ between two values of one
// table type into hot keys (bare) and restart keys (full paths).
func changedFields(s site, old, next reflect.Value) (hot, restart []string) {
	for _, f := range s.sec.fields {
		if equalField(old.Field(f.index), next.Field(f.index)) {
			continue
		}
		if f.reload == "restart" {
			restart = append(restart, s.key(f.key))
		} else {
			hot = append(hot, f.key)
		}
	}
	return hot, restart
}

// equalField compares two field values; an empty list equals a missing
// one, since both mean "none".
func equalField(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice {
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !reflect.DeepEqual(a.Index(i).Interface(), b.Index(i).Interface()) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// byName finds the element called name in a slice of objects.
func byName(list reflect.Value, name string) (reflect.Value, bool) {
	for i := 0; i < list.Len(); i++ {
		if list.Index(i).FieldByName("Name").String() == name {
			return list.Index(i), true
		}
	}
	return reflect.Value{}, false
}

// Effective is the configuration a reload from old to next runs: next,
// with every restart-only key as it is in old, so that a key waiting for a
// restart is reported again by the next reload rather than forgotten.
// Objects only next has keep their own values. next is not modified.
func Effective(old, next *Config) *Config {
	eff := *next
	ov, ev := reflect.ValueOf(old).Elem(), reflect.ValueOf(&eff).Elem()
	for _, sec := range sections() {
		o, e := ov.Field(sec.index), ev.Field(sec.index)
		if !sec.many {
			keepRestart(&sec, o, e)
			continue
		}
		copied := reflect.MakeSlice(e.Type(), e.Len(), e.Len())
		reflect.Copy(copied, e)
		e.Set(copied)
		for i := 0; i < e.Len(); i++ {
			if prev, found := byName(o, e.Index(i).FieldByName("Name").String()); found {
				keepRestart(&sec, prev, e.Index(i))
			}
		}
	}
	return &eff
}

// keepRestart copies the restart-only fields of old into next.
func keepRestart(sec *section, old, next reflect.Value) {
	for _, f := range sec.fields {
		if f.reload == "restart" {
			next.Field(f.index).Set(old.Field(f.index))
		}
	}
}
