package consensus

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Wire format of the TCP transport. A connection carries messages in one direction, from dialer to
// listener: a 12-byte preamble (magic "MXR1", sender id big-endian), then frames of a 4-byte big-endian length
// and a protobuf-encoded raftpb.Message.
var tcpMagic = [4]byte{'M', 'X', 'R', '1'}

// A state transfer connection starts with magic "MXS1", the joiner's id and the raft index it needs at
// least (both big-endian), the length (2 bytes) and text of its donor list (comma-separated node names;
// empty: any member) and a flags byte (1: no data, 2: any state); the rest is the donor's reply
// (StateTransferHandler).
var sstMagic = [4]byte{'M', 'X', 'S', '1'}

const (
	defaultQueue    = 4096
	defaultMaxFrame = 64 << 20
	minBackoff      = 20 * time.Millisecond
	maxBackoff      = 2 * time.Second
	writeTimeout    = 10 * time.Second
)

// TCPConfig configures NewTCPTransport.
type TCPConfig struct {
	ID       uint64
	Listener net.Listener      // owned by the transport from now on
	Peers    map[uint64]string // initial peer addresses; more with SetPeer
	// ServerTLS wraps accepted connections, ClientTLS dialled ones; nil means plaintext. Use
	// ClientAuth: tls.RequireAndVerifyClientCert on the server side to admit only cluster members.
	ServerTLS, ClientTLS *tls.Config
	QueueSize            int // messages buffered per peer before dropping, default 4096
	MaxFrame             int // largest accepted frame, default 64 MiB
	Logger               *slog.Logger
}

// TCPTransport implements Transport over TCP: one writer goroutine per peer with a bounded queue, reconnect
// with exponential backoff, one reader goroutine per accepted connection.
type TCPTransport struct {
	cfg    TCPConfig
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	recv   atomic.Pointer[Receiver]
	sst    atomic.Pointer[StateTransferHandler]

	mu     sync.Mutex
	peers  map[uint64]*tcpPeer
	conns  map[net.Conn]struct{}
	closed bool
}

type tcpPeer struct {
	id   uint64
	addr atomic.Pointer[string]
	q    chan *pb.Message
	quit chan struct{}
}

// NewTCPTransport starts accepting on cfg.Listener and dialling cfg.Peers.
func NewTCPTransport(cfg TCPConfig) (*TCPTransport, error) {
	if cfg.ID == 0 || cfg.Listener == nil {
		return nil, errors.New("consensus: tcp transport needs an id and a listener")
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = defaultQueue
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = defaultMaxFrame
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &TCPTransport{
		cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel,
		peers: map[uint64]*tcpPeer{}, conns: map[net.Conn]struct{}{},
	}
	ln := cfg.Listener
	if cfg.ServerTLS != nil {
		ln = tls.NewListener(ln, cfg.ServerTLS)
	}
	t.wg.Add(1)
	go t.accept(ln)
	for id, addr := range cfg.Peers {
		t.SetPeer(id, addr)
	}
	return t, nil
}

// Addr is the listening address.
func (t *TCPTransport) Addr() net.Addr { return t.cfg.Listener.Addr() }

// Receiver is the inbound side of a transport; *Node implements it.
type Receiver interface {
	Step(m *pb.Message)
	ReportUnreachable(id uint64)
}

var _ Receiver = (*Node)(nil)

// Attach sets the receiver of inbound messages and unreachability reports. Messages arriving before are
// dropped.
func (t *TCPTransport) Attach(r Receiver) { t.recv.Store(&r) }

// StateTransferRequest is a joiner's request for a state transfer.
type StateTransferRequest struct {
	Joiner   uint64   // the joiner's raft id
	MinIndex uint64   // the raft index the transfer must reach at least
	Donors   []string // node names that may donate (wsrep_sst_donor); empty: any member
	NoData   bool     // the joiner stores no data (an arbitrator): positions only
	// AnyState lets a member that is not Synced donate what it has applied (everything it applied is
	// committed): when no Synced member can, because the joiner is needed for quorum.
	AnyState bool
}

// Request flags: StateTransferRequest.NoData and AnyState.
const (
	sstNoData   = 1
	sstAnyState = 2
)

// maxDonorList bounds the donor list on the wire.
const maxDonorList = 1<<16 - 1

// StateTransferHandler serves a state transfer by writing to w (the donor's side of the protocol above
// the transport). ctx ends when the transport closes.
type StateTransferHandler func(ctx context.Context, w io.Writer, req StateTransferRequest) error

// HandleStateTransfer sets the handler of state transfer requests arriving on the replication port;
// requests arriving before are refused by closing the connection.
func (t *TCPTransport) HandleStateTransfer(h StateTransferHandler) { t.sst.Store(&h) }

// DialStateTransfer sends req to the member at addr (its replication address); read the donor's reply
// from the returned connection. clientTLS is the transport's ClientTLS (nil: plaintext).
func DialStateTransfer(ctx context.Context, addr string, req StateTransferRequest, clientTLS *tls.Config) (net.Conn, error) {
	donors := strings.Join(req.Donors, ",")
	if len(donors) > maxDonorList {
		return nil, fmt.Errorf("consensus: state transfer: donor list of %d bytes is too long", len(donors))
	}
	var c net.Conn
	var err error
	if clientTLS != nil {
		d := tls.Dialer{Config: clientTLS}
		c, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("consensus: state transfer from %s: %w", addr, err)
	}
	b := append([]byte(nil), sstMagic[:]...)
	b = binary.BigEndian.AppendUint64(b, req.Joiner)
	b = binary.BigEndian.AppendUint64(b, req.MinIndex)
	b = binary.BigEndian.AppendUint16(b, uint16(len(donors)))
	b = append(b, donors...)
	var flags byte
	if req.NoData {
		flags |= sstNoData
	}
	if req.AnyState {
		flags |= sstAnyState
	}
	if _, err := c.Write(append(b, flags)); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("consensus: state transfer from %s: %w", addr, err)
	}
	return c, nil
}

