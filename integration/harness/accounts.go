package harness

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Account is a user created on every server the harness starts, as
// 'User'@'%' with mysql_native_password.
type Account struct {
	User, Password string
	// Grants are privilege clauses, each used as GRANT <clause> TO user.
	Grants []string
}

// The accounts every server gets (DefaultAccounts).
var (
	// AppAccount is the application user.
	AppAccount = Account{User: "app", Password: "app", Grants: []string{"ALL PRIVILEGES ON *.*"}}
	// MonitorAccount is what a galeramon-style monitor logs in as:
	// SHOW STATUS/VARIABLES, plus the privileges MaxScale asks for
	// (REPLICATION CLIENT; SUPER for set_donor_nodes).
	MonitorAccount = Account{User: "maxmon", Password: "maxmon", Grants: []string{"REPLICATION CLIENT, PROCESS, SLAVE MONITOR, SUPER ON *.*"}}
	// ServiceAccount is what a MaxScale-style proxy loads client accounts
	// with: SELECT on the mysql grant tables and SHOW DATABASES.
	ServiceAccount = Account{User: "maxuser", Password: "maxpwd", Grants: []string{"SELECT ON mysql.*", "SHOW DATABASES ON *.*"}}

	DefaultAccounts = []Account{AppAccount, MonitorAccount, ServiceAccount}
)

// setupAccounts drops anonymous users (they shadow 'user'@'%' for logins
// from 127.0.0.1) and creates accounts, through n's admin connection. On a
// Galera node these are replicated DDL.
func setupAccounts(ctx context.Context, n Node, accounts []Account) error {
	anon, err := n.Query(ctx, "SELECT host FROM mysql.user WHERE user = ''")
	if err != nil {
		return fmt.Errorf("list anonymous users: %w", err)
	}
	for _, row := range anon {
		host := row[0]
		if err := n.Exec(ctx, "DROP USER ''@"+quote(host)); err != nil {
			return fmt.Errorf("drop anonymous user @%s: %w", host, err)
		}
	}
	for _, a := range accounts {
		user := quote(a.User) + "@'%'"
		if err := n.Exec(ctx, "CREATE USER IF NOT EXISTS "+user+" IDENTIFIED BY "+quote(a.Password)); err != nil {
			return fmt.Errorf("create user %s: %w", a.User, err)
		}
		for _, g := range a.Grants {
			if err := n.Exec(ctx, "GRANT "+g+" TO "+user); err != nil {
				return fmt.Errorf("grant %s to %s: %w", g, a.User, err)
			}
		}
	}
	return nil
}

// waitAccounts waits until every account can log in to n over TCP, which on
// a joined Galera node also proves the account DDL has been applied there.
func waitAccounts(ctx context.Context, n Node, accounts []Account) error {
	return Poll(ctx, n.Name()+" accepting the test accounts over TCP", 100*time.Millisecond, func(ctx context.Context) error {
		for _, a := range accounts {
			if err := ping(ctx, n.DSN(a.User, a.Password, "")); err != nil {
				return fmt.Errorf("login as %s: %w", a.User, err)
			}
		}
		return nil
	})
}

// quote makes s a single-quoted SQL string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}
