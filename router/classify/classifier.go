package classify

import (
	"sync"
	"sync/atomic"

	"github.com/pingcap/tidb/pkg/parser"
	// The TiDB parser needs a value-expression driver or parser.New panics.
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"
)

// MaxCachedText is the longest canonical text the cache stores. Longer
// statements are classified on every execution rather than letting a few
// huge texts dominate the cache's memory; bulk INSERTs and IN lists
// canonicalize to short texts, so this rarely matters.
const MaxCachedText = 16 << 10

// maxPooledBuf bounds the scratch buffers kept for reuse.
const maxPooledBuf = 64 << 10

// MaxParseBytes is the longest statement handed to the parser; longer ones
// (bulk loads) go to the token fallback, uncached, so that one client
// cannot make the proxy build a gigabyte of AST.
const MaxParseBytes = 4 << 20

// maxParseDepth bounds the parenthesis nesting handed to the parser: the
// AST walk is recursive, and a goroutine stack overflow is not recoverable.
const maxParseDepth = 256

// Classifier classifies statements through the canonical-text cache. It is
// safe for concurrent use by any number of sessions.
type Classifier struct {
	cache     *cache // nil: no cache, every call parses
	parsers   sync.Pool
	bufs      sync.Pool
	fallbacks atomic.Uint64
	misses    atomic.Uint64 // only counted when there is no cache
}

// New returns a classifier whose cache holds about size entries. size <= 0
// disables the cache: every call parses (used as the reference in tests).
func New(size int) *Classifier {
	c := &Classifier{}
	if size > 0 {
		c.cache = newCache(size)
	}
	c.parsers.New = func() any { return parser.New() }
	c.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return c
}

// Classify returns the class of one COM_QUERY text (or of a
// COM_STMT_PREPARE text: placeholders are just `?`) and its routing hint.
// On a cache hit it does not allocate: the canonical text is built in a
// pooled buffer and the cached Class is copied out.
func (c *Classifier) Classify(sql []byte) (Class, Hint) {
	bp := c.bufs.Get().(*[]byte)
	cl, h, buf := c.ClassifyBuf(*bp, sql)
	if cap(buf) <= maxPooledBuf {
		*bp = buf[:0]
		c.bufs.Put(bp)
	}
	return cl, h
}

// ClassifyBuf is Classify with a caller-owned scratch buffer, for a
// session that keeps one: the canonical text is written into buf[:0], and
// the (possibly grown) buffer is returned for the next call.
func (c *Classifier) ClassifyBuf(buf, sql []byte) (Class, Hint, []byte) {
	canon, hint := Canonicalize(buf, sql)
	if c.cache == nil {
		c.misses.Add(1)
		return c.parse(canon, sql), hint, canon
	}
	h := Hash(canon)
	if cl, ok := c.cache.get(h, canon); ok {
		return cl, hint, canon
	}
	cl := c.parse(canon, sql)
	if len(canon) <= MaxCachedText && len(sql) <= MaxParseBytes {
		c.cache.put(h, string(canon), cl)
	}
	return cl, hint, canon
}

// parse classifies the original text with a pooled parser, or falls back
// to the token classifier over the canonical text.
func (c *Classifier) parse(canon, sql []byte) Class {
	if len(sql) > MaxParseBytes || nestingDepth(canon) > maxParseDepth {
		c.fallbacks.Add(1)
		return fallback(canon)
	}
	p := c.parsers.Get().(*parser.Parser)
	defer c.parsers.Put(p)
	cl, ok := parseClass(p, string(sql))
	if ok {
		return cl
	}
	if body := setStatementBody(sql); body != nil {
		// SET STATEMENT … FOR stmt: route like stmt. Its canonical text is
		// a suffix of this one, so the class still depends on canon alone.
		cl, ok := parseClass(p, string(body))
		if !ok {
			inner, _ := Canonicalize(nil, body)
			cl = fallback(inner)
		}
		if cl.Kind != KindSet { // SET inside SET STATEMENT is not MariaDB
			if !ok {
				c.fallbacks.Add(1)
			}
			return cl
		}
	}
	c.fallbacks.Add(1)
	return fallback(canon)
}

// nestingDepth returns the deepest parenthesis nesting of a canonical text.
// Parentheses inside kept literals count too: an overestimate only sends
// odd statements to the fallback, and it depends on the canonical text
// alone, as the cache requires.
func nestingDepth(canon []byte) int {
	depth, deepest := 0, 0
	for _, b := range canon {
		switch b {
		case '(':
			depth++
			deepest = max(deepest, depth)
		case ')':
			depth--
		}
	}
	return deepest
}

// Stats returns the cache counters.
func (c *Classifier) Stats() Stats {
	var st Stats
	if c.cache != nil {
		st = c.cache.stats()
	} else {
		st.Misses = c.misses.Load()
	}
	st.Fallbacks = c.fallbacks.Load()
	return st
}
