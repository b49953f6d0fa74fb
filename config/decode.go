package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The decoder turns the generic tree produced by the TOML parser into a
// Config. It does the typing itself, instead of letting the TOML library
// decode into the structs and asking MetaData.Undecoded for leftovers,
// because the library stops at the first type error, reports the line of the
// last [[server]] for every server, and its undecoded keys carry no array
// index. Walking the tree against the schema gives every problem, each with
// its own line, while staying exactly as strict.

type decoder struct {
	*collector
	pos positions
	// elems maps each array section to the index in the file of each
	// element kept in the Config; they differ after an entry that is not a
	// table, which is reported and dropped.
	elems map[string][]int
}

// site is one table of the file: a global section or one element of an
// array of tables. It names keys in messages and finds their lines.
type site struct {
	sec   *section
	index int    // element index; -1 for a global section
	name  string // the element's name, once known
}

// key is the full key path shown to the operator: `admin.listen`,
// `server "node1".port`, or `server[0].port` while the name is unknown.
func (s site) key(field string) string {
	k := s.sec.key
	switch {
	case s.index < 0:
	case s.name != "":
		k += " " + strconv.Quote(s.name)
	default:
		k += index(s.index)
	}
	if field != "" {
		k += "." + field
	}
	return k
}

// line finds the line of field in this table, falling back to the table's
// header and then to the section key.
func (s site) line(p positions, field string) int {
	base := []string{s.sec.key}
	if s.index >= 0 {
		base = append(base, index(s.index))
	}
	paths := []string{pathKey(base...), pathKey(s.sec.key)}
	if field != "" {
		paths = append([]string{pathKey(append(base, field)...)}, paths...)
	}
	return p.line(paths...)
}

// ref names a key of this table for cross-references in messages:
// `server "node1".port (line 12)`.
func (s site) ref(p positions, field string) string {
	if n := s.line(p, field); n > 0 {
		return fmt.Sprintf("%s (line %d)", s.key(field), n)
	}
	return s.key(field)
}

func (d *decoder) document(tree map[string]any) *Config {
	cfg := Default()
	secs := sections()
	root := reflect.ValueOf(cfg).Elem()
	for _, k := range sortedKeys(tree) {
		i := slices.IndexFunc(secs, func(s section) bool { return s.key == k })
		if i < 0 {
			names := make([]string, len(secs))
			for j := range secs {
				names[j] = secs[j].key
			}
			d.fail(d.pos.line(pathKey(k), pathKey(k, index(0))), k,
				"unknown section%s; the sections are %s", suggest(k, names), strings.Join(names, ", "))
			continue
		}
		sec := &secs[i]
		dst := root.Field(sec.index)
		if !sec.many {
			m, ok := tree[k].(map[string]any)
			if !ok {
				d.fail(d.pos.line(pathKey(k)), k, "expected a table: write [%s] followed by its keys", k)
				continue
			}
			d.table(site{sec: sec, index: -1}, m, dst)
			continue
		}
		for n, item := range d.elements(sec, tree[k]) {
			s := site{sec: sec, index: n}
			m, ok := item.(map[string]any)
			if !ok {
				d.fail(s.line(d.pos, ""), s.key(""), "expected a table, got %s", describe(item))
				continue
			}
			elem := newElement(sec, m)
			d.table(s, m, elem)
			dst.Set(reflect.Append(dst, elem))
			d.elems[sec.key] = append(d.elems[sec.key], n)
		}
	}
	return cfg
}

// elements returns the entries of an array of tables, written either as
// [[server]] sections or as an inline array.
func (d *decoder) elements(sec *section, v any) []any {
	switch v := v.(type) {
	case []map[string]any:
		out := make([]any, len(v))
		for i, m := range v {
			out[i] = m
		}
		return out
	case []any:
		return v
	}
	d.fail(d.pos.line(pathKey(sec.key)), sec.key,
		"there can be several of these: write each one as [[%s]] (double brackets)", sec.key)
	return nil
}

