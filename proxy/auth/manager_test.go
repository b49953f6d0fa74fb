package auth

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/maxproxy/maxproxy/proxy/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeLoader struct {
	mu     sync.Mutex
	data   *UserData
	err    error
	loads  int
	loaded chan struct{}
}

func (l *fakeLoader) Load(context.Context) (*UserData, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loads++
	if l.loaded != nil {
		l.loaded <- struct{}{}
	}
	if l.err != nil {
		return nil, l.err
	}
	cp := *l.data
	return &cp, nil
}

func (l *fakeLoader) set(f func(d *UserData)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l.data)
}

func (l *fakeLoader) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loads
}

type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	armed chan chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), armed: make(chan chan time.Time, 4)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.armed <- ch
	return ch
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func hash(pw string) string {
	return "*" + strings.ToUpper(hexString(protocol.NativeStage2(protocol.NativeStage1(pw))))
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

var (
	loopback = netip.MustParseAddr("127.0.0.1")
	lanHost  = netip.MustParseAddr("10.0.0.5")
	salt     = []byte("abcdefghij0123456789")
)

func login(user, pw, db string, ip netip.Addr) *protocol.AuthRequest {
	return &protocol.AuthRequest{User: user, IP: ip, Salt: salt, DB: db,
		AuthResponse: protocol.NativeScramble(salt, protocol.NativeStage1(pw))}
}

func baseData() *UserData {
	return &UserData{
		Accounts: []Account{
			{User: "app", Host: "%", AuthString: hash("app-pw")},
			{User: "app", Host: "10.0.0.%", AuthString: hash("lan-pw")},
			{User: "nopw", Host: "%"},
			{User: "root", Host: "%", AuthString: hash("root-pw"), GlobalDBAccess: true},
			{User: "ed", Host: "%", Plugin: "ed25519", AuthString: "xyz"},
			{User: "locked", Host: "%", AuthString: hash("l"), Locked: true},
			{User: "reporter", Host: "%", AuthString: hash("r"), DefaultRole: "readers"},
			{User: "readers", IsRole: true},
			{User: "analysts", IsRole: true},
		},
		DBGrants: []DBGrant{
			{User: "app", Host: "%", DB: `shop\_%`, Pattern: true},
			{User: "app", Host: "%", DB: "orders"},
			{User: "analysts", Host: "", DB: "warehouse", Pattern: true},
		},
		RoleGrants: []RoleGrant{
			{User: "reporter", Host: "%", Role: "readers"},
			{User: "readers", Host: "", Role: "analysts"},
		},
		Databases: []string{"shop_eu", "shopXus", "orders", "warehouse", "secret"},
	}
}

func newManager(t *testing.T, cfg Config, data *UserData) (*Manager, *fakeLoader, *fakeClock) {
	t.Helper()
	l := &fakeLoader{data: data}
	clk := newFakeClock()
	m := New(cfg, l, nil, clk)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, l, clk
}

func wantCode(t *testing.T, err error, code uint16, msg string) {
	t.Helper()
	var me *protocol.Error
	if !errors.As(err, &me) || me.Code != code || (msg != "" && me.Message != msg) {
		t.Fatalf("got %v, want %d %q", err, code, msg)
	}
}

func TestAuthenticate(t *testing.T) {
	m, _, _ := newManager(t, DefaultConfig(), baseData())
	ctx := context.Background()

	stage1, err := m.Authenticate(ctx, login("app", "app-pw", "", loopback))
	if err != nil || !bytes.Equal(stage1, protocol.NativeStage1("app-pw")) {
		t.Fatalf("app: %x, %v", stage1, err)
	}
	// The more specific 10.0.0.% entry wins for LAN clients.
	if _, err := m.Authenticate(ctx, login("app", "lan-pw", "", lanHost)); err != nil {
		t.Fatal(err)
	}
	_, err = m.Authenticate(ctx, login("app", "app-pw", "", lanHost))
	wantCode(t, err, 1045, "Access denied for user 'app'@'10.0.0.5' (using password: YES)")
	_, err = m.Authenticate(ctx, login("app", "", "", loopback))
	wantCode(t, err, 1045, "Access denied for user 'app'@'localhost' (using password: NO)")

	if s1, err := m.Authenticate(ctx, login("nopw", "", "", loopback)); err != nil || s1 != nil {
		t.Fatalf("account without password: %x %v", s1, err)
	}
	_, err = m.Authenticate(ctx, login("nopw", "x", "", loopback))
	wantCode(t, err, 1045, "")

	// root is refused unless enabled, even with the right password.
	_, err = m.Authenticate(ctx, login("root", "root-pw", "", loopback))
	wantCode(t, err, 1045, "Access denied for user 'root'@'localhost' (using password: YES)")
	// A locked account says so only to a client with the right password.
	_, err = m.Authenticate(ctx, login("locked", "l", "", loopback))
	wantCode(t, err, protocol.ERAccountLocked, "Access denied, this account is locked")
	_, err = m.Authenticate(ctx, login("locked", "x", "", loopback))
	wantCode(t, err, 1045, "")
	// Accounts with other plugins cannot be verified from a hash.
	_, err = m.Authenticate(ctx, login("ed", "x", "", loopback))
	wantCode(t, err, 1045, "")
}

func TestEnableRootUser(t *testing.T) {
	cfg := DefaultConfig()
	cfg.EnableRootUser = true
	m, _, _ := newManager(t, cfg, baseData())
	if _, err := m.Authenticate(context.Background(), login("root", "root-pw", "secret", loopback)); err != nil {
		t.Fatal(err)
	}
}

func TestDatabaseChecks(t *testing.T) {
	m, _, _ := newManager(t, DefaultConfig(), baseData())
	ctx := context.Background()
	for _, db := range []string{"shop_eu", "orders", "information_schema"} {
		if _, err := m.Authenticate(ctx, login("app", "app-pw", db, loopback)); err != nil {
			t.Errorf("db %s: %v", db, err)
		}
	}
	// "shop\_%" has an escaped underscore: shopXus is not covered.
	_, err := m.Authenticate(ctx, login("app", "app-pw", "shopXus", loopback))
	wantCode(t, err, 1044, "Access denied for user 'app'@'localhost' to database 'shopXus'")
	_, err = m.Authenticate(ctx, login("app", "app-pw", "shop_missing", loopback))
	wantCode(t, err, 1049, "Unknown database 'shop_missing'")
	// Wrong password wins over a database problem.
	_, err = m.Authenticate(ctx, login("app", "bad", "secret", loopback))
	wantCode(t, err, 1045, "")
	// Grants reach the default role's granted roles.
	if _, err := m.Authenticate(ctx, login("reporter", "r", "warehouse", loopback)); err != nil {
		t.Fatal(err)
	}
	_, err = m.Authenticate(ctx, login("reporter", "r", "orders", loopback))
	wantCode(t, err, 1044, "")
}

func TestAnonymousAccountShadowsWildcardHost(t *testing.T) {
	d := baseData()
	d.Accounts = append(d.Accounts, Account{User: "", Host: "localhost", AuthString: hash("anon")})
	m, _, _ := newManager(t, DefaultConfig(), d)
	ctx := context.Background()
	// As in MariaDB, ''@'localhost' is more specific than app@'%' for a
	// loopback client, so app's own password fails there...
	_, err := m.Authenticate(ctx, login("app", "app-pw", "", loopback))
	wantCode(t, err, 1045, "")
	if _, err := m.Authenticate(ctx, login("app", "anon", "", loopback)); err != nil {
		t.Fatal(err)
	}
	// ...but not for other hosts, nor with name resolution off.
	if _, err := m.Authenticate(ctx, login("app", "lan-pw", "", lanHost)); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.SkipNameResolve = true
	m2, _, _ := newManager(t, cfg, d)
	if _, err := m2.Authenticate(ctx, login("app", "app-pw", "", loopback)); err != nil {
		t.Fatal(err)
	}
}

func TestReloadOnFailedLoginIsRateLimited(t *testing.T) {
	cfg := DefaultConfig()
	m, l, clk := newManager(t, cfg, baseData())
	ctx := context.Background()
	if l.count() != 1 {
		t.Fatalf("initial loads %d", l.count())
	}
	// A user created after the load logs in on the first try: the failed
	// lookup reloads and the login is retried once.
	clk.advance(cfg.RefreshTime)
	l.set(func(d *UserData) {
		d.Accounts = append(d.Accounts, Account{User: "newbie", Host: "%", AuthString: hash("n")})
	})
	if _, err := m.Authenticate(ctx, login("newbie", "n", "", loopback)); err != nil {
		t.Fatal(err)
	}
	if l.count() != 2 {
		t.Fatalf("loads %d, want 2", l.count())
	}
	// Further failures within users_refresh_time do not reload.
	for range 3 {
		_, err := m.Authenticate(ctx, login("ghost", "x", "", loopback))
		wantCode(t, err, 1045, "")
	}
	if l.count() != 2 {
		t.Fatalf("loads %d within refresh time, want 2", l.count())
	}
	clk.advance(cfg.RefreshTime)
	_, _ = m.Authenticate(ctx, login("ghost", "x", "", loopback))
	if l.count() != 3 {
		t.Fatalf("loads %d after refresh time, want 3", l.count())
	}
}

func TestHostBlocking(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxAuthErrorsUntilBlock = 3
	cfg.RefreshTime = time.Hour
	obs := &countingObserver{}
	cfg.Observer = obs
	m, _, clk := newManager(t, cfg, baseData())
	ctx := context.Background()
	other := netip.MustParseAddr("10.0.0.9")

	// A success resets the count.
	for range 2 {
		_, _ = m.Authenticate(ctx, login("app", "bad", "", lanHost))
	}
	if _, err := m.Authenticate(ctx, login("app", "lan-pw", "", lanHost)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, _ = m.Authenticate(ctx, login("app", "bad", "", lanHost))
	}
	if err := m.Admit(ctx, lanHost); err != nil {
		t.Fatalf("blocked after 2 failures following a success: %v", err)
	}
	_, _ = m.Authenticate(ctx, login("app", "bad", "", lanHost))
	wantCode(t, m.Admit(ctx, lanHost), 1129,
		"Host '10.0.0.5' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'")
	if err := m.Admit(ctx, other); err != nil {
		t.Fatalf("other host blocked: %v", err)
	}
	clk.advance(cfg.BlockDuration - time.Second)
	wantCode(t, m.Admit(ctx, lanHost), 1129, "")
	clk.advance(time.Second)
	if err := m.Admit(ctx, lanHost); err != nil {
		t.Fatalf("still blocked after the block duration: %v", err)
	}
	// Database errors are not authentication failures.
	for range 5 {
		_, err := m.Authenticate(ctx, login("app", "lan-pw", "secret", other))
		wantCode(t, err, 1044, "")
	}
	if err := m.Admit(ctx, other); err != nil {
		t.Fatalf("blocked for database errors: %v", err)
	}
	// Every refusal counts, database errors included; one block, refusing
	// two connections.
	if want := (countingObserver{failed: 10, blocked: 1, refused: 2}); *obs != want {
		t.Errorf("observer saw %+v, want %+v", *obs, want)
	}
}

// countingObserver counts what the manager reports; the tests call the
// manager from one goroutine.
type countingObserver struct{ failed, blocked, refused int }

func (o *countingObserver) LoginFailed()        { o.failed++ }
func (o *countingObserver) HostBlocked()        { o.blocked++ }
func (o *countingObserver) BlockedHostRefused() { o.refused++ }

func TestPeriodicReload(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RefreshInterval = time.Minute
	l := &fakeLoader{data: baseData(), loaded: make(chan struct{}, 4)}
	clk := newFakeClock()
	m := New(cfg, l, nil, clk)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-l.loaded // initial load
	for range 2 {
		tick := <-clk.armed
		tick <- clk.Now()
		<-l.loaded
	}
	m.Close()
	if l.count() != 3 {
		t.Fatalf("loads %d, want 3", l.count())
	}
}

func TestFailedLoadKeepsServingAndRecovers(t *testing.T) {
	l := &fakeLoader{data: baseData(), err: errors.New("backend down")}
	clk := newFakeClock()
	m := New(DefaultConfig(), l, nil, clk)
	if err := m.Start(context.Background()); err == nil {
		t.Fatal("Start hid the load error")
	}
	defer m.Close()
	ctx := context.Background()
	_, err := m.Authenticate(ctx, login("app", "app-pw", "", loopback))
	wantCode(t, err, 1045, "")
	l.set(func(*UserData) {})
	l.mu.Lock()
	l.err = nil
	l.mu.Unlock()
	clk.advance(time.Minute)
	if _, err := m.Authenticate(ctx, login("app", "app-pw", "", loopback)); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidHashOnlyLocksThatAccount(t *testing.T) {
	d := baseData()
	// MariaDB stores "invalid" for root@localhost when only unix_socket
	// may log in.
	d.Accounts = append(d.Accounts, Account{User: "sock", Host: "%", AuthString: "invalid"})
	m, _, _ := newManager(t, DefaultConfig(), d)
	ctx := context.Background()
	_, err := m.Authenticate(ctx, login("sock", "invalid", "", loopback))
	wantCode(t, err, 1045, "")
	_, err = m.Authenticate(ctx, login("sock", "", "", loopback))
	wantCode(t, err, 1045, "")
	if _, err := m.Authenticate(ctx, login("app", "app-pw", "", loopback)); err != nil {
		t.Fatal(err)
	}
}
