package replicator

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkCommit measures commits through the whole path on a 3-node simulated cluster: Replicate,
// consensus (fsynced raft log on every node), certification, and the storage commit at the seqno.
// Parallel callers share raft Ready batches.
func BenchmarkCommit(b *testing.B) {
	for _, par := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%dxGOMAXPROCS", par), func(b *testing.B) { benchCommit(b, par) })
	}
}

func benchCommit(b *testing.B, par int) {
	c := newCluster(b, 3)
	b.SetParallelism(par)
	ctx := context.Background()
	var n atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if err := put(ctx, c.nodes[1+i%3].db, fmt.Sprintf("k%d", i), "v"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	c.waitConverged()
}
