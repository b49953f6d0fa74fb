package harness

import (
	"context"
	"fmt"
	"time"
)

// Node is one database server of a test cluster, whatever runs it: a real
// mariadbd (Server) today, a maxnode process later. Tests written against
// Node and Cluster run unchanged against either.
type Node interface {
	// Name is the node's wsrep_node_name (node1, node2, …).
	Name() string
	// Addr is the MySQL protocol listener, 127.0.0.1:port.
	Addr() string
	Port() int
	// DSN is a go-sql-driver/mysql DSN for user over TCP, with a MariaDB
	// collation (never id 255) and bounded timeouts.
	DSN(user, password, db string) string

	// Exec, Query, QueryString and Status run as an administrative user
	// (root over the unix socket for mariadbd); they work while the node
	// is not ready, since SHOW STATUS is always answered.
	Exec(ctx context.Context, query string, args ...any) error
	Query(ctx context.Context, query string, args ...any) ([][]string, error)
	QueryString(ctx context.Context, query string, args ...any) (string, error)
	Status(ctx context.Context, name string) (string, error)

	// Start restarts a stopped or killed node and waits until it is
	// ready (Synced for a cluster member); Stop shuts it down gracefully;
	// Kill crashes it; Pause and Resume freeze and thaw it.
	Start(ctx context.Context) error
	Stop() error
	Kill() error
	Pause() error
	Resume() error
	// PID of the running process, 0 when the node is down.
	PID() int
}

// Cluster is a set of nodes started together.
type Cluster interface {
	// Nodes returns the nodes in order (Nodes()[0] is Node(1)).
	Nodes() []Node
	// Node returns node i, counted from 1 like the node names.
	Node(i int) Node
}

// WaitSynced waits until every node in nodes reports
// wsrep_local_state_comment=Synced, wsrep_ready=ON and wsrep_cluster_size
// equal to size. It works for any Node that exposes Galera's status
// variables, which maxnode does by design.
func WaitSynced(ctx context.Context, nodes []Node, size int) error {
	want := fmt.Sprint(size)
	return Poll(ctx, fmt.Sprintf("%d nodes Synced in a cluster of %d", len(nodes), size), 100*time.Millisecond, func(ctx context.Context) error {
		for _, n := range nodes {
			if err := checkSynced(ctx, n, want); err != nil {
				return err
			}
		}
		return nil
	})
}

func checkSynced(ctx context.Context, n Node, size string) error {
	for _, v := range []struct{ name, want string }{
		{"wsrep_local_state_comment", "Synced"},
		{"wsrep_ready", "ON"},
		{"wsrep_cluster_size", size},
	} {
		if size == "" && v.name == "wsrep_cluster_size" {
			continue
		}
		got, err := n.Status(ctx, v.name)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name(), err)
		}
		if got != v.want {
			return fmt.Errorf("%s: %s=%q, want %q", n.Name(), v.name, got, v.want)
		}
	}
	return nil
}
