package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
)

// maxnodeProc is one bin/maxnode process with its own data directory and
// listener, started by the test that owns its scope. It can be killed and
// started again on the same data directory.
type maxnodeProc struct {
	scope   *harness.Scope
	name    string
	datadir string
	addr    string
	config  []byte
	proc    *harness.Process
}

// maxnodeOptions tunes startMaxnode; the zero value is a durable node
// (innodb_flush_log_at_trx_commit = 1) with the harness's app account.
type maxnodeOptions struct {
	// Name of the process, its log and its data directory; default "maxnode".
	Name string
	// Settings are extra top-level node.toml lines (key = value).
	Settings []string
	// Tables are extra node.toml tables (e.g. [[user]] blocks), after the
	// app account's.
	Tables []string
}

// startMaxnode starts bin/maxnode in scope (a fresh data directory, a free
// loopback port) and waits until the app account runs a statement. The
// process is killed when the scope closes.
func startMaxnode(t testing.TB, scope *harness.Scope, opts maxnodeOptions) *maxnodeProc {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "maxnode"
	}
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	n := &maxnodeProc{
		scope:   scope,
		name:    opts.Name,
		datadir: filepath.Join(scope.Dir(), opts.Name+"-data"),
		addr:    fmt.Sprintf("127.0.0.1:%d", ports[0]),
	}
	n.config = maxnodeConfig(n.datadir, n.addr, opts.Name, opts.Settings, opts.Tables)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := n.start(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// maxnodeConfig renders node.toml with the harness's app account, so the
// same DSNs work against maxnode and a harness MariaDB.
func maxnodeConfig(datadir, addr, name string, settings, tables []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "datadir = %q\nlisten = %q\nnode_name = %q\n", datadir, addr, name)
	for _, s := range settings {
		b.WriteString(s + "\n")
	}
	a := harness.AppAccount
	fmt.Fprintf(&b, "\n[[user]]\nname = %q\npassword = %q\ngrants = [", a.User, a.Password)
	for i, g := range a.Grants {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", g)
	}
	b.WriteString("]\n")
	for _, tbl := range tables {
		b.WriteString("\n" + tbl + "\n")
	}
	return []byte(b.String())
}

// start runs the binary on the node's data directory and waits until it
// serves the app account; it fails at once if the process exits.
func (n *maxnodeProc) start(ctx context.Context) error {
	p, err := n.scope.StartBinary(harness.BinarySpec{Name: n.name, Binary: "maxnode", Config: n.config})
	if err != nil {
		return err
	}
	n.proc = p
	db, err := sql.Open("mysql", n.dsn(""))
	if err != nil {
		return err
	}
	defer db.Close()
	err = harness.Poll(ctx, n.name+" serving app@"+n.addr, 50*time.Millisecond, func(ctx context.Context) error {
		select {
		case <-p.Done():
			_, werr := p.Exited()
			return harness.Permanent(fmt.Errorf("%s exited: %v\n%s", n.name, werr, p.Tail(20)))
		default:
		}
		_, err := db.ExecContext(ctx, "DO 1")
		return err
	})
	if err != nil {
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	return nil
}

// kill sends SIGKILL and waits until the process is gone.
func (n *maxnodeProc) kill() error {
	if n.proc == nil {
		return errors.New("maxnode not started")
	}
	return n.proc.Kill()
}

// dsn is the app account's DSN for database db.
func (n *maxnodeProc) dsn(db string) string {
	return harness.TCPDSN(n.addr, harness.AppAccount.User, harness.AppAccount.Password, db)
}

// nodeDB opens a pool closed when t ends.
func nodeDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// nodeExec runs a statement that must succeed.
func nodeExec(t testing.TB, db *sql.DB, query string, args ...any) sql.Result {
	t.Helper()
	res, err := db.ExecContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

// nodeQuery returns every row as text, NULL as "NULL".
func nodeQuery(t testing.TB, db *sql.DB, query string, args ...any) [][]string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}
