package protocol

import (
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// BenchmarkTrackerRows measures the tracker per packet on a 1000-row
// result set (DEPRECATE_EOF on).
func BenchmarkTrackerRows(b *testing.B) {
	pkts := resultSet(true, 8, 1000, stAuto)
	cmd := []byte{mysql.COM_QUERY, 'x'}
	var tr Tracker
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for n < b.N {
		_, _ = tr.Start(cmd, deprecCaps)
		for _, p := range pkts {
			if _, err := tr.Feed(p); err != nil {
				b.Fatal(err)
			}
		}
		n += len(pkts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
}

// BenchmarkTrackerPointSelect is one small reply: column count, one
// column, one row, terminator.
func BenchmarkTrackerPointSelect(b *testing.B) {
	pkts := resultSet(true, 1, 1, stAuto)
	cmd := []byte{mysql.COM_STMT_EXECUTE, 1, 0, 0, 0, 0}
	var tr Tracker
	b.ReportAllocs()
	for b.Loop() {
		_, _ = tr.Start(cmd, deprecCaps)
		for _, p := range pkts {
			if _, err := tr.Feed(p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkConnRelay reads packets from one loopback connection and writes
// them to another with the tracker in between, flushing once per 100-row
// reply: the relay's inner loop without a database.
func BenchmarkConnRelay(b *testing.B) {
	srcW, srcR := pipePair(b)
	dstW, dstR := pipePair(b)
	reply := resultSet(true, 4, 100, stAuto)
	cmd := []byte{mysql.COM_QUERY, 'x'}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	// Producer: writes replies as fast as the relay takes them.
	go func() {
		defer wg.Done()
		for {
			srcW.ResetSequence()
			for _, p := range reply {
				if srcW.WritePacket(p) != nil {
					return
				}
			}
			if srcW.Flush() != nil {
				return
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	// Consumer: drains the relayed bytes.
	go func() {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for {
			if _, err := dstR.NetConn().Read(buf); err != nil {
				return
			}
		}
	}()
	var tr Tracker
	b.ReportAllocs()
	size := 0
	for _, p := range reply {
		size += 4 + len(p)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		srcR.ResetSequence()
		dstW.ResetSequence()
		_, _ = tr.Start(cmd, deprecCaps)
		for {
			p, err := srcR.ReadPacket()
			if err != nil {
				b.Fatal(err)
			}
			if err := dstW.WritePacket(p); err != nil {
				b.Fatal(err)
			}
			step, err := tr.Feed(p)
			if err != nil {
				b.Fatal(err)
			}
			if step == Done {
				break
			}
		}
		if err := dstW.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(reply)), "ns/packet")
	close(stop)
	srcW.Close()
	srcR.Close()
	dstW.Close()
	wg.Wait()
}