// newElement returns a new array element holding its defaults. A service's
// defaults depend on its router.
func newElement(sec *section, m map[string]any) reflect.Value {
	var v any
	switch sec.typ {
	case reflect.TypeFor[Server]():
		v = new(DefaultServer())
	case reflect.TypeFor[Monitor]():
		v = new(DefaultMonitor())
	case reflect.TypeFor[Listener]():
		v = new(DefaultListener())
	case reflect.TypeFor[Service]():
		router, _ := m["router"].(string)
		if router != ReadConnRoute {
			router = ReadWriteSplit
		}
		v = new(DefaultService(router))
	default:
		panic("config: no defaults for " + sec.typ.String())
	}
	return reflect.ValueOf(v).Elem()
}

// table decodes one table's keys onto dst, which holds its defaults.
func (d *decoder) table(s site, m map[string]any, dst reflect.Value) {
	// The name comes first so that every later message can use it.
	if f := s.sec.fieldByKey("name"); f != nil {
		if raw, ok := m["name"]; ok && d.value(s, f, raw, dst.Field(f.index)) {
			s.name = dst.Field(f.index).String()
		}
	}
	router := ""
	if r, ok := m["router"].(string); ok && (r == ReadWriteSplit || r == ReadConnRoute) {
		router = r
	}
	for _, k := range sortedKeys(m) {
		f := s.sec.fieldByKey(k)
		switch {
		case f == nil:
			d.fail(s.line(d.pos, k), s.key(k), "unknown key%s", unknownKeyHint(s.sec, k))
		case k == "name":
			// Decoded above.
		case f.router != "" && router != "" && f.router != router:
			d.fail(s.line(d.pos, k), s.key(k),
				"only a %s service accepts this key (this service uses %s)", f.router, router)
		default:
			d.value(s, f, m[k], dst.Field(f.index))
		}
	}
	for i := range s.sec.fields {
		f := &s.sec.fields[i]
		if _, ok := m[f.key]; f.required && !ok {
			d.fail(s.line(d.pos, ""), s.key(f.key), "required key is missing")
		}
	}
	if svc, ok := dst.Addr().Interface().(*Service); ok {
		normalizeService(svc, m)
	}
}

// normalizeService applies MaxScale's implied settings to the keys the file
// left out. A contradicting explicit value is left for validate to report.
func normalizeService(s *Service, set map[string]any) {
	_, delayedSet := set["delayed_retry"]
	_, reconnectSet := set["master_reconnection"]
	switch {
	case s.TransactionReplay:
		// Replay waits for a new primary and moves the session to it.
		if !delayedSet {
			s.DelayedRetry = true
		}
		if !reconnectSet {
			s.MasterReconnection = true
		}
	case s.DisableSescmdHistory && !reconnectSet:
		// Without the history a new connection cannot be brought to the
		// session's state.
		s.MasterReconnection = false
	}
}

// value decodes raw into dst and reports whether it succeeded.
func (d *decoder) value(s site, f *field, raw any, dst reflect.Value) bool {
	if err := decodeValue(f, raw, dst); err != nil {
		d.fail(s.line(d.pos, f.key), s.key(f.key), "%v", err)
		return false
	}
	return true
}

// decodeValue converts one TOML value for field f. Range and enum checks are
// left to validate, so that they also cover a Config built in code.
func decodeValue(f *field, raw any, dst reflect.Value) error {
	switch f.kind {
	case kindString:
		s, ok := raw.(string)
		if !ok {
			return fmt.Errorf("expected a string, got %s", describe(raw))
		}
		dst.SetString(s)
	case kindBool:
		b, ok := raw.(bool)
		if !ok {
			return fmt.Errorf("expected true or false, got %s", describe(raw))
		}
		dst.SetBool(b)
	case kindInt:
		n, err := decodeInt(raw)
		if err != nil {
			return err
		}
		dst.SetInt(n)
	case kindDuration:
		dur, err := decodeDuration(f, raw)
		if err != nil {
			return err
		}
		dst.SetInt(int64(dur))
	case kindSize:
		z, err := decodeSize(raw)
		if err != nil {
			return err
		}
		dst.SetInt(int64(z))
	case kindThreads:
		n, err := decodeThreads(raw)
		if err != nil {
			return err
		}
		dst.SetInt(int64(n))
	case kindList:
		list, err := decodeList(raw)
		if err != nil {
			return err
		}
		dst.Set(reflect.ValueOf(list))
	}
	return nil
}

