package server

import (
	"github.com/maxproxy/maxproxy/proxy/metrics"
	"github.com/maxproxy/maxproxy/router/classify"
)

// classifierStats adapts the classifier's counters to the metrics package,
// which reads them at scrape time (it does not import the router).
func classifierStats(c *classify.Classifier) func() metrics.ClassifierStats {
	return func() metrics.ClassifierStats {
		st := c.Stats()
		return metrics.ClassifierStats{
			Hits: st.Hits, Misses: st.Misses, Evictions: st.Evictions, Fallbacks: st.Fallbacks,
			Entries: st.Entries, Capacity: st.Capacity,
		}
	}
}
