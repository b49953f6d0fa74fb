package config

import "reflect"

// RestartRequired lists the keys whose change from old to next a reload
// cannot apply, e.g. `listener "rw".port` or `admin.listen`; nil means next
// can be applied in place.
//
// The rule: a key tagged reload:"restart" (sockets the process binds,
// process-wide structures, the kind of an object) needs a restart when its
// value changes; every other key is applied by a reload to new sessions and
// connections and to the monitor's next round. Objects are matched by name,
// so a renamed object is a removal plus an addition. Adding or removing a
// server, monitor or service is applied by a reload; adding or removing a
// listener needs a restart, since it binds or frees a socket.
func RestartRequired(old, next *Config) []string {
	var keys []string
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(next).Elem()
	for _, sec := range sections() {
		o, n := ov.Field(sec.index), nv.Field(sec.index)
		if !sec.many {
			keys = append(keys, restartFields(site{sec: &sec, index: -1}, o, n)...)
			continue
		}
		for i := 0; i < n.Len(); i++ {
			elem := n.Index(i)
			name := elem.FieldByName("Name").String()
			s := site{sec: &sec, index: i, name: name}
			prev, found := byName(o, name)
			switch {
			case found:
				keys = append(keys, restartFields(s, prev, elem)...)
			case sec.key == "listener":
				keys = append(keys, s.key(""))
			}
		}
		if sec.key != "listener" {
			continue
		}
		for i := 0; i < o.Len(); i++ {
			name := o.Index(i).FieldByName("Name").String()
			if _, found := byName(n, name); !found {
				keys = append(keys, site{sec: &sec, index: i, name: name}.key(""))
			}
		}
	}
	return keys
}

// restartFields lists the restart-only fields that differ between two
// values of one table type.
func restartFields(s site, old, next reflect.Value) []string {
	var keys []string
	for _, f := range s.sec.fields {
		if f.reload == "restart" && !reflect.DeepEqual(old.Field(f.index).Interface(), next.Field(f.index).Interface()) {
			keys = append(keys, s.key(f.key))
		}
	}
	return keys
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
