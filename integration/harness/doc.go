// Package harness starts real database processes for multi-process tests:
// a MariaDB Galera cluster from Debian's packages (mariadbd + galera-4,
// garbd), a plain mariadbd, and later this repository's own bin/maxnode and
// bin/maxproxy, all on 127.0.0.1 with ports taken from 127.0.0.1:0.
//
// # Ownership and cleanup
//
// A Scope owns one base directory (mode 0755, so servers running as mysql
// can traverse it) and every process started in it. TestScope ties a scope
// to a test through t.Cleanup, which also runs when the test fails or
// panics; Shared and Main do the same for a fixture shared by a package's
// tests. Closing a scope kills every process it started, by process group,
// and removes the directory. On failure it first logs the last lines of
// each process's log, and keeps the directory when MAXPROXY_IT_KEEP=1.
//
// Each Process runs in its own process group (signals reach mariadbd's SST
// script and rsync daemon too) and with Pdeathsig=SIGKILL, so a test
// binary that crashes or hits its -timeout takes its servers with it. The
// kernel sends that signal when the thread that forked the child exits;
// Go's runtime does not end threads unless a goroutine locked to one exits,
// so this holds in tests that do not call runtime.LockOSThread. Pdeathsig
// reaches only the direct child: helpers of a server killed that way (an
// rsync SST in flight) end when their transfer fails.
//
// When the test runs as root, servers run as the mysql user directly
// (SysProcAttr.Credential) rather than with --user=mysql: mariadbd refuses
// to run as root, and a uid change inside the child would clear Pdeathsig.
//
// # Galera
//
// NewGalera (StartGalera in a test) gives each node a MySQL, gcomm, IST and
// SST port, its own datadir, socket, tmpdir and pid file, and explicit
// options after --no-defaults: wsrep_on, the provider, gcomm:// listing all
// peers, node and receive addresses on loopback, rsync SST, ROW binlog
// format, innodb_autoinc_lock_mode=2 and small InnoDB buffers. Node 1 gets
// system tables from mariadb-install-db and bootstraps with
// --wsrep-new-cluster; the harness then drops the anonymous users (they
// shadow 'user'@'%' for logins from 127.0.0.1) and creates the accounts
// (AppAccount app/app, MonitorAccount maxmon/maxmon, ServiceAccount
// maxuser/maxpwd). The other nodes start with empty datadirs and receive
// everything by SST. NewGalera returns once every node is Synced with
// wsrep_cluster_size=n and every account can log in over TCP on every node.
// A 3-node cluster takes about 11–13 s on a 2-core machine, most of it the
// two rsync SSTs, which a donor serves one at a time.
//
// Server.Start restarts a stopped or killed node; after a crash it first
// recovers the position from InnoDB (mariadbd --wsrep-recover, as the
// galera_recovery script of the service unit does), so the node rejoins by
// IST like a production node would. StartWith adds mariadbd options for
// one start (e.g. --wsrep-sst-donor to choose a joiner's donor); WipeData
// empties a stopped node's datadir, so that it rejoins by full SST.
// StartArbitrator adds a garbd.
//
// # Plugging in maxnode and maxproxy
//
// Tests should be written against Cluster and Node, which say nothing
// about what runs a node. NewMaxnodeCluster (StartMaxnodeCluster in a test)
// is the built-in cluster: bin/maxnode processes with a generated node.toml
// (cluster_name, cluster_address gcomm:// listing every replication port,
// node_address), one datadir each, started together with node 1 given
// --bootstrap, since a maxnode serves clients only once a raft majority has
// formed the primary component. Its administrative connection is
// root@127.0.0.1 over TCP with an empty password, and it creates
// MaxnodeAccounts (DefaultAccounts without the SLAVE MONITOR privilege,
// which maxnode does not know). Because maxnode reports Galera's status
// variables, WaitSynced works for it unchanged. A proxy is one more
// StartBinary of bin/maxproxy with a maxproxy.toml listing the nodes'
// Addr()s and a listener port from FreePorts, awaited with WaitTCP;
// tests then connect with TCPDSN to the proxy's address.
//
// MaxnodeOptions.Arbitrators adds maxnode --arbitrator members (garbd's
// role: they vote and count in wsrep_cluster_size, serve no SQL, and are
// numbered after the data nodes). MaxnodeOptions.NetCut puts a TCP relay
// on every directed replication link and gives each member a
// cluster_address naming the relays (maxnode prefers configured addresses
// to announced ones), so MaxnodeCluster.Partition can cut the links
// between groups of members while every process keeps running and
// answering its clients, and Heal restores them. A blocked relay closes
// its connections and refuses new ones; maxnode's transport reconnects
// with backoff once it is unblocked.
package harness
