package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// ClassifierStats are the statement classifier's counters as it keeps them
// (package classify counts in per-shard atomics on its own hot path; the
// metrics read them at scrape time instead of adding work per statement).
type ClassifierStats struct {
	Hits, Misses, Evictions, Fallbacks uint64
	Entries, Capacity                  int
}

// WatchClassifier makes scrapes report the classifier whose counters stats
// returns. A later call replaces the earlier one (a reload that builds a
// new classifier); nil stops reporting.
func (m *Metrics) WatchClassifier(stats func() ClassifierStats) {
	if stats == nil {
		m.classifier.stats.Store(nil)
		return
	}
	m.classifier.stats.Store(&stats)
}

// classifierCollector turns ClassifierStats into metrics at scrape time.
type classifierCollector struct {
	stats                             atomic.Pointer[func() ClassifierStats]
	hits, misses, evictions, fallback *prometheus.Desc
	entries, capacity                 *prometheus.Desc
}

func newClassifierCollector() *classifierCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &classifierCollector{
		hits:      d("maxproxy_classifier_cache_hits_total", "Statements whose class was found in the classifier cache by their canonical text."),
		misses:    d("maxproxy_classifier_cache_misses_total", "Statements the classifier had to parse because their canonical text was not cached."),
		evictions: d("maxproxy_classifier_cache_evictions_total", "Cached classes replaced to make room for new canonical texts."),
		fallback:  d("maxproxy_classifier_fallbacks_total", "Parsed statements the SQL parser rejected, classified by the token fallback (sent to the writer)."),
		entries:   d("maxproxy_classifier_cache_entries", "Canonical texts currently cached."),
		capacity:  d("maxproxy_classifier_cache_capacity", "Most canonical texts the classifier cache holds (classifier_cache_size rounded up)."),
	}
}

func (c *classifierCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hits, c.misses, c.evictions, c.fallback, c.entries, c.capacity} {
		ch <- d
	}
}

func (c *classifierCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.stats.Load()
	if f == nil {
		return
	}
	st := (*f)()
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(st.Hits))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(c.evictions, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(c.fallback, prometheus.CounterValue, float64(st.Fallbacks))
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(st.Entries))
	ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(st.Capacity))
}
