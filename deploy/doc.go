// Package deploy holds no code: it is the home of the files that install and
// watch maxproxy and maxnode in production, and of the tests that keep them
// true to the code.
//
//   - systemd/: maxproxy.service, maxnode@.service (one instance per
//     /etc/maxnode/NAME.toml) and the sysusers.d entry for their accounts.
//   - init.d/maxproxy: an LSB init script for hosts without systemd.
//   - pacemaker/: a VIP in front of cloned proxies, for pcs and crmsh.
//   - prometheus/: the scrape configuration, the alert rules and their
//     promtool unit tests.
//   - grafana/: a dashboard over every metric the proxy exports.
//
// The tests check that every metric and label the rules and the dashboard
// name is one the proxy really registers (by building the proxy's and a
// running monitor's collectors on a fresh registry), run promtool on the
// Prometheus files and systemd-analyze on the units, and lint the init
// script. Missing tools skip only their own check, naming the package that
// provides it.
package deploy
