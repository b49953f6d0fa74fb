package classify

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU adds a cpu-ns/op metric to b: the process's CPU time over the
// timed loop. On a shared machine wall-clock ns/op includes the time other
// processes run on our core; CPU time does not, so it is the steadier
// figure to compare (it still includes GC work the loop causes).
func reportCPU(b *testing.B, loop func()) {
	b.Helper()
	start := cpuTime(b)
	loop()
	b.ReportMetric(float64((cpuTime(b)-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
