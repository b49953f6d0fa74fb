package simnet

import (
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder collects the indexes of delivered messages.
type recorder struct {
	mu  sync.Mutex
	got []uint64
}

func (r *recorder) handle(m *pb.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m.GetIndex())
}

// run sends 1000 messages 1->2 with 50% loss and returns which arrived. A marker sent after Heal tells
// the receiver the stream is complete (links are FIFO).
func run(t *testing.T, seed uint64) []uint64 {
	n := New(seed)
	defer n.Close()
	a, b := n.Endpoint(1), n.Endpoint(2)
	n.Drop(1, 2, 0.5)
	var msgs []*pb.Message
	for i := uint64(1); i <= 1000; i++ {
		msgs = append(msgs, &pb.Message{To: new(uint64(2)), From: new(uint64(1)), Index: new(i)})
	}
	r := &recorder{}
	marker := make(chan struct{})
	b.Handle(func(m *pb.Message) {
		if m.GetIndex() == 0 {
			close(marker)
			return
		}
		r.handle(m)
	})
	a.Send(msgs)
	n.Heal()
	a.Send([]*pb.Message{{To: new(uint64(2)), From: new(uint64(1))}})
	select {
	case <-marker:
	case <-time.After(10 * time.Second):
		t.Fatal("marker not delivered")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func TestSameSeedSameFaults(t *testing.T) {
	first, second := run(t, 7), run(t, 7)
	if !slices.Equal(first, second) {
		t.Fatalf("same seed, different deliveries: %d vs %d messages", len(first), len(second))
	}
	if len(first) < 400 || len(first) > 600 {
		t.Fatalf("%d of 1000 delivered with 50%% loss", len(first))
	}
	if !slices.IsSorted(first) {
		t.Fatal("link reordered messages")
	}
	if other := run(t, 8); slices.Equal(first, other) {
		t.Fatal("different seeds gave identical faults")
	}
}

func TestPartitionIsolateHeal(t *testing.T) {
	n := New(1)
	defer n.Close()
	eps := map[uint64]*Endpoint{}
	got := make(chan [2]uint64, 100)
	for id := uint64(1); id <= 3; id++ {
		eps[id] = n.Endpoint(id)
		eps[id].Handle(func(m *pb.Message) { got <- [2]uint64{m.GetFrom(), m.GetTo()} })
	}
	send := func(from, to uint64) {
		eps[from].Send([]*pb.Message{{From: new(from), To: new(to)}})
	}
	// expect sends every ordered pair once, then a marker 1->1 ... and checks which pairs arrived.
	expect := func(want map[[2]uint64]bool) {
		t.Helper()
		for from := uint64(1); from <= 3; from++ {
			for to := uint64(1); to <= 3; to++ {
				if from != to {
					send(from, to)
				}
			}
		}
		seen := map[[2]uint64]bool{}
		for range len(want) {
			select {
			case p := <-got:
				seen[p] = true
			case <-time.After(10 * time.Second):
				t.Fatalf("only %v arrived, want %v", seen, want)
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("arrived %v, want %v", seen, want)
		}
		for p := range want {
			if !seen[p] {
				t.Fatalf("arrived %v, want %v", seen, want)
			}
		}
	}
	n.Partition([]uint64{1}, []uint64{2, 3})
	expect(map[[2]uint64]bool{{2, 3}: true, {3, 2}: true})
	n.Heal()
	n.Isolate(3)
	expect(map[[2]uint64]bool{{1, 2}: true, {2, 1}: true})
	n.Heal()
	expect(map[[2]uint64]bool{{1, 2}: true, {2, 1}: true, {1, 3}: true, {3, 1}: true, {2, 3}: true, {3, 2}: true})
	if len(got) != 0 {
		t.Fatalf("unexpected extra delivery %v", <-got)
	}
}
