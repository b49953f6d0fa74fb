package auth

import (
	"regexp"
	"strings"
	"testing"
)

// likeRegexp is the obvious, slow oracle for wildMatch.
func likeRegexp(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '%':
			b.WriteString(`.*`)
		case '_':
			b.WriteString(`.`)
		case '\\':
			if i+1 < len(pat) {
				i++
				b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
			} else {
				b.WriteString(`\\`)
			}
		default:
			b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

func FuzzWildMatch(f *testing.F) {
	for _, s := range [][2]string{{"abc", "a%c"}, {"a_c", `a\_c`}, {"192.168.1.7", "192.168.1.%"}, {"x", "%%_%"}, {"", "%"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, s, pat string) {
		// Byte-wise matching: keep the oracle byte-wise too.
		if !isASCII(s) || !isASCII(pat) || len(pat) > 64 {
			return
		}
		if got, want := wildMatch(s, pat), likeRegexp(pat).MatchString(s); got != want {
			t.Fatalf("wildMatch(%q, %q) = %v, oracle says %v", s, pat, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func FuzzCompileHost(f *testing.F) {
	for _, h := range []string{"%", "10.0.0.0/255.0.0.0", "localhost", "a.b/c", "::1", ""} {
		f.Add(h, "10.1.2.3")
	}
	f.Fuzz(func(t *testing.T, host, ip string) {
		p := compileHost(host)
		_ = p.match(peer{hostname: strings.ToLower(ip), ip: ip})
		_ = specificity(host, ip)
	})
}
