// Package galera turns what a monitor read from each Galera node into a
// topology.Snapshot. It is pure: no sockets, no clocks, no goroutines. The
// caller (package monitor) probes the servers, passes the results in with
// the previous snapshot and the Memory returned by the previous round, and
// publishes what comes out.
//
// The rules follow MariaDB MaxScale's galeramon (24.02) so that operators
// get the server states they already know:
//
//   - A node is joined when wsrep_local_state is 4 (Synced), or 2
//     (Donor/Desynced) with available_when_donor and an xtrabackup,
//     xtrabackup-v2 or mariabackup SST method; and wsrep_desync is off;
//     wsrep_reject_queries is neither ALL nor ALL_KILL;
//     wsrep_sst_donor_rejects_queries is off; wsrep_ready is on; and
//     wsrep_local_index is a valid number. We also require
//     wsrep_cluster_status=Primary, which galeramon only infers.
//   - Nodes are grouped by wsrep_cluster_state_uuid; the largest group is
//     the cluster (ties go to the lexically smaller UUID). Only its joined
//     members are Synced. Unlike galeramon, a node that reports no UUID
//     forms no group, so plain MariaDB servers cannot outvote a cluster.
//   - The writer (Master) is the joined node not in maintenance with the
//     lowest wsrep_local_index; with use_priority the lowest positive
//     priority wins, negative priorities are never chosen and 0 means
//     "normal rules" only when no candidate has a positive priority.
//     root_node_as_master demands index 0 (ignored, as in galeramon, when
//     use_priority or disable_master_failback is on). Draining nodes are
//     chosen only when no other candidate exists.
//   - disable_master_failback keeps the current writer while it stays
//     joined and out of maintenance; the Sticky bit shows when that
//     overrides the normal choice. disable_master_role_setting sets no
//     Master or Slave bits at all.
//   - With StickyWriter, the writer named by the cluster-wide marker (the
//     newest copy any joined node returned, matched by wsrep_node_name)
//     stays the writer while it is joined and out of maintenance. When it
//     is not, the normal rules choose, and Result.MarkerUpdate asks the
//     monitor to move the marker (a compare-and-set on its version), so
//     that every proxy instance follows the same writer without failing
//     back. The marker wins over disable_master_failback's memory.
//
// Beyond galeramon, a joined node is marked Lagging when, between two
// rounds, its wsrep_flow_control_sent counter grew by at least
// LagFCSentThreshold, or its wsrep_local_recv_queue stands at or above
// LagRecvQueueThreshold. The cluster-wide wsrep_flow_control_paused is
// never used: every node pauses when one node asks, so it cannot name the
// culprit. The queue is judged by its level, not its change, because a
// standing queue delays reads as much as a growing one. The mark is
// removed only after LagHysteresis clean rounds in a row. Lagging
// only steers reads; it never moves the writer. Marking every joined node
// would leave readers nowhere to go and says nothing about any single
// node, so when all would be lagging the least loaded one (smallest
// receive queue, then fewest flow-control messages, then configuration
// order) is left unmarked. Nodes in maintenance are marked but not counted
// in that rule, since they serve nothing anyway.
//
// DonorUpdates implements set_donor_nodes: the wsrep_sst_donor list every
// replica should carry, so that joiners take their state transfer from
// the nodes least likely to become the writer.
//
// Events are MaxScale's ten: server_up/down, master_up/down,
// slave_up/down, lost_master, lost_slave, new_master, new_slave, derived
// from the Running, Master, Slave and Synced bits of two consecutive
// snapshots exactly as MaxScale derives them. MaxScale's synced_* events
// (a Synced node without a role, only possible with
// disable_master_role_setting) are not among them: synced_up and
// synced_down are reported as server_up and server_down, and lost_synced
// and new_synced produce no event.
package galera
