package replicator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/maxproxy/maxproxy/node/storage"
)

// TestNoLostUpdatesUnderConflictsAndDrops runs read-modify-write increments of a few shared counters from
// two writers per node over lossy links. Every commit must end known-committed or known-rolled-back
// (1213 or not Primary), and once the cluster converges each counter equals the number of increments that
// were acknowledged — on every node: no acknowledged write is lost or applied twice, and no two nodes
// disagree.
func TestNoLostUpdatesUnderConflictsAndDrops(t *testing.T) {
	c := newCluster(t, 3)
	for _, from := range c.peers {
		for _, to := range c.peers {
			if from != to {
				c.net.Drop(from, to, 0.05)
			}
		}
	}
	const counters, perWriter = 4, 25
	ctx := context.Background()
	var mu sync.Mutex
	acked := map[string]int{}
	var rolledBack int
	var wg sync.WaitGroup
	for _, id := range c.peers {
		db := c.nodes[id].db
		for w := range 2 {
			wg.Go(func() {
				for i := range perWriter {
					key := fmt.Sprintf("ctr%d", (i+w+int(id))%counters)
					err := increment(ctx, db, key)
					mu.Lock()
					switch {
					case err == nil:
						acked[key]++
					case errors.Is(err, storage.ErrCertification), errors.Is(err, storage.ErrDeadlock):
						rolledBack++
					default:
						t.Errorf("node %d: increment of %s: %v", id, key, err)
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	c.net.Heal()
	c.waitConverged()
	want := map[string]string{}
	for k, n := range acked {
		want[k] = strconv.Itoa(n)
	}
	c.assertEqualContents(want)
	t.Logf("acknowledged %v, rolled back %d", acked, rolledBack)
}

func increment(ctx context.Context, db *storage.DB, key string) error {
	tx := db.Begin(storage.TxOptions{})
	v, ok, err := tx.GetForUpdate(ctx, space, []byte(key), true)
	if err != nil {
		tx.Rollback()
		return err
	}
	n := 0
	if ok {
		if n, err = strconv.Atoi(string(v)); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := tx.Put(ctx, space, []byte(key), []byte(strconv.Itoa(n+1))); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit(ctx)
}
