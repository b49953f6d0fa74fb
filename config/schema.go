package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The schema is read from the struct tags in config.go, so that a key, its
// type and its rules are written down exactly once:
//
//	toml:"key"        the key in the file
//	reload:"hot"      a reload applies a changed value (to new sessions and
//	                  connections, and from the monitor's next round)
//	reload:"restart"  the value is fixed at start-up: it binds a socket, sizes
//	                  a process-wide structure or picks an object's kind
//	required:"true"   no default: the file must set it to a non-empty value
//	nonempty:"true"   has a default, but must not be set to an empty value
//	enum:"a|b"        allowed values (each element, for a list)
//	min:"x" max:"y"   bounds for integers, durations and sizes; without min
//	                  the value must not be negative, min:"none" allows any
//	off:"true"        a duration that also accepts the string "off" (Off)
//	router:"name"     a service key that only that router accepts

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[Size]()
	stringsType  = reflect.TypeFor[[]string]()
	threadsType  = reflect.TypeFor[Threads]()
)

// kind is how a field is written in the file.
type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindDuration
	kindSize
	kindList
	kindThreads
)

// field describes one key of a table.
type field struct {
	key      string
	index    int // struct field index
	kind     kind
	reload   string
	required bool
	nonempty bool
	enum     []string
	router   string
	off      bool
	// Bounds in the field's own unit (nanoseconds for durations).
	hasMin, hasMax bool
	min, max       int64
}

// section is one top-level key of the file.
type section struct {
	key    string
	index  int          // field index in Config
	many   bool         // an array of tables ([[server]]) rather than a table
	typ    reflect.Type // the struct type of the table or element
	fields []field
}

// fieldByKey returns the field for key, or nil.
func (s *section) fieldByKey(key string) *field {
	for i := range s.fields {
		if s.fields[i].key == key {
			return &s.fields[i]
		}
	}
	return nil
}

// sections returns the schema of a whole file in file order.
func sections() []section {
	t := reflect.TypeFor[Config]()
	secs := make([]section, t.NumField())
	for i := range secs {
		f := t.Field(i)
		s := section{key: f.Tag.Get("toml"), index: i, typ: f.Type}
		if f.Type.Kind() == reflect.Slice {
			s.many, s.typ = true, f.Type.Elem()
		}
		s.fields = fieldsOf(s.typ)
		secs[i] = s
	}
	return secs
}

// fieldsOf reads the schema of one table type. A malformed tag is a bug in
// this package, caught by its tests, so it panics.
func fieldsOf(t reflect.Type) []field {
	fields := make([]field, t.NumField())
	for i := range fields {
		sf := t.Field(i)
		tag := sf.Tag
		f := field{
			key:      tag.Get("toml"),
			index:    i,
			reload:   tag.Get("reload"),
			required: tag.Get("required") == "true",
			nonempty: tag.Get("nonempty") == "true",
			router:   tag.Get("router"),
			off:      tag.Get("off") == "true",
		}
		switch {
		case sf.Type == durationType:
			f.kind = kindDuration
		case sf.Type == sizeType:
			f.kind = kindSize
		case sf.Type == stringsType:
			f.kind = kindList
		case sf.Type == threadsType:
			f.kind = kindThreads
		case sf.Type.Kind() == reflect.String:
			f.kind = kindString
		case sf.Type.Kind() == reflect.Bool:
			f.kind = kindBool
		case sf.Type.Kind() == reflect.Int:
			f.kind = kindInt
		default:
			panic(fmt.Sprintf("config: field %s.%s has unsupported type %s", t.Name(), sf.Name, sf.Type))
		}
		if e := tag.Get("enum"); e != "" {
			f.enum = strings.Split(e, "|")
		}
		if m := tag.Get("min"); m != "none" {
			f.hasMin = true
			if m != "" {
				f.min = mustBound(t, sf, f.kind, m)
			}
		}
		if m := tag.Get("max"); m != "" {
			f.hasMax, f.max = true, mustBound(t, sf, f.kind, m)
		}
		fields[i] = f
	}
	return fields
}

func mustBound(t reflect.Type, sf reflect.StructField, k kind, s string) int64 {
	var (
		n   int64
		err error
	)
	switch k {
	case kindInt:
		n, err = strconv.ParseInt(s, 10, 64)
	case kindDuration:
		var d time.Duration
		d, err = time.ParseDuration(s)
		n = int64(d)
	case kindSize:
		var z Size
		z, err = ParseSize(s)
		n = int64(z)
	default:
		err = fmt.Errorf("bounds on a non-numeric field")
	}
	if err != nil {
		panic(fmt.Sprintf("config: field %s.%s: bad bound %q: %v", t.Name(), sf.Name, s, err))
	}
	return n
}

// formatBound renders a bound in the unit the file uses.
func (f *field) formatBound(n int64) string {
	switch f.kind {
	case kindDuration:
		return time.Duration(n).String()
	case kindSize:
		return Size(n).String()
	}
	return strconv.FormatInt(n, 10)
}

// allowed renders the enum for a message: `"a", "b" or "c"`.
func (f *field) allowed() string {
	return quoteList(f.enum, "or")
}

func quoteList(items []string, conj string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " " + conj + " " + q[len(q)-1]
}
