package classify

import (
	"bytes"
	"slices"
)

// This file is the canonicalizer: one pass over the statement bytes that
// writes a normalised form into a caller-provided buffer without allocating.
//
// Canonical form, and why each rule is safe for the class cache (two texts
// with the same canonical form must always get the same Class):
//   - comments are dropped; a routing hint found in one is returned
//     separately (it is per statement, never cached);
//   - executable comments /*!…*/ and /*M!…*/ are kept with their version,
//     because the server runs what is inside them;
//   - unquoted words are upper-cased (keywords, functions, variables and
//     identifiers alike); Class keeps names lower-cased for the same reason;
//   - numbers, strings ('…' and "…", with backslash and doubled-quote
//     escapes), X'…', B'…', N'…', 0x…, 0b… become `?`; backquoted names are
//     kept verbatim. Two kinds of literal are kept because the class
//     depends on them: the value assigned to autocommit, tx_isolation or
//     transaction_isolation in a SET (`SET autocommit=0` and `=1` must not
//     share a class), and every literal of a PREPARE (its text is
//     classified too). Other SET values become `?`, so that user-variable
//     values and secrets neither multiply cache entries nor sit in them;
//   - `IN (?, ?, …)` becomes `IN (?+)` and repeated identical VALUES rows
//     collapse to the first, so bulk statements share one entry;
//   - whitespace becomes single spaces, with none after `(` or `.` and none
//     before `)`, `,`, `.` or `;`, and a trailing `;` is dropped.

// HintTarget is where a routing hint asks a statement to go.
type HintTarget uint8

// The routing hint targets, as in `-- maxproxy route to master|slave|server NAME|last`.
const (
	HintNone HintTarget = iota
	HintMaster
	HintSlave
	HintServer
	HintLast
)

var hintNames = [...]string{"none", "master", "slave", "server", "last"}

// String returns the hint target's name.
func (h HintTarget) String() string {
	if int(h) < len(hintNames) {
		return hintNames[h]
	}
	return "invalid"
}

// Hint is a routing hint taken from a comment of the statement. It is not
// part of the canonical text and never cached.
type Hint struct {
	Target HintTarget
	// Server is the server name of a `route to server NAME` hint. It is the
	// only allocation the canonicalizer ever makes, and only for such a hint.
	Server string
}

type tokKind uint8

const (
	tNone tokKind = iota
	tWord
	tOpen
	tClose
	tComma
	tDot
	tSemi
	tOp
	tLit
)

const maxParenDepth = 64

type paren struct {
	pos int32 // offset of '(' in out (statements are < 1 GiB: max_allowed_packet)
	in  bool  // the list of an IN predicate
	row uint8
}

const (
	rowNone = iota
	rowFirst
	rowNext
)

const (
	rowStateNone = iota
	rowStateAfterRow
	rowStateAfterComma
	rowStateInRow
)

type canonicalizer struct {
	src      []byte
	out      []byte
	prev     tokKind
	sawSpace bool
	// prevWord is an identity of the last word token, for IN and VALUES.
	prevIn, prevValues bool
	stmtStart          bool
	inSet              bool // the statement is a SET
	keepAll            bool // the statement is a PREPARE: keep every literal
	valueVar           bool // the last word names a variable whose value matters
	keepNext           bool // the last token is the '=' after such a variable
	inExec             bool
	depth              int
	stack              [maxParenDepth]paren
	rowState           int
	rowStart, rowEnd   int
	hint               Hint
}

// Canonicalize writes the canonical form of sql into dst[:0] and returns
// it, together with the routing hint found in the statement's comments
// (the last one wins). It never allocates when dst has room, except for
// the name of a `route to server NAME` hint.
func Canonicalize(dst, sql []byte) ([]byte, Hint) {
	c := canonicalizer{src: sql, out: dst[:0], stmtStart: true}
	c.run()
	// Drop trailing statement separators: "SELECT 1;" is "SELECT 1".
	for len(c.out) > 0 && (c.out[len(c.out)-1] == ';' || c.out[len(c.out)-1] == ' ') {
		c.out = c.out[:len(c.out)-1]
	}
	return c.out, c.hint
}

