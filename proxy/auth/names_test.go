package auth

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeResolver serves PTR and A records from maps and counts lookups.
type fakeResolver struct {
	mu      sync.Mutex
	ptr     map[string]string   // ip -> name
	a       map[string][]string // name -> ips
	lookups int
}

func (r *fakeResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	if n, ok := r.ptr[addr]; ok {
		return []string{n}, nil
	}
	return nil, errors.New("no PTR")
}

func (r *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.a[host]; ok {
		return a, nil
	}
	return nil, errors.New("no A")
}

func (r *fakeResolver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups
}

func TestHostNamePatterns(t *testing.T) {
	res := &fakeResolver{
		ptr: map[string]string{"10.1.0.5": "Web1.Example.COM.", "10.1.0.6": "web2.example.com.", "10.1.0.7": "10.1.0.8"},
		a:   map[string][]string{"web1.example.com": {"10.1.0.5"}, "web2.example.com": {"10.9.9.9"}},
	}
	cfg := DefaultConfig()
	cfg.Resolver = res
	cfg.RefreshTime = time.Hour
	d := baseData()
	d.Accounts = append(d.Accounts, Account{User: "web", Host: "%.example.com", AuthString: hash("w")})
	m, _, clk := newManager(t, cfg, d)
	ctx := context.Background()

	if _, err := m.Authenticate(ctx, login("web", "w", "", netip.MustParseAddr("10.1.0.5"))); err != nil {
		t.Fatalf("resolved client: %v", err)
	}
	// web2's PTR record is not confirmed by its A record: no name.
	_, err := m.Authenticate(ctx, login("web", "w", "", netip.MustParseAddr("10.1.0.6")))
	wantCode(t, err, 1045, "Access denied for user 'web'@'10.1.0.6' (using password: YES)")
	// A PTR record that looks like an address is ignored.
	_, err = m.Authenticate(ctx, login("web", "w", "", netip.MustParseAddr("10.1.0.7")))
	wantCode(t, err, 1045, "")
	// Errors name the client by its resolved name.
	_, err = m.Authenticate(ctx, login("web", "bad", "", netip.MustParseAddr("10.1.0.5")))
	wantCode(t, err, 1045, "Access denied for user 'web'@'web1.example.com' (using password: YES)")

	// Names are cached.
	n := res.count()
	if _, err := m.Authenticate(ctx, login("web", "w", "", netip.MustParseAddr("10.1.0.5"))); err != nil {
		t.Fatal(err)
	}
	if res.count() != n {
		t.Fatalf("cached name looked up again")
	}
	clk.advance(nameTTL + time.Second)
	if _, err := m.Authenticate(ctx, login("web", "w", "", netip.MustParseAddr("10.1.0.5"))); err != nil {
		t.Fatal(err)
	}
	if res.count() != n+1 {
		t.Fatalf("expired name not looked up again")
	}

	// With skip_name_resolve, and with no name patterns at all, DNS is
	// never asked.
	cfg.SkipNameResolve = true
	m2, _, _ := newManager(t, cfg, d)
	before := res.count()
	_, err = m2.Authenticate(ctx, login("web", "w", "", netip.MustParseAddr("10.1.0.5")))
	wantCode(t, err, 1045, "")
	cfg.SkipNameResolve = false
	m3, _, _ := newManager(t, cfg, baseData())
	if _, err := m3.Authenticate(ctx, login("app", "lan-pw", "", lanHost)); err != nil {
		t.Fatal(err)
	}
	if res.count() != before {
		t.Fatalf("DNS asked %d times without name patterns", res.count()-before)
	}
}

func TestNeedsNames(t *testing.T) {
	cases := map[string]bool{"%": false, "10.0.0.%": false, "localhost": false, "::1": false,
		"192.168.0.0/255.255.0.0": false, "%.example.com": true, "db1": true}
	for h, want := range cases {
		if got := needsNames([]string{h}); got != want {
			t.Errorf("needsNames(%q) = %v, want %v", h, got, want)
		}
	}
}
