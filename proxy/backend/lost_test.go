package backend_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/maxproxy/maxproxy/proxy/backend"
	"github.com/maxproxy/maxproxy/proxy/protocol"
)

type allowAll struct{}

func (allowAll) Admit(context.Context, netip.Addr) error { return nil }
func (allowAll) Authenticate(context.Context, *protocol.AuthRequest) ([]byte, error) {
	return nil, nil
}

// dyingServer accepts one login and answers the first command with the
// start of a result set, then drops the connection.
func dyingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		c, _, err := protocol.Accept(context.Background(), nc, &protocol.AcceptConfig{ServerVersion: "10.11.0-MariaDB", Authenticator: allowAll{}})
		if err != nil {
			return
		}
		if _, err := c.ReadCommand(); err != nil {
			return
		}
		for _, p := range [][]byte{{1}, []byte("\x03def\x00\x00\x00\x01a"), {1, '1'}} {
			_ = c.WritePacket(p)
		}
		_ = c.Flush()
	}()
	return ln.Addr().String()
}

func TestBackendLostMidReply(t *testing.T) {
	addr := dyingServer(t)
	ctx := context.Background()
	be, err := backend.Dial(ctx, addr, 5*time.Second, &protocol.LoginConfig{User: "u", ClientCapabilities: protocol.ServerCapabilities})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()

	// The client side is a real protocol.Conn whose peer never reads.
	cliSide, peer := net.Pipe()
	defer cliSide.Close()
	defer peer.Close()
	client := protocol.NewConn(cliSide)
	client.ResetSequence()
	mark := client.Mark()
	res, err := be.Relay(ctx, client, append([]byte{mysql.COM_QUERY}, "SELECT 1"...))
	if !errors.Is(err, io.EOF) || !be.Broken() {
		t.Fatalf("want a broken backend after EOF, got %v (broken %v)", err, be.Broken())
	}
	if res.Forwarded != 3 {
		t.Fatalf("forwarded %d packets, want 3", res.Forwarded)
	}
	// None of it left the client's write buffer: the session may retry.
	if !client.Rewind(mark) || client.Buffered() != 0 {
		t.Fatal("partial reply could not be withdrawn")
	}
	if _, err := be.Exec(ctx, "DO 1"); !errors.Is(err, backend.ErrBroken) {
		t.Fatalf("broken connection reused: %v", err)
	}
}