// Hash returns the 64-bit FNV-1a hash of b.
func Hash(b []byte) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for _, x := range b {
		h ^= uint64(x)
		h *= prime
	}
	return h
}

const (
	chWord  = 1 << iota // identifier characters: letters, digits, _, $, bytes >= 0x80
	chDigit             // 0-9
	chSpace             // the whitespace MariaDB skips between tokens
)

// chClass and upperTab make the per-byte tests of the hot loop one load each.
var chClass, upperTab = func() (cls, up [256]byte) {
	for i := range 256 {
		b := byte(i)
		switch {
		case b >= '0' && b <= '9':
			cls[i] = chWord | chDigit
		case b == '_' || b == '$' || b >= 0x80 || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'):
			cls[i] = chWord
		case b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v':
			cls[i] = chSpace
		}
		up[i] = b
		if b >= 'a' && b <= 'z' {
			up[i] = b - 'a' + 'A'
		}
	}
	return cls, up
}()

func isWordByte(b byte) bool { return chClass[b]&chWord != 0 }

func isDigit(b byte) bool { return chClass[b]&chDigit != 0 }

func isSpace(b byte) bool { return chClass[b]&chSpace != 0 }

// isDashCommentSpace reports whether b after "--" starts a comment. The
// TiDB parser's rule (unicode.IsSpace of the byte) is followed rather than
// MariaDB's (any control character) so that the canonical text and the
// parse agree on where the statement ends.
func isDashCommentSpace(b byte) bool { return isSpace(b) || b == 0x85 || b == 0xA0 }

func (c *canonicalizer) run() {
	s := c.src
	i := 0
	for i < len(s) {
		b := s[i]
		switch {
		case isSpace(b):
			c.sawSpace = true
			i++
		case b == '#':
			i = c.lineComment(i + 1)
		case b == '-' && i+1 < len(s) && s[i+1] == '-' && (i+2 == len(s) || isDashCommentSpace(s[i+2])):
			i = c.lineComment(i + 2)
		case b == '/' && i+1 < len(s) && s[i+1] == '*':
			i = c.blockComment(i)
		case b == '*' && c.inExec && i+1 < len(s) && s[i+1] == '/':
			c.inExec = false
			c.emit(tWord, s[i:i+2])
			i += 2
		case b == '\'' || b == '"':
			end, closed := quoted(s, i, b)
			if !closed {
				// Unterminated: the server rejects it, and it must not share
				// a cache entry with the well-formed statement it resembles.
				c.emit(tLit, []byte{b, '?'})
			} else {
				c.literal(s[i:end])
			}
			i = end
		case b == '`':
			end := skipQuoted(s, i, '`')
			c.emit(tWord, s[i:end])
			c.prevIn, c.prevValues = false, false
			i = end
		case b == '@':
			i = c.variable(i)
		case b == '?':
			c.emit(tLit, s[i:i+1])
			i++
		case b == '.' && i+1 < len(s) && isDigit(s[i+1]) && c.prev != tWord && c.prev != tClose:
			i = c.number(i, i)
		case isWordByte(b):
			i = c.word(i)
		case b == '(':
			c.open(s[i : i+1])
			i++
		case b == ')':
			c.close()
			i++
		case b == ',':
			c.emit(tComma, s[i:i+1])
			i++
		case b == '.':
			c.emit(tDot, s[i:i+1])
			i++
		case b == ';':
			c.emit(tSemi, s[i:i+1])
			c.stmtStart, c.inSet, c.keepAll = true, false, false
			c.depth = 0
			i++
		default:
			n := operatorLen(s[i:])
			c.emit(tOp, s[i:i+n])
			i += n
		}
	}
}

var multiOps = [...]string{"<=>", "->>", "<=", ">=", "<>", "!=", ":=", "||", "&&", "<<", ">>", "->"}

func operatorLen(s []byte) int {
	for _, op := range multiOps {
		if len(s) >= len(op) && string(s[:len(op)]) == op {
			return len(op)
		}
	}
	return 1
}

