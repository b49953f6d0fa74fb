package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// commitCheckConfig is replayConfig with interrupted COMMITs settled by
// the marker (transaction_replay_commit_check). The test account app has
// ALL PRIVILEGES ON *.*, which covers maxproxy.* and creating the table.
const commitCheckConfig = replayConfig + "\ntransaction_replay_commit_check = true"

// killCluster is a cluster the writer-kill runs use: its nodes in order
// (server "nodeN" is Nodes()[N-1]) and how to bring a killed node back.
type killCluster struct {
	name  string
	nodes []harness.Node
	// restart starts a killed node again and waits until the cluster is
	// whole; nil when the run does not restart nodes.
	restart func(ctx context.Context, n harness.Node) error
}

func (c *killCluster) node(t testing.TB, server string) harness.Node {
	t.Helper()
	for _, n := range c.nodes {
		if n.Name() == server {
			return n
		}
	}
	t.Fatalf("%s: no node named %q", c.name, server)
	return nil
}

// startProxyNodes runs an in-process proxy for any cluster's nodes (servers
// named after the nodes) until tb ends and waits until the rw listener
// runs a statement. extra is appended to the rw service.
func startProxyNodes(tb testing.TB, nodes []harness.Node, extra string) *runningProxy {
	tb.Helper()
	return runProxy(tb, parseProxyConfig(tb, nodes, extra, ""), "")
}

// sbLoad is the sysbench oltp_read_write workload of the kill runs:
// uniform keys over tables x size rows and ranges of 10 rows, so that 4
// threads rarely read what another commits meanwhile (a replayed read
// whose result changed ends its session: replay compares results).
type sbLoad struct {
	bin, addr, db string
	tables, size  int
}

func (l sbLoad) args(extra ...string) []string {
	host, port, _ := strings.Cut(l.addr, ":")
	return append([]string{"oltp_read_write",
		"--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=" + l.db,
		fmt.Sprintf("--tables=%d", l.tables), fmt.Sprintf("--table-size=%d", l.size), "--range_size=10",
	}, extra...)
}

// prepare creates the database and the tables through the proxy.
func (l sbLoad) prepare(tb testing.TB, ctx context.Context) {
	tb.Helper()
	db, err := sql.Open("mysql", harness.TCPDSN(l.addr, "app", "app", ""))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"DROP DATABASE IF EXISTS " + l.db,
		"CREATE DATABASE " + l.db,
		"CREATE TABLE " + l.db + ".probe (id BIGINT NOT NULL PRIMARY KEY)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	start := time.Now()
	if out, err := exec.CommandContext(ctx, l.bin, l.args("--threads=4", "prepare")...).CombinedOutput(); err != nil {
		tb.Fatalf("sysbench prepare: %v\n%s", err, out)
	}
	tb.Logf("sysbench prepare of %d x %d rows through the proxy: %v", l.tables, l.size, time.Since(start).Round(time.Millisecond))
}

// loadOutcome is what a load's clients saw.
type loadOutcome struct {
	count     int            // queries (sysbench) or transactions (oltpLoad)
	deadlocks int            // deadlocks and lock waits, retried as in any run
	errs      map[string]int // every other error a client saw, by number or text
	exitErr   error          // sysbench's exit
	out       string         // sysbench's output
}

func (o loadOutcome) clientErrors() int {
	n := 0
	for _, c := range o.errs {
		n += c
	}
	if o.exitErr != nil {
		n++
	}
	return n
}

// sysbenchRun starts sysbench oltp_read_write for seconds and reports
// its outcome on the channel.
func sysbenchRun(tb testing.TB, ctx context.Context, l sbLoad, seconds int, ignore string) <-chan loadOutcome {
	tb.Helper()
	run := exec.CommandContext(ctx, l.bin, l.args("--db-ps-mode=auto", "--rand-type=uniform", "--threads=4",
		fmt.Sprintf("--time=%d", seconds), "--mysql-ignore-errors="+ignore, "--verbosity=5", "run")...)
	out := &strings.Builder{}
	run.Stdout, run.Stderr = out, out
	if err := run.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan loadOutcome, 1)
	go func() {
		o := loadOutcome{exitErr: run.Wait(), errs: map[string]int{}}
		o.out = out.String()
		o.count, _, _ = sysbenchCounts(o.out)
		for code, n := range sysbenchErrors(o.out) {
			switch code {
			case 1213, 1205, 1020:
				o.deadlocks += n
			default:
				o.errs[fmt.Sprint(code)] += n
			}
		}
		done <- o
	}()
	return done
}

