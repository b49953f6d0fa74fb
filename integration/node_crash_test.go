package integration

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestNodeCrashDurability kills bin/maxnode with SIGKILL while writers
// commit, restarts it on the same data directory, and checks what
// innodb_flush_log_at_trx_commit = 1 promises: every commit a client saw
// acknowledged is there after the restart, and no transaction is
// half-applied. Each writer commits, one transaction at a time, a row in
// two tables, a counter update and a multi-row insert into a third table.
// After a crash each writer's rows are 1..k in the first two tables with
// its counter at k and bulkRows rows per commit in the third, where k is
// its last acknowledged sequence number or the one after it (a commit in
// flight when the process died may or may not have made it).
func TestNodeCrashDurability(t *testing.T) {
	requireMaxnodeBinary(t)
	cycles, perCycle := 3, 300
	if os.Getenv("MAXPROXY_TEST_LONG") == "1" {
		cycles, perCycle = 10, 2000
	}
	const writers = 4
	n := startMaxnode(t, harness.TestScope(t), maxnodeOptions{Settings: []string{"innodb_flush_log_at_trx_commit = 1"}})
	admin := nodeDB(t, n.dsn(""))
	nodeExec(t, admin, "CREATE DATABASE crash")
	nodeExec(t, admin, "CREATE TABLE crash.acked (writer INT NOT NULL, seq INT NOT NULL, payload VARCHAR(64) NOT NULL, PRIMARY KEY (writer, seq))")
	nodeExec(t, admin, "CREATE TABLE crash.mirror (writer INT NOT NULL, seq INT NOT NULL, PRIMARY KEY (writer, seq))")
	nodeExec(t, admin, "CREATE TABLE crash.counters (writer INT NOT NULL PRIMARY KEY, n INT NOT NULL)")
	nodeExec(t, admin, "CREATE TABLE crash.bulk (writer INT NOT NULL, seq INT NOT NULL, i INT NOT NULL, pad CHAR(100) NOT NULL, PRIMARY KEY (writer, seq, i))")
	for w := range writers {
		nodeExec(t, admin, "INSERT INTO crash.counters VALUES (?, 0)", w)
	}
	admin.Close()

	acked := make([]int, writers) // last acknowledged seq per writer, across cycles
	for cycle := range cycles {
		start := time.Now()
		got := crashCycle(t, n, acked, perCycle)
		t.Logf("cycle %d: %d commits acknowledged before SIGKILL, restart and check in %v",
			cycle+1, got, time.Since(start).Round(time.Millisecond))
		if t.Failed() {
			return
		}
	}
}

// crashCycle runs the writers until perCycle commits were acknowledged,
// kills the node mid-stream, restarts it, checks every writer's rows and
// advances acked to what survived. It returns the commits acknowledged.
func crashCycle(t *testing.T, n *maxnodeProc, acked []int, perCycle int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfg, err := mysql.ParseDSN(n.dsn("crash"))
	if err != nil {
		t.Fatal(err)
	}
	// The driver logs every connection the kill breaks; the writers see
	// those errors anyway.
	cfg.Logger = log.New(io.Discard, "", 0)
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()

	acks := make(chan struct{}, 1024)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last = append([]int(nil), acked...)
	)
	for w := range acked {
		wg.Go(func() {
			conn, err := db.Conn(ctx)
			if err != nil {
				return
			}
			defer conn.Close()
			for seq := acked[w] + 1; ctx.Err() == nil; seq++ {
				// Any error ends the writer: the node is being killed.
				if err := commitOne(ctx, conn, w, seq); err != nil {
					return
				}
				mu.Lock()
				last[w] = seq
				mu.Unlock()
				select {
				case acks <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	total := 0
	for total < perCycle {
		select {
		case <-acks:
			total++
		case <-ctx.Done():
			t.Fatalf("only %d commits acknowledged: %v", total, ctx.Err())
		}
	}
	// The writers are still committing when the process dies.
	if err := n.kill(); err != nil {
		t.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		for range acks {
			// acknowledgements that raced the kill still count: last has them
		}
		close(drained)
	}()
	wg.Wait()
	close(acks)
	<-drained
	db.Close()

	if err := n.start(ctx); err != nil {
		t.Fatal(err)
	}
	check := nodeDB(t, n.dsn("crash"))
	for w := range acked {
		k := checkWriter(t, check, w, last[w])
		acked[w] = k
	}
	return total
}

// bulkRows is how many rows each transaction adds to crash.bulk in one
// multi-row INSERT, so that a kill can land in the middle of a larger
// write set.
const bulkRows = 20

// commitOne commits writer w's transaction number seq.
func commitOne(ctx context.Context, conn *sql.Conn, w, seq int) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO acked VALUES (?, ?, ?)", w, seq, fmt.Sprintf("writer %d commit %d", w, seq)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO mirror VALUES (?, ?)", w, seq); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE counters SET n = ? WHERE writer = ?", seq, w); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("INSERT INTO bulk VALUES ")
	for i := range bulkRows {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, %d, %d, REPEAT('x', 100))", w, seq, i)
	}
	if _, err := tx.ExecContext(ctx, b.String()); err != nil {
		return err
	}
	return tx.Commit()
}

// checkWriter verifies writer w after a restart, given its last
// acknowledged seq, and returns the seq its rows end at.
func checkWriter(t *testing.T, db *sql.DB, w, lastAcked int) int {
	t.Helper()
	seqs := func(table string) []int {
		var out []int
		for _, r := range nodeQuery(t, db, "SELECT seq FROM "+table+" WHERE writer = ? ORDER BY seq", w) {
			v, err := strconv.Atoi(r[0])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	a, m := seqs("acked"), seqs("mirror")
	counter := nodeQuery(t, db, "SELECT n FROM counters WHERE writer = ?", w)
	k := len(a)
	for i, v := range a {
		if v != i+1 {
			t.Errorf("writer %d: rows %v are not 1..%d: a commit is missing", w, a, k)
			break
		}
	}
	if k < lastAcked {
		t.Errorf("writer %d: %d commits survived, %d were acknowledged", w, k, lastAcked)
	}
	if k > lastAcked+1 {
		t.Errorf("writer %d: %d commits survived, only %d were acknowledged and one in flight", w, k, lastAcked)
	}
	if !slices.Equal(a, m) {
		t.Errorf("writer %d: half-applied transaction: acked has %d rows, mirror %v", w, k, m)
	}
	if len(counter) != 1 || counter[0][0] != strconv.Itoa(k) {
		t.Errorf("writer %d: half-applied transaction: %d rows, counter %v", w, k, counter)
	}
	bulk := nodeQuery(t, db, "SELECT COUNT(*), COUNT(DISTINCT seq), COALESCE(MAX(seq), 0) FROM bulk WHERE writer = ?", w)
	if want := []string{strconv.Itoa(k * bulkRows), strconv.Itoa(k), strconv.Itoa(k)}; !slices.Equal(bulk[0], want) {
		t.Errorf("writer %d: half-applied transaction: %d commits but bulk rows/commits/max %v", w, k, bulk[0])
	}
	var payload string
	if k > 0 {
		if err := db.QueryRowContext(t.Context(), "SELECT payload FROM acked WHERE writer = ? AND seq = ?", w, k).Scan(&payload); err != nil || payload != fmt.Sprintf("writer %d commit %d", w, k) {
			t.Errorf("writer %d: payload of commit %d: %q, %v", w, k, payload, err)
		}
	}
	return k
}
