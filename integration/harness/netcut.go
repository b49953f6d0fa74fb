package harness

import (
	"fmt"
	"io"
	"net"
	"sync"
)

// netCut puts a TCP relay on every directed replication link of a maxnode
// cluster, so that a test can partition the network while every process
// keeps running (a frozen process is not a partitioned one: it answers
// nobody, and its clients cannot see it report non-Primary).
//
// maxnode's transport carries messages in one direction per connection,
// from dialer to listener, so link (i, j) is node i's connection to node
// j. Node i's cluster_address lists relay (i, j) as member j's address;
// cluster_address wins over the addresses members announce, so every
// message from i to j passes the relay. A blocked relay closes its
// connections and refuses new ones at once; the transport keeps
// reconnecting with backoff and gets through once the link is unblocked.
type netCut struct {
	links map[[2]int]*relay // (from, to), 0-based member indexes
}

// newNetCut starts a relay for every ordered pair of the members whose
// replication listeners are targets.
func newNetCut(targets []string) (*netCut, error) {
	nc := &netCut{links: map[[2]int]*relay{}}
	for i := range targets {
		for j, target := range targets {
			if i == j {
				continue
			}
			r, err := newRelay(target)
			if err != nil {
				nc.close()
				return nil, err
			}
			nc.links[[2]int{i, j}] = r
		}
	}
	return nc, nil
}

// addr is the address member from dials to reach member to.
func (nc *netCut) addr(from, to int) string { return nc.links[[2]int{from, to}].ln.Addr().String() }

// partition blocks every link between members of different groups and
// unblocks every link within a group. Members in no group keep their links.
func (nc *netCut) partition(groups [][]int) {
	group := map[int]int{}
	for g, members := range groups {
		for _, m := range members {
			group[m] = g
		}
	}
	for link, r := range nc.links {
		gf, okf := group[link[0]]
		gt, okt := group[link[1]]
		r.setBlocked(okf && okt && gf != gt)
	}
}

// heal unblocks every link.
func (nc *netCut) heal() {
	for _, r := range nc.links {
		r.setBlocked(false)
	}
}

func (nc *netCut) close() {
	for _, r := range nc.links {
		r.close()
	}
}

// relay forwards every connection accepted on ln to target.
type relay struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	blocked bool
	closed  bool
	conns   map[net.Conn]struct{}
}

func newRelay(target string) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("harness: relay for %s: %w", target, err)
	}
	r := &relay{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		if !r.track(c) {
			c.Close()
			continue
		}
		r.wg.Add(1)
		go r.forward(c)
	}
}

// track registers c unless the relay is blocked or closed.
func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.blocked || r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

// forward copies both ways between the accepted connection and a new one
// to the target until either side ends or the relay is blocked.
func (r *relay) forward(in net.Conn) {
	defer r.wg.Done()
	defer r.untrack(in)
	out, err := net.Dial("tcp", r.target)
	if err != nil {
		return // the target is down: the dialer sees its connection close
	}
	if !r.track(out) {
		out.Close()
		return
	}
	defer r.untrack(out)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	// One direction ended: close both so the other copy ends too.
	in.Close()
	out.Close()
	<-done
}

// setBlocked blocks or unblocks the link; blocking ends every open
// connection.
func (r *relay) setBlocked(b bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blocked = b
	if b {
		for c := range r.conns {
			c.Close()
		}
	}
}

func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	_ = r.ln.Close() // ends accept
	r.wg.Wait()
}
