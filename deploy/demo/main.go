// Command demo (`make demo`) runs maxproxy in front of a three-node maxnode
// cluster on this machine, using only this repository's binaries: no
// MariaDB installation is needed.
//
// It starts bin/maxnode three times as one cluster on loopback (data,
// configuration files and logs in -dir, default ./demo-data or
// $MAXPROXY_DEMO_DIR), makes sure the demo accounts exist (app/app for
// applications, maxmon/maxmon for the monitor, maxuser/maxpwd for the
// proxy's user loading), writes maxproxy.toml next to the data, checks it
// with `maxproxy check-config` and starts bin/maxproxy with a readwritesplit
// listener, a read-only readconnroute listener, the admin API and the
// metrics endpoint. Once a client can reach the cluster's primary through
// the proxy it prints how to connect (the line starting "connect with:")
// and waits.
//
// A second run on the same directory reuses the data. Only a fresh
// directory (or a node whose grastate.dat says safe_to_bootstrap: 1) is
// started with --bootstrap: after a clean shutdown of a three-node cluster
// no node is safe to bootstrap, and the nodes re-form the primary
// component by themselves once a majority is back (node/replicator). How a
// node that did not stop cleanly comes back is maxnode's crash-restart
// rule (node/replicator); if maxnode refuses to start a node, the launcher
// stops the others and prints that node's log.
//
// SIGINT or SIGTERM stops everything in order: the proxy first (no new
// client work), then the nodes, each by PID with SIGTERM, waiting for each
// to exit; the launcher exits 0 when all of them shut down cleanly. The
// children run in their own process groups, so a terminal's Ctrl-C reaches
// only the launcher and the order holds, and they get SIGKILL if the
// launcher dies. If a child exits on its own, the launcher stops the rest
// and exits 1.
//
// Every port can be set by flag or environment variable (see -help), so
// tests run the demo on free ports.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// settings are the launcher's flags.
type settings struct {
	dir         string
	bin         string
	nodePorts   []int
	replPorts   []int
	rwPort      int
	roPort      int
	adminPort   int
	metricsPort int
	timeout     time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	s, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := newDemo(s, log)
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	if err := d.run(ctx, stdout); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (settings, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	dir := fs.String("dir", env("MAXPROXY_DEMO_DIR", "demo-data"), "data directory, reused by the next run ($MAXPROXY_DEMO_DIR)")
	bin := fs.String("bin", env("MAXPROXY_BIN", "bin"), "directory holding maxnode and maxproxy ($MAXPROXY_BIN)")
	nodePorts := fs.String("node-ports", env("MAXPROXY_DEMO_NODE_PORTS", "3311,3312,3313"), "the three nodes' MySQL ports ($MAXPROXY_DEMO_NODE_PORTS)")
	replPorts := fs.String("repl-ports", env("MAXPROXY_DEMO_REPL_PORTS", "4567,4568,4569"), "the three nodes' replication ports ($MAXPROXY_DEMO_REPL_PORTS)")
	rw := fs.String("rw-port", env("MAXPROXY_DEMO_RW_PORT", "4006"), "readwritesplit listener port ($MAXPROXY_DEMO_RW_PORT)")
	ro := fs.String("ro-port", env("MAXPROXY_DEMO_RO_PORT", "4008"), "read-only readconnroute listener port ($MAXPROXY_DEMO_RO_PORT)")
	admin := fs.String("admin-port", env("MAXPROXY_DEMO_ADMIN_PORT", "8989"), "admin API port ($MAXPROXY_DEMO_ADMIN_PORT)")
	metrics := fs.String("metrics-port", env("MAXPROXY_DEMO_METRICS_PORT", "9195"), "Prometheus metrics port ($MAXPROXY_DEMO_METRICS_PORT)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long start-up may take")
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	if fs.NArg() > 0 {
		return settings{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var s settings
	var err error
	if s.dir, err = filepath.Abs(*dir); err != nil {
		return settings{}, fmt.Errorf("-dir: %w", err)
	}
	if s.bin, err = filepath.Abs(*bin); err != nil {
		return settings{}, fmt.Errorf("-bin: %w", err)
	}
	if s.nodePorts, err = portList("-node-ports", *nodePorts, clusterSize); err != nil {
		return settings{}, err
	}
	if s.replPorts, err = portList("-repl-ports", *replPorts, clusterSize); err != nil {
		return settings{}, err
	}
	for _, p := range []struct {
		name string
		val  string
		dst  *int
	}{{"-rw-port", *rw, &s.rwPort}, {"-ro-port", *ro, &s.roPort}, {"-admin-port", *admin, &s.adminPort}, {"-metrics-port", *metrics, &s.metricsPort}} {
		if *p.dst, err = port(p.name, p.val); err != nil {
			return settings{}, err
		}
	}
	if *timeout <= 0 {
		return settings{}, fmt.Errorf("-timeout must be positive, got %v", *timeout)
	}
	s.timeout = *timeout
	seen := map[int]bool{}
	for _, p := range append(append([]int{s.rwPort, s.roPort, s.adminPort, s.metricsPort}, s.nodePorts...), s.replPorts...) {
		if seen[p] {
			return settings{}, fmt.Errorf("port %d is used twice", p)
		}
		seen[p] = true
	}
	return s, nil
}

func portList(name, v string, n int) ([]int, error) {
	parts := strings.Split(v, ",")
	if len(parts) != n {
		return nil, fmt.Errorf("%s: want %d comma-separated ports, got %q", name, n, v)
	}
	out := make([]int, n)
	for i, p := range parts {
		var err error
		if out[i], err = port(name, strings.TrimSpace(p)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func port(name, v string) (int, error) {
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%s: want a port number 1-65535, got %q", name, v)
	}
	return p, nil
}
