//go:build integration

package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// The bank workload: accounts whose total never changes, transfers between
// them in transactions from clients on every node, while nodes are frozen
// (SIGSTOP), killed (SIGKILL) — the raft leader among them, in the middle of
// the write burst — and restarted. Every transfer also records its id in a
// transfers table in the same transaction, so at the end each node must
// hold every transfer a client saw acknowledged, every node must have the
// same data (checksum), the total must be unchanged, and every balance must
// equal its opening balance plus the transfers recorded for it (a transfer
// is all or nothing).
const (
	bankAccounts = 10
	bankOpening  = 1000
)

// bankPhase is one step of the fault schedule. During a fault it waits
// until the survivors have acknowledged progress more transfers, so every
// fault overlaps the write burst.
type bankPhase struct {
	name string
	run  func(t *testing.T, c *harness.MaxnodeCluster, during func())
}

// TestMaxnodeBank runs the bank workload on a 3-node maxnode cluster with
// one round of faults; MAXPROXY_TEST_LONG=1 (make test-long) runs several
// rounds for longer.
func TestMaxnodeBank(t *testing.T) {
	rounds, progress := 1, 30
	if os.Getenv("MAXPROXY_TEST_LONG") == "1" {
		rounds, progress = 5, 400
	}
	// A gcache of a few transfers: nodes checkpoint and discard their log all the time, so the crash
	// restarts replay from checkpoints and a node that was down long gets a state transfer, under load.
	c := harness.StartMaxnodeCluster(t, 3, harness.MaxnodeOptions{Settings: []string{`gcache.size = "4K"`}})
	const db = "it_bank"
	admin := c.Node(1)
	for _, q := range []string{
		"CREATE DATABASE " + db,
		"CREATE TABLE " + db + ".accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL)",
		"CREATE TABLE " + db + ".transfers (id BIGINT PRIMARY KEY, src INT NOT NULL, dst INT NOT NULL, amount INT NOT NULL)",
	} {
		if err := admin.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i := 1; i <= bankAccounts; i++ {
		if err := admin.Exec(t.Context(), "INSERT INTO "+db+".accounts VALUES (?, ?)", i, bankOpening); err != nil {
			t.Fatal(err)
		}
	}
	dbs := make([]*sql.DB, 3)
	for i := range dbs {
		a := harness.AppAccount
		dbs[i] = nodeDB(t, c.Node(i+1).DSN(a.User, a.Password, db))
		waitAccounts(t, dbs[i], bankAccounts)
	}

	b := &bank{acked: map[int64]bool{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for node, d := range dbs {
		for w := range 2 {
			worker := node*2 + w
			wg.Go(func() { b.work(d, worker, stop) })
		}
	}
	stopped := false
	stopWorkers := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopWorkers()

	var phases []bankPhase
	for round := range rounds {
		phases = append(phases,
			bankPhase{"all nodes up", func(_ *testing.T, _ *harness.MaxnodeCluster, during func()) { during() }},
			bankPhase{"DDL on every node at once (TOI)", concurrentDDL(dbs, round)},
			bankPhase{"node 3 frozen (SIGSTOP)", freezeNode(3)},
			bankPhase{"the raft leader killed (SIGKILL) during the write burst", killLeader},
			bankPhase{"node 2 killed (SIGKILL)", killNode(2)},
		)
	}
	for _, p := range phases {
		t.Logf("bank: %s (%d transfers acknowledged so far)", p.name, b.count())
		p.run(t, c, func() { b.waitProgress(t, b.count()+progress, p.name) })
		if t.Failed() {
			return
		}
	}
	stopWorkers()
	t.Logf("bank: %d transfers acknowledged, %d answered with an error", b.count(), b.failures())
	if b.count() < 20 {
		t.Fatalf("only %d transfers acknowledged: the workload made no real progress", b.count())
	}

	waitSynced(t, c, 3)
	// Every node converges on the same data: the last ones apply asynchronously.
	var sums []string
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	err := harness.Poll(ctx, "every node with the same bank checksum", 100*time.Millisecond, func(ctx context.Context) error {
		sums = sums[:0]
		for _, d := range dbs {
			s, err := bankChecksum(ctx, d)
			if err != nil {
				return err
			}
			sums = append(sums, s)
		}
		if sums[0] != sums[1] || sums[1] != sums[2] {
			return fmt.Errorf("checksums differ: %v", sums)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range dbs {
		b.verify(t, d, fmt.Sprintf("node%d", i+1))
	}
}

type bank struct {
	mu     sync.Mutex
	acked  map[int64]bool
	failed int
}

func (b *bank) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.acked)
}

func (b *bank) failures() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failed
}

// work runs transfers until stop. A transfer whose COMMIT returned OK is
// acknowledged; any error (deadlock 1213, a node outside the primary
// component, a killed connection with an unknown outcome) is not — such a
// transfer may or may not be in the table, and the checks allow both.
func (b *bank) work(d *sql.DB, worker int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(worker), 42))
	for seq := int64(1); ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		id := int64(worker)<<32 | seq
		src := 1 + rng.IntN(bankAccounts)
		dst := 1 + (src+rng.IntN(bankAccounts-1))%bankAccounts
		amount := 1 + rng.IntN(50)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := bankTransfer(ctx, d, id, src, dst, amount)
		cancel()
		b.mu.Lock()
		if err == nil {
			b.acked[id] = true
		} else {
			b.failed++
		}
		b.mu.Unlock()
		if err != nil {
			// The node may be frozen, dead or electing: do not spin.
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

func bankTransfer(ctx context.Context, d *sql.DB, id int64, src, dst, amount int) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"UPDATE accounts SET balance = balance - ? WHERE id = ?", []any{amount, src}},
		{"UPDATE accounts SET balance = balance + ? WHERE id = ?", []any{amount, dst}},
		{"INSERT INTO transfers VALUES (?, ?, ?, ?)", []any{id, src, dst, amount}},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// waitProgress waits until at least target transfers are acknowledged.
func (b *bank) waitProgress(t *testing.T, target int, phase string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	err := harness.Poll(ctx, "transfers acknowledged while: "+phase, 20*time.Millisecond, func(context.Context) error {
		if n := b.count(); n < target {
			return fmt.Errorf("%d acknowledged, waiting for %d", n, target)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// verify checks one node: total unchanged, every acknowledged transfer
// present, and every balance explained by the recorded transfers.
func (b *bank) verify(t *testing.T, d *sql.DB, node string) {
	t.Helper()
	ctx := t.Context()
	balances := map[int]int64{}
	var total int64
	for _, r := range nodeQuery(t, d, "SELECT id, balance FROM accounts") {
		id, _ := strconv.Atoi(r[0])
		v, _ := strconv.ParseInt(r[1], 10, 64)
		balances[id] = v
		total += v
	}
	if total != bankAccounts*bankOpening || len(balances) != bankAccounts {
		t.Errorf("%s: %d accounts holding %d, want %d holding %d", node, len(balances), total, bankAccounts, bankAccounts*bankOpening)
	}
	want := map[int]int64{}
	for i := 1; i <= bankAccounts; i++ {
		want[i] = bankOpening
	}
	present := map[int64]bool{}
	rows, err := d.QueryContext(ctx, "SELECT id, src, dst, amount FROM transfers")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var src, dst int
		var amount int64
		if err := rows.Scan(&id, &src, &dst, &amount); err != nil {
			t.Fatal(err)
		}
		present[id] = true
		want[src] -= amount
		want[dst] += amount
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for id, w := range want {
		if balances[id] != w {
			t.Errorf("%s: account %d holds %d, its recorded transfers say %d", node, id, balances[id], w)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	missing := 0
	for id := range b.acked {
		if !present[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%s: %d of %d acknowledged transfers are missing", node, missing, len(b.acked))
	}
}

// bankChecksum hashes the catalog (every table's definition) and the rows
// of every table in key order.
func bankChecksum(ctx context.Context, d *sql.DB) (string, error) {
	h := fnv.New64a()
	n := 0
	queries := []string{"SELECT id, balance, 0, 0 FROM accounts ORDER BY id", "SELECT id, src, dst, amount FROM transfers ORDER BY id"}
	rows, err := d.QueryContext(ctx, "SHOW TABLES")
	if err != nil {
		return "", err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return "", err
		}
		tables = append(tables, name)
	}
	if err := rows.Close(); err != nil {
		return "", err
	}
	for _, name := range tables {
		var tbl, ddl string
		if err := d.QueryRowContext(ctx, "SHOW CREATE TABLE "+name).Scan(&tbl, &ddl); err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s;", ddl)
		if strings.HasPrefix(name, "ddl_") {
			queries = append(queries, "SELECT id, node, 0, 0 FROM "+name+" ORDER BY id")
		}
	}
	for _, q := range queries {
		rows, err := d.QueryContext(ctx, q)
		if err != nil {
			return "", err
		}
		for rows.Next() {
			var a, b, c, e int64
			if err := rows.Scan(&a, &b, &c, &e); err != nil {
				rows.Close()
				return "", err
			}
			fmt.Fprintf(h, "%d,%d,%d,%d;", a, b, c, e)
			n++
		}
		if err := rows.Close(); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%d rows %x", n, h.Sum64()), nil
}

func waitAccounts(t *testing.T, d *sql.DB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := harness.Poll(ctx, "accounts replicated", 20*time.Millisecond, func(ctx context.Context) error {
		var got int
		if err := d.QueryRowContext(ctx, "SELECT COUNT(*) FROM accounts").Scan(&got); err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("%d accounts", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// concurrentDDL creates a table on every node at once, adds an index to
// transfers (so in-flight transfers are BF-aborted or fail certification)
// and, once every node knows the new tables, writes into each from another
// node: tables created concurrently must not share storage.
func concurrentDDL(dbs []*sql.DB, round int) func(*testing.T, *harness.MaxnodeCluster, func()) {
	return func(t *testing.T, _ *harness.MaxnodeCluster, during func()) {
		ctx := t.Context()
		errs := make([]error, len(dbs)+1)
		var wg sync.WaitGroup
		for i, d := range dbs {
			wg.Go(func() {
				_, errs[i] = d.ExecContext(ctx, fmt.Sprintf("CREATE TABLE ddl_%d_%d (id INT PRIMARY KEY, node INT NOT NULL)", round, i+1))
			})
		}
		wg.Go(func() {
			_, errs[len(dbs)] = dbs[round%len(dbs)].ExecContext(ctx, fmt.Sprintf("ALTER TABLE transfers ADD INDEX ix_src_%d (src)", round))
		})
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for i := range dbs {
			d := dbs[(i+1)%len(dbs)]
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := harness.Poll(pctx, "a row in a table created on another node", 20*time.Millisecond, func(ctx context.Context) error {
				_, err := d.ExecContext(ctx, fmt.Sprintf("INSERT INTO ddl_%d_%d VALUES (?, ?)", round, i+1), (i+1)%len(dbs)+1, (i+1)%len(dbs)+1)
				return err
			})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
		during()
	}
}

func freezeNode(i int) func(*testing.T, *harness.MaxnodeCluster, func()) {
	return func(t *testing.T, c *harness.MaxnodeCluster, during func()) {
		if err := c.Node(i).Pause(); err != nil {
			t.Fatal(err)
		}
		during()
		if err := c.Node(i).Resume(); err != nil {
			t.Fatal(err)
		}
		waitSynced(t, c, 3)
	}
}

func killNode(i int) func(*testing.T, *harness.MaxnodeCluster, func()) {
	return func(t *testing.T, c *harness.MaxnodeCluster, during func()) {
		restartKilled(t, c, i, during)
	}
}

func killLeader(t *testing.T, c *harness.MaxnodeCluster, during func()) {
	restartKilled(t, c, raftLeader(t, c), during)
}

func restartKilled(t *testing.T, c *harness.MaxnodeCluster, i int, during func()) {
	t.Helper()
	if err := c.Node(i).Kill(); err != nil {
		t.Fatal(err)
	}
	during()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if err := c.Maxnode(i).Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, c, 3)
}

var becameLeader = regexp.MustCompile(`\b([0-9a-f]+) became leader at term (\d+)`)

// raftLeader finds the current raft leader (1-based node index) from the
// nodes' logs: raft logs "<id> became leader at term <n>", and maxnode's
// raft id of node i is i. The highest term wins.
func raftLeader(t *testing.T, c *harness.MaxnodeCluster) int {
	t.Helper()
	leader, term := 0, -1
	for i := 1; i <= 3; i++ {
		p := c.Maxnode(i).Process()
		if p == nil {
			continue
		}
		data, err := os.ReadFile(p.LogPath())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range becameLeader.FindAllSubmatch(data, -1) {
			id, err1 := strconv.ParseUint(string(m[1]), 16, 64)
			n, err2 := strconv.Atoi(string(m[2]))
			if err := errors.Join(err1, err2); err != nil || id < 1 || id > 3 {
				continue
			}
			if n > term {
				leader, term = int(id), n
			}
		}
	}
	if leader == 0 {
		t.Fatal("no raft leader found in the nodes' logs")
	}
	return leader
}
