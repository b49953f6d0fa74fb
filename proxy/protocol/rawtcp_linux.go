package protocol

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// RawTCP returns nc with its reads and writes done as plain non-blocking
// system calls (RawSyscall) under the network poller, or nc unchanged when
// it is not a *net.TCPConn. Deadlines, Close and waiting for readiness are
// still the poller's, through syscall.RawConn.
//
// Why: the runtime treats an ordinary read(2) or write(2) as a blocking
// system call. A write on loopback delivers the bytes to the peer and wakes
// it inside the call, and on a busy machine the kernel often switches to
// that peer before the call returns; the runtime's monitor thread then
// sees the P stuck in a system call, hands it to another thread, and the
// first thread sleeps when the call returns. A proxy does two such writes
// per statement, so this hand-off churn is a large share of its CPU and
// context switches. A socket in non-blocking mode never blocks, so raw
// calls are safe, and the P stays with the goroutine. The price: while the
// kernel has that thread descheduled inside a call, goroutines queued on
// its P run only when another P steals them, as behind any goroutine that
// computes.
func RawTCP(nc net.Conn) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	c := &rawTCP{TCPConn: tc, rc: rc}
	c.r.fn = c.r.read
	c.w.fn = c.w.write
	return c
}

// rawTCP is a TCP connection whose Read and Write bypass the runtime's
// blocking-syscall bookkeeping. Each direction keeps its operation's state
// and its poller callback (built once, so no call allocates); the mutexes
// keep concurrent calls in one direction from sharing that state, as
// net.Conn allows them.
type rawTCP struct {
	*net.TCPConn
	rc syscall.RawConn
	r  rawOp
	w  rawOp
}

// rawOp is the state of one Read or Write in progress.
type rawOp struct {
	mu  sync.Mutex
	fn  func(fd uintptr) bool // r.read or w.write, bound once
	buf []byte
	n   int
	err error
}

func (c *rawTCP) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	op := &c.r
	op.mu.Lock()
	defer op.mu.Unlock()
	op.buf, op.n, op.err = p, 0, nil
	err := c.rc.Read(op.fn)
	n := op.n
	if err == nil {
		err = op.err
	}
	op.buf, op.err = nil, nil
	switch {
	case err != nil:
		return n, c.opError("read", err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawTCP) Write(p []byte) (int, error) {
	op := &c.w
	op.mu.Lock()
	defer op.mu.Unlock()
	op.buf, op.n, op.err = p, 0, nil
	err := c.rc.Write(op.fn)
	n := op.n
	if err == nil {
		err = op.err
	}
	op.buf, op.err = nil, nil
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// read is the poller callback of Read: one read(2), or false to wait for
// readability.
func (op *rawOp) read(fd uintptr) bool {
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&op.buf[0])), uintptr(len(op.buf)))
		switch errno {
		case 0:
			op.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		op.err = os.NewSyscallError("read", errno)
		return true
	}
}

// write is the poller callback of Write: write(2) until the buffer is
// sent, or false to wait for writability.
func (op *rawOp) write(fd uintptr) bool {
	for op.n < len(op.buf) {
		rest := op.buf[op.n:]
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)))
		switch errno {
		case 0:
			op.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			op.err = os.NewSyscallError("write", errno)
			return true
		}
	}
	return true
}

// opError shapes err as the net package's own errors are, so that callers'
// errors.Is checks (io.EOF, net.ErrClosed, os.ErrDeadlineExceeded) and log
// messages are the same as without RawTCP.
func (c *rawTCP) opError(op string, err error) error {
	var raw *net.OpError // the poller's errors come as a "raw-read"/"raw-write" OpError
	if errors.As(err, &raw) {
		err = raw.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
