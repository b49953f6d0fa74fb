package sql

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/types"
	"github.com/maxproxy/maxproxy/node/storage"
)

// Value is a SQL value (re-exported for node/server).
type Value = types.Value

// DefaultServerVersion is what VERSION() and the handshake report when no version is configured.
const DefaultServerVersion = "10.11.99-MariaDB-maxnode"

// EngineOptions configure NewEngine.
type EngineOptions struct {
	ServerVersion string
	Logger        *slog.Logger
	DataDir       string
	Hostname      string
	Port          int
	// RootPassword is the initial password of root@localhost / root@127.0.0.1 / root@::1, created when the
	// catalog has no accounts yet. Empty means no password.
	RootPassword string
	// ExtraStatus, when set, adds rows to SHOW STATUS (e.g. the wsrep_* variables of the replication layer),
	// listed together in the order given, where the first one sorts.
	ExtraStatus func() []NameValue
	// ExtraVariables, when set, adds read-only rows to SHOW VARIABLES / @@ lookups (e.g. wsrep_* settings).
	ExtraVariables func() []NameValue
	// TOI, when set (a cluster), orders DDL statements and returns once they ran at their position on this
	// node: see toi.go. It returns the statement's own error when the ordered execution failed.
	TOI func(ctx context.Context, req TOIRequest) error
	// SetDesync, when set (a cluster), is called by SET GLOBAL wsrep_desync.
	SetDesync func(on bool) error
	// FlushStatus, when set, is called by FLUSH STATUS (Galera resets its flow-control counters there).
	FlushStatus func()
	// OnSetGlobal, when set, is told of every SET GLOBAL after the value was validated and normalised
	// (enum values upper-case) and before it is stored; an error refuses the statement. The node uses it
	// for settings that act outside the SQL layer, such as wsrep_reject_queries.
	OnSetGlobal func(name, value string) error
}

// NameValue is one SHOW STATUS / SHOW VARIABLES row.
type NameValue struct{ Name, Value string }

// Engine is the process-wide SQL state over one storage DB.
type Engine struct {
	db      *storage.DB
	opts    EngineOptions
	log     *slog.Logger
	started time.Time

	schema   atomic.Pointer[catalog.Schema]
	schemaMu sync.Mutex // serialises reloadSchema
	ddlMu    sync.Mutex // serialises DDL and account changes
	mdl      metadataLocks

	globalsMu sync.RWMutex
	globals   map[string]types.Value

	sessMu   sync.Mutex
	sessions map[uint32]*Session

	status statusCounters
}

