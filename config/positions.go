package config

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
)

// positions maps key paths to the line where they are written.
//
// BurntSushi/toml keeps key positions private, and the positions it keeps
// are per key name, so every [[server]] element would share the last one's
// lines. This scanner walks the source once, after the TOML parser has
// accepted it, and records the line of every table header, array element
// and key with array indexes resolved, e.g. server[1].port. It relies on the
// input being valid TOML and only has to find where things start; it still
// never loops or panics on anything else.
type positions map[string]int

// pathKey joins path segments; array indexes are segments of the form "[n]".
func pathKey(segs ...string) string { return strings.Join(segs, "\x00") }

func index(i int) string { return "[" + strconv.Itoa(i) + "]" }

// line returns the line of the first path that was seen, trying each in
// order, or 0.
func (p positions) line(paths ...string) int {
	for _, k := range paths {
		if n, ok := p[k]; ok {
			return n
		}
	}
	return 0
}

// maxNesting bounds how deeply arrays, inline tables and dotted keys may
// nest. Real files need three levels; the TOML library takes time quadratic
// in the depth, so a hostile file could otherwise stall a reload.
const maxNesting = 32

// scanPositions returns the line of every key path in src, and the first
// line that nests deeper than maxNesting (0 if none).
func scanPositions(src []byte) (pos positions, tooDeep int) {
	s := &posScanner{src: src, line: 1, pos: positions{}, arrays: map[string]int{}}
	s.document()
	return s.pos, s.tooDeep
}

type posScanner struct {
	src  []byte
	i    int
	line int
	pos  positions
	// arrays counts the elements of each array of tables seen so far, keyed
	// by its resolved path.
	arrays map[string]int
	// depth is the current nesting of arrays and inline tables; tooDeep the
	// first line where depth or a dotted key went past maxNesting.
	depth   int
	tooDeep int
}

func (s *posScanner) nest(levels int) {
	if levels > maxNesting && s.tooDeep == 0 {
		s.tooDeep = s.line
	}
}

func (s *posScanner) eof() bool { return s.i >= len(s.src) }

func (s *posScanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.i]
}

func (s *posScanner) next() {
	if !s.eof() {
		if s.src[s.i] == '\n' {
			s.line++
		}
		s.i++
	}
}

func (s *posScanner) hasPrefix(p string) bool {
	return bytes.HasPrefix(s.src[s.i:], []byte(p))
}

// maxDepth bounds the paths recorded. The schema is at most
// section[index].key[index] deep, and following deeper nesting would make the
// scan quadratic in the nesting depth.
const maxDepth = 4

// child returns path extended by segs, or path itself once it is as deep as
// anything worth recording.
func child(path []string, segs ...string) []string {
	if len(path) >= maxDepth {
		return path
	}
	return append(slices.Clip(path), segs[:min(len(segs), maxDepth-len(path))]...)
}

// record notes the current line for path and each of its prefixes that has
// no line yet: `a.b = 1` is where the table a first appears.
func (s *posScanner) record(path []string) {
	for i := 1; i <= len(path); i++ {
		k := pathKey(path[:i]...)
		if _, ok := s.pos[k]; !ok {
			s.pos[k] = s.line
		}
	}
}

// skipSpace skips blanks on the current line.
func (s *posScanner) skipSpace() {
	for c := s.peek(); c == ' ' || c == '\t'; c = s.peek() {
		s.next()
	}
}

// skipComment skips a comment up to, not including, the end of the line.
func (s *posScanner) skipComment() {
	if s.peek() != '#' {
		return
	}
	for !s.eof() && s.peek() != '\n' {
		s.next()
	}
}

// skipBlank skips blanks, newlines and comments.
func (s *posScanner) skipBlank() {
	for !s.eof() {
		switch s.peek() {
		case ' ', '\t', '\r', '\n':
			s.next()
		case '#':
			s.skipComment()
		default:
			return
		}
	}
}

func (s *posScanner) document() {
	var table []string
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		start := s.i
		if s.peek() == '[' {
			table = s.header()
		} else {
			s.keyValue(table)
		}
		s.skipSpace()
		s.skipComment()
		if s.i == start { // unexpected byte: step over it rather than loop
			s.next()
		}
	}
}

