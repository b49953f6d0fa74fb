package consensus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

type tcpCluster struct {
	t      *testing.T
	addrs  map[uint64]string
	dirs   map[uint64]string
	fsms   map[uint64]*memFSM
	nodes  map[uint64]*Node
	trs    map[uint64]*TCPTransport
	server *tls.Config
	client *tls.Config
}

func newTCPCluster(t *testing.T, size int, server, client *tls.Config) *tcpCluster {
	c := &tcpCluster{t: t, addrs: map[uint64]string{}, dirs: map[uint64]string{}, fsms: map[uint64]*memFSM{},
		nodes: map[uint64]*Node{}, trs: map[uint64]*TCPTransport{}, server: server, client: client}
	lns := map[uint64]net.Listener{}
	for i := uint64(1); i <= uint64(size); i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i], c.addrs[i] = ln, ln.Addr().String()
		c.dirs[i], c.fsms[i] = t.TempDir(), newMemFSM()
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
	})
	for id, ln := range lns {
		c.start(id, ln)
	}
	return c
}

func (c *tcpCluster) start(id uint64, ln net.Listener) {
	c.t.Helper()
	peers := map[uint64]string{}
	var ids []uint64
	for pid, a := range c.addrs {
		peers[pid] = a
		ids = append(ids, pid)
	}
	tr, err := NewTCPTransport(TCPConfig{ID: id, Listener: ln, Peers: peers, ServerTLS: c.server, ClientTLS: c.client})
	if err != nil {
		c.t.Fatal(err)
	}
	n, err := Start(Config{ID: id, DataDir: c.dirs[id], Peers: ids, TickInterval: 10 * time.Millisecond, Transport: tr, FSM: c.fsms[id]})
	if err != nil {
		c.t.Fatal(err)
	}
	tr.Attach(n)
	c.nodes[id], c.trs[id] = n, tr
}

func (c *tcpCluster) stop(id uint64) {
	_ = c.trs[id].Close()
	_ = c.nodes[id].Close()
	delete(c.nodes, id)
	delete(c.trs, id)
}

