package auth

import (
	"net/netip"
	"strings"
)

// hostPattern is a compiled mysql.user/mysql.db Host value.
type hostPattern struct {
	raw   string
	lower string
	// MariaDB's "a.b.c.d/m.m.m.m" form compares the client's IPv4 address
	// under the mask instead of matching text.
	masked    bool
	net, mask uint32
}

func compileHost(h string) hostPattern {
	p := hostPattern{raw: h, lower: strings.ToLower(h)}
	if addr, mask, ok := strings.Cut(h, "/"); ok {
		a, err1 := netip.ParseAddr(addr)
		m, err2 := netip.ParseAddr(mask)
		if err1 == nil && err2 == nil && a.Is4() && m.Is4() {
			p.masked, p.net, p.mask = true, ipv4(a), ipv4(m)
		}
	}
	return p
}

func ipv4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// peer is how a connecting client is matched against host patterns:
// by host name (case-insensitive) and by IP text, as MariaDB's
// compare_hostname does.
type peer struct {
	hostname string // lower case; "" when unresolved
	ip       string
	addr     netip.Addr
}

// shown is the host MariaDB puts in error messages: the name if it has one,
// the address otherwise.
func (c peer) shown() string {
	if c.hostname != "" {
		return c.hostname
	}
	return c.ip
}

func (p *hostPattern) match(c peer) bool {
	if p.masked && c.addr.Is4() {
		return ipv4(c.addr)&p.mask == p.net
	}
	if p.raw == "" || p.raw == "%" {
		return true
	}
	return (c.hostname != "" && wildMatch(c.hostname, p.lower)) ||
		(c.ip != "" && wildMatch(c.ip, p.raw))
}

// wildMatch matches s against a SQL LIKE-style pattern: '%' any run, '_'
// one byte, '\' escapes the next byte. Callers fold case beforehand where
// the comparison is case-insensitive.
func wildMatch(s, pat string) bool {
	// Iterative matcher with one backtrack point for the last '%': linear
	// in practice and never recursive, so hostile patterns cannot blow the
	// stack.
	si, pi := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(pat) {
			switch c := pat[pi]; c {
			case '%':
				starP, starS = pi, si
				pi++
				continue
			case '_':
				si++
				pi++
				continue
			case '\\':
				if pi+1 < len(pat) {
					if s[si] == pat[pi+1] {
						si++
						pi += 2
						continue
					}
				} else if s[si] == c {
					si++
					pi++
					continue
				}
			default:
				if s[si] == c {
					si++
					pi++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		si, pi = starS, starP+1
	}
	for pi < len(pat) && pat[pi] == '%' {
		pi++
	}
	return pi == len(pat)
}

// maxHostLen is MariaDB's HOSTNAME_LENGTH, the "maxlen" of its pattern
// ordering.
const maxHostLen = 255

// specificity orders host patterns (and, in the low bit, user names) the
// way MariaDB orders mysql.user: larger values are more specific. Exact
// names come first, then patterns by how few strings they can match
// (estimated from their non-wildcard length and the kind and number of
// wildcards), then the bare '%'; within the same host an account with a
// user name beats the anonymous one.
func specificity(host, user string) uint64 {
	var n, m, k, prefix uint64
	for i := 0; i < len(host); i++ {
		switch host[i] {
		case '%':
			if k == 0 && m == 0 {
				prefix = n
			}
			k++
			for i+1 < len(host) && host[i+1] == '%' {
				i++
			}
		case '_':
			if k == 0 && m == 0 {
				prefix = n
			}
			m++
		case '\\':
			if i+1 < len(host) {
				i++
			}
			n++
		default:
			n++
		}
	}
	k, m = min(k, 31), min(m, 31)
	var l uint64
	if k > 0 && n+m < maxHostLen {
		l = maxHostLen - n - m
	}
	const d, d1 = maxHostLen + 1, 32
	var magic uint64
	if l > m {
		magic = (((l*2+1)*d+k)*d1+m)*d + prefix
	} else {
		magic = (((m*2)*d+l)*d1+k)*d + prefix
	}
	generic := magic << 1
	if user == "" {
		generic |= 1
	}
	return ^generic
}
