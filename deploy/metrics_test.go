package deploy

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/maxproxy/maxproxy/monitor"
	"github.com/maxproxy/maxproxy/monitor/monitortest"
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/metrics"
)

// exported is what a Prometheus scraping maxproxy can see: metric families
// with their types, and every label name they carry.
type exported struct {
	types  map[string]dto.MetricType
	labels map[string]bool
}

// syntheticLabels are added by Prometheus itself (instance, job) or by the
// exposition of histograms (le); up is the series Prometheus records for
// every scrape.
var syntheticLabels = []string{"instance", "job", "le"}

// gatherExported builds the registry the way `maxproxy serve` does (Go and
// process collectors, the proxy's metrics, one monitor per [[monitor]]) and
// drives a real monitor through a failover so that every labelled series
// exists, then gathers it. It also checks the behaviours the alert rules
// rely on: an unreachable server reads -1, and after a failover exactly one
// server holds the master state bit.
func gatherExported(t *testing.T) exported {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	pm, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pm.Unregister)
	// Resolving a service, its account manager's counters and a listener
	// creates their series, as the server does for every [[service]] and
	// [[listener]] at start; the classifier and the build are reported
	// from the start too.
	pm.Service("rw", []string{"s1", "s2"})
	pm.Auth("rw")
	pm.Listener("rw-port", "rw")
	pm.WatchClassifier(func() metrics.ClassifierStats { return metrics.ClassifierStats{Capacity: 256} })
	pm.SetBuildInfo("test")

	c := monitortest.NewCluster("s1", "s2")
	m, err := monitor.New(monitor.Options{Name: "galera", MonitorInterval: 100 * time.Millisecond},
		c.Servers(), nil, reg, monitor.WithProberFactory(c.Probers()))
	if err != nil {
		t.Fatal(err)
	}
	snaps, unsubscribe := m.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		unsubscribe()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("monitor run: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("monitor close: %v", err)
		}
	})
	writer := func(name string) func(*topology.Snapshot) bool {
		return func(s *topology.Snapshot) bool { w := s.Master(); return w != nil && w.Name == name }
	}
	awaitSnapshot(t, snaps, "s1 as writer", writer("s1"))
	c.Node("s1").SetDown(true)
	awaitSnapshot(t, snaps, "failover to s2", func(s *topology.Snapshot) bool {
		return writer("s2")(s) && !s.Server("s1").State.Up()
	})

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	e := exported{types: map[string]dto.MetricType{"up": dto.MetricType_GAUGE}, labels: map[string]bool{}}
	for _, l := range syntheticLabels {
		e.labels[l] = true
	}
	for _, f := range families {
		e.types[f.GetName()] = f.GetType()
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				e.labels[l.GetName()] = true
			}
		}
	}

	if v := sample(t, families, "maxproxy_monitor_wsrep_local_state", "server", "s1"); v != -1 {
		t.Errorf("wsrep_local_state of an unreachable server = %v; MaxproxyServerUnreachable expects -1", v)
	}
	for _, ev := range []string{"master_down", "new_master"} {
		if v := sample(t, families, "maxproxy_monitor_events_total", "event", ev); v != 1 {
			t.Errorf("%s events after one failover = %v; the dashboard's events panel expects 1", ev, v)
		}
	}
	for server, want := range map[string]float64{"s1": 0, "s2": 1} {
		if v := sampleLabels(t, families, "maxproxy_monitor_server_state", map[string]string{"server": server, "state": "master"}); v != want {
			t.Errorf("master bit of %s after the failover = %v, want %v; MaxproxyWriterLost reads it", server, v, want)
		}
	}
	return e
}

// awaitSnapshot waits for a snapshot satisfying cond; the monitor publishes
// every 100ms, so the bound is generous.
func awaitSnapshot(t *testing.T, snaps <-chan *topology.Snapshot, what string, cond func(*topology.Snapshot) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case s, ok := <-snaps:
			if !ok {
				t.Fatalf("monitor stopped while waiting for %s", what)
			}
			if cond(s) {
				return
			}
		case <-deadline:
			t.Fatalf("no snapshot with %s within 30s", what)
		}
	}
}

// sample returns the value of the series of family name whose label has
// value (a gauge or a counter).
func sample(t *testing.T, families []*dto.MetricFamily, name, label, value string) float64 {
	t.Helper()
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q} gathered", name, label, value)
	return 0
}

