package auth

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/proxy/protocol"
)

// TestServerLoaderAgainstMariaDB loads accounts from a real MariaDB 10.11
// with a service user that has only SELECT on mysql.* and SHOW DATABASES,
// then authenticates with them.
func TestServerLoaderAgainstMariaDB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The harness creates the service account (SELECT ON mysql.*, SHOW
	// DATABASES) and drops anonymous users.
	srv := harness.StartMariaDB(t, harness.MariaDBOptions{Accounts: []harness.Account{harness.ServiceAccount}})
	setup := `INSTALL SONAME 'auth_ed25519';
CREATE DATABASE shop; CREATE DATABASE hidden; CREATE DATABASE dw;
CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'; GRANT ALL ON shop.* TO 'app'@'%';
CREATE USER 'ops'@'127.0.0.1' IDENTIFIED BY 'ops-pw'; GRANT SELECT ON *.* TO 'ops'@'127.0.0.1';
CREATE USER 'nopass'@'localhost';
CREATE USER 'edu'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('x');
CREATE ROLE analyst; GRANT SELECT ON dw.* TO analyst;
CREATE USER 'bob'@'%' IDENTIFIED BY 'bob-pw'; GRANT analyst TO 'bob'@'%'; SET DEFAULT ROLE analyst FOR 'bob'@'%';
CREATE USER 'gone'@'%' IDENTIFIED BY 'gone-pw' ACCOUNT LOCK;
CREATE TABLE hidden.t (a INT); CREATE USER 'tab'@'%' IDENTIFIED BY 'tab-pw'; GRANT SELECT ON hidden.t TO 'tab'@'%';`
	for _, stmt := range strings.Split(setup, ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			if err := srv.Exec(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	svc := harness.ServiceAccount
	loader := &ServerLoader{Addr: srv.Addr(), User: svc.User, Password: svc.Password}
	data, err := loader.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Account{}
	for _, a := range data.Accounts {
		byName[a.User+"@"+a.Host] = a
	}
	if a := byName["app@%"]; a.AuthString != hash("app-pw") || !isNative(a.Plugin) || a.GlobalDBAccess {
		t.Fatalf("app@%%: %+v", a)
	}
	if a := byName["analyst@"]; !a.IsRole {
		t.Fatalf("role not loaded as role: %+v", a)
	}
	if a := byName["bob@%"]; a.DefaultRole != "analyst" {
		t.Fatalf("default role: %+v", a)
	}
	if a := byName["gone@%"]; !a.Locked || byName["app@%"].Locked {
		t.Fatalf("account lock not loaded: %+v", a)
	}
	if a := byName["edu@%"]; a.Plugin != "ed25519" {
		t.Fatalf("ed25519 account: %+v", a)
	}

	m := New(DefaultConfig(), loader, nil, nil)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	local := netip.MustParseAddr("127.0.0.1")
	ok := []struct{ user, pw, db string }{
		{"app", "app-pw", "shop"},
		{"ops", "ops-pw", "hidden"}, // global SELECT covers every database
		{"nopass", "", ""},
		{"bob", "bob-pw", "dw"},           // through the default role
		{"tab", "tab-pw", "hidden"},       // a table grant gives access to its database
		{svc.User, svc.Password, "mysql"}, // SELECT ON mysql.*
	}
	for _, c := range ok {
		stage1, err := m.Authenticate(ctx, login(c.user, c.pw, c.db, local))
		if err != nil {
			t.Errorf("%s: %v", c.user, err)
			continue
		}
		if !bytes.Equal(stage1, protocol.NativeStage1(c.pw)) {
			t.Errorf("%s: wrong stage1", c.user)
		}
	}
	bad := []struct {
		user, pw, db string
		code         uint16
	}{
		{"app", "app-pw", "hidden", 1044},
		{"app", "app-pw", "nope", 1044},
		{"bob", "bob-pw", "shop", 1044},
		{"ops", "ops-pw", "nope", 1049},
		{"edu", "x", "", 1045},
		{"root", "", "", 1045},
		{"app", "wrong", "", 1045},
		{"gone", "gone-pw", "", 4151},
		{"gone", "wrong", "", 1045},
	}
	for _, c := range bad {
		_, err := m.Authenticate(ctx, login(c.user, c.pw, c.db, local))
		var me *protocol.Error
		if !errors.As(err, &me) || me.Code != c.code {
			t.Errorf("%s/%s: got %v, want %d", c.user, c.db, err, c.code)
		}
	}
}
