package protocol

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/go-mysql-org/go-mysql/packet"
)

const (
	// readBufferSize and writeBufferSize bound the per-connection buffering.
	// With go-mysql's own 16 KiB copy buffer that is ~48 KiB per connection
	// (~480 MiB for 10,000 clients), while a typical reply still leaves in
	// one write(2).
	readBufferSize  = 16 << 10
	writeBufferSize = 16 << 10

	// retainLimit is the largest packet buffer kept between packets. A buffer
	// that grew past it (a multi-megabyte row) is dropped after use so that
	// one large value does not pin memory for the life of the connection.
	retainLimit = 1 << 20

	// DefaultMaxPacketSize is MariaDB's upper bound for max_allowed_packet.
	DefaultMaxPacketSize = 1 << 30

	// HandshakeMaxPacketSize bounds packets read before authentication so
	// that an unauthenticated peer cannot make the proxy allocate much.
	HandshakeMaxPacketSize = 1 << 20

	maxFrame = 1<<24 - 1
)

var (
	// ErrPacketTooLarge is returned when a packet exceeds the connection's
	// maximum packet size. The connection is unusable afterwards.
	ErrPacketTooLarge = errors.New("protocol: packet exceeds maximum size")
	// ErrMalformed is wrapped by every error caused by bytes that do not
	// follow the protocol (bad sequence id, truncated or inconsistent fields).
	ErrMalformed = errors.New("protocol: malformed packet")
)

// Conn carries MySQL packets over one network connection.
//
// Reads go through go-mysql's packet.Conn, which checks sequence ids and
// joins 0xFFFFFF continuation frames. The payload lands in a buffer owned by
// Conn and reused for the next packet, so steady-state reads do not allocate.
// Writes are framed here rather than with packet.Conn.WritePacket, which
// needs 4 bytes of headroom in the caller's slice (a relayed payload has
// none) and issues one write(2) per packet. They go into a bufio.Writer and
// reach the network only on Flush, or when the buffer fills, which is what
// makes a slow reader throttle the writer instead of growing memory.
//
// Before authentication Conn reads without read-ahead: a client sends its TLS
// ClientHello right behind the SSLRequest packet, and those bytes must still be
// in the socket when the TLS layer takes over. EnableReadAhead switches to a
// buffered reader once the connection phase is over.
//
// A Conn is not safe for concurrent use.
type Conn struct {
	nc        net.Conn // current transport: TCP or TLS on top of it
	rd        *readRecorder
	pc        *packet.Conn
	bw        *bufio.Writer
	out       countingWriter // what bw writes to
	buf       []byte
	maxPacket int
	readAhead bool
	tooLarge  bool
	hdr       [4]byte
	tls       bool
}

// readRecorder remembers the last read error of the transport. go-mysql's
// framing flattens transport errors into strings; keeping the original lets
// callers test for io.EOF, net.ErrClosed or os.ErrDeadlineExceeded.
type readRecorder struct {
	net.Conn
	err error
}

