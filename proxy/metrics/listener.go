package metrics

import (
	"net"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Listener is the pre-resolved metric set of one listener.
type Listener struct {
	open     prometheus.Gauge
	accepted prometheus.Counter
	in, out  prometheus.Counter
}

// Listener resolves the children of listener name, which serves service.
func (m *Metrics) Listener(name, service string) *Listener {
	return &Listener{
		open:     m.listenerOpen.WithLabelValues(name, service),
		accepted: m.listenerTotal.WithLabelValues(name, service),
		in:       m.bytesIn.WithLabelValues(name, service),
		out:      m.bytesOut.WithLabelValues(name, service),
	}
}

// Conn counts an accepted client connection and returns it wrapped so that
// its traffic is counted. Counting happens per Read and Write call, not per
// packet: the session reads through a buffer and flushes once per reply,
// so this is one atomic add per system call. The connection stops counting
// as open at its first Close.
func (l *Listener) Conn(c net.Conn) net.Conn {
	l.accepted.Inc()
	l.open.Inc()
	return &countedConn{Conn: c, l: l}
}

type countedConn struct {
	net.Conn
	l      *Listener
	closed atomic.Bool
}

// NetConn returns the connection it counts, so that callers can reach the
// TCP socket beneath (the session resets an expired client with SO_LINGER 0,
// as MariaDB does at wait_timeout).
func (c *countedConn) NetConn() net.Conn { return c.Conn }

func (c *countedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.l.in.Add(float64(n))
	}
	return n, err
}

func (c *countedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.l.out.Add(float64(n))
	}
	return n, err
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.open.Dec()
	}
	return c.Conn.Close()
}
