package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maxproxy/maxproxy/proxy/protocol"
)

// Config holds the account manager's settings (MaxScale's names in
// parentheses).
type Config struct {
	// RefreshTime is the minimum time between reloads triggered by failed
	// logins (users_refresh_time, default 30s).
	RefreshTime time.Duration
	// RefreshInterval reloads periodically; 0 disables (users_refresh_interval).
	RefreshInterval time.Duration
	// EnableRootUser lets 'root' log in through the proxy (enable_root_user,
	// default false).
	EnableRootUser bool
	// MaxAuthErrorsUntilBlock consecutive authentication failures block a
	// host for BlockDuration; 0 never blocks (max_auth_errors_until_block,
	// default 10; MaxScale blocks for 60 s).
	MaxAuthErrorsUntilBlock int
	BlockDuration           time.Duration
	// SkipNameResolve matches clients by IP address only. Otherwise, as in
	// MariaDB, loopback clients are also known as "localhost" and other
	// clients by their forward-confirmed reverse DNS name (looked up only
	// when some account's host names hosts, and cached for 5 minutes).
	SkipNameResolve bool
	// Resolver does the reverse lookups; nil means net.DefaultResolver.
	Resolver Resolver
	// Observer is told of refused logins and blocked hosts, for metrics;
	// nil tells no one.
	Observer Observer
}

// Observer counts authentication outcomes. Its methods are called on the
// login path and must not block. (Package metrics' Auth implements it.)
type Observer interface {
	// LoginFailed: a login was refused (access denied, locked account,
	// database not allowed or unknown).
	LoginFailed()
	// HostBlocked: a host reached MaxAuthErrorsUntilBlock failures.
	HostBlocked()
	// BlockedHostRefused: a connection from a blocked host was turned away.
	BlockedHostRefused()
}

type nopObserver struct{}

func (nopObserver) LoginFailed()        {}
func (nopObserver) HostBlocked()        {}
func (nopObserver) BlockedHostRefused() {}

// DefaultConfig returns MaxScale's defaults.
func DefaultConfig() Config {
	return Config{
		RefreshTime:             30 * time.Second,
		MaxAuthErrorsUntilBlock: 10,
		BlockDuration:           60 * time.Second,
	}
}

// Loader fetches account data from a backend. ServerLoader implements it.
type Loader interface {
	Load(ctx context.Context) (*UserData, error)
}

// Clock is the time source; tests inject a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// maxTrackedHosts bounds the failure table: above it, hosts that are not
// blocked are forgotten, so a scan from many addresses cannot grow memory
// without limit.
const maxTrackedHosts = 10000

// Manager authenticates clients the MaxScale way: it verifies the
// mysql_native_password reply against hashes loaded from a backend and
// returns SHA1(password) for backend logins. It implements
// protocol.Authenticator. Methods are safe for concurrent use.
type Manager struct {
	cfg    Config
	loader Loader
	log    *slog.Logger
	clock  Clock

	snap atomic.Pointer[snapshot]

	reloadMu    sync.Mutex // serialises loads
	generation  atomic.Uint64
	lastAttempt time.Time // guarded by reloadMu

	hostsMu sync.Mutex
	hosts   map[netip.Addr]*hostState

	names nameCache

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type hostState struct {
	failures     int
	blockedUntil time.Time
}

var _ protocol.Authenticator = (*Manager)(nil)

// New returns a Manager; call Start to load accounts. log and clock may be
// nil.
func New(cfg Config, loader Loader, log *slog.Logger, clock Clock) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clock == nil {
		clock = realClock{}
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return &Manager{cfg: cfg, loader: loader, log: log, clock: clock, hosts: map[netip.Addr]*hostState{}}
}

// Start loads the accounts once and, with RefreshInterval set, starts the
// periodic reload. A failed first load is returned, but the manager keeps
// working: failed logins trigger (rate-limited) reloads. Close stops it.
func (m *Manager) Start(ctx context.Context) error {
	err := m.Reload(ctx)
	ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if m.cfg.RefreshInterval > 0 {
		m.wg.Add(1)
		go m.refreshLoop(ctx)
	}
	return err
}

// Close stops the periodic reload and waits for it.
func (m *Manager) Close() {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
}

func (m *Manager) refreshLoop(ctx context.Context) {
	defer m.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.clock.After(m.cfg.RefreshInterval):
			if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("periodic user reload failed", "err", err)
			}
		}
	}
}

// Reload loads the accounts now.
func (m *Manager) Reload(ctx context.Context) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	m.lastAttempt = m.clock.Now()
	return m.loadLocked(ctx)
}

func (m *Manager) loadLocked(ctx context.Context) error {
	data, err := m.loader.Load(ctx)
	if err != nil {
		return fmt.Errorf("load users: %w", err)
	}
	s := newSnapshot(data)
	m.snap.Store(s)
	m.generation.Add(1)
	m.log.Info("loaded users", "accounts", len(s.users), "databases", len(s.databases))
	return nil
}

// reloadAfterFailure reloads unless a reload was attempted less than
// RefreshTime ago. It reports whether the caller should look again: true
// also when another login reloaded while this one waited.
func (m *Manager) reloadAfterFailure(ctx context.Context, seen uint64) bool {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	if m.generation.Load() != seen {
		return true
	}
	now := m.clock.Now()
	if !m.lastAttempt.IsZero() && now.Sub(m.lastAttempt) < m.cfg.RefreshTime {
		return false
	}
	m.lastAttempt = now
	if err := m.loadLocked(ctx); err != nil {
		m.log.Warn("user reload after failed login failed", "err", err)
		return false
	}
	return true
}