// sampleLabels returns the value of the gauge of family name carrying
// every label in want.
func sampleLabels(t *testing.T, families []*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			match := true
			for k, v := range want {
				match = match && have[k] == v
			}
			if match {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s%v gathered", name, want)
	return 0
}

// knows reports whether name is a series the proxy exports: a family, or
// the _bucket, _sum and _count series of a histogram or summary.
func (e exported) knows(name string) bool {
	if _, ok := e.types[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			switch e.types[base] {
			case dto.MetricType_HISTOGRAM, dto.MetricType_SUMMARY:
				return suffix != "_bucket" || e.types[base] == dto.MetricType_HISTOGRAM
			}
		}
	}
	return false
}

// A small PromQL scanner, enough for checking names: there is no PromQL
// parser among the module's dependencies, and promtool (which has one)
// checks syntax but not that the metrics exist.
var (
	quotedRe   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	matchersRe = regexp.MustCompile(`\{([^}]*)\}`)
	matcherRe  = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)`)
	rangeRe    = regexp.MustCompile(`\[[^\]]*\]`)
	groupingRe = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	identRe    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	labelRe    = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	keywords   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"inf": true, "nan": true, "by": true, "without": true, "on": true, "ignoring": true,
		"group_left": true, "group_right": true, "atan2": true}
)

// promqlNames returns the metric names and the label names expr refers to.
func promqlNames(expr string) (metricNames, labelNames []string) {
	s := quotedRe.ReplaceAllString(expr, `""`)
	for _, m := range matchersRe.FindAllStringSubmatch(s, -1) {
		for _, l := range matcherRe.FindAllStringSubmatch(m[1], -1) {
			labelNames = append(labelNames, l[1])
		}
	}
	s = matchersRe.ReplaceAllString(s, " ")
	for _, g := range groupingRe.FindAllStringSubmatch(s, -1) {
		labelNames = append(labelNames, labelRe.FindAllString(g[1], -1)...)
	}
	s = groupingRe.ReplaceAllString(s, " ")
	s = rangeRe.ReplaceAllString(s, " ")
	for _, loc := range identRe.FindAllStringIndex(s, -1) {
		word := s[loc[0]:loc[1]]
		if keywords[strings.ToLower(word)] {
			continue
		}
		// Part of a number (1e3, 0x1f), a duration (5m) or a Grafana
		// variable ($__rate_interval).
		if loc[0] > 0 && strings.ContainsRune("0123456789.$", rune(s[loc[0]-1])) {
			continue
		}
		// A function call.
		if strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			continue
		}
		metricNames = append(metricNames, word)
	}
	return metricNames, labelNames
}

func TestPromqlNames(t *testing.T) {
	metricNames, labelNames := promqlNames(`histogram_quantile(0.99, sum by (server, le) (rate(x_bucket{a="{b}", c=~"$d"}[$__rate_interval] offset 5m))) > 1e3 and on(instance) up == bool 0`)
	if want := []string{"x_bucket", "up"}; !slices.Equal(metricNames, want) {
		t.Errorf("metric names = %q, want %q", metricNames, want)
	}
	if want := []string{"a", "c", "server", "le", "instance"}; !slices.Equal(labelNames, want) {
		t.Errorf("label names = %q, want %q", labelNames, want)
	}
}

// reference is one expression found in a deployment file.
type reference struct {
	where  string   // file and rule, panel or variable
	expr   string   // PromQL naming at least one metric
	labels []string // label names used outside expr
}

// ruleExprs returns the expr of every rule in a Prometheus rules file. Only
// the forms the file uses are read: `expr: <one line>` and `expr: |` with
// an indented block. Every rule must yield one, so an expression written in
// another form fails the test instead of escaping it.
func ruleExprs(t *testing.T, path string) []reference {
	t.Helper()
	text := readFile(t, path)
	lines := strings.Split(text, "\n")
	var refs []reference
	rule := ""
	rules := 0
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " ")
		for _, key := range []string{"- alert:", "- record:"} {
			if name, ok := strings.CutPrefix(trimmed, key); ok {
				rule = strings.TrimSpace(name)
				rules++
			}
		}
		value, ok := strings.CutPrefix(trimmed, "expr:")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		if value == "|" || value == ">" {
			indent := len(lines[i]) - len(trimmed)
			var b strings.Builder
			for i+1 < len(lines) {
				next := strings.TrimLeft(lines[i+1], " ")
				if next != "" && len(lines[i+1])-len(next) <= indent {
					break
				}
				b.WriteString(next + "\n")
				i++
			}
			value = b.String()
		}
		refs = append(refs, reference{where: path + ": " + rule, expr: value})
	}
	if rules == 0 || len(refs) != rules {
		t.Fatalf("%s: read %d expressions for %d rules", path, len(refs), rules)
	}
	return refs
}

// seriesNames returns the input series of a promtool rule test file, which
// must be series the proxy exports for the tests to mean anything.
func seriesNames(t *testing.T, path string) []reference {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*- series:\s*'([^']*)'`)
	var refs []reference
	for _, m := range re.FindAllStringSubmatch(readFile(t, path), -1) {
		refs = append(refs, reference{where: path + ": input series", expr: m[1]})
	}
	if len(refs) == 0 {
		t.Fatalf("%s: no input series found", path)
	}
	return refs
}

