package auth

import (
	"net/netip"
	"sort"
	"strings"
	"testing"
)

func TestWildMatch(t *testing.T) {
	cases := []struct {
		s, pat string
		want   bool
	}{
		{"abc", "abc", true},
		{"abc", "ab", false},
		{"abc", "a%", true},
		{"abc", "%c", true},
		{"abc", "a_c", true},
		{"ac", "a_c", false},
		{"192.168.1.7", "192.168.1.%", true},
		{"192.168.10.7", "192.168.1.%", false},
		{"a_c", `a\_c`, true},
		{"abc", `a\_c`, false},
		{"a%c", `a\%c`, true},
		{"aXbXc", "a%b%c", true},
		{"", "%", true},
		{"", "", true},
		{"x", "", false},
		{"db1", "db%", true},
		{"mississippi", "m%iss%ppi", true},
		{"mississippi", "m%iss%ppx", false},
	}
	for _, c := range cases {
		if got := wildMatch(c.s, c.pat); got != c.want {
			t.Errorf("wildMatch(%q, %q) = %v, want %v", c.s, c.pat, got, c.want)
		}
	}
}

func TestHostPatternMatch(t *testing.T) {
	local := peer{hostname: "localhost", ip: "127.0.0.1", addr: netip.MustParseAddr("127.0.0.1")}
	lan := peer{ip: "192.168.1.20", addr: netip.MustParseAddr("192.168.1.20")}
	cases := []struct {
		pat  string
		c    peer
		want bool
	}{
		{"%", lan, true},
		{"", lan, true},
		{"localhost", local, true},
		{"LOCALHOST", local, true},
		{"127.0.0.1", local, true},
		{"localhost", lan, false},
		{"192.168.1.%", lan, true},
		{"192.168.1.0/255.255.255.0", lan, true},
		{"192.168.2.0/255.255.255.0", lan, false},
		{"192.168.0.0/255.255.0.0", lan, true},
		{"192.168.1._", lan, false},
		{"192.168.1.__", lan, true},
	}
	for _, c := range cases {
		p := compileHost(c.pat)
		if got := p.match(c.c); got != c.want {
			t.Errorf("%q matches %+v = %v, want %v", c.pat, c.c, got, c.want)
		}
	}
}

// TestSpecificityOrder checks MariaDB's mysql.user ordering: exact hosts,
// then patterns by how many names they can match ('_' before '%', more
// literal characters first), then '%', with
// named users before anonymous ones on the same host.
func TestSpecificityOrder(t *testing.T) {
	type acct struct{ host, user string }
	want := []acct{
		{"db1.example.com", "app"},
		{"db1.example.com", ""},
		{"192.168.1.1_", "app"},
		{"%.example.com", "app"}, // 12 literal characters: fewer matches than 192.168.1.%
		{"192.168.1.%", "app"},
		{"192.168.%", "app"},
		{"%", "app"},
		{"%", ""},
	}
	got := append([]acct(nil), want...)
	sort.SliceStable(got, func(i, j int) bool { return got[i].host < got[j].host })
	sort.SliceStable(got, func(i, j int) bool {
		return specificity(got[i].host, got[i].user) > specificity(got[j].host, got[j].user)
	})
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestPrivilegeColumnCount(t *testing.T) {
	if n := len(strings.Split(dbPrivColumns, ",")); n != dbPrivCount {
		t.Fatalf("dbPrivColumns lists %d columns, dbPrivCount says %d", n, dbPrivCount)
	}
}
