package classify

import (
	"strings"
	"testing"
)

var benchStatements = []struct{ name, sql string }{
	{"point_select", "SELECT c FROM sbtest1 WHERE id=5012"},
	{"for_update", "SELECT c FROM sbtest1 WHERE id=5012 FOR UPDATE"},
	{"update", "UPDATE sbtest1 SET k=k+1 WHERE id=4983"},
	{"begin", "BEGIN"},
	{"set_names", "SET NAMES utf8mb4"},
	{"insert_10_rows", "INSERT INTO sbtest1 (id, k, c, pad) VALUES " + strings.Repeat(
		"(4983, 5012, '68487932199-96439406143-93774651418-41631865787-96406072701', '22195207048-70116052123-74140395089'), ", 9) +
		"(1, 2, 'x', 'y')"},
	{"in_list_2k", "SELECT * FROM t WHERE id IN (" + strings.Repeat("123456, ", 280) + "1)"},
}

func BenchmarkCanonicalize(b *testing.B) {
	for _, s := range benchStatements {
		b.Run(s.name, func(b *testing.B) {
			sql := []byte(s.sql)
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(len(sql)))
			b.ReportAllocs()
			reportCPU(b, func() {
				for b.Loop() {
					out, _ := Canonicalize(buf, sql)
					buf = out[:0]
				}
			})
		})
	}
}

// BenchmarkClassifyHit is the per-statement cost once a statement's shape
// is cached: canonicalize, hash, one shard lookup.
func BenchmarkClassifyHit(b *testing.B) {
	for _, s := range benchStatements {
		b.Run(s.name, func(b *testing.B) {
			c := New(10000)
			sql := []byte(s.sql)
			c.Classify(sql)
			b.ReportAllocs()
			reportCPU(b, func() {
				for b.Loop() {
					c.Classify(sql)
				}
			})
		})
	}
}

// BenchmarkClassifyHitParallel shows shard contention across cores.
func BenchmarkClassifyHitParallel(b *testing.B) {
	c := New(10000)
	sql := []byte(benchStatements[0].sql)
	c.Classify(sql)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Classify(sql)
		}
	})
}

// BenchmarkClassifyMiss is the cost of a statement whose shape is not
// cached: canonicalize and parse with the TiDB parser.
func BenchmarkClassifyMiss(b *testing.B) {
	for _, s := range benchStatements {
		b.Run(s.name, func(b *testing.B) {
			c := New(0)
			sql := []byte(s.sql)
			b.ReportAllocs()
			reportCPU(b, func() {
				for b.Loop() {
					c.Classify(sql)
				}
			})
		})
	}
}

// BenchmarkClassifyBufHit is the hit path with a session-owned scratch
// buffer instead of the pooled one.
func BenchmarkClassifyBufHit(b *testing.B) {
	c := New(10000)
	sql := []byte(benchStatements[0].sql)
	buf := make([]byte, 0, 256)
	c.Classify(sql)
	b.ReportAllocs()
	reportCPU(b, func() {
		for b.Loop() {
			_, _, buf = c.ClassifyBuf(buf, sql)
		}
	})
}
