package server

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testServer is a Server on 127.0.0.1 with the fake engine, shut down at the end of the test.
type testServer struct {
	*Server
	eng  *fakeEngine
	addr string
	done chan error
}

func startServer(t *testing.T, mutate func(*Config)) *testServer {
	t.Helper()
	eng := newFakeEngine()
	cfg := Config{Engine: eng, Version: "10.11.99-MariaDB-maxnode", MaxAllowedPacket: 64 << 20}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, eng: eng, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if n := eng.openSessions(); n != 0 {
			t.Errorf("%d sessions left open after shutdown", n)
		}
	})
	return ts
}

func (ts *testServer) dsn(user, pass, db, params string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?%s", user, pass, ts.addr, db, params)
}

// open returns a database/sql handle, closed at the end of the test.
func (ts *testServer) open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mysqlErr(err error) (uint16, string) {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		return me.Number, me.Message
	}
	return 0, fmt.Sprint(err)
}

func TestLoginMatrix(t *testing.T) {
	ts := startServer(t, nil)
	cases := []struct {
		name, user, pass, db, params string
		wantCode                     uint16
		wantMsg                      string
	}{
		{name: "root empty password", user: "root"},
		{name: "password", user: "app", pass: "secret"},
		{name: "connect with db", user: "app", pass: "secret", db: "test"},
		{name: "multi statements", user: "app", pass: "secret", params: "multiStatements=true"},
		{name: "wrong password", user: "app", pass: "nope", wantCode: 1045,
			wantMsg: "Access denied for user 'app'@'127.0.0.1' (using password: YES)"},
		{name: "missing password", user: "app", wantCode: 1045,
			wantMsg: "Access denied for user 'app'@'127.0.0.1' (using password: NO)"},
		{name: "unknown user", user: "ghost", pass: "x", wantCode: 1045,
			wantMsg: "Access denied for user 'ghost'@'127.0.0.1' (using password: YES)"},
		{name: "password for passwordless account", user: "root", pass: "x", wantCode: 1045,
			wantMsg: "Access denied for user 'root'@'127.0.0.1' (using password: YES)"},
		{name: "locked account", user: "locked", pass: "pw3", wantCode: 4151,
			wantMsg: "Access denied, this account is locked"},
		{name: "locked account, wrong password", user: "locked", pass: "x", wantCode: 1045,
			wantMsg: "Access denied for user 'locked'@'127.0.0.1' (using password: YES)"},
		{name: "unknown database", user: "app", pass: "secret", db: "nodb", wantCode: 1049,
			wantMsg: "Unknown database 'nodb'"},
		{name: "database not allowed", user: "other", pass: "pw2", db: "shop", wantCode: 1044,
			wantMsg: "Access denied for user 'other'@'%' to database 'shop'"},
		{name: "clear password plugin is switched to native", user: "app", pass: "secret",
			params: "allowCleartextPasswords=true"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := ts.open(t, ts.dsn(tc.user, tc.pass, tc.db, tc.params))
			err := db.Ping()
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("ping: %v", err)
				}
				var got sql.NullString
				if err := db.QueryRow("SELECT DATABASE()").Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got.String != tc.db {
					t.Errorf("DATABASE() = %q, want %q", got.String, tc.db)
				}
				return
			}
			code, msg := mysqlErr(err)
			if code != tc.wantCode || msg != tc.wantMsg {
				t.Errorf("got %d %q, want %d %q", code, msg, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

func TestConnectionIDsAreDistinctAndMatchHandshake(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("root", "", "", ""))
	ctx := context.Background()
	seen := map[uint64]bool{}
	var conns []*sql.Conn
	for range 3 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var id uint64
		if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		if id == 0 || seen[id] {
			t.Fatalf("connection id %d is zero or repeated (%v)", id, seen)
		}
		seen[id] = true
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestPreparedRoundTrip(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("app", "secret", "test", "parseTime=true"))
	st, err := db.Prepare("SELECT ?, ?, ?, ?, ?, ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct {
		i    int64
		s    string
		f    float64
		u    uint64
		blob []byte
	}{
		{i: -5, s: "héllo wörld", f: 3.25, u: 1 << 63, blob: []byte{0, 1, 2, 0xff}},
		{i: 1 << 40, s: "", f: -1e-9, u: 0, blob: []byte{}},
	} {
		var (
			gi   int64
			gs   string
			gf   float64
			gn   sql.NullString
			gu   uint64
			blob []byte
		)
		if err := st.QueryRow(tc.i, tc.s, tc.f, nil, tc.u, tc.blob).Scan(&gi, &gs, &gf, &gn, &gu, &blob); err != nil {
			t.Fatal(err)
		}
		if gi != tc.i || gs != tc.s || gf != tc.f || gn.Valid || gu != tc.u || string(blob) != string(tc.blob) {
			t.Errorf("round trip: got %d %q %v %v %d %x, want %d %q %v NULL %d %x",
				gi, gs, gf, gn, gu, blob, tc.i, tc.s, tc.f, tc.u, tc.blob)
		}
	}
}

func TestBinaryAndTextRowsAgree(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("app", "secret", "test", "parseTime=true"))
	type row struct {
		id      int64
		name    sql.NullString
		created time.Time
		price   float64
		small   int8
		dur     string
		amount  sql.NullString
	}
	scan := func(rows *sql.Rows) []row {
		t.Helper()
		defer rows.Close()
		var out []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.name, &r.created, &r.price, &r.small, &r.dur, &r.amount); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	text, err := db.Query("SELECT * FROM t")
	if err != nil {
		t.Fatal(err)
	}
	textRows := scan(text)
	st, err := db.Prepare("SELECT * FROM t")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bin, err := st.Query()
	if err != nil {
		t.Fatal(err)
	}
	binRows := scan(bin)
	want := []row{
		{1, sql.NullString{String: "héllo", Valid: true}, time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC), 2.5, -7, "-838:59:59", sql.NullString{String: "12.34", Valid: true}},
		{2, sql.NullString{}, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 1e20, 127, "00:00:00", sql.NullString{}},
	}
	for name, got := range map[string][]row{"text": textRows, "binary": binRows} {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s rows:\n got %v\nwant %v", name, got, want)
		}
	}
}

