package galera

import (
	"strconv"
	"strings"

	"github.com/maxproxy/maxproxy/monitor/topology"
)

// StatusNames are the wsrep status and system variables the monitor reads.
// The prober may fetch more (SHOW ... LIKE 'wsrep%'); ParseStatus ignores
// the rest.
var StatusNames = []string{
	"wsrep_local_state",
	"wsrep_local_state_comment",
	"wsrep_ready",
	"wsrep_cluster_status",
	"wsrep_cluster_state_uuid",
	"wsrep_cluster_size",
	"wsrep_local_index",
	"wsrep_desync",
	"wsrep_reject_queries",
	"wsrep_sst_donor_rejects_queries",
	"wsrep_local_recv_queue",
	"wsrep_flow_control_sent",
	"wsrep_sst_method",
	"wsrep_node_name",
	"wsrep_sst_donor",
}

// Status is one node's wsrep variables as of one probe.
type Status struct {
	topology.Galera
	SSTMethod string // wsrep_sst_method
	NodeName  string // wsrep_node_name, used by set_donor_nodes
	SSTDonor  string // wsrep_sst_donor as currently set on the node
}

// ParseStatus builds a Status from variable rows (name → value) as SHOW
// STATUS and SHOW VARIABLES return them. Names are matched
// case-insensitively. Missing or malformed numbers read as zero, except
// wsrep_local_index, which reads as -1 (invalid) so that such a node is
// never joined.
func ParseStatus(vars map[string]string) Status {
	get := func(name string) string {
		if v, ok := vars[name]; ok {
			return v
		}
		for k, v := range vars {
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return ""
	}
	var s Status
	s.LocalState, _ = strconv.Atoi(strings.TrimSpace(get("wsrep_local_state")))
	s.LocalStateComment = get("wsrep_local_state_comment")
	s.Ready = truth(get("wsrep_ready"))
	s.ClusterStatus = get("wsrep_cluster_status")
	s.ClusterUUID = get("wsrep_cluster_state_uuid")
	s.ClusterSize, _ = strconv.Atoi(strings.TrimSpace(get("wsrep_cluster_size")))
	s.LocalIndex = -1
	if v, err := strconv.ParseInt(strings.TrimSpace(get("wsrep_local_index")), 10, 32); err == nil && v >= 0 {
		s.LocalIndex = int(v)
	}
	s.Desync = truth(get("wsrep_desync"))
	s.RejectQueries = strings.ToUpper(strings.TrimSpace(get("wsrep_reject_queries")))
	s.DonorRejects = truth(get("wsrep_sst_donor_rejects_queries"))
	s.RecvQueue, _ = strconv.ParseInt(strings.TrimSpace(get("wsrep_local_recv_queue")), 10, 64)
	s.FlowControlSent, _ = strconv.ParseUint(strings.TrimSpace(get("wsrep_flow_control_sent")), 10, 64)
	s.SSTMethod = strings.TrimSpace(get("wsrep_sst_method"))
	s.NodeName = get("wsrep_node_name")
	s.SSTDonor = get("wsrep_sst_donor")
	return s
}

// truth mirrors MaxScale's config_truth_value for the values MariaDB prints.
func truth(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "1", "true", "yes":
		return true
	}
	return false
}

// physicalSST reports whether an SST method leaves the donor serving
// queries, which is what available_when_donor relies on.
func physicalSST(method string) bool {
	switch method {
	case "xtrabackup", "xtrabackup-v2", "mariabackup":
		return true
	}
	return false
}
