// Package simnet is an in-memory network for raft messages with seeded, replayable faults: per-link drop
// probability and delay, partitions, isolation, a message filter hook, and heal. Tests use it instead of
// sockets.
//
// Determinism: every directed link has its own random source derived from the network seed and the link's
// endpoints, and every fault decision for a message is drawn from it when the message is sent. The n-th
// message on a link therefore meets the same fate in every run with the same seed and the same fault
// settings, whatever the interleaving of other links. Delivery on a link is FIFO (delays never reorder a
// link). What is not replayable is the interleaving between different links, which follows goroutine
// scheduling; raft's correctness must not depend on it, which is what the tests check.
//
// Messages are marshalled and unmarshalled on the way, so the receiver never shares memory with the sender,
// exactly as over a socket.
package simnet

import (
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Handler receives a delivered message. It must not block (consensus.Node.Step does not).
type Handler func(*pb.Message)

type linkID struct{ from, to uint64 }

type faults struct {
	drop     float64
	minDelay time.Duration
	maxDelay time.Duration
}

type item struct {
	data []byte
	due  time.Time
}

type link struct {
	rng *rand.Rand
	ch  chan item
}

// Network connects endpoints. Create it with New and stop it with Close.
type Network struct {
	seed uint64

	mu       sync.Mutex
	handlers map[uint64]Handler
	links    map[linkID]*link
	faults   map[linkID]faults
	cut      map[linkID]bool
	ids      map[uint64]bool
	filter   func(*pb.Message) bool
	closed   bool

	quit chan struct{}
	wg   sync.WaitGroup

	delivered atomic.Uint64
	dropped   atomic.Uint64
}

// New returns a network whose fault decisions derive from seed.
func New(seed uint64) *Network {
	return &Network{
		seed:     seed,
		handlers: map[uint64]Handler{},
		links:    map[linkID]*link{},
		faults:   map[linkID]faults{},
		cut:      map[linkID]bool{},
		ids:      map[uint64]bool{},
		quit:     make(chan struct{}),
	}
}

// Endpoint is one node's attachment; it implements consensus.Transport.
type Endpoint struct {
	net *Network
	id  uint64
}

// Endpoint returns node id's attachment. Messages to it are dropped until Handle is called.
func (n *Network) Endpoint(id uint64) *Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ids[id] = true
	return &Endpoint{net: n, id: id}
}

// Handle sets the receiver for messages addressed to this endpoint (nil detaches it, as a crashed node).
func (e *Endpoint) Handle(h Handler) {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	if h == nil {
		delete(e.net.handlers, e.id)
	} else {
		e.net.handlers[e.id] = h
	}
}

// Send queues msgs; it never blocks on the receiver.
func (e *Endpoint) Send(msgs []*pb.Message) {
	for _, m := range msgs {
		e.net.send(e.id, m)
	}
}

func (n *Network) send(from uint64, m *pb.Message) {
	id := linkID{from, m.GetTo()}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	l := n.linkLocked(id)
	f := n.faults[id]
	// Draw every decision even for cut links so the stream of draws per link does not depend on timing.
	r1, r2 := l.rng.Float64(), l.rng.Float64()
	if n.cut[id] || r1 < f.drop || (n.filter != nil && n.filter(m)) {
		n.mu.Unlock()
		n.dropped.Add(1)
		return
	}
	var due time.Time
	if f.maxDelay > 0 {
		due = time.Now().Add(f.minDelay + time.Duration(r2*float64(f.maxDelay-f.minDelay)))
	}
	n.mu.Unlock()
	data, err := proto.Marshal(m)
	if err != nil {
		n.dropped.Add(1)
		return
	}
	select {
	case l.ch <- item{data: data, due: due}:
	default:
		n.dropped.Add(1) // a full link behaves like an overflowing socket buffer
	}
}

func (n *Network) linkLocked(id linkID) *link {
	if l, ok := n.links[id]; ok {
		return l
	}
	h := fnv.New64a()
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(id.from >> (8 * i))
		b[8+i] = byte(id.to >> (8 * i))
	}
	_, _ = h.Write(b[:])
	l := &link{rng: rand.New(rand.NewPCG(n.seed, h.Sum64())), ch: make(chan item, 8192)}
	n.links[id] = l
	n.wg.Add(1)
	go n.deliver(id, l)
	return l
}

// deliver is the one goroutine of a link: FIFO, honouring each message's due time.
func (n *Network) deliver(id linkID, l *link) {
	defer n.wg.Done()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var it item
		select {
		case <-n.quit:
			return
		case it = <-l.ch:
		}
		if d := time.Until(it.due); !it.due.IsZero() && d > 0 {
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			select {
			case <-n.quit:
				return
			case <-timer.C:
			}
		}
		n.mu.Lock()
		h := n.handlers[id.to]
		cut := n.cut[id]
		n.mu.Unlock()
		if h == nil || cut {
			// Partitioned while in flight, or the receiver is down.
			n.dropped.Add(1)
			continue
		}
		m := &pb.Message{}
		if err := proto.Unmarshal(it.data, m); err != nil {
			n.dropped.Add(1)
			continue
		}
		n.delivered.Add(1)
		h(m)
	}
}

// Drop makes the link from→to lose each message with probability p.
func (n *Network) Drop(from, to uint64, p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := n.faults[linkID{from, to}]
	f.drop = p
	n.faults[linkID{from, to}] = f
}

// Delay delays each message on from→to by a duration drawn uniformly from [min, max].
func (n *Network) Delay(from, to uint64, min, max time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := n.faults[linkID{from, to}]
	f.minDelay, f.maxDelay = min, max
	n.faults[linkID{from, to}] = f
}

// Partition cuts every link between nodes of different groups. Nodes not named keep their links.
func (n *Network) Partition(groups ...[]uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					n.cut[linkID{a, b}] = true
				}
			}
		}
	}
}

// Isolate cuts id from every other endpoint in both directions.
func (n *Network) Isolate(id uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for o := range n.ids {
		if o == id {
			continue
		}
		n.cut[linkID{id, o}] = true
		n.cut[linkID{o, id}] = true
	}
}

// Filter installs a hook that sees every message at send time and drops it by returning true (nil
// removes it). It runs under the network's lock: it must be quick and must not call the network.
func (n *Network) Filter(f func(*pb.Message) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.filter = f
}

// Heal removes every partition, drop and delay (not the filter).
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
	clear(n.faults)
}

// Stats returns the number of delivered and dropped messages.
func (n *Network) Stats() (delivered, dropped uint64) { return n.delivered.Load(), n.dropped.Load() }

// Close stops every link goroutine and waits for them.
func (n *Network) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	close(n.quit)
	n.wg.Wait()
}
