package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// BenchmarkPropose measures committed-and-applied proposals per second through 3 nodes on the simulated
// network, with the real fdatasynced segment log, for 1 and 64 closed-loop proposers on the leader.
func BenchmarkPropose(b *testing.B) {
	for _, proposers := range []int{1, 64} {
		b.Run(fmt.Sprintf("proposers=%d", proposers), func(b *testing.B) {
			c := newCluster(b, 42, 3, func(cfg *Config) { cfg.TickInterval = 50 * time.Millisecond })
			lead := c.leader(1, 2, 3)
			payload := make([]byte, 200)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			before := c.nodes[lead].Stats()
			before2 := c.nodes[lead].Status()
			var wg sync.WaitGroup
			var retries atomic.Int64
			per := b.N / proposers
			for p := 0; p < proposers; p++ {
				n := per
				if p == 0 {
					n += b.N % proposers
				}
				wg.Go(func() {
					for i := 0; i < n; i++ {
						// Known-not-committed proposals (a leader change under load) are retried, as a client would.
						for {
							_, err := c.nodes[lead].Propose(ctx, payload)
							if err == nil {
								break
							}
							if !errors.Is(err, ErrNotCommitted) {
								b.Error(err)
								return
							}
							retries.Add(1)
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			after := c.nodes[lead].Stats()
			if r := retries.Load(); r > 0 {
				b.Logf("%d proposals retried after leader changes (term %d -> %d)", r, before2.Term, c.nodes[lead].Status().Term)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proposals/s")
			b.ReportMetric(float64(b.N)/float64(max(1, after.Syncs-before.Syncs)), "proposals/fsync")
		})
	}
}

// BenchmarkLogStoreSave measures one durable Ready on the log store: a 600-byte entry, the hard state
// and the apply state in one write and one fdatasync.
func BenchmarkLogStoreSave(b *testing.B) {
	ls, _, err := openLogStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer ls.close()
	st := &applyState{conf: &pb.ConfState{Voters: []uint64{1, 2, 3}}, lastSeq: map[uint64]uint64{1: 1, 2: 1, 3: 1}}
	data := make([]byte, 600)
	b.ReportAllocs()
	b.ResetTimer()
	for i := uint64(1); i <= uint64(b.N); i++ {
		st.applied = i - 1
		hs := &pb.HardState{Term: new(uint64(1)), Vote: new(uint64(1)), Commit: new(i - 1)}
		if err := ls.save(hs, []*pb.Entry{{Index: new(i), Term: new(uint64(1)), Type: pb.EntryNormal.Enum(), Data: data}}, st); err != nil {
			b.Fatal(err)
		}
	}
}
