// Package maxproxy is the root of the maxproxy module. It holds no code of its
// own: the products live below it.
//
//   - proxy/   maxproxy, the cluster-aware MariaDB/Galera SQL proxy
//   - router/  pure routing decisions (statement classification, policies)
//   - monitor/ the Galera monitor and the topology values it publishes
//   - node/    maxnode, a Galera-like MariaDB-compatible node
//   - config/  the proxy's TOML configuration
//
// deps_test.go in this directory enforces the dependency rules between them
// (see ARCHITECTURE.md).
package maxproxy