func (r *readRecorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// NewConn wraps nc. The connection starts without read-ahead and with
// HandshakeMaxPacketSize as its packet limit.
func NewConn(nc net.Conn) *Conn {
	c := &Conn{nc: nc, maxPacket: HandshakeMaxPacketSize}
	c.out.w = nc
	c.bw = bufio.NewWriterSize(&c.out, writeBufferSize)
	c.rd = &readRecorder{Conn: nc}
	c.pc = packet.NewTLSConn(c.rd) // no bufio: reads exactly one packet
	return c
}

// NetConn returns the current transport (a *tls.Conn after an upgrade).
func (c *Conn) NetConn() net.Conn { return c.nc }

// IsTLS reports whether the connection was upgraded to TLS.
func (c *Conn) IsTLS() bool { return c.tls }

// SetMaxPacketSize sets the largest logical packet ReadPacket accepts.
func (c *Conn) SetMaxPacketSize(n int) { c.maxPacket = n }

// EnableReadAhead switches reads to a buffered reader. Call it only at a
// packet boundary where the peer cannot have sent bytes that belong to another
// layer (i.e. after the connection phase).
func (c *Conn) EnableReadAhead() {
	if c.readAhead {
		return
	}
	seq := c.pc.Sequence
	c.pc = packet.NewBufferedConn(c.rd, readBufferSize)
	c.pc.Sequence = seq
	c.readAhead = true
}

// Sequence returns the sequence id expected for the next packet.
func (c *Conn) Sequence() uint8 { return c.pc.Sequence }

// ResetSequence starts a new command exchange (sequence id 0).
func (c *Conn) ResetSequence() { c.pc.Sequence = 0 }

// SetDeadline sets the read and write deadline of the transport.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// Close closes the transport.
func (c *Conn) Close() error { return c.nc.Close() }

// ReadPacket reads one logical packet and returns its payload. The slice is
// valid until the next ReadPacket on this Conn.
func (c *Conn) ReadPacket() ([]byte, error) {
	if cap(c.buf) > retainLimit {
		c.buf = nil
	}
	c.buf = c.buf[:0]
	c.rd.err = nil
	c.tooLarge = false
	if err := c.pc.ReadPacketTo((*sink)(c)); err != nil {
		switch {
		case c.rd.err != nil:
			return nil, fmt.Errorf("read packet: %w", c.rd.err)
		case c.tooLarge:
			return nil, ErrPacketTooLarge
		default:
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	return c.buf, nil
}

// ReadCommand resets the sequence id and reads the next command packet.
func (c *Conn) ReadCommand() ([]byte, error) {
	c.ResetSequence()
	return c.ReadPacket()
}

// sink collects packet bytes into Conn.buf and enforces the size limit while
// the packet is still arriving, so an oversized packet is refused before it
// is buffered.
type sink Conn

func (s *sink) Write(p []byte) (int, error) {
	if len(s.buf)+len(p) > s.maxPacket {
		s.tooLarge = true
		return 0, ErrPacketTooLarge
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

// WritePacket frames payload (splitting it at 16 MiB - 1 as the protocol
// requires) into the write buffer. Nothing reaches the network before Flush
// unless the buffer fills.
func (c *Conn) WritePacket(payload []byte) error {
	for {
		n := len(payload)
		if n > maxFrame {
			n = maxFrame
		}
		c.hdr[0], c.hdr[1], c.hdr[2] = byte(n), byte(n>>8), byte(n>>16)
		c.hdr[3] = c.pc.Sequence
		c.pc.Sequence++
		if _, err := c.bw.Write(c.hdr[:]); err != nil {
			return fmt.Errorf("write packet: %w", err)
		}
		if _, err := c.bw.Write(payload[:n]); err != nil {
			return fmt.Errorf("write packet: %w", err)
		}
		payload = payload[n:]
		// A payload of exactly k*0xFFFFFF bytes ends with an empty frame.
		if n < maxFrame {
			return nil
		}
	}
}

// Flush writes buffered packets to the network.
func (c *Conn) Flush() error {
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// Buffered reports how many bytes wait in the write buffer.
func (c *Conn) Buffered() int { return c.bw.Buffered() }

// countingWriter counts the bytes that reached the transport, which tells
// whether a reply is still entirely in the write buffer.
type countingWriter struct {
	w io.Writer
	n uint64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += uint64(n)
	return n, err
}

// Mark is a write position taken before a reply (see Rewind).
type Mark struct {
	sent  uint64
	seq   uint8
	empty bool
}

// Mark records the current write position.
func (c *Conn) Mark() Mark {
	return Mark{sent: c.out.n, seq: c.pc.Sequence, empty: c.bw.Buffered() == 0}
}

// Rewind withdraws the packets written since m if none of their bytes has
// reached the network yet (the write buffer absorbed them all), restoring
// the sequence id. It reports whether it could: a failed backend's partial
// reply that the client never saw can then be replaced by a retry's.
func (c *Conn) Rewind(m Mark) bool {
	if !m.empty || c.out.n != m.sent {
		return false
	}
	c.bw.Reset(&c.out)
	c.pc.Sequence = m.seq
	return true
}

// upgrade replaces the transport with tc after a successful TLS handshake.
// The sequence id carries over: the TLS layer is invisible to the protocol.
func (c *Conn) upgrade(tc *tls.Conn) {
	seq := c.pc.Sequence
	c.nc = tc
	c.rd = &readRecorder{Conn: tc}
	c.pc = packet.NewTLSConn(c.rd)
	c.pc.Sequence = seq
	c.out.w = tc
	c.bw.Reset(&c.out)
	c.readAhead = false
	c.tls = true
}