// dashboard is the part of a Grafana dashboard the tests look at.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Panels     []panel     `json:"panels"` // collapsed rows
	Targets    []struct {
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

const dashboardPath = "grafana/maxproxy-dashboard.json"

// loadDashboard decodes the dashboard strictly enough to catch a broken
// file, and checks what makes it importable anywhere: a Prometheus data
// source variable used by every panel and query, unique panel ids.
func loadDashboard(t *testing.T) (dashboard, []reference) {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(readFile(t, dashboardPath)), &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("%s: title %q, uid %q: both are needed to import and link it", dashboardPath, d.Title, d.UID)
	}
	const dsRef = "${datasource}"
	hasDSVar := false
	var refs []reference
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			var q string
			if err := json.Unmarshal(v.Query, &q); err != nil || q != "prometheus" {
				t.Errorf("%s: data source variable %q has query %s, want \"prometheus\"", dashboardPath, v.Name, v.Query)
			}
			hasDSVar = hasDSVar || v.Name == "datasource"
			continue
		}
		if v.Type != "query" {
			continue
		}
		if v.Datasource == nil || v.Datasource.UID != dsRef {
			t.Errorf("%s: variable %q does not use the data source variable", dashboardPath, v.Name)
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("%s: variable %q: %v", dashboardPath, v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("%s: variable %q: query %q is not label_values(selector, label)", dashboardPath, v.Name, q.Query)
		}
		refs = append(refs, reference{where: dashboardPath + ": variable " + v.Name, expr: m[1], labels: []string{m[2]}})
	}
	if !hasDSVar {
		t.Errorf("%s: no data source variable named \"datasource\"", dashboardPath)
	}

	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("%s: panels %q and %q share id %d", dashboardPath, prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != dsRef {
				t.Errorf("%s: panel %q does not use the data source variable", dashboardPath, p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", dashboardPath, p.Title)
			}
			for _, q := range p.Targets {
				if q.Datasource == nil || q.Datasource.UID != dsRef {
					t.Errorf("%s: a query of panel %q does not use the data source variable", dashboardPath, p.Title)
				}
				refs = append(refs, reference{where: dashboardPath + ": panel " + p.Title, expr: q.Expr})
			}
		}
	}
	walk(d.Panels)
	return d, refs
}

// TestMetricNamesExist: every metric and label the rules, the rule tests and
// the dashboard name is one the proxy exports, every expression names at
// least one metric, and the dashboard shows every maxproxy_ metric.
func TestMetricNamesExist(t *testing.T) {
	e := gatherExported(t)

	var refs []reference
	refs = append(refs, ruleExprs(t, "prometheus/maxproxy.rules.yml")...)
	refs = append(refs, seriesNames(t, "prometheus/maxproxy.rules.test.yml")...)
	_, dashRefs := loadDashboard(t)
	refs = append(refs, dashRefs...)

	used := map[string]bool{}
	onDashboard := map[string]bool{}
	for _, r := range refs {
		metricNames, labelNames := promqlNames(r.expr)
		labelNames = append(labelNames, r.labels...)
		if len(metricNames) == 0 {
			t.Errorf("%s: no metric in %q", r.where, r.expr)
		}
		for _, n := range metricNames {
			if !e.knows(n) {
				t.Errorf("%s: metric %q is not exported by maxproxy", r.where, n)
				continue
			}
			used[n] = true
			if strings.HasPrefix(r.where, dashboardPath) {
				onDashboard[strings.TrimSuffix(n, "_bucket")] = true
			}
		}
		for _, l := range labelNames {
			if !e.labels[l] {
				t.Errorf("%s: label %q is on no maxproxy metric", r.where, l)
			}
		}
	}
	for name := range e.types {
		if strings.HasPrefix(name, "maxproxy_") && !onDashboard[name] {
			t.Errorf("%s: metric %s is exported but not on the dashboard", dashboardPath, name)
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("metrics used by the rules and the dashboard: %s", strings.Join(names, " "))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