// skipQuoted returns the offset just past the quoted token that starts at
// s[i] with quote q. Backslash escapes apply to strings, not to backquoted
// names; a doubled quote is an escaped quote in both. An unterminated token
// runs to the end of the input.
func skipQuoted(s []byte, i int, q byte) int {
	end, _ := quoted(s, i, q)
	return end
}

// quoted is skipQuoted that also reports whether the closing quote was found.
func quoted(s []byte, i int, q byte) (end int, closed bool) {
	j := i + 1
	for j < len(s) {
		switch s[j] {
		case '\\':
			if q != '`' {
				j += 2
				continue
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j += 2
				continue
			}
			return j + 1, true
		}
		j++
	}
	return len(s), false
}

func (c *canonicalizer) lineComment(i int) int {
	s := c.src
	j := i
	for j < len(s) && s[j] != '\n' {
		j++
	}
	c.checkHint(s[i:j])
	c.sawSpace = true
	return j
}

func (c *canonicalizer) blockComment(i int) int {
	s := c.src
	body := i + 2
	exec := false
	if body < len(s) && s[body] == '!' {
		exec = true
		body++
	} else if body+1 < len(s) && s[body] == 'M' && s[body+1] == '!' {
		exec = true
		body += 2
	}
	if exec && !c.inExec {
		for body < len(s) && isDigit(s[body]) {
			body++
		}
		c.emit(tWord, s[i:body])
		c.inExec = true
		return body
	}
	j := body
	for j+1 < len(s) && !(s[j] == '*' && s[j+1] == '/') {
		j++
	}
	if j+1 >= len(s) { // unterminated: the rest is comment, marked as such
		c.checkHint(s[body:])
		c.emit(tWord, s[i:i+2])
		return len(s)
	}
	c.checkHint(s[body:j])
	c.sawSpace = true
	return j + 2
}

func (c *canonicalizer) variable(i int) int {
	s := c.src
	j := i + 1
	if j < len(s) && s[j] == '@' {
		j++
	}
	if j < len(s) && (s[j] == '\'' || s[j] == '"' || s[j] == '`') {
		j = skipQuoted(s, j, s[j])
		c.emit(tWord, s[i:j])
	} else {
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		c.emitUpper(s[i:j])
		if c.inSet {
			c.valueVar = valueMatters(c.out[len(c.out)-(j-i):])
		}
	}
	c.prevIn, c.prevValues = false, false
	return j
}

// word scans an unquoted word starting at s[i]: a keyword or identifier,
// or a numeric literal (which may continue with a fraction or exponent).
func (c *canonicalizer) word(i int) int {
	s := c.src
	j := i
	for j < len(s) && isWordByte(s[j]) {
		j++
	}
	w := s[i:j]
	if len(w) == 1 && j < len(s) && s[j] == '\'' {
		switch w[0] {
		case 'x', 'X', 'b', 'B', 'n', 'N':
			end, closed := quoted(s, j, '\'')
			body := s[j+1 : max(end-1, j+1)]
			switch {
			case !closed:
				c.emit(tLit, []byte{'\'', '?'}) // see the unterminated string case
			case (w[0] == 'x' || w[0] == 'X') && (len(body)%2 != 0 || !allHex(body)),
				(w[0] == 'b' || w[0] == 'B') && !allBin(body):
				// Malformed: the server rejects it; keep it verbatim so that
				// it does not share a cache entry with valid statements.
				c.emit(tLit, s[i:end])
			default:
				c.literal(s[i:end])
			}
			return end
		}
	}
	if isDigit(w[0]) {
		if isNumberWord(w) {
			return c.number(i, j)
		}
		if len(w) > 2 && w[0] == '0' && (w[1] == 'x' && allHex(w[2:]) || w[1] == 'b' && allBin(w[2:])) {
			c.literal(w)
			return j
		}
		if n := exponentPrefix(w); n > 0 && j+1 < len(s) && (s[j] == '+' || s[j] == '-') && isDigit(s[j+1]) {
			k := j + 1
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			c.literal(s[i:k])
			return k
		}
		// An identifier may start with digits (e.g. 1abc).
	}
	c.emitUpper(w)
	up := c.out[len(c.out)-len(w):]
	c.prevIn = string(up) == "IN"
	c.prevValues = string(up) == "VALUES" || string(up) == "VALUE"
	if c.stmtStart {
		c.stmtStart = false
		c.inSet = string(up) == "SET"
		c.keepAll = string(up) == "PREPARE"
	}
	if c.inSet {
		c.valueVar = valueMatters(up)
	}
	return j
}