// header reads [a.b] or [[a.b]] and returns the resolved table path.
func (s *posScanner) header() []string {
	s.next()
	isArray := s.peek() == '['
	if isArray {
		s.next()
	}
	s.skipSpace()
	keys := s.keyPath()
	for !s.eof() && s.peek() != '\n' && s.peek() != '#' {
		s.next() // the closing brackets
	}
	var path []string
	for i, k := range keys {
		if len(path) >= maxDepth {
			break
		}
		path = append(path, k)
		arr := pathKey(path...)
		n, seen := s.arrays[arr]
		switch {
		case isArray && i == len(keys)-1:
			s.arrays[arr] = n + 1
			path = append(path, index(n))
		case seen:
			// [a.b] below [[a]] belongs to a's latest element.
			path = append(path, index(n-1))
		}
	}
	s.record(path)
	return path
}

// keyValue reads `key = value` under table.
func (s *posScanner) keyValue(table []string) {
	keys := s.keyPath()
	if len(keys) == 0 {
		return
	}
	path := child(table, keys...)
	s.record(path)
	s.skipSpace()
	if s.peek() != '=' {
		return
	}
	s.next()
	s.skipSpace()
	s.value(path)
}

// keyPath reads a dotted key: bare, "basic" or 'literal' parts.
func (s *posScanner) keyPath() []string {
	var keys []string
	for {
		s.skipSpace()
		switch c := s.peek(); {
		case c == '"' || c == '\'':
			keys = append(keys, s.quotedKey(c))
		case isBareKeyByte(c):
			start := s.i
			for isBareKeyByte(s.peek()) {
				s.next()
			}
			keys = append(keys, string(s.src[start:s.i]))
		default:
			return keys
		}
		s.skipSpace()
		if s.peek() != '.' {
			s.nest(s.depth + len(keys))
			return keys
		}
		s.next()
	}
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c >= 0x80
}

func (s *posScanner) quotedKey(q byte) string {
	start := s.i
	s.skipString()
	raw := string(s.src[start:s.i])
	if q == '\'' {
		return strings.Trim(raw, "'")
	}
	if u, err := strconv.Unquote(raw); err == nil {
		return u
	}
	return strings.Trim(raw, `"`)
}

// skipString skips a basic, literal or multi-line string starting at the
// opening quote.
func (s *posScanner) skipString() {
	q := s.peek()
	triple := string([]byte{q, q, q})
	if s.hasPrefix(triple) {
		s.i += 3
		for !s.eof() {
			if q == '"' && s.peek() == '\\' {
				s.next()
				s.next()
				continue
			}
			if s.hasPrefix(triple) {
				s.i += 3
				// A closing delimiter may be followed by up to two more
				// quotes that belong to the content.
				for k := 0; k < 2 && s.peek() == q; k++ {
					s.next()
				}
				return
			}
			s.next()
		}
		return
	}
	s.next()
	for !s.eof() && s.peek() != '\n' {
		c := s.peek()
		s.next()
		if q == '"' && c == '\\' {
			s.next()
			continue
		}
		if c == q {
			return
		}
	}
}

// value skips one value, recording the elements of arrays and the keys of
// inline tables under path.
func (s *posScanner) value(path []string) {
	switch s.peek() {
	case '"', '\'':
		s.skipString()
	case '[':
		s.next()
		s.depth++
		defer func() { s.depth-- }()
		s.nest(s.depth)
		for n := 0; ; n++ {
			s.skipBlank()
			if s.eof() || s.peek() == ']' {
				break
			}
			elem := child(path, index(n))
			s.record(elem)
			start := s.i
			s.value(elem)
			s.skipBlank()
			if s.peek() == ',' {
				s.next()
			} else if s.i == start {
				s.next()
			}
		}
		s.next()
	case '{':
		s.next()
		s.depth++
		defer func() { s.depth-- }()
		s.nest(s.depth)
		for {
			s.skipBlank()
			if s.eof() || s.peek() == '}' {
				break
			}
			start := s.i
			s.keyValue(path)
			s.skipBlank()
			if s.peek() == ',' {
				s.next()
			} else if s.i == start {
				s.next()
			}
		}
		s.next()
	default:
		// Numbers, booleans and dates (which may contain a space).
		for !s.eof() {
			switch s.peek() {
			case '\n', '\r', ',', ']', '}', '#':
				return
			}
			s.next()
		}
	}
}