func (c *tcpCluster) commit(want string) {
	c.t.Helper()
	var lead uint64
	eventually(c.t, "a leader", func() bool {
		for _, n := range c.nodes {
			if st := n.Status(); st.State == "StateLeader" {
				lead = st.ID
				return true
			}
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := c.nodes[lead].Propose(ctx, []byte(want)); err != nil {
		c.t.Fatalf("propose on %d: %v", lead, err)
	}
	eventually(c.t, "every node to apply "+want, func() bool {
		for id := range c.nodes {
			if c.fsms[id].count(want) != 1 {
				return false
			}
		}
		return true
	})
}

func TestTCPClusterCommitsAndReconnects(t *testing.T) {
	c := newTCPCluster(t, 3, nil, nil)
	c.commit("one")

	// A stranger writing garbage is disconnected and does not disturb the cluster.
	conn, err := net.Dial("tcp", c.addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	_ = conn.Close()

	// Restart node 3 on the same address: peers reconnect with backoff.
	c.stop(3)
	c.commit("two")
	ln, err := net.Listen("tcp", c.addrs[3])
	if err != nil {
		t.Fatalf("re-listen on %s: %v", c.addrs[3], err)
	}
	c.start(3, ln)
	c.commit("three")
	if c.fsms[3].count("two") != 1 {
		t.Fatal("restarted node did not catch up")
	}
}

func TestTCPClusterWithTLS(t *testing.T) {
	server, client := testTLS(t)
	c := newTCPCluster(t, 3, server, client)
	c.commit("secure")
}

func TestTCPRejectsOversizedFrame(t *testing.T) {
	tr, addr := listeningTransport(t, TCPConfig{MaxFrame: 16})
	got, conn := rawPeer(t, tr, addr)
	frame := append([]byte("MXR1"), 0, 0, 0, 0, 0, 0, 0, 2)
	frame = append(frame, 0, 0, 1, 0) // 256 bytes announced
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	// The transport closes the connection instead of allocating or delivering.
	expectClosed(t, conn, got, 0, "an oversized frame")
}

// listeningTransport starts node 1's transport, with cfg's other settings, on a loopback port.
func listeningTransport(t *testing.T, cfg TCPConfig) (*TCPTransport, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ID, cfg.Listener = 1, ln
	tr, err := NewTCPTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, ln.Addr().String()
}

// rawPeer connects to tr at addr as a test-written peer; the receiver counts what tr delivers.
func rawPeer(t *testing.T, tr *TCPTransport, addr string) (*countingReceiver, net.Conn) {
	t.Helper()
	got := &countingReceiver{}
	tr.Attach(got)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return got, conn
}

// expectClosed asserts that the transport closed conn after what the test sent, having delivered only
// delivered messages.
func expectClosed(t *testing.T, conn net.Conn, got *countingReceiver, delivered int64, after string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("connection still open after %s", after)
	}
	if n := got.n.Load(); n != delivered {
		t.Fatalf("%d messages delivered, want %d, after %s", n, delivered, after)
	}
}

func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "maxnode"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	pair := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	server = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	client = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS13}
	return server, client
}

type countingReceiver struct{ n atomic.Int64 }

func (r *countingReceiver) Step(*pb.Message)         { r.n.Add(1) }
func (r *countingReceiver) ReportUnreachable(uint64) {}

// A member that comes back on a new address is reached again once its peers learn the address (the
// integrator calls SetPeer from OnMembership or its own address book).
func TestTCPPeerAddressChange(t *testing.T) {
	c := newTCPCluster(t, 3, nil, nil)
	c.commit("before")
	c.stop(3)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.addrs[3] = ln.Addr().String()
	for _, id := range []uint64{1, 2} {
		c.trs[id].SetPeer(3, c.addrs[3])
	}
	c.start(3, ln)
	c.commit("after")
	if c.fsms[3].count("before") != 1 {
		t.Fatal("node on its new address did not catch up")
	}
	// RemovePeer stops the writer; later sends to it are dropped rather than queued.
	c.trs[1].RemovePeer(3)
	c.trs[1].mu.Lock()
	_, still := c.trs[1].peers[3]
	c.trs[1].mu.Unlock()
	if still {
		t.Fatal("removed peer still has a writer")
	}
}

// A state transfer request on the replication port reaches the handler with the joiner's id and index;
// the joiner reads the reply from the same connection. Before a handler is set the request is refused.
func TestTCPStateTransferRequest(t *testing.T) {
	tr, addr := listeningTransport(t, TCPConfig{})
	ctx := t.Context()
	req := StateTransferRequest{Joiner: 7, MinIndex: 42, Donors: []string{"node2", "node3"}}
	c, err := DialStateTransfer(ctx, addr, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Fatalf("got %q from a node without a handler", b)
	}
	c.Close()
	tr.HandleStateTransfer(func(_ context.Context, w io.Writer, req StateTransferRequest) error {
		_, err := fmt.Fprintf(w, "state for %d from %d by %q, no data %v, any state %v", req.Joiner, req.MinIndex, req.Donors, req.NoData, req.AnyState)
		return err
	})
	for _, tc := range []struct {
		donors []string
		noData bool
		want   string
	}{
		{req.Donors, false, `state for 7 from 42 by ["node2" "node3"], no data false, any state false`},
		{nil, true, `state for 7 from 42 by [], no data true, any state true`},
	} {
		req.Donors, req.NoData, req.AnyState = tc.donors, tc.noData, tc.noData
		c, err = DialStateTransfer(ctx, addr, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != tc.want {
			t.Fatalf("reply %q, %v; want %q", b, err, tc.want)
		}
	}
}

// A follower forwards a proposal with its proposer as sender (a joiner's request through a member): the
// transport delivers it. Any other message whose sender is not the connection's node closes it.
func TestTCPRelayedProposalsOnly(t *testing.T) {
	tr, addr := listeningTransport(t, TCPConfig{})
	got, conn := rawPeer(t, tr, addr)
	frame := func(m *pb.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	stream := append([]byte("MXR1"), 0, 0, 0, 0, 0, 0, 0, 3)
	stream = append(stream, frame(&pb.Message{Type: pb.MsgProp.Enum(), From: new(uint64(2)), To: new(uint64(1))})...)
	if _, err := conn.Write(stream); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the relayed proposal to be delivered", func() bool { return got.n.Load() == 1 })
	if _, err := conn.Write(frame(&pb.Message{Type: pb.MsgApp.Enum(), From: new(uint64(2)), To: new(uint64(1))})); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, conn, got, 1, "an append claiming another sender")
}
