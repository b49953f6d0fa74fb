package backend_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

type discardClient struct{ packets int }

func (d *discardClient) WritePacket([]byte) error    { d.packets++; return nil }
func (d *discardClient) Flush() error                { return nil }
func (d *discardClient) ReadPacket() ([]byte, error) { return nil, fmt.Errorf("no client data") }

// BenchmarkRelayPointQuery relays "SELECT 1" from a real mariadbd over
// loopback into a client that discards packets: the backend leg of the
// relay, including the server's own time.
func BenchmarkRelayPointQuery(b *testing.B) {
	c := dialApp(b, fullCaps)
	cmd := append([]byte{mysql.COM_QUERY}, "SELECT 1"...)
	cl := &discardClient{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Relay(ctx, cl, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelay1000Rows relays a 1000-row result set.
func BenchmarkRelay1000Rows(b *testing.B) {
	c := dialApp(b, fullCaps)
	cmd := append([]byte{mysql.COM_QUERY}, "SELECT seq, REPEAT('x', 50) FROM seq_1_to_1000"...)
	cl := &discardClient{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Relay(ctx, cl, cmd)
		if err != nil || res.Reply.Rows != 1000 {
			b.Fatal(err, res.Reply.Rows)
		}
	}
}

// BenchmarkDriverSelect compares go-sql-driver round trips directly to
// mariadbd and through the test proxy (handshake relay + backend relay).
func BenchmarkDriverSelect(b *testing.B) {
	s := needServer(b)
	for _, target := range []string{"direct", "proxy"} {
		b.Run(target, func(b *testing.B) {
			addr := s.Addr()
			if target == "proxy" {
				addr = startProxy(b, proxyOpts{}).addr()
			}
			db := openDBB(b, addr)
			db.SetMaxOpenConns(1)
			var n int
			b.ReportAllocs()
			for b.Loop() {
				if err := db.QueryRow("SELECT 1").Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
