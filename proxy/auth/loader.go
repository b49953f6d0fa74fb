package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// Queries the loader runs. They need SELECT on mysql.* and the SHOW
// DATABASES privilege (without it SHOW DATABASES lists only databases the
// service user can use, and logins naming other databases fail with 1049).
//
// On MariaDB 10.4+ mysql.user is a view over mysql.global_priv that keeps
// the pre-10.4 columns, so one query serves MariaDB 10.3–11.x; the built-in
// node answers the same query.
const (
	usersQuery = "SELECT User, Host, authentication_string, Password, plugin, is_role, default_role, " +
		dbPrivColumns + " FROM mysql.user"
	dbGrantsQuery    = "SELECT User, Host, Db FROM mysql.db"
	tableGrantsQuery = "SELECT DISTINCT User, Host, Db FROM mysql.tables_priv"
	procGrantsQuery  = "SELECT DISTINCT User, Host, Db FROM mysql.procs_priv"
	rolesQuery       = "SELECT User, Host, Role FROM mysql.roles_mapping"
	// MariaDB 10.4+ keeps ACCOUNT LOCK only in mysql.global_priv's JSON.
	// Servers that cannot answer it (no such table, no JSON_VALUE) are taken
	// to have no locked accounts.
	lockedQuery    = "SELECT User, Host FROM mysql.global_priv WHERE JSON_VALUE(Priv, '$.account_locked') IN ('1', 'true')"
	databasesQuery = "SHOW DATABASES"

	// dbPrivColumns are the global privileges that also grant access to
	// every database (MariaDB's DB_ACLS).
	dbPrivCount   = 20
	dbPrivColumns = "Select_priv, Insert_priv, Update_priv, Delete_priv, Create_priv, Drop_priv, " +
		"Grant_priv, References_priv, Index_priv, Alter_priv, Create_tmp_table_priv, Lock_tables_priv, " +
		"Execute_priv, Create_view_priv, Show_view_priv, Create_routine_priv, Alter_routine_priv, " +
		"Event_priv, Trigger_priv, Delete_history_priv"
)

// ServerLoader loads accounts from one backend with the service user.
type ServerLoader struct {
	Addr     string
	User     string
	Password string
	TLS      *tls.Config
	Timeout  time.Duration // per load; 0 means 10 s
}

// Load implements Loader.
func (l *ServerLoader) Load(ctx context.Context) (*UserData, error) {
	timeout := l.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := client.ConnectWithContext(ctx, l.Addr, l.User, l.Password, "", timeout, func(c *client.Conn) error {
		if l.TLS != nil {
			c.SetTLSConfig(l.TLS)
		}
		// go-mysql defaults to utf8mb4_0900_ai_ci, which MariaDB does not
		// know and silently replaces with latin1.
		return c.SetCollation("utf8mb4_general_ci")
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s as %s: %w", l.Addr, l.User, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var d UserData
	rows, err := query(conn, usersQuery, 7+dbPrivCount)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		a := Account{User: r[0], Host: r[1], AuthString: r[2], Plugin: r[4], IsRole: r[5] == "Y", DefaultRole: r[6]}
		if a.AuthString == "" && isNative(a.Plugin) {
			a.AuthString = r[3] // pre-10.4 servers keep the hash in Password
		}
		for _, v := range r[7:] {
			if v == "Y" {
				a.GlobalDBAccess = true
				break
			}
		}
		d.Accounts = append(d.Accounts, a)
	}
	locked, err := query(conn, lockedQuery, 2)
	if errors.As(err, new(*mysql.MyError)) {
		locked, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	isLocked := map[[2]string]bool{}
	for _, r := range locked {
		isLocked[[2]string{r[0], r[1]}] = true
	}
	for i := range d.Accounts {
		a := &d.Accounts[i]
		a.Locked = isLocked[[2]string{a.User, a.Host}]
	}
	grantSources := []struct {
		query             string
		pattern, optional bool
	}{
		{dbGrantsQuery, true, false},
		{tableGrantsQuery, false, true},
		{procGrantsQuery, false, true},
	}
	for _, g := range grantSources {
		rows, err := query(conn, g.query, 3)
		if g.optional {
			rows, err = optional(rows, err)
		}
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			d.DBGrants = append(d.DBGrants, DBGrant{User: r[0], Host: r[1], DB: r[2], Pattern: g.pattern})
		}
	}
	if rows, err = optional(query(conn, rolesQuery, 3)); err != nil {
		return nil, err
	}
	for _, r := range rows {
		d.RoleGrants = append(d.RoleGrants, RoleGrant{User: r[0], Host: r[1], Role: r[2]})
	}
	if rows, err = query(conn, databasesQuery, 1); err != nil {
		return nil, err
	}
	for _, r := range rows {
		d.Databases = append(d.Databases, r[0])
	}
	return &d, nil
}

// optional treats a missing table as empty: servers without table or
// routine grants (or roles) simply have none. mysql.user, mysql.db and SHOW
// DATABASES are not optional.
func optional(rows [][]string, err error) ([][]string, error) {
	var myErr *mysql.MyError
	if errors.As(err, &myErr) && myErr.Code == mysql.ER_NO_SUCH_TABLE {
		return nil, nil
	}
	return rows, err
}

// query runs q and returns its rows as strings (NULL as ""), checking that
// the server answered with the expected number of columns.
func query(conn *client.Conn, q string, columns int) ([][]string, error) {
	res, err := conn.Execute(q)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	defer res.Close()
	if res.Resultset == nil {
		return nil, fmt.Errorf("query %q: no result set", q)
	}
	if n := res.ColumnNumber(); n != columns {
		return nil, fmt.Errorf("query %q: %d columns, want %d", q, n, columns)
	}
	out := make([][]string, res.RowNumber())
	for i := range out {
		row := make([]string, res.ColumnNumber())
		for j := range row {
			v, err := res.GetString(i, j)
			if err != nil {
				return nil, fmt.Errorf("query %q row %d: %w", q, i, err)
			}
			// go-mysql's strings alias its pooled read buffers, which the
			// next query overwrites.
			row[j] = strings.Clone(v)
		}
		out[i] = row
	}
	return out, nil
}
