package maxproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/maxproxy/maxproxy"

// A depRule forbids packages under From (a path relative to the module, with
// "..." meaning the package and everything below it) from importing, directly
// or transitively, anything under the Deny prefixes — unless it is also under
// one of the Allow prefixes.
type depRule struct {
	From  string
	Deny  []string
	Allow []string
	Why   string
}

// rules is ARCHITECTURE.md's dependency table as code.
var rules = []depRule{
	{
		From:  "config/...",
		Deny:  []string{"..."},
		Allow: []string{"config/..."},
		Why:   "config is a leaf: everything else may import it",
	},
	{
		From:  "monitor/topology/...",
		Deny:  []string{"..."},
		Allow: []string{"monitor/topology/..."},
		Why:   "topology values are shared by the monitor and the router and must stay a leaf",
	},
	{
		From:  "router/...",
		Deny:  []string{"proxy/...", "node/...", "monitor/..."},
		Allow: []string{"monitor/topology/..."},
		Why:   "the router decides from values; it never reaches sockets, the node or the monitor's probing code",
	},
	{
		From: "monitor/...",
		Deny: []string{"proxy/...", "node/...", "router/..."},
		Why:  "the monitor publishes topology; it knows nothing of the proxy, the router or the node",
	},
	{
		From: "node/...",
		Deny: []string{"proxy/...", "router/...", "monitor/..."},
		Why:  "maxnode is a separate product that shares at most config with the proxy",
	},
	{
		From:  "proxy/ctl/...",
		Deny:  []string{"..."},
		Allow: []string{"proxy/ctl/...", "proxy/admin/client/...", "proxy/admin/api/...", "config/..."},
		Why:   "maxproxy ctl talks to the REST API through its client and never links the proxy runtime",
	},
	{
		From:  "proxy/admin/client/...",
		Deny:  []string{"..."},
		Allow: []string{"proxy/admin/client/...", "proxy/admin/api/..."},
		Why:   "the REST client is what ctl links; it must stay free of the runtime",
	},
}

// match reports whether the module-relative package path rel is matched by
// pattern ("x/..." matches x and everything below it; "..." matches all).
func match(pattern, rel string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return rel == base || strings.HasPrefix(rel, base+"/")
	}
	return rel == pattern
}

func matchAny(patterns []string, rel string) bool {
	for _, p := range patterns {
		if match(p, rel) {
			return true
		}
	}
	return false
}

// violations checks deps (package → every module package it depends on,
// transitively; paths relative to the module root, "" for the root) against
// rules and returns one line per forbidden edge.
func violations(rules []depRule, deps map[string][]string) []string {
	var out []string
	for pkg, ds := range deps {
		for _, r := range rules {
			if !match(r.From, pkg) {
				continue
			}
			for _, d := range ds {
				if d == pkg || !matchAny(r.Deny, d) || matchAny(r.Allow, d) {
					continue
				}
				out = append(out, fmt.Sprintf("%s imports %s: %s", pkg, d, r.Why))
			}
		}
	}
	sort.Strings(out)
	return out
}

// moduleDeps runs `go list -deps` over the module (non-test imports, which
// is what a binary links) and returns each module package's transitive
// module-internal dependencies.
func moduleDeps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	rel := func(p string) (string, bool) {
		if p == module {
			return "", true
		}
		r, ok := strings.CutPrefix(p, module+"/")
		return r, ok
	}
	deps := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		from, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		var internal []string
		for _, d := range p.Deps {
			if r, ok := rel(d); ok {
				internal = append(internal, r)
			}
		}
		deps[from] = internal
	}
	if len(deps) == 0 {
		t.Fatal("go list found no packages in the module")
	}
	return deps
}

func TestDependencyDirection(t *testing.T) {
	if v := violations(rules, moduleDeps(t)); len(v) > 0 {
		t.Errorf("forbidden imports (see ARCHITECTURE.md):\n  %s", strings.Join(v, "\n  "))
	}
}

// TestDependencyRulesCatchViolations proves the checker is not vacuous: a
// graph with one forbidden edge per rule must produce exactly those edges.
func TestDependencyRulesCatchViolations(t *testing.T) {
	deps := map[string][]string{
		"config":           {"monitor/topology"},
		"monitor/topology": {"config"},
		"router/classify":  {"monitor/topology", "proxy/protocol"},
		"monitor/galera":   {"monitor/topology", "router"},
		"node/sql":         {"node/storage", "config", "monitor/topology"},
		"proxy/ctl":        {"proxy/admin/client", "proxy/admin/api", "proxy/session"},
		"proxy/session":    {"router", "monitor/topology", "config"},
	}
	got := violations(rules, deps)
	want := []string{
		"config imports monitor/topology",
		"monitor/galera imports router",
		"monitor/topology imports config",
		"node/sql imports monitor/topology",
		"proxy/ctl imports proxy/session",
		"router/classify imports proxy/protocol",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d violations, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]+":") {
			t.Errorf("violation %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
}
