package node

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// maxnode keeps every table in the Go heap, and a statement allocates little that lives, so with the default
// GOGC=100 the collector marks the whole data set each time the heap grows by as much again: about a fifth
// of the CPU under sysbench oltp_read_write. gcPercent lets the heap grow further between collections, and a
// soft memory limit (memLimitShare of the machine's or cgroup's memory) makes the collector work harder again
// as the heap nears it, so a large data set is not held at four times its size. Operators keep control: a
// GOGC or GOMEMLIMIT in the environment is left alone.
const (
	gcPercent     = 300
	memLimitShare = 0.75
)

// tuneGC applies gcPercent and the memory limit unless the environment sets them. Without a known memory
// size the defaults stay: a higher GOGC without a limit could grow the heap past the machine.
func tuneGC(log *slog.Logger) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	total, ok := memoryAvailable()
	if !ok {
		return
	}
	limit := int64(float64(total) * memLimitShare)
	debug.SetMemoryLimit(limit)
	debug.SetGCPercent(gcPercent)
	log.Info("garbage collector tuned (set GOGC or GOMEMLIMIT to override)", "gogc", gcPercent, "memory_limit_bytes", limit)
}

// memoryAvailable is the smaller of the machine's memory and the process's cgroup limit.
func memoryAvailable() (uint64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	total, ok := parseMemTotal(b)
	if !ok {
		return 0, false
	}
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(path); err == nil {
			if limit, ok := parseCgroupLimit(b); ok && limit < total {
				total = limit
			}
		}
	}
	return total, true
}

// parseMemTotal reads MemTotal (kB) from /proc/meminfo.
func parseMemTotal(meminfo []byte) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil || kb == 0 || kb > 1<<50 {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}

// parseCgroupLimit reads cgroup v2 memory.max or v1 memory.limit_in_bytes; "max" (or v1's page-rounded
// maximum) means no limit.
func parseCgroupLimit(b []byte) (uint64, bool) {
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}
