package consensus

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes a node's Status and Stats as Prometheus metrics, read at scrape time (nothing is
// updated on the hot path). Register it on the registry the process injects.
type Collector struct {
	n *Node

	term, commit, applied, firstIndex, isLeader *prometheus.Desc
	syncs, proposals, batches, dropped, snaps   *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector for n.
func NewCollector(n *Node) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("maxnode_raft_"+name, help, nil, nil)
	}
	return &Collector{
		n:          n,
		term:       d("term", "Current raft term."),
		commit:     d("commit_index", "Highest log index known committed."),
		applied:    d("applied_index", "Highest log index applied to the state machine."),
		firstIndex: d("first_index", "First log index still retained."),
		isLeader:   d("leader", "1 if this node is the raft leader."),
		syncs:      d("fsyncs_total", "Fsynced writes of the raft log."),
		proposals:  d("proposals_total", "Proposals handed to raft."),
		batches:    d("proposal_batches_total", "MsgProp steps carrying the proposals."),
		dropped:    d("inbound_dropped_total", "Inbound messages dropped because the inbox was full."),
		snaps:      d("snapshots_needed_total", "Times a follower needed compacted entries (a state transfer)."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.term, c.commit, c.applied, c.firstIndex, c.isLeader,
		c.syncs, c.proposals, c.batches, c.dropped, c.snaps} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st, s := c.n.Status(), c.n.Stats()
	leader := 0.0
	if st.State == "StateLeader" {
		leader = 1
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.term, float64(st.Term))
	gauge(c.commit, float64(st.Commit))
	gauge(c.applied, float64(st.Applied))
	gauge(c.firstIndex, float64(st.FirstIndex))
	gauge(c.isLeader, leader)
	counter(c.syncs, s.Syncs)
	counter(c.proposals, s.Proposals)
	counter(c.batches, s.Batches)
	counter(c.dropped, s.DroppedInbound)
	counter(c.snaps, s.SnapshotsNeeded)
}
