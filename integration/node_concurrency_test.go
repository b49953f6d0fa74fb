package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// TestNodeConcurrentTransfers moves money between accounts from several
// connections at once, locking both rows with SELECT ... FOR UPDATE in
// random order (so InnoDB-style deadlocks happen and are retried, as an
// application would), while readers sum every balance inside a
// transaction. A consistent snapshot must always see the same total, and
// at the end the total, the number of applied transfers and the per-row
// history must agree: no lost update, no torn read.
func TestNodeConcurrentTransfers(t *testing.T) {
	requireMaxnodeBinary(t)
	const (
		accounts  = 10
		workers   = 6
		perWorker = 150
		initial   = 1000
	)
	n := startMaxnode(t, harness.TestScope(t), maxnodeOptions{})
	db := nodeDB(t, n.dsn(""))
	nodeExec(t, db, "CREATE DATABASE bank")
	nodeExec(t, db, "CREATE TABLE bank.acct (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
	nodeExec(t, db, "CREATE TABLE bank.log (id INT AUTO_INCREMENT PRIMARY KEY, src INT NOT NULL, dst INT NOT NULL, amount INT NOT NULL)")
	for i := range accounts {
		nodeExec(t, db, "INSERT INTO bank.acct VALUES (?, ?)", i, initial)
	}
	bank := nodeDB(t, n.dsn("bank"))
	bank.SetMaxOpenConns(workers + 2)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		retries   int
		failures  []error
		readsDone = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
		cancel()
	}
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range perWorker {
				src, dst := rng.IntN(accounts), rng.IntN(accounts-1)
				if dst >= src {
					dst++
				}
				amount := 1 + rng.IntN(50)
				for attempt := 0; ; attempt++ {
					err := transfer(ctx, bank, src, dst, amount)
					if err == nil {
						break
					}
					if code := mysqlCode(err); (code == 1213 || code == 1205) && attempt < 50 {
						mu.Lock()
						retries++
						mu.Unlock()
						continue
					}
					fail(fmt.Errorf("transfer %d->%d: %w", src, dst, err))
					return
				}
			}
		})
	}
	reads := 0
	go func() {
		defer close(readsDone)
		for ctx.Err() == nil {
			total, err := snapshotTotal(ctx, bank)
			if err != nil {
				if ctx.Err() == nil {
					fail(fmt.Errorf("snapshot read: %w", err))
				}
				return
			}
			if total != accounts*initial {
				fail(fmt.Errorf("a snapshot saw a total of %d, want %d", total, accounts*initial))
				return
			}
			reads++
		}
	}()
	wg.Wait()
	cancel()
	<-readsDone
	for _, err := range failures {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	total := nodeQuery(t, bank, "SELECT SUM(balance), COUNT(*) FROM acct")
	if total[0][0] != strconv.Itoa(accounts*initial) {
		t.Errorf("final total %s, want %d", total[0][0], accounts*initial)
	}
	logged := nodeQuery(t, bank, "SELECT COUNT(*) FROM log")
	if logged[0][0] != strconv.Itoa(workers*perWorker) {
		t.Errorf("%s transfers logged, want %d", logged[0][0], workers*perWorker)
	}
	// Every balance is its initial value plus what the log says it got.
	rows := nodeQuery(t, bank, `SELECT a.id, a.balance,
		(SELECT COALESCE(SUM(amount), 0) FROM log WHERE dst = a.id) - (SELECT COALESCE(SUM(amount), 0) FROM log WHERE src = a.id)
		FROM acct a ORDER BY a.id`)
	for _, r := range rows {
		bal, _ := strconv.Atoi(r[1])
		delta, _ := strconv.Atoi(r[2])
		if bal != initial+delta {
			t.Errorf("account %s: balance %d, initial + logged transfers = %d", r[0], bal, initial+delta)
		}
	}
	t.Logf("%d transfers, %d deadlock/lock-wait retries, %d consistent snapshot reads", workers*perWorker, retries, reads)
}

// transfer moves amount from src to dst in one transaction, locking the
// rows in the order given.
func transfer(ctx context.Context, db *sql.DB, src, dst, amount int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, id := range []int{src, dst} {
		var bal int64
		if err := tx.QueryRowContext(ctx, "SELECT balance FROM acct WHERE id = ? FOR UPDATE", id).Scan(&bal); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE acct SET balance = balance - ? WHERE id = ?", amount, src); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE acct SET balance = balance + ? WHERE id = ?", amount, dst); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO log (src, dst, amount) VALUES (?, ?, ?)", src, dst, amount); err != nil {
		return err
	}
	return tx.Commit()
}

// snapshotTotal sums the balances row by row inside one transaction, so a
// snapshot that moved between the reads would show a wrong total.
func snapshotTotal(ctx context.Context, db *sql.DB) (int64, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var total int64
	rows, err := tx.QueryContext(ctx, "SELECT id FROM acct ORDER BY id")
	if err != nil {
		return 0, err
	}
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, id := range ids {
		var bal int64
		if err := tx.QueryRowContext(ctx, "SELECT balance FROM acct WHERE id = ?", id).Scan(&bal); err != nil {
			return 0, err
		}
		total += bal
	}
	if len(ids) == 0 {
		return 0, errors.New("no accounts")
	}
	return total, tx.Commit()
}