// oltpRun runs l for d and reports its outcome on the channel.
func oltpRun(tb testing.TB, ctx context.Context, l oltpLoad, d time.Duration) <-chan loadOutcome {
	db := l.open(tb)
	done := make(chan loadOutcome, 1)
	go func() {
		defer db.Close()
		rctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		r := l.run(rctx, db)
		done <- loadOutcome{count: r.trx, deadlocks: r.deadlocks, errs: r.errs}
	}()
	return done
}

// killOutcome is one writer kill under load.
type killOutcome struct {
	loadOutcome
	killed    string
	gap       time.Duration // longest time without a successful probe write; -1: none after the kill
	probeErrs int           // probe writes that failed (an autocommit write in flight is never resent)
}

// runKill starts the load, SIGKILLs the proxy's writer after killAfter,
// and measures the write gap with a probe client writing every 20 ms
// through the proxy into db.probe. The killed node is restarted after the
// load ends when the cluster says how.
func runKill(tb testing.TB, ctx context.Context, c *killCluster, p *runningProxy, db string, killAfter time.Duration, load <-chan loadOutcome) killOutcome {
	tb.Helper()
	var o killOutcome
	probe, err := sql.Open("mysql", harness.TCPDSN(p.rw, "app", "app", db))
	if err != nil {
		tb.Fatal(err)
	}
	defer probe.Close()
	probe.SetMaxOpenConns(1)
	pctx, stopProbe := context.WithCancel(ctx)
	var mu sync.Mutex
	var oks []time.Time
	var killed time.Time              // under mu
	wroteAfter := make(chan struct{}) // closed at the first write after the kill
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		after := false
		for id := time.Now().UnixNano(); ; id++ {
			wctx, cancel := context.WithTimeout(pctx, 40*time.Second)
			_, err := probe.ExecContext(wctx, "INSERT INTO probe VALUES (?)", id)
			cancel()
			mu.Lock()
			if err == nil {
				now := time.Now()
				oks = append(oks, now)
				if !after && !killed.IsZero() && now.After(killed) {
					after = true
					close(wroteAfter)
				}
			} else if pctx.Err() == nil {
				o.probeErrs++
			}
			mu.Unlock()
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	defer func() {
		stopProbe()
		wg.Wait()
	}()

	select {
	case lo := <-load:
		tb.Fatalf("the load ended before the kill: %v\n%s", lo.exitErr, lastLines(lo.out, 40))
	case <-time.After(killAfter):
	}
	o.killed = writerName(tb, p)
	node := c.node(tb, o.killed)
	mu.Lock()
	killed = time.Now()
	mu.Unlock()
	if err := node.Kill(); err != nil {
		tb.Fatal(err)
	}
	if c.restart != nil {
		// Deferred, so that a failed round leaves the cluster whole too.
		defer func() {
			rctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := c.restart(rctx, node); err != nil {
				tb.Errorf("restart %s: %v", o.killed, err)
			}
		}()
	}
	select {
	case o.loadOutcome = <-load:
	case <-ctx.Done():
		tb.Fatal("the load is still running")
	}
	// The gap ends with the probe's first write after the kill, which may
	// come after the load.
	select {
	case <-wroteAfter:
	case <-ctx.Done():
	}
	stopProbe()
	wg.Wait()
	o.gap = -1
	for i := 1; i < len(oks); i++ {
		if oks[i].After(killed) {
			o.gap = max(o.gap, oks[i].Sub(oks[i-1]))
		}
	}
	return o
}

// sysbenchErrors counts the errors sysbench reports ignoring, by number.
func sysbenchErrors(out string) map[int]int {
	counts := map[int]int{}
	for _, m := range sbIgnoring.FindAllStringSubmatch(out, -1) {
		code := 0
		fmt.Sscan(m[1], &code)
		counts[code]++
	}
	return counts
}

// sameData waits (bounded) until every node reports the same row count
// and sums for the sysbench tables, and fails tb if they never agree.
func sameData(tb testing.TB, ctx context.Context, nodes []harness.Node, db string, tables int) string {
	tb.Helper()
	var q []string
	for i := 1; i <= tables; i++ {
		q = append(q, fmt.Sprintf("SELECT COUNT(*), COALESCE(SUM(id), 0), COALESCE(SUM(k), 0) FROM %s.sbtest%d", db, i))
	}
	var last string
	err := harness.Poll(ctx, "the same sysbench data on every node", 200*time.Millisecond, func(ctx context.Context) error {
		var views []string
		for _, n := range nodes {
			var parts []string
			for _, s := range q {
				rows, err := n.Query(ctx, s)
				if err != nil {
					return fmt.Errorf("%s: %w", n.Name(), err)
				}
				parts = append(parts, strings.Join(rows[0], "/"))
			}
			views = append(views, strings.Join(parts, " "))
		}
		last = strings.Join(views, " | ")
		for _, v := range views[1:] {
			if v != views[0] {
				return errors.New("nodes differ: " + last)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return last
}

// TestProxyFailoverCommitCheck: an oltp_read_write load (4 threads,
// prepared statements) through readwritesplit with transaction_replay and
// transaction_replay_commit_check, and the writer SIGKILLed mid-run: on a
// real 3-node Galera cluster and on a 3-node maxnode cluster, with
// sysbench, which must exit 0 with no error but the deadlocks it retries in
// any run (printed). Transactions in flight
// are replayed, COMMITs in flight settled by the marker. The surviving
// nodes must then hold the same data. The write gap seen by a probe client
// is logged.
func TestProxyFailoverCommitCheck(t *testing.T) {
	size := 20000
	if os.Getenv("MAXPROXY_TEST_LONG") == "1" {
		size = 100000
	}
	t.Run("galera", func(t *testing.T) {
		tools := harness.RequireTools(t, harness.Sysbench)
		bin, err := tools.Path(harness.Sysbench)
		if err != nil {
			t.Fatal(err)
		}
		g := galera3.Get(t)
		c := &killCluster{name: "galera", nodes: g.Nodes()}
		ctx := ctxFor(t, 4*time.Minute)
		p := startProxyNodes(t, c.nodes, commitCheckConfig)
		l := sbLoad{bin: bin, addr: p.rw, db: "sbcc", tables: 4, size: size}
		l.prepare(t, ctx)
		dropAfter(t, p, l.db)
		o := runKill(t, ctx, c, p, l.db, 4*time.Second, sysbenchRun(t, ctx, l, 12, "1213,1205,1020"))
		restartAfter(t, g, o.killed, g.Node(nodeIndex(t, c, o.killed)).(*harness.Server))
		checkKill(t, ctx, c, o, l.db, l.tables)
	})
	t.Run("maxnode", func(t *testing.T) {
		requireMaxnodeBinary(t)
		tools := harness.RequireTools(t, harness.Sysbench)
		bin, err := tools.Path(harness.Sysbench)
		if err != nil {
			t.Fatal(err)
		}
		m := harness.StartMaxnodeCluster(t, 3, harness.MaxnodeOptions{Settings: []string{"max_connections = 500"}})
		c := &killCluster{name: "maxnode", nodes: m.Nodes()}
		ctx := ctxFor(t, 4*time.Minute)
		p := startProxyNodes(t, c.nodes, commitCheckConfig)
		// maxnode commits fewer transactions per second than Galera here,
		// so a smaller table keeps overlaps as rare.
		l := sbLoad{bin: bin, addr: p.rw, db: "sbcc", tables: 4, size: size / 2}
		l.prepare(t, ctx)
		o := runKill(t, ctx, c, p, l.db, 4*time.Second, sysbenchRun(t, ctx, l, 12, "1213,1205,1020"))
		checkKill(t, ctx, c, o, l.db, l.tables)
	})
}

func nodeIndex(t testing.TB, c *killCluster, name string) int {
	for i, n := range c.nodes {
		if n.Name() == name {
			return i + 1
		}
	}
	t.Fatalf("no node %q", name)
	return 0
}

func dropAfter(tb testing.TB, p *runningProxy, db string) {
	tb.Cleanup(func() {
		sdb, err := sql.Open("mysql", harness.TCPDSN(p.rw, "app", "app", ""))
		if err == nil {
			_, _ = sdb.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+db)
			sdb.Close()
		}
	})
}

// checkKill fails t unless the load saw no error but deadlocks, a write
// succeeded after the kill and the surviving nodes hold the same data.
func checkKill(t *testing.T, ctx context.Context, c *killCluster, o killOutcome, db string, tables int) {
	t.Helper()
	t.Logf("%s: SIGKILLed the writer %s; write gap %v; load: %d done, %d deadlocks retried, errors %v; probe write errors %d",
		c.name, o.killed, o.gap.Round(time.Millisecond), o.count, o.deadlocks, o.errs, o.probeErrs)
	if o.clientErrors() > 0 || o.count == 0 {
		t.Fatalf("load across the kill: exit %v, errors %v; want none but retried deadlocks\n%s", o.exitErr, o.errs, lastLines(o.out, 60))
	}
	if o.gap < 0 {
		t.Fatal("no write through the proxy succeeded after the kill")
	}
	var survivors []harness.Node
	for _, n := range c.nodes {
		if n.Name() != o.killed {
			survivors = append(survivors, n)
		}
	}
	t.Logf("surviving nodes agree: %s", sameData(t, ctx, survivors, db, tables))
}

// writerName is the proxy's writer.
func writerName(tb testing.TB, p *runningProxy) string {
	tb.Helper()
	if m := p.srv.Topology("rw").Master(); m != nil {
		return m.Name
	}
	tb.Fatal("the proxy has no writer")
	return ""
}

// oltpLoad is sysbench's oltp_read_write transaction written with
// go-sql-driver/mysql (prepared statements, like --db-ps-mode=auto): 10
// point selects, 4 range reads of 10 rows, an index and a non-index
// update, a delete and an insert of the same row, uniform keys. Unlike
// sysbench, which stops at the first error it does not ignore, it runs on
// and counts every error a client saw, which the series without
// transaction_replay needs.
type oltpLoad struct {
	addr, db     string
	tables, size int
	threads      int
}

// oltpResult is what the load's clients saw.
type oltpResult struct {
	trx, deadlocks int
	errs           map[string]int // client-visible errors but deadlocks, by text
}

func (r oltpResult) errors() int {
	n := 0
	for _, c := range r.errs {
		n += c
	}
	return n
}

func (l oltpLoad) open(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("mysql", harness.TCPDSN(l.addr, "app", "app", l.db))
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(l.threads + 1)
	return db
}

// prepare creates the tables (sysbench's schema) and rows 1..size in each.
func (l oltpLoad) prepare(tb testing.TB, ctx context.Context) {
	tb.Helper()
	admin, err := sql.Open("mysql", harness.TCPDSN(l.addr, "app", "app", ""))
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	start := time.Now()
	stmts := []string{"DROP DATABASE IF EXISTS " + l.db, "CREATE DATABASE " + l.db,
		"CREATE TABLE " + l.db + ".probe (id BIGINT NOT NULL PRIMARY KEY)"}
	for i := 1; i <= l.tables; i++ {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE %s.sbtest%d (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL DEFAULT 0, "+
			"c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', KEY k_%d (k))", l.db, i, i))
	}
	for _, q := range stmts {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	const batch = 1000
	for i := 1; i <= l.tables; i++ {
		for lo := 1; lo <= l.size; lo += batch {
			var b strings.Builder
			fmt.Fprintf(&b, "INSERT INTO %s.sbtest%d (id, k, c, pad) VALUES ", l.db, i)
			for id := lo; id < lo+batch && id <= l.size; id++ {
				if id > lo {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "(%d, %d, '%0120d', '%060d')", id, (id*7919)%l.size+1, id*31, id*17)
			}
			if _, err := admin.ExecContext(ctx, b.String()); err != nil {
				tb.Fatalf("load sbtest%d: %v", i, err)
			}
		}
	}
	tb.Logf("prepared %d x %d rows through the proxy in %v", l.tables, l.size, time.Since(start).Round(time.Millisecond))
}

// run runs the load until ctx ends.
func (l oltpLoad) run(ctx context.Context, db *sql.DB) oltpResult {
	var mu sync.Mutex
	res := oltpResult{errs: map[string]int{}}
	var wg sync.WaitGroup
	for th := range l.threads {
		wg.Go(func() {
			rnd := uint64(th+1) * 0x9e3779b97f4a7c15
			next := func(n int) int {
				rnd ^= rnd << 13
				rnd ^= rnd >> 7
				rnd ^= rnd << 17
				return int(rnd%uint64(n)) + 1
			}
			for ctx.Err() == nil {
				err := l.trx(ctx, db, next)
				mu.Lock()
				switch {
				case err == nil:
					res.trx++
				case ctx.Err() != nil:
				case isDeadlock(err):
					res.deadlocks++
				default:
					res.errs[errorKey(err)]++
				}
				mu.Unlock()
				if err != nil {
					// Pace retries after a failure, as a client would.
					select {
					case <-ctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		})
	}
	wg.Wait()
	return res
}

// errorKey groups a client's error: the MariaDB error number and what
// the client was doing, or the text of another error.
func errorKey(err error) string {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		step, _, _ := strings.Cut(err.Error(), ":")
		return fmt.Sprintf("%s %d", step, me.Number)
	}
	return err.Error()
}

func isDeadlock(err error) bool {
	var me *mysqldrv.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205 || me.Number == 1020)
}

// trx is one oltp_read_write transaction.
func (l oltpLoad) trx(ctx context.Context, db *sql.DB, next func(int) int) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	tbl := fmt.Sprintf("sbtest%d", next(l.tables))
	var c string
	for range 10 {
		if err := tx.QueryRowContext(ctx, "SELECT c FROM "+tbl+" WHERE id = ?", next(l.size)).Scan(&c); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("point select: %w", err)
		}
	}
	for _, q := range []string{
		"SELECT c FROM " + tbl + " WHERE id BETWEEN ? AND ?",
		"SELECT SUM(k) FROM " + tbl + " WHERE id BETWEEN ? AND ?",
		"SELECT c FROM " + tbl + " WHERE id BETWEEN ? AND ? ORDER BY c",
		"SELECT DISTINCT c FROM " + tbl + " WHERE id BETWEEN ? AND ? ORDER BY c",
	} {
		lo := next(l.size)
		rows, err := tx.QueryContext(ctx, q, lo, lo+9)
		if err != nil {
			return fmt.Errorf("range: %w", err)
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("range: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("range: %w", err)
		}
	}
	id := next(l.size)
	for _, w := range []struct {
		q    string
		args []any
	}{
		{"UPDATE " + tbl + " SET k = k + 1 WHERE id = ?", []any{next(l.size)}},
		{"UPDATE " + tbl + " SET c = ? WHERE id = ?", []any{fmt.Sprintf("%0120d", next(1<<30)), next(l.size)}},
		{"DELETE FROM " + tbl + " WHERE id = ?", []any{id}},
		{"INSERT INTO " + tbl + " (id, k, c, pad) VALUES (?, ?, ?, ?)", []any{id, next(l.size), fmt.Sprintf("%0120d", id), fmt.Sprintf("%060d", id)}},
	} {
		if _, err := tx.ExecContext(ctx, w.q, w.args...); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// fastEviction are Galera provider options that evict a crashed node in
// about a second instead of evs.suspect_timeout's default 5 s (keepalives
// and inactivity checks must run more often than the suspect timeout).
var fastEviction = []string{
	"evs.keepalive_period=PT0.3S", "evs.inactive_check_period=PT0.3S", "evs.join_retrans_period=PT0.3S",
	"evs.suspect_timeout=PT1S", "evs.inactive_timeout=PT2S",
	// A view install must not outlast the inactivity timeout: with the
	// default PT7.5S joiners never reach a primary view.
	"evs.install_timeout=PT2S",
}

// noReplayConfig differs from commitCheckConfig only in what replay
// does: statements still wait for a new writer (delayed_retry), but a
// transaction that loses its writer ends its session with 1927.
const noReplayConfig = `delayed_retry = true
delayed_retry_timeout = "30s"`

// TestProxyWriterKillSeries is the writer-kill benchmark (make test-long,
// MAXPROXY_TEST_LONG=1): for each cluster (real Galera with the default
// eviction and with fastEviction, maxnode) and each mode (transaction
// replay with the commit check, no replay), MAXPROXY_KILL_ROUNDS (10)
// rounds of the oltp_read_write transaction (oltpLoad, 4 threads over
// 4 x 100000 rows) through the proxy with the writer SIGKILLed 3 s in and
// restarted after the round. It logs the median and worst write gap seen
// by a probe client writing every 20 ms and the transactions the clients
// saw fail, and fails if any failed with replay and the commit check. A
// round without a kill measures what the marker costs: transactions per
// second with the check on and off, alternating.
func TestProxyWriterKillSeries(t *testing.T) {
	if os.Getenv("MAXPROXY_TEST_LONG") != "1" {
		t.Skip("a fault benchmark: make test-long (MAXPROXY_TEST_LONG=1) runs it")
	}
	rounds := 10
	if v := os.Getenv("MAXPROXY_KILL_ROUNDS"); v != "" {
		if _, err := fmt.Sscan(v, &rounds); err != nil || rounds < 1 {
			t.Fatalf("MAXPROXY_KILL_ROUNDS=%q: want a positive number", v)
		}
	}
	var report []string
	t.Cleanup(func() {
		t.Logf("writer kills through the proxy (%d rounds each):\n%s", rounds, strings.Join(report, "\n"))
	})
	series := func(t *testing.T, c *killCluster) {
		ctx := ctxFor(t, 90*time.Minute)
		for _, mode := range []struct{ name, cfg string }{
			{"replay+commit_check", commitCheckConfig},
			{"no replay", noReplayConfig},
		} {
			p := startProxyNodes(t, c.nodes, mode.cfg)
			l := oltpLoad{addr: p.rw, db: "sbkill", tables: 4, size: 100000, threads: 4}
			if mode.cfg == commitCheckConfig {
				l.prepare(t, ctx)
				dropAfter(t, p, l.db)
				report = append(report, commitCheckCost(t, ctx, c, l))
			}
			var gaps []time.Duration
			failed, trx, probeErrs := 0, 0, 0
			for r := range rounds {
				o := runKill(t, ctx, c, p, l.db, 3*time.Second, oltpRun(t, ctx, l, 15*time.Second))
				t.Logf("%s %s round %d: killed %s, gap %v, %d trx, %d deadlocks, errors %v",
					c.name, mode.name, r+1, o.killed, o.gap.Round(time.Millisecond), o.count, o.deadlocks, o.errs)
				if o.gap < 0 {
					t.Fatalf("round %d: no write succeeded after the kill", r+1)
				}
				gaps = append(gaps, o.gap)
				failed += o.clientErrors()
				trx += o.count
				probeErrs += o.probeErrs
				if mode.cfg == commitCheckConfig && o.clientErrors() > 0 {
					t.Errorf("round %d with replay and the commit check: clients saw %v", r+1, o.errs)
				}
			}
			slices.Sort(gaps)
			line := fmt.Sprintf("%-22s %-20s write gap median %v worst %v; failed transactions %d of %d (probe autocommit writes lost in flight: %d)",
				c.name, mode.name, gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond), failed, trx+failed, probeErrs)
			report = append(report, line)
			t.Log(line)
		}
	}
	restartGalera := func(g *harness.Galera) func(context.Context, harness.Node) error {
		return func(ctx context.Context, n harness.Node) error {
			if err := n.Start(ctx); err != nil {
				return err
			}
			return g.WaitSynced(ctx)
		}
	}
	t.Run("galera default eviction", func(t *testing.T) {
		g := galera3.Get(t)
		series(t, &killCluster{name: "galera (suspect 5s)", nodes: g.Nodes(), restart: restartGalera(g)})
	})
	t.Run("galera fast eviction", func(t *testing.T) {
		g := harness.StartGalera(t, 3, harness.GaleraOptions{ProviderOptions: fastEviction})
		series(t, &killCluster{name: "galera (suspect 1s)", nodes: g.Nodes(), restart: restartGalera(g)})
	})
	t.Run("maxnode", func(t *testing.T) {
		requireMaxnodeBinary(t)
		m := harness.StartMaxnodeCluster(t, 3, harness.MaxnodeOptions{Settings: []string{"max_connections = 500"}})
		series(t, &killCluster{name: "maxnode", nodes: m.Nodes(), restart: func(ctx context.Context, n harness.Node) error {
			if err := n.Start(ctx); err != nil {
				return err
			}
			return harness.WaitSynced(ctx, m.Nodes(), 3)
		}})
	})
}

// commitCheckCost runs the load without faults through two proxies that
// differ only in transaction_replay_commit_check, alternating 3 times
// 5 s, and returns the transactions per second of each.
func commitCheckCost(t *testing.T, ctx context.Context, c *killCluster, l oltpLoad) string {
	t.Helper()
	on := startProxyNodes(t, c.nodes, commitCheckConfig)
	off := startProxyNodes(t, c.nodes, replayConfig)
	var trx [2]int
	var took [2]time.Duration
	for range 3 {
		for i, p := range []*runningProxy{on, off} {
			lp := l
			lp.addr = p.rw
			start := time.Now()
			o := <-oltpRun(t, ctx, lp, 5*time.Second)
			took[i] += time.Since(start)
			trx[i] += o.count
			if o.clientErrors() > 0 {
				t.Errorf("errors without a fault: %v", o.errs)
			}
		}
	}
	tps := func(i int) float64 { return float64(trx[i]) / took[i].Seconds() }
	line := fmt.Sprintf("%-22s commit check cost: %.1f trx/s with the marker, %.1f without (%+.1f%%)",
		c.name, tps(0), tps(1), 100*(tps(0)-tps(1))/tps(1))
	t.Log(line)
	return line
}