// SetPeer adds a peer or changes its address (the next reconnect uses it).
func (t *TCPTransport) SetPeer(id uint64, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || id == t.cfg.ID {
		return
	}
	if p, ok := t.peers[id]; ok {
		p.addr.Store(&addr)
		return
	}
	p := &tcpPeer{id: id, q: make(chan *pb.Message, t.cfg.QueueSize), quit: make(chan struct{})}
	p.addr.Store(&addr)
	t.peers[id] = p
	t.wg.Add(1)
	go t.runPeer(p)
}

// RemovePeer stops sending to id.
func (t *TCPTransport) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.peers[id]; ok {
		close(p.quit)
		delete(t.peers, id)
	}
}

// Send queues msgs for their peers; a full queue or an unknown peer drops the message (raft retries).
func (t *TCPTransport) Send(msgs []*pb.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		p, ok := t.peers[m.GetTo()]
		if !ok {
			continue
		}
		select {
		case p.q <- m:
		default:
		}
	}
}

// Close stops every goroutine and closes every connection, and waits.
func (t *TCPTransport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.cancel()
	err := t.cfg.Listener.Close()
	for c := range t.conns {
		_ = c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return err
}

func (t *TCPTransport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = c.Close()
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *TCPTransport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	_ = c.Close()
}

func (t *TCPTransport) accept(ln net.Listener) {
	defer t.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if t.ctx.Err() == nil {
				t.log.Error("raft transport accept failed; no longer accepting", "err", err)
			}
			return
		}
		if !t.track(c) {
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer t.untrack(c)
			if err := t.read(c); err != nil && t.ctx.Err() == nil && !errors.Is(err, io.EOF) {
				t.log.Warn("raft transport connection dropped", "remote", c.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

func (t *TCPTransport) read(c net.Conn) error {
	r := bufio.NewReaderSize(c, 64<<10)
	var pre [12]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return fmt.Errorf("read preamble: %w", err)
	}
	from := binary.BigEndian.Uint64(pre[4:])
	if [4]byte(pre[:4]) == sstMagic {
		var hdr [10]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fmt.Errorf("read state transfer request: %w", err)
		}
		donors := make([]byte, binary.BigEndian.Uint16(hdr[8:])+1) // and the flags byte
		if _, err := io.ReadFull(r, donors); err != nil {
			return fmt.Errorf("read state transfer request: %w", err)
		}
		flags := donors[len(donors)-1]
		donors = donors[:len(donors)-1]
		req := StateTransferRequest{Joiner: from, MinIndex: binary.BigEndian.Uint64(hdr[:]),
			NoData: flags&sstNoData != 0, AnyState: flags&sstAnyState != 0}
		if len(donors) > 0 {
			req.Donors = strings.Split(string(donors), ",")
		}
		h := t.sst.Load()
		if h == nil {
			return fmt.Errorf("state transfer request from node %d before the node serves them", from)
		}
		// A joiner that stops reading must not keep the donor Donor/Desynced: every write has a deadline.
		// A refusal (not Synced, not a named donor) is part of the protocol, not a broken link.
		if err := (*h)(t.ctx, deadlineWriter{c}, req); err != nil && t.ctx.Err() == nil {
			t.log.Info("state transfer not served", "joiner", from, "err", err)
		}
		return nil
	}
	if [4]byte(pre[:4]) != tcpMagic {
		return errors.New("bad preamble: not a maxnode raft peer")
	}
	var hdr [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n > t.cfg.MaxFrame {
			return fmt.Errorf("frame of %d bytes from node %d exceeds the %d byte limit", n, from, t.cfg.MaxFrame)
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("read frame: %w", err)
		}
		m := &pb.Message{}
		if err := proto.Unmarshal(buf, m); err != nil {
			return fmt.Errorf("decode message from node %d: %w", from, err)
		}
		// A follower forwards proposals to its leader with their proposer as sender (raft keeps From;
		// a joiner's request through a member is one): those are the only messages relayed.
		if m.GetFrom() != from && m.GetType() != pb.MsgProp {
			return fmt.Errorf("message claims sender %d on node %d's connection", m.GetFrom(), from)
		}
		if r := t.recv.Load(); r != nil {
			(*r).Step(m)
		}
	}
}

// deadlineWriter gives every write to its connection writeTimeout to complete.
type deadlineWriter struct{ c net.Conn }

func (w deadlineWriter) Write(p []byte) (int, error) {
	_ = w.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return w.c.Write(p)
}

func (t *TCPTransport) runPeer(p *tcpPeer) {
	defer t.wg.Done()
	backoff := minBackoff
	for {
		c, err := t.dial(*p.addr.Load())
		if err == nil {
			backoff = minBackoff
			err = t.write(c, p)
			t.untrack(c)
			if err == nil {
				return // stopping
			}
		}
		select {
		case <-t.ctx.Done():
			return
		case <-p.quit:
			return
		default:
		}
		t.log.Debug("raft peer unreachable", "peer", p.id, "err", err)
		if r := t.recv.Load(); r != nil {
			(*r).ReportUnreachable(p.id)
		}
		// What was queued for a dead connection is stale: raft resends what matters.
		for len(p.q) > 0 {
			<-p.q
		}
		timer := time.NewTimer(backoff)
		select {
		case <-t.ctx.Done():
			timer.Stop()
			return
		case <-p.quit:
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func (t *TCPTransport) dial(addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(t.ctx, 5*time.Second)
	defer cancel()
	var c net.Conn
	var err error
	if t.cfg.ClientTLS != nil {
		d := tls.Dialer{Config: t.cfg.ClientTLS}
		c, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if !t.track(c) {
		return nil, net.ErrClosed
	}
	return c, nil
}

// write sends queued messages until the transport stops (nil) or the connection fails.
func (t *TCPTransport) write(c net.Conn, p *tcpPeer) error {
	w := bufio.NewWriterSize(c, 64<<10)
	var pre [12]byte
	copy(pre[:], tcpMagic[:])
	binary.BigEndian.PutUint64(pre[4:], t.cfg.ID)
	if _, err := w.Write(pre[:]); err != nil {
		return err
	}
	var buf []byte
	for {
		select {
		case <-t.ctx.Done():
			return nil
		case <-p.quit:
			return nil
		case m := <-p.q:
			_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
			for {
				var err error
				buf, err = proto.MarshalOptions{}.MarshalAppend(append(buf[:0], 0, 0, 0, 0), m)
				if err != nil {
					return fmt.Errorf("encode message: %w", err)
				}
				binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
				if _, err := w.Write(buf); err != nil {
					return err
				}
				select {
				case m = <-p.q:
					continue
				default:
				}
				break
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}
