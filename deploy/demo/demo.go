package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	clusterSize = 3
	clusterName = "maxproxy-demo"
	// adminUser and adminPassword are maxproxy's defaults, which its admin
	// API accepts on a loopback address only.
	adminUser     = "admin"
	adminPassword = "mariadb"
	// stopTimeout bounds each child's graceful shutdown before SIGKILL.
	stopTimeout = 30 * time.Second
	tailLines   = 30
)

// account is a user the demo creates on the cluster.
type account struct {
	user, password string
	grants         []string
}

var (
	appAccount     = account{"app", "app", []string{"ALL PRIVILEGES ON *.*"}}
	monitorAccount = account{"maxmon", "maxmon", []string{"REPLICATION CLIENT, PROCESS, SUPER ON *.*"}}
	serviceAccount = account{"maxuser", "maxpwd", []string{"SELECT ON mysql.*", "SHOW DATABASES ON *.*"}}
	accounts       = []account{appAccount, monitorAccount, serviceAccount}
)

// demo is one run of the launcher: the children it started, in start
// order, and where they live.
type demo struct {
	s   settings
	log *slog.Logger

	nodes []*child
	proxy *child
	// exited receives each child once it has exited.
	exited chan *child
}

func newDemo(s settings, log *slog.Logger) (*demo, error) {
	for _, b := range []string{"maxnode", "maxproxy"} {
		p := filepath.Join(s.bin, b)
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("%s is not an executable (run make build, or point -bin at the binaries)", p)
		}
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return &demo{s: s, log: log, exited: make(chan *child, clusterSize+1)}, nil
}

// run starts everything, reports how to connect, and waits for a signal
// (ctx) or for a child to exit on its own; it always stops what it started.
func (d *demo) run(ctx context.Context, stdout io.Writer) error {
	startCtx, cancel := context.WithTimeout(ctx, d.s.timeout)
	err := d.start(startCtx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			d.log.Info("interrupted during start-up")
			return d.shutdown()
		}
		return errors.Join(err, d.shutdown())
	}
	d.printBanner(stdout)
	select {
	case <-ctx.Done():
		d.log.Info("stopping")
		return d.shutdown()
	case c := <-d.exited:
		err := fmt.Errorf("%s exited unexpectedly (%v)\n--- last lines of %s ---\n%s", c.name, c.err, c.logPath, c.tail(tailLines))
		return errors.Join(err, d.shutdown())
	}
}

func (d *demo) start(ctx context.Context) error {
	fresh := true
	for i := range clusterSize {
		st, err := readGrastate(filepath.Join(d.nodeDir(i), "grastate.dat"))
		if err != nil {
			return err
		}
		if st.exists {
			fresh = false
		}
	}
	first, err := readGrastate(filepath.Join(d.nodeDir(0), "grastate.dat"))
	if err != nil {
		return err
	}
	// Node 1 founds the cluster only when there is none yet, or when
	// Galera's rule says it may. Otherwise the nodes re-form the primary
	// component by themselves, and a node whose directory was wiped catches
	// up from the others.
	bootstrap := fresh || first.safeToBootstrap
	d.log.Info("starting the cluster", "dir", d.s.dir, "fresh", fresh, "bootstrap_node1", bootstrap)

	// The nodes start together: each waits for a majority before it
	// listens for clients.
	for i := range clusterSize {
		cfg, err := d.writeFile(fmt.Sprintf("node%d.toml", i+1), d.nodeConfig(i))
		if err != nil {
			return err
		}
		args := []string{"-c", cfg}
		if i == 0 && bootstrap {
			args = append(args, "--bootstrap")
		}
		c, err := d.startChild(fmt.Sprintf("node%d", i+1), "maxnode", args)
		if err != nil {
			return err
		}
		d.nodes = append(d.nodes, c)
	}
	for i, n := range d.nodes {
		if err := d.waitNode(ctx, n, d.s.nodePorts[i]); err != nil {
			return err
		}
	}
	if err := d.setupAccounts(ctx); err != nil {
		return err
	}

	cfg, err := d.writeFile("maxproxy.toml", d.proxyConfig())
	if err != nil {
		return err
	}
	if err := d.checkConfig(ctx, cfg); err != nil {
		return err
	}
	if d.proxy, err = d.startChild("maxproxy", "maxproxy", []string{"-c", cfg}); err != nil {
		return err
	}
	return d.waitProxy(ctx)
}