// isNumberWord reports whether w is digits, or digits e digits.
func isNumberWord(w []byte) bool {
	k := 0
	for k < len(w) && isDigit(w[k]) {
		k++
	}
	if k == len(w) {
		return true
	}
	if w[k] != 'e' && w[k] != 'E' || k+1 == len(w) {
		return false
	}
	for _, b := range w[k+1:] {
		if !isDigit(b) {
			return false
		}
	}
	return true
}

// exponentPrefix returns len(w) when w is digits followed by a lone e/E
// (the sign of the exponent comes next), else 0.
func exponentPrefix(w []byte) int {
	n := len(w)
	if n < 2 || (w[n-1] != 'e' && w[n-1] != 'E') {
		return 0
	}
	for _, b := range w[:n-1] {
		if !isDigit(b) {
			return 0
		}
	}
	return n
}

func allHex(w []byte) bool {
	for _, b := range w {
		if !isDigit(b) && !(b >= 'a' && b <= 'f') && !(b >= 'A' && b <= 'F') {
			return false
		}
	}
	return true
}

func allBin(w []byte) bool {
	for _, b := range w {
		if b != '0' && b != '1' {
			return false
		}
	}
	return true
}

// number scans the rest of a decimal literal that starts at s[i], whose
// integer part (possibly empty, for ".5") ends at j.
func (c *canonicalizer) number(i, j int) int {
	s := c.src
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && isDigit(s[j]) {
			j++
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigit(s[k]) {
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			j = k
		}
	}
	c.literal(s[i:j])
	return j
}

var (
	question   = []byte{'?'}
	closeParen = []byte{')'}
)

// valueMatters reports whether the value a SET assigns to the variable
// named by the upper-cased word w changes the statement's class.
func valueMatters(w []byte) bool {
	switch string(bytes.TrimPrefix(w, []byte("@@"))) {
	case "AUTOCOMMIT", "TX_ISOLATION", "TRANSACTION_ISOLATION":
		return true
	}
	return false
}

func (c *canonicalizer) literal(text []byte) {
	if c.keepAll || c.keepNext {
		c.emit(tLit, text)
	} else {
		c.emit(tLit, question)
	}
	c.prevIn, c.prevValues = false, false
}

func (c *canonicalizer) space(k tokKind) {
	if len(c.out) == 0 {
		return
	}
	switch k {
	case tClose, tComma, tDot, tSemi:
		return
	}
	switch c.prev {
	case tNone, tOpen, tDot:
		return
	}
	if k == tOpen && c.prev == tWord && !c.sawSpace {
		return
	}
	c.out = append(c.out, ' ')
}

// rowTrack advances the multi-row VALUES state machine for a token that is
// about to be emitted at depth c.depth.
func (c *canonicalizer) rowTrack(k tokKind) {
	switch c.rowState {
	case rowStateAfterRow:
		if k == tComma {
			c.rowState = rowStateAfterComma
		} else {
			c.rowState = rowStateNone
		}
	case rowStateAfterComma:
		if k != tOpen {
			c.rowState = rowStateNone
		}
	}
}

func (c *canonicalizer) emit(k tokKind, text []byte) {
	c.rowTrack(k)
	c.space(k)
	c.out = append(c.out, text...)
	c.prev = k
	c.sawSpace = false
	if k != tWord {
		c.prevIn, c.prevValues = false, false
	}
	c.keepNext = c.valueVar && k == tOp && (string(text) == "=" || string(text) == ":=")
	c.valueVar = false
}

