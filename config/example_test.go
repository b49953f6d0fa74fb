package config

import (
	"bufio"
	"bytes"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const examplePath = "../maxproxy.toml.example"

// exampleKey is one key line of the example file, set or commented out.
type exampleKey struct {
	sec       *section
	elem      int // element index; -1 for a global section
	key       string
	value     string // the value as written
	commented bool
	doc       []string // the comment lines right above it
	line      int
}

var keyLine = regexp.MustCompile(`^(#\s*)?([a-z_]+)\s*=\s*(.+)$`)

// readExample splits the example into key lines. A commented line counts as
// a key only if it names a key of the section it is in.
func readExample(t *testing.T, data []byte) []exampleKey {
	t.Helper()
	secs := sections()
	counts := map[string]int{}
	var (
		cur  *section
		elem = -1
		doc  []string
		keys []exampleKey
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			doc = nil
		case strings.HasPrefix(line, "["):
			name := strings.Trim(line, "[] ")
			cur = nil
			for i := range secs {
				if secs[i].key == name {
					cur = &secs[i]
				}
			}
			if cur == nil {
				t.Fatalf("line %d: unknown section %q", n, name)
			}
			elem = -1
			if cur.many {
				elem = counts[name]
				counts[name]++
			}
			doc = nil
		default:
			m := keyLine.FindStringSubmatch(line)
			if m == nil || cur == nil || cur.fieldByKey(m[2]) == nil {
				if !strings.HasPrefix(line, "#") {
					t.Fatalf("line %d: not a key of the current section: %s", n, line)
				}
				doc = append(doc, strings.TrimSpace(strings.TrimPrefix(line, "#")))
				continue
			}
			keys = append(keys, exampleKey{sec: cur, elem: elem, key: m[2], value: m[3],
				commented: m[1] != "", doc: doc, line: n})
			doc = nil
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// defaultTable returns the defaults of a section, or of element elem of an
// array section as the parsed example configures it (a service's defaults
// depend on its router).
func defaultTable(cfg *Config, sec *section, elem int) reflect.Value {
	if !sec.many {
		return reflect.ValueOf(Default()).Elem().Field(sec.index)
	}
	m := map[string]any{}
	if sec.key == "service" {
		m["router"] = cfg.Services[elem].Router
	}
	return newElement(sec, m)
}

// literal decodes a value written as in the file for field f.
func literal(t *testing.T, f *field, text string) any {
	t.Helper()
	var m map[string]any
	if _, err := toml.Decode("v = "+text, &m); err != nil {
		t.Fatalf("%s: value %s is not TOML: %v", f.key, text, err)
	}
	dst := reflect.New(typeOfField(f)).Elem()
	if err := decodeValue(f, m["v"], dst); err != nil {
		t.Fatalf("%s: value %s: %v", f.key, text, err)
	}
	return dst.Interface()
}

func typeOfField(f *field) reflect.Type {
	switch f.kind {
	case kindString:
		return reflect.TypeFor[string]()
	case kindBool:
		return reflect.TypeFor[bool]()
	case kindInt:
		return reflect.TypeFor[int]()
	case kindDuration:
		return durationType
	case kindSize:
		return sizeType
	case kindThreads:
		return threadsType
	default:
		return stringsType
	}
}

func TestExampleIsValid(t *testing.T) {
	cfg, err := Load(examplePath)
	if err != nil {
		t.Fatalf("the example does not load:\n%v", err)
	}
	if len(cfg.Servers) != 3 || len(cfg.Monitors) != 1 || len(cfg.Services) != 2 || len(cfg.Listeners) != 2 {
		t.Errorf("the example should set up 3 servers, 1 monitor, 2 services and 2 listeners, got %d, %d, %d, %d",
			len(cfg.Servers), len(cfg.Monitors), len(cfg.Services), len(cfg.Listeners))
	}
}

// TestExampleMatchesSchema keeps maxproxy.toml.example in step with the
// code: every key is shown, commented defaults are the real defaults, and
// each key's comment states its default (or that it is required) and
// whether it needs a restart.
func TestExampleMatchesSchema(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(examplePath, data)
	if err != nil {
		t.Fatalf("the example does not parse:\n%v", err)
	}
	keys := readExample(t, data)

	documented := map[string]bool{}
	for _, k := range keys {
		f := k.sec.fieldByKey(k.key)
		def := defaultTable(cfg, k.sec, k.elem).Field(f.index).Interface()
		if k.commented {
			if got := literal(t, f, k.value); !sameValue(got, def) {
				t.Errorf("line %d: # %s = %s, but the default is %v", k.line, k.key, k.value, def)
			}
		}
		id := k.sec.key + "." + k.key
		if k.sec.key == "service" && f.router != "" {
			if router := cfg.Services[k.elem].Router; router != f.router {
				t.Errorf("line %d: %s is shown in a %s service but only %s accepts it", k.line, k.key, router, f.router)
			}
		}
		if documented[id] {
			continue
		}
		documented[id] = true
		checkDoc(t, k, f, def)
	}
	for _, sec := range sections() {
		for _, f := range sec.fields {
			if id := sec.key + "." + f.key; !documented[id] {
				t.Errorf("the example does not show %s", id)
			}
		}
	}
}

// checkDoc checks the comment above the first occurrence of a key.
func checkDoc(t *testing.T, k exampleKey, f *field, def any) {
	t.Helper()
	doc := strings.Join(k.doc, " ")
	if doc == "" {
		t.Errorf("line %d: %s has no comment", k.line, k.key)
		return
	}
	if restart := strings.Contains(doc, "Needs a restart"); restart != (f.reload == "restart") {
		t.Errorf("line %d: %s is reload:%q, but its comment says \"Needs a restart\": %v", k.line, k.key, f.reload, restart)
	}
	if k.commented {
		return
	}
	if f.required {
		if !strings.Contains(doc, "Required.") {
			t.Errorf("line %d: %s is required, but its comment does not say \"Required.\"", k.line, k.key)
		}
		return
	}
	i := strings.LastIndex(doc, "Default: ")
	if i < 0 {
		t.Errorf("line %d: %s is set, but its comment does not give the default (\"Default: ...\")", k.line, k.key)
		return
	}
	if got := literal(t, f, doc[i+len("Default: "):]); !sameValue(got, def) {
		t.Errorf("line %d: the comment of %s says %s, but the default is %v", k.line, k.key, doc[i:], def)
	}
}

// sameValue is reflect.DeepEqual, except that a nil list equals an empty one.
func sameValue(a, b any) bool {
	la, okA := a.([]string)
	lb, okB := b.([]string)
	if okA && okB && len(la) == 0 && len(lb) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