func (d *demo) nodeDir(i int) string { return filepath.Join(d.s.dir, fmt.Sprintf("node%d", i+1)) }

func (d *demo) writeFile(name string, content []byte) (string, error) {
	p := filepath.Join(d.s.dir, name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	return p, nil
}

// nodeConfig is node i's node.toml. It is rewritten at every start, so a
// run with other ports keeps the data.
func (d *demo) nodeConfig(i int) []byte {
	peers := make([]string, clusterSize)
	for j, p := range d.s.replPorts {
		peers[j] = loopback(p)
	}
	var b strings.Builder
	b.WriteString("# Written by the maxproxy demo launcher at every start.\n")
	fmt.Fprintf(&b, "datadir = %q\nlisten = %q\nnode_name = %q\n", d.nodeDir(i), loopback(d.s.nodePorts[i]), fmt.Sprintf("node%d", i+1))
	fmt.Fprintf(&b, "cluster_name = %q\ncluster_address = %q\nnode_address = %q\n",
		clusterName, "gcomm://"+strings.Join(peers, ","), loopback(d.s.replPorts[i]))
	return []byte(b.String())
}

// proxyConfig is maxproxy.toml: every node behind a galera monitor, a
// read-write and a read-only service.
func (d *demo) proxyConfig() []byte {
	var b strings.Builder
	b.WriteString("# Written by the maxproxy demo launcher at every start.\n\n")
	fmt.Fprintf(&b, "[proxy]\ndatadir = %q\n\n", filepath.Join(d.s.dir, "maxproxy"))
	fmt.Fprintf(&b, "[admin]\nlisten = %q\nuser = %q\npassword = %q\n\n", loopback(d.s.adminPort), adminUser, adminPassword)
	fmt.Fprintf(&b, "[metrics]\nlisten = %q\n\n", loopback(d.s.metricsPort))
	names := make([]string, clusterSize)
	for i, p := range d.s.nodePorts {
		names[i] = fmt.Sprintf("%q", fmt.Sprintf("node%d", i+1))
		fmt.Fprintf(&b, "[[server]]\nname = %s\naddress = \"127.0.0.1\"\nport = %d\n\n", names[i], p)
	}
	fmt.Fprintf(&b, "[[monitor]]\nname = \"galera\"\ntype = \"galera\"\nservers = [%s]\nuser = %q\npassword = %q\nmonitor_interval = \"500ms\"\n\n",
		strings.Join(names, ", "), monitorAccount.user, monitorAccount.password)
	// users_refresh_time = 0: a login naming a database the proxy has not
	// seen yet reloads the accounts at once, so a database just created
	// through one port can be used through the other without waiting for
	// the default 30 s refresh. causal_reads = "local": someone trying the
	// demo types an INSERT and then a SELECT, which goes to a reader; it
	// must see the row, so a read after the session's write waits for it.
	// transaction_replay: a node stopped during the demo costs no error.
	fmt.Fprintf(&b, "[[service]]\nname = \"rw\"\nrouter = \"readwritesplit\"\ncluster = \"galera\"\nuser = %q\npassword = %q\nusers_refresh_time = \"0s\"\ncausal_reads = \"local\"\ntransaction_replay = true\n\n",
		serviceAccount.user, serviceAccount.password)
	fmt.Fprintf(&b, "[[service]]\nname = \"ro\"\nrouter = \"readconnroute\"\nrouter_options = [\"slave\"]\ncluster = \"galera\"\nuser = %q\npassword = %q\nusers_refresh_time = \"0s\"\n\n",
		serviceAccount.user, serviceAccount.password)
	fmt.Fprintf(&b, "[[listener]]\nname = \"rw-port\"\nservice = \"rw\"\naddress = \"127.0.0.1\"\nport = %d\n\n", d.s.rwPort)
	fmt.Fprintf(&b, "[[listener]]\nname = \"ro-port\"\nservice = \"ro\"\naddress = \"127.0.0.1\"\nport = %d\n", d.s.roPort)
	return []byte(b.String())
}

// checkConfig runs `maxproxy check-config` on the file about to be served,
// so a bad file is reported by the tool operators use.
func (d *demo) checkConfig(ctx context.Context, path string) error {
	out, err := exec.CommandContext(ctx, filepath.Join(d.s.bin, "maxproxy"), "check-config", "-c", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("maxproxy check-config -c %s: %w\n%s", path, err, out)
	}
	return nil
}

// setupAccounts creates the demo accounts through node 1 (replicated to
// the others) and waits until every node accepts them. It is idempotent,
// so a reused directory keeps its accounts.
func (d *demo) setupAccounts(ctx context.Context) error {
	db, err := sql.Open("mysql", dsn(d.s.nodePorts[0], "root", ""))
	if err != nil {
		return err
	}
	defer db.Close()
	for _, a := range accounts {
		user := fmt.Sprintf("'%s'@'%%'", a.user)
		stmts := []string{fmt.Sprintf("CREATE USER IF NOT EXISTS %s IDENTIFIED BY '%s'", user, a.password)}
		for _, g := range a.grants {
			stmts = append(stmts, "GRANT "+g+" TO "+user)
		}
		for _, q := range stmts {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("node1: %s: %w", q, err)
			}
		}
	}
	for i, p := range d.s.nodePorts {
		for _, a := range accounts {
			what := fmt.Sprintf("node%d accepting %s", i+1, a.user)
			if err := poll(ctx, what, func(ctx context.Context) error { return ping(ctx, dsn(p, a.user, a.password)) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitNode waits until node n serves root and reports itself Synced in a
// cluster of all nodes.
func (d *demo) waitNode(ctx context.Context, n *child, port int) error {
	db, err := sql.Open("mysql", dsn(port, "root", ""))
	if err != nil {
		return err
	}
	defer db.Close()
	err = poll(ctx, n.name+" Synced", func(ctx context.Context) error {
		if n.hasExited() {
			return errExited
		}
		for _, v := range []struct{ name, want string }{
			{"wsrep_local_state_comment", "Synced"},
			{"wsrep_cluster_size", strconv.Itoa(clusterSize)},
		} {
			var name, got string
			if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE '"+v.name+"'").Scan(&name, &got); err != nil {
				return err
			}
			if got != v.want {
				return fmt.Errorf("%s = %q", v.name, got)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w\n--- last lines of %s ---\n%s", err, n.logPath, n.tail(tailLines))
	}
	return nil
}

// waitProxy waits until a client reaches the primary through the
// read-write port (a transaction goes to the master, so the monitor has
// chosen one) and a replica through the read-only port.
func (d *demo) waitProxy(ctx context.Context) error {
	rw := dsn(d.s.rwPort, appAccount.user, appAccount.password)
	ro := dsn(d.s.roPort, appAccount.user, appAccount.password)
	err := poll(ctx, "maxproxy routing to the cluster", func(ctx context.Context) error {
		if d.proxy.hasExited() {
			return errExited
		}
		if err := inTransaction(ctx, rw); err != nil {
			return fmt.Errorf("port %d: %w", d.s.rwPort, err)
		}
		if err := ping(ctx, ro); err != nil {
			return fmt.Errorf("port %d: %w", d.s.roPort, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w\n--- last lines of %s ---\n%s", err, d.proxy.logPath, d.proxy.tail(tailLines))
	}
	return nil
}

func (d *demo) printBanner(w io.Writer) {
	ctl := filepath.Join(d.s.bin, "maxproxy")
	if rel, err := filepath.Rel(workingDir(), ctl); err == nil && !strings.HasPrefix(rel, "..") {
		ctl = rel
	}
	fmt.Fprintf(w, "maxproxy demo is running: 3 maxnode nodes and maxproxy, data and logs in %s\n", d.s.dir)
	fmt.Fprintf(w, "connect with: mariadb -h127.0.0.1 -P%d -u%s -p%s\n", d.s.rwPort, appAccount.user, appAccount.password)
	fmt.Fprintf(w, "read-only:    mariadb -h127.0.0.1 -P%d -u%s -p%s\n", d.s.roPort, appAccount.user, appAccount.password)
	fmt.Fprintf(w, "admin:        %s ctl -u %s -p %s -h 127.0.0.1:%d list servers\n", ctl, adminUser, adminPassword, d.s.adminPort)
	fmt.Fprintf(w, "metrics:      http://127.0.0.1:%d/metrics\n", d.s.metricsPort)
	fmt.Fprintln(w, "Press Ctrl-C to stop everything.")
}

// shutdown stops the proxy first, then the nodes together (a node left
// alone without a majority could not serve anyway), each by PID, and
// reports every child that did not exit cleanly.
func (d *demo) shutdown() error {
	var errs []error
	if d.proxy != nil {
		errs = append(errs, d.proxy.stop())
	}
	// A node that had already exited was reported by whoever saw it go.
	running := make([]*child, 0, len(d.nodes))
	for _, n := range d.nodes {
		if !n.hasExited() {
			running = append(running, n)
		}
	}
	for _, n := range running {
		n.signal(syscall.SIGTERM)
	}
	for _, n := range running {
		errs = append(errs, n.stopSignalled())
	}
	return errors.Join(errs...)
}

// child is a process the launcher started, in its own process group.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // the exit error, set before done is closed
}

func (d *demo) startChild(name, binary string, args []string) (*child, error) {
	logPath := filepath.Join(d.s.dir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log for %s: %w", name, err)
	}
	// The child keeps its own copy of the descriptor.
	defer logf.Close()
	fmt.Fprintf(logf, "=== demo: %s start %s %s\n", time.Now().Format(time.RFC3339), binary, strings.Join(args, " "))
	cmd := exec.Command(filepath.Join(d.s.bin, binary), args...)
	cmd.Dir = d.s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: the terminal's Ctrl-C reaches only the launcher,
	// which stops the children in order. Pdeathsig: nothing outlives a
	// launcher that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	d.log.Info("started", "process", name, "pid", cmd.Process.Pid, "log", logPath)
	go func() {
		c.err = cmd.Wait()
		close(c.done)
		d.exited <- c
	}()
	return c, nil
}

func (c *child) hasExited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *child) signal(sig syscall.Signal) {
	if !c.hasExited() {
		_ = c.cmd.Process.Signal(sig)
	}
}

// stop sends SIGTERM to the child's PID and waits for it to exit; after
// stopTimeout it kills the process group. A child that exited with a
// non-zero status, or had to be killed, is an error. A child that had
// already exited is not: whoever noticed its exit has reported it.
func (c *child) stop() error {
	if c.hasExited() {
		return nil
	}
	c.signal(syscall.SIGTERM)
	return c.stopSignalled()
}

// stopSignalled waits for a child that has been sent SIGTERM.
func (c *child) stopSignalled() error {
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
		return fmt.Errorf("%s (pid %d) did not stop within %v and was killed", c.name, c.cmd.Process.Pid, stopTimeout)
	}
	if c.err != nil {
		return fmt.Errorf("%s (pid %d) exited with %v\n--- last lines of %s ---\n%s", c.name, c.cmd.Process.Pid, c.err, c.logPath, c.tail(tailLines))
	}
	return nil
}

// tail returns the last n lines of the child's log.
func (c *child) tail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", c.logPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// grastate is what the launcher needs from a node's grastate.dat.
type grastate struct {
	exists          bool
	safeToBootstrap bool
}

// readGrastate reads path; a missing file is a fresh node.
func readGrastate(path string) (grastate, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return grastate{}, nil
	}
	if err != nil {
		return grastate{}, fmt.Errorf("read %s: %w", path, err)
	}
	st := grastate{exists: true}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "safe_to_bootstrap" {
			st.safeToBootstrap = strings.TrimSpace(v) == "1"
		}
	}
	return st, sc.Err()
}

var errExited = errors.New("the process exited")

// poll calls cond until it succeeds, ctx ends, or cond reports errExited.
func poll(ctx context.Context, what string, cond func(context.Context) error) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, errExited) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
	}
}

func dsn(port int, user, password string) string {
	c := mysql.NewConfig()
	c.User, c.Passwd = user, password
	c.Net, c.Addr = "tcp", loopback(port)
	// MariaDB's collation ids: the driver's default (255) is MySQL 8's.
	c.Collation = "utf8mb4_general_ci"
	c.Timeout = 5 * time.Second
	c.ReadTimeout = 10 * time.Second
	c.WriteTimeout = 10 * time.Second
	return c.FormatDSN()
}

func ping(ctx context.Context, dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// inTransaction runs a SELECT inside a transaction, which readwritesplit
// sends to the master.
func inTransaction(ctx context.Context, dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	return tx.Commit()
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func workingDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	return wd
}