func decodeInt(raw any) (int64, error) {
	switch v := raw.(type) {
	case int64:
		if v < math.MinInt || v > math.MaxInt {
			return 0, fmt.Errorf("%d is out of range", v)
		}
		return v, nil
	case float64:
		return 0, fmt.Errorf("expected a whole number, got %v", v)
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return 0, fmt.Errorf("expected a number: write %d without quotes", n)
		}
	}
	return 0, fmt.Errorf("expected a whole number, got %s", describe(raw))
}

const durationHelp = `write a string with a unit, e.g. "500ms", "1s", "2m" or "1h"`

func decodeDuration(f *field, raw any) (time.Duration, error) {
	help := durationHelp
	if f.off {
		help += `, or "off"`
	}
	switch v := raw.(type) {
	case string:
		if f.off && v == "off" {
			return Off, nil
		}
		dur, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %s", v, help)
		}
		return dur, nil
	case int64:
		return 0, fmt.Errorf("a bare number has no unit: write a string such as \"%dms\" or \"%ds\"", v, v)
	}
	return 0, fmt.Errorf("expected a duration, got %s: %s", describe(raw), help)
}

func decodeSize(raw any) (Size, error) {
	switch v := raw.(type) {
	case int64:
		return Size(v), nil
	case string:
		return ParseSize(v)
	}
	return 0, fmt.Errorf("expected a size (bytes, or a string such as \"1Mi\"), got %s", describe(raw))
}

const threadsHelp = `write "auto" or a number of at least 1`

func decodeThreads(raw any) (Threads, error) {
	switch v := raw.(type) {
	case string:
		if v == "auto" {
			return ThreadsAuto, nil
		}
		return 0, fmt.Errorf("invalid thread count %q: %s", v, threadsHelp)
	case int64:
		if v < 1 || v > math.MaxInt32 {
			return 0, fmt.Errorf("invalid thread count %d: %s", v, threadsHelp)
		}
		return Threads(v), nil
	}
	return 0, fmt.Errorf("expected a thread count, got %s: %s", describe(raw), threadsHelp)
}

func decodeList(raw any) ([]string, error) {
	items, ok := raw.([]any)
	if !ok {
		if s, isString := raw.(string); isString {
			return nil, fmt.Errorf("expected a list: write [%q] (a list of strings), not a single string", s)
		}
		return nil, fmt.Errorf("expected a list of strings, e.g. [\"a\", \"b\"], got %s", describe(raw))
	}
	list := make([]string, len(items))
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("element %d: expected a string, got %s", i, describe(it))
		}
		list[i] = s
	}
	return list, nil
}

// describe names a TOML value for messages.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return "the string " + strconv.Quote(v)
	case int64:
		return "the number " + strconv.FormatInt(v, 10)
	case float64:
		return "the number " + strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return "the boolean " + strconv.FormatBool(v)
	case []any, []map[string]any:
		return "a list"
	case map[string]any:
		return "a table"
	default:
		return "a date/time"
	}
}

// maxscaleKeys are keys a MaxScale configuration has and maxproxy expresses
// differently.
var maxscaleKeys = map[string]string{
	"type":     "; the section header gives the object type, so remove this line",
	"module":   `; write type = "galera"`,
	"protocol": "; only a listener has a protocol, remove this line",
}

func unknownKeyHint(sec *section, key string) string {
	if hint, ok := maxscaleKeys[key]; ok && sec.fieldByKey(key) == nil {
		return hint
	}
	keys := make([]string, len(sec.fields))
	for i := range sec.fields {
		keys[i] = sec.fields[i].key
	}
	return suggest(key, keys)
}

// suggest returns `; did you mean "x"?` for the closest candidate within a
// small edit distance, or "".
func suggest(word string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if dist := editDistance(word, c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