// NewEngine loads the catalog from db, creating the initial accounts on first start.
func NewEngine(db *storage.DB, opts EngineOptions) (*Engine, error) {
	if opts.ServerVersion == "" {
		opts.ServerVersion = DefaultServerVersion
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.Port == 0 {
		opts.Port = 3306
	}
	e := &Engine{db: db, opts: opts, log: opts.Logger, started: time.Now(), sessions: map[uint32]*Session{},
		globals: map[string]types.Value{}}
	e.initGlobals()
	if err := e.reloadSchema(); err != nil {
		return nil, err
	}
	if len(e.schema.Load().Users) == 0 {
		if err := e.bootstrapAccounts(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// reloadSchema reads the catalog from storage and publishes it. Reloads from different goroutines (a DDL
// session, the replicated-catalog reloader) are serialised so an older snapshot never replaces a newer one.
func (e *Engine) reloadSchema() error {
	e.schemaMu.Lock()
	defer e.schemaMu.Unlock()
	t := e.db.Begin(storage.TxOptions{ReadOnly: true})
	defer t.Rollback()
	var version uint64
	if cur := e.schema.Load(); cur != nil {
		version = cur.Version + 1
	}
	s, err := catalog.Load(t, version)
	if err != nil {
		return fmt.Errorf("sql: load catalog: %w", err)
	}
	e.schema.Store(s)
	return nil
}

// InvalidateCatalog reloads the catalog after definitions changed underneath the engine (a replicated
// write-set touching space 0).
func (e *Engine) InvalidateCatalog() error {
	e.ddlMu.Lock()
	defer e.ddlMu.Unlock()
	return e.reloadSchema()
}

func (e *Engine) bootstrapAccounts() error {
	auth := ""
	if e.opts.RootPassword != "" {
		auth = NativePasswordHash(e.opts.RootPassword)
	}
	t := e.db.Begin(storage.TxOptions{})
	defer t.Rollback()
	ctx := context.Background()
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		u := &catalog.User{User: "root", Host: h, AuthString: auth, Global: catalog.PrivAll, GlobalGrantOption: true}
		b, err := catalog.Marshal(u)
		if err != nil {
			return err
		}
		if err := t.Put(ctx, catalog.Space, catalog.UserKey(u.User, u.Host), b); err != nil {
			return fmt.Errorf("sql: bootstrap accounts: %w", err)
		}
	}
	if err := t.Commit(ctx); err != nil {
		return fmt.Errorf("sql: bootstrap accounts: %w", err)
	}
	return e.reloadSchema()
}

// Schema returns the current catalog snapshot.
func (e *Engine) Schema() *catalog.Schema { return e.schema.Load() }

// Account is what the server needs to authenticate a login.
type Account struct {
	User, Host string
	AuthString string // "" or "*" + 40 hex digits
	Locked     bool
	Super      bool // SUPER: may KILL other users' connections and use the extra connection slot
}

// AccountLookup finds the account a login maps to.
type AccountLookup interface {
	// Lookup returns the first account (in MariaDB's order: most specific host first) whose user equals user
	// (or is anonymous) and whose host pattern matches host.
	Lookup(user, host string) (Account, bool)
}

type accountLookup struct{ e *Engine }

func (a accountLookup) Lookup(user, host string) (Account, bool) {
	u := a.e.matchUser(user, host)
	if u == nil {
		return Account{}, false
	}
	return Account{User: u.User, Host: u.Host, AuthString: u.AuthString, Locked: u.Locked, Super: u.Global&catalog.PrivSuper != 0}, true
}

// Accounts exposes account lookup for the server's handshake.
func (e *Engine) Accounts() AccountLookup { return accountLookup{e} }

func (e *Engine) matchUser(user, host string) *catalog.User {
	for _, u := range e.schema.Load().Users {
		if (u.User == user || u.User == "") && catalog.MatchHost(u.Host, host) {
			return u
		}
	}
	return nil
}

// NewSession creates a session for an authenticated connection. user/host are the login name and the
// client host; the matched account decides privileges.
func (e *Engine) NewSession(connID uint32, user, host string) *Session {
	s := newSession(e, connID, user, host)
	e.sessMu.Lock()
	e.sessions[connID] = s
	e.sessMu.Unlock()
	e.status.threadsConnected.Add(1)
	e.status.connections.Add(1)
	return s
}

func (e *Engine) removeSession(s *Session) {
	e.sessMu.Lock()
	if e.sessions[s.connID] == s {
		delete(e.sessions, s.connID)
		e.status.threadsConnected.Add(-1)
	}
	e.sessMu.Unlock()
}

func (e *Engine) sessionList() []*Session {
	e.sessMu.Lock()
	defer e.sessMu.Unlock()
	out := make([]*Session, 0, len(e.sessions))
	for _, s := range e.sessions {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].connID < out[j].connID })
	return out
}

// runningStatements counts sessions executing a statement (Threads_running).
func (e *Engine) runningStatements() int64 {
	var n int64
	for _, s := range e.sessionList() {
		s.procMu.Lock()
		if s.command == "Query" {
			n++
		}
		s.procMu.Unlock()
	}
	return n
}

// Session returns a live session by connection id (for KILL).
func (e *Engine) Session(connID uint32) (*Session, bool) {
	e.sessMu.Lock()
	defer e.sessMu.Unlock()
	s, ok := e.sessions[connID]
	return s, ok
}

type statusCounters struct {
	questions        atomic.Int64
	queries          atomic.Int64
	threadsConnected atomic.Int64
	connections      atomic.Int64
	abortedConnects  atomic.Int64
	com              sync.Map // name → *atomic.Int64
	rowsRead         atomic.Int64
	rowsInserted     atomic.Int64
	rowsUpdated      atomic.Int64
	rowsDeleted      atomic.Int64
}

func (sc *statusCounters) incCom(name string) {
	v, ok := sc.com.Load(name)
	if !ok {
		v, _ = sc.com.LoadOrStore(name, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

// AbortedConnect counts a failed login (Aborted_connects).
func (e *Engine) AbortedConnect() { e.status.abortedConnects.Add(1) }
