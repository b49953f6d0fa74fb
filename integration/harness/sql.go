package harness

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Collation is what every DSN asks for. go-sql-driver's default,
// utf8mb4_0900_ai_ci, is MySQL's id 255, which MariaDB does not have.
const Collation = "utf8mb4_general_ci"

// TCPDSN returns a go-sql-driver/mysql DSN for user at addr (host:port).
func TCPDSN(addr, user, password, db string) string {
	c := baseConfig(user, password, db)
	c.Net = "tcp"
	c.Addr = addr
	return c.FormatDSN()
}

// socketDSN is the administrative DSN: root over the unix socket, which
// works before any account exists and while the node is not ready.
func socketDSN(socket string) string {
	c := baseConfig("root", "", "")
	c.Net = "unix"
	c.Addr = socket
	return c.FormatDSN()
}

func baseConfig(user, password, db string) *mysql.Config {
	c := mysql.NewConfig()
	c.User = user
	c.Passwd = password
	c.DBName = db
	c.Collation = Collation
	c.Timeout = 5 * time.Second
	c.ReadTimeout = 60 * time.Second
	c.WriteTimeout = 60 * time.Second
	// Text protocol only: the helpers then work against servers (maxnode,
	// a non-ready Galera node) that answer fewer commands.
	c.InterpolateParams = true
	return c
}

// ping opens dsn, pings it and closes it.
func ping(ctx context.Context, dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// queryRows runs query on db and returns every row as strings (NULL as "").
func queryRows(ctx context.Context, db *sql.DB, query string, args ...any) ([][]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// queryString returns the first column of the first row.
func queryString(ctx context.Context, db *sql.DB, query string, args ...any) (string, error) {
	rows, err := queryRows(ctx, db, query, args...)
	if err != nil {
		return "", err
	}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return "", fmt.Errorf("%q: %w", query, sql.ErrNoRows)
	}
	return rows[0][0], nil
}

var statusName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// globalStatus reads one global status variable with SHOW GLOBAL STATUS,
// which a node answers in every state. The name is validated, not quoted:
// SHOW ... LIKE takes no placeholder in the text protocol.
func globalStatus(ctx context.Context, db *sql.DB, name string) (string, error) {
	if !statusName.MatchString(name) {
		return "", fmt.Errorf("harness: bad status variable name %q", name)
	}
	rows, err := queryRows(ctx, db, "SHOW GLOBAL STATUS LIKE '"+name+"'")
	if err != nil {
		return "", err
	}
	if len(rows) == 0 || len(rows[0]) < 2 {
		return "", fmt.Errorf("status variable %s: %w", name, errNoSuchVariable)
	}
	return rows[0][1], nil
}

var errNoSuchVariable = errors.New("no such variable")
