package types

import (
	"unicode"
	"unicode/utf8"
)

// Collation identifies how strings compare. MariaDB's default for utf8mb4 is utf8mb4_general_ci:
// case- and (Latin-1) accent-insensitive, PAD SPACE (trailing spaces ignored), one weight per BMP code point,
// supplementary characters all weigh U+FFFD.
type Collation uint8

const (
	CollationGeneralCI Collation = iota // utf8mb4_general_ci (id 45)
	CollationBin                        // utf8mb4_bin (id 46): code point order, PAD SPACE
	CollationBinary                     // binary (id 63): byte order, no padding
)

// Collation ids as sent on the wire.
const (
	CollationIDGeneralCI uint16 = 45
	CollationIDBin       uint16 = 46
	CollationIDBinary    uint16 = 63
)

// CollationByName resolves a collation (or charset default) name.
func CollationByName(name string) (Collation, bool) {
	switch lowerASCII(name) {
	case "utf8mb4_general_ci", "utf8_general_ci", "utf8mb3_general_ci", "utf8mb4", "utf8", "utf8mb3",
		"latin1", "latin1_swedish_ci", "ascii", "ascii_general_ci", "utf8mb4_unicode_ci", "utf8_unicode_ci":
		return CollationGeneralCI, true
	case "utf8mb4_bin", "utf8_bin", "utf8mb3_bin", "latin1_bin", "ascii_bin":
		return CollationBin, true
	case "binary":
		return CollationBinary, true
	}
	return 0, false
}

// Name is the collation's MariaDB name.
func (c Collation) Name() string {
	switch c {
	case CollationBin:
		return "utf8mb4_bin"
	case CollationBinary:
		return "binary"
	}
	return "utf8mb4_general_ci"
}

// ID is the wire collation id.
func (c Collation) ID() uint16 {
	switch c {
	case CollationBin:
		return CollationIDBin
	case CollationBinary:
		return CollationIDBinary
	}
	return CollationIDGeneralCI
}

// latin1Weights maps U+00C0..U+00FF to their utf8mb4_general_ci weights (MariaDB's plane 00 sort table).
var latin1Weights = [64]uint16{
	'A', 'A', 'A', 'A', 'A', 'A', 0xC6, 'C', 'E', 'E', 'E', 'E', 'I', 'I', 'I', 'I',
	0xD0, 'N', 'O', 'O', 'O', 'O', 'O', 0xD7, 0xD8, 'U', 'U', 'U', 'U', 'Y', 0xDE, 'S',
	'A', 'A', 'A', 'A', 'A', 'A', 0xC6, 'C', 'E', 'E', 'E', 'E', 'I', 'I', 'I', 'I',
	0xD0, 'N', 'O', 'O', 'O', 'O', 'O', 0xF7, 0xD8, 'U', 'U', 'U', 'U', 'Y', 0xDE, 'Y',
}

// Weight is the utf8mb4_general_ci weight of one code point.
func Weight(r rune) uint16 {
	switch {
	case r < 0x80:
		if r >= 'a' && r <= 'z' {
			return uint16(r - 32)
		}
		return uint16(r)
	case r >= 0xC0 && r <= 0xFF:
		return latin1Weights[r-0xC0]
	case r > 0xFFFF:
		return 0xFFFD
	}
	return uint16(unicode.ToUpper(r))
}

// AppendWeights appends the sort key of s under c: 2 bytes per code point for general_ci/bin, raw bytes for
// binary. PAD SPACE collations drop trailing spaces first.
func (c Collation) AppendWeights(dst []byte, s string) []byte {
	if c == CollationBinary {
		return append(dst, s...)
	}
	s = trimTrailingSpaces(s)
	for i := 0; i < len(s); {
		b := s[i]
		if b < 0x80 {
			w := uint16(b)
			if c == CollationGeneralCI && b >= 'a' && b <= 'z' {
				w -= 32
			}
			dst = append(dst, byte(w>>8), byte(w))
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		var w uint16
		if c == CollationGeneralCI {
			w = Weight(r)
		} else if r > 0xFFFF {
			w = 0xFFFD
		} else {
			w = uint16(r)
		}
		dst = append(dst, byte(w>>8), byte(w))
	}
	return dst
}

func trimTrailingSpaces(s string) string {
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

// Compare compares two strings under c.
func (c Collation) Compare(a, b string) int {
	if c == CollationBinary {
		return compareBytes(a, b)
	}
	a, b = trimTrailingSpaces(a), trimTrailingSpaces(b)
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if ca < 0x80 && cb < 0x80 {
			if c == CollationGeneralCI {
				if ca >= 'a' && ca <= 'z' {
					ca -= 32
				}
				if cb >= 'a' && cb <= 'z' {
					cb -= 32
				}
			}
			if ca != cb {
				if ca < cb {
					return -1
				}
				return 1
			}
			i++
			j++
			continue
		}
		ra, na := utf8.DecodeRuneInString(a[i:])
		rb, nb := utf8.DecodeRuneInString(b[j:])
		i += na
		j += nb
		var wa, wb uint16
		if c == CollationGeneralCI {
			wa, wb = Weight(ra), Weight(rb)
		} else {
			wa, wb = clampBMP(ra), clampBMP(rb)
		}
		if wa != wb {
			if wa < wb {
				return -1
			}
			return 1
		}
	}
	switch {
	case i < len(a):
		return 1
	case j < len(b):
		return -1
	}
	return 0
}

func clampBMP(r rune) uint16 {
	if r > 0xFFFF {
		return 0xFFFD
	}
	return uint16(r)
}

func compareBytes(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 32
				}
			}
			return string(b)
		}
	}
	return s
}

// LikeMatch reports whether s matches the LIKE pattern p (with escape character esc) under c.
func (c Collation) LikeMatch(s, p string, esc rune) bool {
	return likeMatch(c, s, p, esc)
}

func likeMatch(c Collation, s, p string, esc rune) bool {
	// Iterative matcher with backtracking on the last '%'.
	si, pi := 0, 0
	starP, starS := -1, -1
	for si < len(s) {
		if pi < len(p) {
			pr, pn := decodeRune(c, p[pi:])
			switch {
			case pr == '%':
				starP, starS = pi+pn, si
				pi += pn
				continue
			case pr == '_':
				_, sn := decodeRune(c, s[si:])
				si += sn
				pi += pn
				continue
			default:
				if pr == esc && pi+pn < len(p) {
					pi += pn
					pr, pn = decodeRune(c, p[pi:])
				}
				sr, sn := decodeRune(c, s[si:])
				if runeEq(c, sr, pr) {
					si += sn
					pi += pn
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, sn := decodeRune(c, s[starS:])
		starS += sn
		si = starS
		pi = starP
	}
	for pi < len(p) {
		pr, pn := decodeRune(c, p[pi:])
		if pr != '%' {
			return false
		}
		pi += pn
	}
	return true
}

func decodeRune(c Collation, s string) (rune, int) {
	if c == CollationBinary || s[0] < 0x80 {
		return rune(s[0]), 1
	}
	return utf8.DecodeRuneInString(s)
}

func runeEq(c Collation, a, b rune) bool {
	if a == b {
		return true
	}
	if c == CollationGeneralCI {
		return Weight(a) == Weight(b)
	}
	return false
}