// peer describes a client for matching. With lookup set it may ask DNS for
// the client's name; otherwise it uses only what the cache knows.
func (m *Manager) peer(ctx context.Context, ip netip.Addr, s *snapshot, lookup bool) peer {
	c := peer{ip: ip.String(), addr: ip}
	switch {
	case !ip.IsValid():
		c.ip = ""
	case m.cfg.SkipNameResolve:
	case ip.IsLoopback():
		c.hostname = "localhost"
	default:
		now := m.clock.Now()
		if name, ok := m.names.get(ip, now); ok {
			c.hostname = name
		} else if lookup && s != nil && s.needsNames {
			c.hostname = resolve(ctx, m.cfg.Resolver, ip)
			m.names.put(ip, c.hostname, now)
		}
	}
	return c
}

// Admit refuses hosts that are blocked after repeated failures.
func (m *Manager) Admit(_ context.Context, ip netip.Addr) error {
	m.hostsMu.Lock()
	defer m.hostsMu.Unlock()
	if st := m.hosts[ip]; st != nil && m.clock.Now().Before(st.blockedUntil) {
		m.cfg.Observer.BlockedHostRefused()
		return protocol.ErrHostBlocked(m.peer(context.Background(), ip, nil, false).shown())
	}
	return nil
}

// errRetryable marks refusals that a reload may fix (unknown user, wrong
// password, unknown database).
var errRetryable = errors.New("retryable")

// Authenticate implements protocol.Authenticator.
func (m *Manager) Authenticate(ctx context.Context, req *protocol.AuthRequest) ([]byte, error) {
	gen := m.generation.Load()
	stage1, err := m.check(ctx, req)
	if errors.Is(err, errRetryable) && m.reloadAfterFailure(ctx, gen) {
		stage1, err = m.check(ctx, req)
	}
	var me *protocol.Error
	if errors.As(err, &me) {
		m.cfg.Observer.LoginFailed()
		if me.Code == protocol.ERAccessDenied {
			m.recordFailure(req.IP)
		}
		return nil, me
	}
	m.recordSuccess(req.IP)
	return stage1, nil
}

func (m *Manager) check(ctx context.Context, req *protocol.AuthRequest) ([]byte, error) {
	s := m.snap.Load()
	c := m.peer(ctx, req.IP, s, true)
	usingPassword := len(req.AuthResponse) > 0
	denied := protocol.ErrAccessDenied(req.User, c.shown(), usingPassword)
	if req.User == "root" && !m.cfg.EnableRootUser {
		m.log.Info("root login refused (enable_root_user is off)", "host", c.shown())
		return nil, denied
	}
	if s == nil {
		return nil, fmt.Errorf("%w: %w", errRetryable, denied)
	}
	acc := s.find(req.User, c)
	if acc == nil {
		return nil, fmt.Errorf("%w: %w", errRetryable, denied)
	}
	if !isNative(acc.Plugin) || acc.noPassword {
		m.log.Warn("account cannot log in with mysql_native_password through the proxy",
			"user", acc.User, "host", acc.Host, "plugin", acc.Plugin)
		return nil, denied
	}
	stage1, ok := protocol.VerifyNative(req.Salt, req.AuthResponse, acc.stage2)
	if !ok {
		return nil, fmt.Errorf("%w: %w", errRetryable, denied)
	}
	if acc.Locked {
		// MariaDB checks the lock after the password, so that the error
		// does not reveal whether a guessed account exists.
		return nil, fmt.Errorf("%w: %w", errRetryable, protocol.ErrAccountLocked())
	}
	if req.DB != "" {
		if !s.dbAccess(acc, req.User, c, req.DB) {
			return nil, fmt.Errorf("%w: %w", errRetryable, protocol.ErrDBAccessDenied(req.User, c.shown(), req.DB))
		}
		if !s.dbExists(req.DB) {
			return nil, fmt.Errorf("%w: %w", errRetryable, protocol.ErrBadDB(req.DB))
		}
	}
	return stage1, nil
}

func (m *Manager) recordFailure(ip netip.Addr) {
	if m.cfg.MaxAuthErrorsUntilBlock <= 0 {
		return
	}
	m.hostsMu.Lock()
	defer m.hostsMu.Unlock()
	st := m.hosts[ip]
	if st == nil {
		if len(m.hosts) >= maxTrackedHosts {
			m.pruneLocked()
		}
		st = &hostState{}
		m.hosts[ip] = st
	}
	st.failures++
	if st.failures >= m.cfg.MaxAuthErrorsUntilBlock {
		st.failures = 0
		st.blockedUntil = m.clock.Now().Add(m.cfg.BlockDuration)
		m.cfg.Observer.HostBlocked()
		m.log.Warn("host blocked after repeated authentication failures",
			"host", ip.String(), "failures", m.cfg.MaxAuthErrorsUntilBlock, "for", m.cfg.BlockDuration)
	}
}

func (m *Manager) pruneLocked() {
	now := m.clock.Now()
	for ip, st := range m.hosts {
		if !now.Before(st.blockedUntil) {
			delete(m.hosts, ip)
		}
	}
}

func (m *Manager) recordSuccess(ip netip.Addr) {
	m.hostsMu.Lock()
	delete(m.hosts, ip)
	m.hostsMu.Unlock()
}
