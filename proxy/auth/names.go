package auth

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Resolver finds host names for client addresses; *net.Resolver implements
// it.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

const (
	nameTTL        = 5 * time.Minute
	nameTimeout    = 2 * time.Second
	maxCachedNames = 10000
)

// nameCache remembers forward-confirmed reverse lookups, as MariaDB's host
// cache does, so that a reconnecting client costs no DNS round trip.
type nameCache struct {
	mu      sync.Mutex
	entries map[netip.Addr]nameEntry
}

type nameEntry struct {
	name    string // "" when the address has no confirmed name
	expires time.Time
}

func (c *nameCache) get(ip netip.Addr, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[ip]
	if !ok || now.After(e.expires) {
		return "", false
	}
	return e.name, true
}

func (c *nameCache) put(ip netip.Addr, name string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedNames {
		c.entries = map[netip.Addr]nameEntry{}
	}
	c.entries[ip] = nameEntry{name: name, expires: now.Add(nameTTL)}
}

// resolve returns the lower-case host name of ip, accepted only when the
// name resolves back to ip (MariaDB's forward confirmation, which stops a
// PTR record from claiming any name it likes). Failures yield "".
func resolve(ctx context.Context, r Resolver, ip netip.Addr) string {
	ctx, cancel := context.WithTimeout(ctx, nameTimeout)
	defer cancel()
	names, err := r.LookupAddr(ctx, ip.String())
	if err != nil || len(names) == 0 {
		return ""
	}
	name := strings.ToLower(strings.TrimSuffix(names[0], "."))
	if _, err := netip.ParseAddr(name); err == nil {
		return "" // a PTR record pretending to be an address
	}
	addrs, err := r.LookupHost(ctx, name)
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if back, err := netip.ParseAddr(a); err == nil && back.Unmap() == ip {
			return name
		}
	}
	return ""
}

// needsNames reports whether any host pattern names hosts (rather than
// addresses or localhost), which is when reverse lookups can change a
// match.
func needsNames(hosts []string) bool {
	for _, h := range hosts {
		if strings.EqualFold(h, "localhost") || strings.ContainsAny(h, ":/") {
			continue
		}
		for i := 0; i < len(h); i++ {
			if c := h[i] | 0x20; c >= 'a' && c <= 'z' {
				return true
			}
		}
	}
	return false
}

var _ Resolver = (*net.Resolver)(nil)
