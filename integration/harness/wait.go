package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Poll calls cond every interval until it returns nil or ctx ends. On
// timeout the error names what was awaited and cond's last complaint, so a
// failed wait says why. It is the one place the harness waits for an
// eventual condition.
func Poll(ctx context.Context, what string, interval time.Duration, cond func(context.Context) error) error {
	start := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		var stop *stopPolling
		if errors.As(err, &stop) {
			return fmt.Errorf("waiting for %s: %w", what, stop.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %v waiting for %s: %w (last: %v)", time.Since(start).Round(time.Millisecond), what, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// stopPolling wraps an error that makes further polling pointless (the
// process being waited on exited).
type stopPolling struct{ err error }

func (s *stopPolling) Error() string { return s.err.Error() }
func (s *stopPolling) Unwrap() error { return s.err }

// Permanent marks err as final: Poll returns it at once instead of retrying.
func Permanent(err error) error { return &stopPolling{err: err} }

// FreePorts returns n distinct free TCP ports on 127.0.0.1. They are taken below the kernel's
// ephemeral range when it leaves room there: a port picked from 127.0.0.1:0 is one the kernel also
// hands to outgoing connections, and the test's own clients and relays (harness.NetCut reconnects
// constantly) could take it between the choice and the server's bind. All listeners are held until
// every port is chosen, so the n ports differ; another process may still take one before it is used,
// which on a test machine is rare enough to accept.
func FreePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	lo, hi := portRange()
	for attempts := 0; len(ports) < n && hi > lo && attempts < 100*n; attempts++ {
		l, err := net.Listen("tcp", loopback(lo+rand.IntN(hi-lo)))
		if err != nil {
			continue // in use
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("harness: allocate port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// portRange is where FreePorts looks first: from 10000 up to the start of the ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range, 32768 on Linux by default); empty when that range starts too
// low or cannot be read.
func portRange() (lo, hi int) {
	const floor = 10000
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	start, err := strconv.Atoi(f[0])
	if err != nil || start <= floor+1000 {
		return 0, 0
	}
	return floor, start
}

// WaitTCP waits until something accepts TCP connections on addr.
func WaitTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	return Poll(ctx, "a listener on "+addr, 50*time.Millisecond, func(ctx context.Context) error {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
