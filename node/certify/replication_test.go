package certify_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/maxproxy/maxproxy/node/certify"
	"github.com/maxproxy/maxproxy/node/consensus"
	"github.com/maxproxy/maxproxy/node/consensus/simnet"
	"github.com/maxproxy/maxproxy/node/writeset"
)

// certFSM is the deterministic half of a replicator: every committed entry is a write-set that takes the
// next seqno and is certified.
type certFSM struct {
	mu       sync.Mutex
	c        *certify.Certifier
	verdicts []outcome // index seqno-1
}

type outcome struct {
	seqno uint64
	certify.Verdict
}

func (f *certFSM) Apply(_ uint64, data []byte) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ws writeset.WriteSet
	o := outcome{seqno: f.c.Position() + 1}
	var err error
	if derr := writeset.Decode(data, &ws); derr != nil {
		err = f.c.Advance(o.seqno) // undecodable: consumes its seqno everywhere alike, certifies nothing
	} else {
		o.Verdict, err = f.c.Certify(o.seqno, &ws)
	}
	if err != nil {
		panic(err) // seqnos come from Position: cannot be out of order
	}
	f.verdicts = append(f.verdicts, o)
	return o
}

func (f *certFSM) position() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.c.Position()
}

// TestReplicatedCertificationAgrees runs write-sets from three nodes through consensus over a lossy,
// partitioned network and certifies them on every node: all nodes reach identical verdicts, and the
// proposer gets the verdict its own node computed.
func TestReplicatedCertificationAgrees(t *testing.T) {
	defer goleak.VerifyNone(t)
	net := simnet.New(21)
	defer net.Close()
	fsms := map[uint64]*certFSM{}
	nodes := map[uint64]*consensus.Node{}
	peers := []uint64{1, 2, 3}
	for _, id := range peers {
		fsms[id] = &certFSM{c: certify.New(certify.Config{Window: 64}, 0)}
		ep := net.Endpoint(id)
		n, err := consensus.Start(consensus.Config{ID: id, DataDir: t.TempDir(), Peers: peers,
			TickInterval: 10 * time.Millisecond, Transport: ep, FSM: fsms[id]})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		ep.Handle(n.Step)
		nodes[id] = n
	}
	for _, from := range peers {
		for _, to := range peers {
			if from != to {
				net.Drop(from, to, 0.1)
				net.Delay(from, to, 0, 5*time.Millisecond)
			}
		}
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	returned := map[uint64][]outcome{} // what each proposer was told
	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range returned {
			n += len(r)
		}
		return n
	}
	stop := make(chan struct{})
	for _, id := range peers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(id, 7))
			src := writeset.UUID{byte(id)}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ws := &writeset.WriteSet{Source: src, TrxID: uint64(i), Flags: writeset.FlagCommit,
					LastSeen: fsms[id].position()} // Galera policy: last committed here
				for range 1 + rng.IntN(3) {
					ws.Keys = append(ws.Keys, writeset.RowKey(writeset.KeyUpdate, "db", "t", 1, []byte{byte(rng.IntN(8))}))
				}
				data, err := ws.Encode()
				if err != nil {
					t.Error(err)
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				res, err := nodes[id].Propose(ctx, data)
				cancel()
				if errors.Is(err, consensus.ErrNotCommitted) || errors.Is(err, consensus.ErrUnknownOutcome) {
					time.Sleep(5 * time.Millisecond) // no leader or cut off: back off like a client
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				returned[id] = append(returned[id], res.Value.(outcome))
				mu.Unlock()
			}
		})
	}
	waitFor := func(n int) {
		deadline := time.Now().Add(20 * time.Second)
		for total() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d write-sets committed, want %d", total(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(40)
	net.Partition([]uint64{1}, []uint64{2, 3})
	waitFor(80)
	net.Heal()
	waitFor(120)
	close(stop)
	wg.Wait()

	// Every node certifies every write-set: once positions match, the verdict logs must be identical.
	committed := 0
	for _, r := range returned {
		committed += len(r)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		p1, p2, p3 := fsms[1].position(), fsms[2].position(), fsms[3].position()
		if p1 == p2 && p2 == p3 && p1 >= uint64(committed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("positions did not converge: %d %d %d (committed %d)", p1, p2, p3, committed)
		}
		time.Sleep(5 * time.Millisecond)
	}
	logs := map[uint64][]outcome{}
	for id, f := range fsms {
		f.mu.Lock()
		logs[id] = slices.Clone(f.verdicts)
		f.mu.Unlock()
	}
	if !slices.Equal(logs[1], logs[2]) || !slices.Equal(logs[2], logs[3]) {
		t.Fatal("nodes certified the same log differently")
	}
	for id, rs := range returned {
		for _, r := range rs {
			if logs[id][r.seqno-1] != r {
				t.Fatalf("node %d: proposer told %+v, log says %+v", id, r, logs[id][r.seqno-1])
			}
		}
	}
	var passed, failed int
	for _, o := range logs[1] {
		if o.OK {
			passed++
		} else {
			failed++
		}
	}
	t.Logf("%d write-sets certified identically on 3 nodes: %d passed, %d failed", len(logs[1]), passed, failed)
	if passed == 0 || failed == 0 {
		t.Fatalf("want both passes and conflicts, got %d and %d", passed, failed)
	}
}
