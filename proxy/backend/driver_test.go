package backend_test

import (
	"bytes"
	"crypto/md5"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func openDBB(b *testing.B, addr string) *sql.DB {
	b.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/%s", appUser, appPass, addr, testDB))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func openDB(t *testing.T, addr, params string) *sql.DB {
	t.Helper()
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/%s?maxAllowedPacket=67108864&%s", appUser, appPass, addr, testDB, params)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDriverPreparedAndMultiStatements(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	db := openDB(t, p.addr(), "multiStatements=true")
	if _, err := db.Exec("DROP TABLE IF EXISTS ps; CREATE TABLE ps (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO ps VALUES (1,'a'); INSERT INTO ps VALUES (2,'b')"); err != nil {
		t.Fatalf("multi-statement exec: %v", err)
	}
	stmt, err := db.Prepare("SELECT v FROM ps WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	for i, want := range []string{"a", "b"} {
		var v string
		if err := stmt.QueryRow(i + 1).Scan(&v); err != nil || v != want {
			t.Fatalf("prepared id=%d: %q, %v", i+1, v, err)
		}
	}
	ins, err := db.Prepare("INSERT INTO ps VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	res, err := ins.Exec(3, "c")
	ins.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("rows affected %d", n)
	}

	// A procedure returning two result sets plus the final OK.
	if _, err := db.Exec("DROP PROCEDURE IF EXISTS two; CREATE PROCEDURE two() BEGIN SELECT COUNT(*) FROM ps; SELECT MAX(id) FROM ps; END"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("CALL two()")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for {
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[3 3]" {
		t.Fatalf("CALL results %v", got)
	}

	// An error in the middle of a multi-statement ends the reply.
	_, err = db.Exec("INSERT INTO ps VALUES (4,'d'); INSERT INTO ps VALUES (4,'dup'); INSERT INTO ps VALUES (5,'e')")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1062 {
		t.Fatalf("want duplicate key error 1062, got %v", err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM ps").Scan(&n); err != nil || n != 4 {
		t.Fatalf("count after failed batch = %d, %v; want 4", n, err)
	}

	// The session survives a syntax error.
	if _, err := db.Exec("SELEC 1"); !errors.As(err, &me) || me.Number != 1064 {
		t.Fatalf("want 1064, got %v", err)
	}
}

func TestDriverTransaction(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	db := openDB(t, p.addr(), "")
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS txt (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO txt VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM txt").Scan(&n); err != nil || n != 0 {
		t.Fatalf("count after rollback %d, %v", n, err)
	}
}

// TestDriverLargeValues moves a 20 MB value in and out through the relay in
// both protocols: a >16 MiB COM_QUERY (interpolated), a >16 MiB
// COM_STMT_EXECUTE, and rows larger than one packet frame.
func TestDriverLargeValues(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	blob := make([]byte, 20<<20)
	for i := range blob {
		blob[i] = byte(i*7 + i>>13)
	}
	want := md5.Sum(blob)
	for _, mode := range []string{"interpolateParams=true", "interpolateParams=false"} {
		t.Run(mode, func(t *testing.T) {
			db := openDB(t, p.addr(), mode)
			if _, err := db.Exec("CREATE TABLE IF NOT EXISTS big (id INT PRIMARY KEY, b LONGBLOB)"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("REPLACE INTO big VALUES (1, ?)", blob); err != nil {
				t.Fatal(err)
			}
			var sum string
			if err := db.QueryRow("SELECT MD5(b) FROM big WHERE id = ?", 1).Scan(&sum); err != nil {
				t.Fatal(err)
			}
			if sum != fmt.Sprintf("%x", want) {
				t.Fatalf("server md5 %s, want %x", sum, want)
			}
			var got []byte
			if err := db.QueryRow("SELECT b FROM big WHERE id = ?", 1).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, blob) {
				t.Fatalf("read back %d bytes, md5 %x, want %x", len(got), md5.Sum(got), want)
			}
		})
	}
}

// TestDriverLongData makes go-sql-driver stream a parameter with
// COM_STMT_SEND_LONG_DATA (it does so for values over maxAllowedPacket/
// (params+1)), a command without reply.
func TestDriverLongData(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/%s?maxAllowedPacket=4194304", appUser, appPass, p.addr(), testDB))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blob := bytes.Repeat([]byte("long data "), 300_000) // 3 MB > 4 MiB / 2
	var n int
	if err := db.QueryRow("SELECT LENGTH(?)", blob).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(blob) {
		t.Fatalf("server saw %d bytes, sent %d", n, len(blob))
	}
}

func TestDriverTLSBothSides(t *testing.T) {
	p := startProxy(t, proxyOpts{serverTLS: true, backendTLS: true})
	if err := mysql.RegisterTLSConfig("proxytest", &tls.Config{RootCAs: certs.pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, p.addr(), "tls=proxytest")
	var name, cipher string
	if err := db.QueryRow("SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
		t.Fatal(err)
	}
	if cipher == "" {
		t.Fatal("backend leg is not encrypted")
	}
	if p.tlsClients.Load() == 0 {
		t.Fatal("client leg is not encrypted")
	}
}

func TestDriverWrongPasswordSeesAccessDenied(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	db, err := sql.Open("mysql", fmt.Sprintf("%s:wrong@tcp(%s)/%s", appUser, p.addr(), testDB))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Ping()
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1045 || me.SQLState != [5]byte{'2', '8', '0', '0', '0'} {
		t.Fatalf("want 1045/28000, got %v", err)
	}
}
