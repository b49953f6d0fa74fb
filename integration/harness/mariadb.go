package harness

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// MariaDBOptions tunes StartMariaDB. The zero value is a good default.
type MariaDBOptions struct {
	// Name of the server and its directory; default "mariadb".
	Name string
	// ExtraArgs are extra mariadbd options, after the harness's own.
	ExtraArgs []string
	// Accounts to create; default DefaultAccounts.
	Accounts []Account
	// StartTimeout bounds start-up; default 1m.
	StartTimeout time.Duration
}

// StartMariaDB starts a plain (non-Galera) mariadbd for t with the same
// options and accounts as a Galera node, for differential tests and
// benchmarks. It skips t when the packages are missing.
func StartMariaDB(t testing.TB, opts MariaDBOptions) *Server {
	t.Helper()
	RequireMariaDB(t)
	srv, err := NewMariaDB(context.Background(), TestScope(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// NewMariaDB starts a plain mariadbd in scope and waits until the accounts
// can log in over TCP.
func NewMariaDB(ctx context.Context, scope *Scope, opts MariaDBOptions) (*Server, error) {
	if opts.Name == "" {
		opts.Name = "mariadb"
	}
	if opts.Accounts == nil {
		opts.Accounts = DefaultAccounts
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = time.Minute
	}
	tools := Find()
	if err := tools.Require(MariaDBTools...); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	start := time.Now()
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	srv, err := newServer(scope, tools, opts.Name, ports[0])
	if err != nil {
		return nil, err
	}
	srv.args = append(srv.args, opts.ExtraArgs...)
	if err := srv.installDB(ctx, tools); err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	if err := setupAccounts(ctx, srv, opts.Accounts); err != nil {
		return nil, fmt.Errorf("%s: %w", srv.name, err)
	}
	if err := waitAccounts(ctx, srv, opts.Accounts); err != nil {
		return nil, err
	}
	scope.Logf("harness: mariadb %s up in %v on %s", srv.name, time.Since(start).Round(time.Millisecond), srv.Addr())
	return srv, nil
}
