package server

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
)

// TestGoMySQLClient checks interoperability with go-mysql's client, which the proxy's monitor uses:
// it always asks for DEPRECATE_EOF and QUERY_ATTRIBUTES (the latter not offered here).
func TestGoMySQLClient(t *testing.T) {
	ts := startServer(t, nil)
	c, err := client.Connect(ts.addr, "app", "secret", "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Execute("SELECT 1, 'x', DATABASE()")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.GetInt(0, 0); n != 1 {
		t.Errorf("col 0 = %d", n)
	}
	if s, _ := res.GetString(0, 1); s != "x" {
		t.Errorf("col 1 = %q", s)
	}
	if s, _ := res.GetString(0, 2); s != "test" {
		t.Errorf("col 2 = %q", s)
	}
	st, err := c.Prepare("SELECT ?, ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err = st.Execute(int64(7), "seven")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.GetInt(0, 0); n != 7 {
		t.Errorf("prepared col 0 = %d", n)
	}
	if s, _ := res.GetString(0, 1); s != "seven" {
		t.Errorf("prepared col 1 = %q", s)
	}
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
}
