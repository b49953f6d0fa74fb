package galera

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkClassify measures one round's classification for a large
// deployment; it runs once per monitor_interval, off the query path.
func BenchmarkClassify(b *testing.B) {
	for _, n := range []int{3, 16} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			in := Input{Options: Options{LagFCSentThreshold: 1, LagRecvQueueThreshold: 32, LagHysteresis: 3}, Now: time.Unix(0, 0)}
			for i := 0; i < n; i++ {
				p, err := parseProbe("", i, n, fmt.Sprintf("s%d", i))
				if err != nil {
					b.Fatal(err)
				}
				p.Server = ServerConfig{Name: fmt.Sprintf("s%d", i), Address: "127.0.0.1:3306"}
				in.Probes = append(in.Probes, p)
			}
			res := Classify(in)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				in.Prev, in.Memory = res.Snapshot, res.Memory
				res = Classify(in)
			}
		})
	}
}