func TestTransactionsAndExec(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("app", "secret", "test", ""))
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	res, err := tx.Exec("INSERT INTO t VALUES (1), (2), (3)")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 3 {
		t.Errorf("RowsAffected = %d, want 3", n)
	}
	if id, _ := res.LastInsertId(); id != 42 {
		t.Errorf("LastInsertId = %d, want 42", id)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// The same through a prepared statement (binary protocol OK packet).
	res, err = db.Exec("INSERT INTO t VALUES (?)", 7)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Errorf("prepared RowsAffected = %d, want 1", n)
	}
}

func TestMultiStatements(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("app", "secret", "", "multiStatements=true"))
	rows, err := db.Query("SELECT 1; INSERT INTO t VALUES (1); SELECT 'two', 3")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for {
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					vals[i] = string(b)
				}
			}
			got = append(got, fmt.Sprint(vals))
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := "[[1] [two 3]]"; fmt.Sprint(got) != want {
		t.Errorf("results %v, want %s", got, want)
	}

	// An error stops the batch, as in MariaDB.
	_, err = db.Exec("SELECT 1; DELETE FROM t; SELECT 2")
	if code, _ := mysqlErr(err); code != 1235 {
		t.Errorf("error in batch: got %v, want 1235", err)
	}

	// Without the capability a second statement is a syntax error at its start.
	plain := ts.open(t, ts.dsn("app", "secret", "", ""))
	for q, near := range map[string]string{
		"SELECT 1; SELECT 2":              "SELECT 2' at line 1",
		"SELECT 1;\n SELECT 2;\nSELECT 3": "SELECT 2;\nSELECT 3' at line 2",
	} {
		_, err = plain.Exec(q)
		want := "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '" + near
		if code, msg := mysqlErr(err); code != 1064 || msg != want {
			t.Errorf("%q: got %d %q, want 1064 %q", q, code, msg, want)
		}
	}
}

func TestSyntaxErrorText(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("root", "", "", ""))
	for _, tc := range []struct {
		q, near string
		line    int
	}{
		{"SELEC 1", "SELEC 1", 1},
		{"SELECT * FRM t", "FRM t", 1},
		{"SELECT 1,\n2 FROM WHERE", "WHERE", 2},
		{"SELECT 1, ? + 2", "? + 2", 1},
	} {
		_, err := db.Exec(tc.q)
		want := fmt.Sprintf("You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '%s' at line %d", tc.near, tc.line)
		if code, msg := mysqlErr(err); code != 1064 || msg != want {
			t.Errorf("%q: got %d %q, want 1064 %q", tc.q, code, msg, want)
		}
	}
	// As MariaDB: nothing at all is an error, comments alone are not.
	for _, q := range []string{"", ";", " ; "} {
		_, err := db.Exec(q)
		if code, msg := mysqlErr(err); code != 1065 || msg != "Query was empty" {
			t.Errorf("%q: got %d %q, want 1065", q, code, msg)
		}
	}
	for _, q := range []string{"  -- only a comment", "/* x */", "# hash"} {
		if _, err := db.Exec(q); err != nil {
			t.Errorf("%q: %v, want OK", q, err)
		}
	}
}

func TestLargePackets(t *testing.T) {
	ts := startServer(t, nil)
	db := ts.open(t, ts.dsn("root", "", "", ""))
	// A 17 MiB parameter crosses the 16 MiB packet boundary both ways.
	big := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), 17<<20/26)
	var got []byte
	if err := db.QueryRow("SELECT ?", big).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("17 MiB value came back with %d bytes, not equal", len(got))
	}
}

func TestPacketOverMaxAllowed(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxAllowedPacket = 1 << 20 })
	db := ts.open(t, ts.dsn("root", "", "", ""))
	_, err := db.Exec("SELECT '" + string(make([]byte, 2<<20)) + "'")
	if code, msg := mysqlErr(err); code != 1153 || msg != "Got a packet bigger than 'max_allowed_packet' bytes" {
		t.Errorf("got %d %q, want 1153", code, msg)
	}
}

func TestMaxConnections(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxConnections = 1 })
	db := ts.open(t, ts.dsn("app", "secret", "", ""))
	db.SetMaxIdleConns(0)
	ctx := context.Background()
	c1, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	// The extra connection is for SUPER (KillAny) accounts only.
	_, err = db.Conn(ctx)
	if code, msg := mysqlErr(err); code != 1040 || msg != "Too many connections" {
		t.Errorf("second app connection: got %d %q, want 1040", code, msg)
	}
	root := ts.open(t, ts.dsn("root", "", "", ""))
	if err := root.Ping(); err != nil {
		t.Errorf("root should get the extra connection: %v", err)
	}
}
