package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// maxPayload is the largest payload of one protocol packet; longer payloads continue in the next
// packet, and a payload of exactly this length is followed by an empty one.
const maxPayload = 1<<24 - 1

var (
	errPacketTooLarge = errors.New("packet larger than max_allowed_packet")
	errSequence       = errors.New("packet out of order")
)

// packetConn frames the MySQL protocol over a connection. It is our own rather than go-mysql's
// packet.Conn because that one reads payloads of any size into memory (a client could make the
// server buffer without bound) and writes one syscall per packet. Here reads are limited by
// max_allowed_packet and writes go to a buffer that the command loop flushes once per reply.
type packetConn struct {
	nc  net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	seq uint8
	max int

	in     []byte  // reassembled payload of the last read, reused
	header [4]byte // scratch for reads and writes
}

func newPacketConn(nc net.Conn, maxPacket int, writeTimeout time.Duration) *packetConn {
	var w io.Writer = nc
	if writeTimeout > 0 {
		w = &deadlineWriter{nc: nc, timeout: writeTimeout}
	}
	return &packetConn{
		nc:  nc,
		r:   bufio.NewReaderSize(nc, 16<<10),
		w:   bufio.NewWriterSize(w, 16<<10),
		max: maxPacket,
	}
}

// deadlineWriter gives every write to the connection its own deadline.
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if err := d.nc.SetWriteDeadline(time.Now().Add(d.timeout)); err != nil {
		return 0, err
	}
	return d.nc.Write(p)
}

// readPacket returns the next payload, reassembled across 16 MiB packets. It stays valid until the next
// readPacket. A payload over the limit is drained and reported as errPacketTooLarge.
func (c *packetConn) readPacket() ([]byte, error) {
	c.in = c.in[:0]
	for {
		if _, err := io.ReadFull(c.r, c.header[:]); err != nil {
			return nil, err
		}
		n := int(c.header[0]) | int(c.header[1])<<8 | int(c.header[2])<<16
		if c.header[3] != c.seq {
			return nil, fmt.Errorf("%w: got sequence %d, want %d", errSequence, c.header[3], c.seq)
		}
		c.seq++
		if len(c.in)+n > c.max {
			c.drain(n)
			return nil, errPacketTooLarge
		}
		start := len(c.in)
		c.in = growTo(c.in, start+n)
		if _, err := io.ReadFull(c.r, c.in[start:]); err != nil {
			return nil, err
		}
		if n < maxPayload {
			return c.in, nil
		}
	}
}

// drainTimeout bounds how long an oversized command is read and discarded.
const drainTimeout = 5 * time.Second

// drain discards the rest of an oversized payload (n bytes of the current packet, then its
// continuations) so the client, still writing it, reads our error instead of a connection reset.
// Nothing is kept, and the deadline bounds a client that never stops sending.
func (c *packetConn) drain(n int) {
	_ = c.nc.SetReadDeadline(time.Now().Add(drainTimeout))
	for {
		if _, err := io.CopyN(io.Discard, c.r, int64(n)); err != nil || n < maxPayload {
			return
		}
		if _, err := io.ReadFull(c.r, c.header[:]); err != nil {
			return
		}
		n = int(c.header[0]) | int(c.header[1])<<8 | int(c.header[2])<<16
		c.seq++
	}
}

func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// writePacket buffers one payload, split into as many packets as its length needs.
func (c *packetConn) writePacket(payload []byte) error {
	for {
		n := min(len(payload), maxPayload)
		c.header[0], c.header[1], c.header[2], c.header[3] = byte(n), byte(n>>8), byte(n>>16), c.seq
		c.seq++
		if _, err := c.w.Write(c.header[:]); err != nil {
			return err
		}
		if _, err := c.w.Write(payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
		if n < maxPayload {
			return nil
		}
	}
}

func (c *packetConn) flush() error { return c.w.Flush() }