func (c *canonicalizer) emitUpper(text []byte) {
	c.rowTrack(tWord)
	c.space(tWord)
	n := len(c.out)
	c.out = slices.Grow(c.out, len(text))[:n+len(text)]
	dst := c.out[n:]
	for k, b := range text {
		dst[k] = upperTab[b]
	}
	c.prev = tWord
	c.sawSpace = false
	c.keepNext, c.valueVar = false, false
}

func (c *canonicalizer) open(text []byte) {
	p := paren{in: c.prevIn}
	if c.prevValues && c.rowState == rowStateNone {
		p.row = rowFirst
	} else if c.rowState == rowStateAfterComma {
		p.row = rowNext
		c.rowState = rowStateInRow
	}
	wasIn := c.rowState == rowStateInRow
	c.emit(tOpen, text)
	if wasIn {
		c.rowState = rowStateInRow
	}
	p.pos = int32(len(c.out) - 1)
	if c.depth < maxParenDepth {
		c.stack[c.depth] = p
	}
	c.depth++
}

func (c *canonicalizer) close() {
	inRow := c.rowState == rowStateInRow
	if c.depth == 0 || c.depth > maxParenDepth {
		if c.depth > 0 {
			c.depth--
		}
		c.emit(tClose, closeParen)
		if inRow {
			c.rowState = rowStateInRow
		}
		return
	}
	c.depth--
	p := c.stack[c.depth]
	if p.in && isPlaceholderList(c.out[p.pos+1:]) {
		c.out = append(c.out[:p.pos+1], '?', '+')
	}
	if inRow && p.row != rowNext {
		// A parenthesis nested inside a row being compared.
		c.emit(tClose, closeParen)
		c.rowState = rowStateInRow
		return
	}
	c.emit(tClose, closeParen)
	switch p.row {
	case rowFirst:
		c.rowStart, c.rowEnd = int(p.pos), len(c.out)
		c.rowState = rowStateAfterRow
	case rowNext:
		// The previous row ends with ')' and is followed by ", (".
		if string(c.out[p.pos:]) == string(c.out[c.rowStart:c.rowEnd]) {
			c.out = c.out[:c.rowEnd]
		} else {
			c.rowStart, c.rowEnd = int(p.pos), len(c.out)
		}
		c.rowState = rowStateAfterRow
	}
}

// isPlaceholderList reports whether b is "?", "?+" or "?, ?, …".
func isPlaceholderList(b []byte) bool {
	if string(b) == "?+" {
		return true
	}
	if len(b) == 0 || b[0] != '?' || (len(b)-1)%3 != 0 {
		return false
	}
	for i := 1; i < len(b); i += 3 {
		if b[i] != ',' || b[i+1] != ' ' || b[i+2] != '?' {
			return false
		}
	}
	return true
}

// checkHint records a routing hint if comment body is one:
// "maxproxy route to master|slave|last|server NAME" (MaxScale's "maxscale"
// prefix is accepted too, to ease migration).
func (c *canonicalizer) checkHint(body []byte) {
	var f [6][]byte
	n := 0
	for i := 0; i < len(body) && n < len(f); {
		for i < len(body) && isSpace(body[i]) {
			i++
		}
		j := i
		for j < len(body) && !isSpace(body[j]) {
			j++
		}
		if j > i {
			f[n] = body[i:j]
			n++
		}
		i = j
	}
	if n < 4 || !(eqFold(f[0], "maxproxy") || eqFold(f[0], "maxscale")) ||
		!eqFold(f[1], "route") || !eqFold(f[2], "to") {
		return
	}
	switch {
	case eqFold(f[3], "master") && n == 4:
		c.hint = Hint{Target: HintMaster}
	case eqFold(f[3], "slave") && n == 4:
		c.hint = Hint{Target: HintSlave}
	case eqFold(f[3], "last") && n == 4:
		c.hint = Hint{Target: HintLast}
	case eqFold(f[3], "server") && n == 5:
		c.hint = Hint{Target: HintServer, Server: string(f[4])}
	}
}

func eqFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		x := b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != lower[i] {
			return false
		}
	}
	return true
}
