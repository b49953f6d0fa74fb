package admin_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/proxy/admin"
	"github.com/maxproxy/maxproxy/proxy/admin/admintest"
	"github.com/maxproxy/maxproxy/proxy/admin/api"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client is an http.Client whose idle connections are closed at cleanup, so
// that goleak sees no transport goroutines.
func client(t *testing.T, tlsConf *tls.Config) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: tlsConf}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, url, user, password string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || password != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

type call struct{ method, path string }

// TestGolden runs each case against a fresh runtime: the requests in before
// (which must succeed), then the request whose reply is compared with
// testdata/NAME.golden.
func TestGolden(t *testing.T) {
	cases := []struct {
		name   string
		before []call
		req    call
		status int
		calls  []string // actions the runtime saw, in order
	}{
		{name: "root", req: call{"GET", "/"}, status: 200},
		{name: "root_v1", req: call{"GET", "/v1/"}, status: 200},
		{name: "maxproxy", req: call{"GET", "/v1/maxproxy"}, status: 200},
		{name: "servers", req: call{"GET", "/v1/servers"}, status: 200},
		{name: "server_db3", req: call{"GET", "/v1/servers/db3"}, status: 200},
		{name: "server_down", req: call{"GET", "/v1/servers/db4/"}, status: 200},
		{name: "server_unprefixed", req: call{"GET", "/servers/db1"}, status: 200},
		{name: "services", req: call{"GET", "/v1/services"}, status: 200},
		{name: "service", req: call{"GET", "/v1/services/ro-service"}, status: 200},
		{name: "listeners", req: call{"GET", "/v1/listeners"}, status: 200},
		{name: "listener", req: call{"GET", "/v1/listeners/rw-listener"}, status: 200},
		{name: "monitors", req: call{"GET", "/v1/monitors"}, status: 200},
		{name: "monitor", req: call{"GET", "/v1/monitors/galera-monitor"}, status: 200},
		{name: "sessions", req: call{"GET", "/v1/sessions"}, status: 200},
		{name: "session", req: call{"GET", "/v1/sessions/12"}, status: 200},

		{name: "set_maintenance", before: []call{{"PUT", "/v1/servers/db2/set?state=maintenance"}},
			req: call{"GET", "/v1/servers/db2"}, status: 200, calls: []string{"set db2 maintenance"}},
		{name: "set_maintenance_force_writer", before: []call{{"PUT", "/v1/servers/db1/set?state=maintenance&force=yes"}},
			req: call{"GET", "/v1/servers/db1"}, status: 200, calls: []string{"set db1 maintenance force"}},
		{name: "set_drain", before: []call{{"PUT", "/v1/servers/db3/set?state=drain"}},
			req: call{"GET", "/v1/servers/db3"}, status: 200, calls: []string{"set db3 drain"}},
		{name: "clear_drain", before: []call{{"PUT", "/v1/servers/db3/set?state=drain"}, {"PUT", "/v1/servers/db3/clear?state=drain"}},
			req: call{"GET", "/v1/servers/db3"}, status: 200, calls: []string{"set db3 drain", "clear db3 drain"}},
		{name: "monitor_stopped", before: []call{{"PUT", "/v1/monitors/galera-monitor/stop"}},
			req: call{"GET", "/v1/monitors/galera-monitor"}, status: 200, calls: []string{"monitor galera-monitor Stopped"}},
		{name: "monitor_restarted", before: []call{{"PUT", "/v1/monitors/galera-monitor/stop"}, {"PUT", "/v1/monitors/galera-monitor/start"}},
			req: call{"GET", "/v1/monitors/galera-monitor"}, status: 200, calls: []string{"monitor galera-monitor Stopped", "monitor galera-monitor Running"}},
		{name: "session_killed", before: []call{{"DELETE", "/v1/sessions/7"}},
			req: call{"GET", "/v1/sessions"}, status: 200, calls: []string{"kill 7"}},
		{name: "reload", req: call{"POST", "/v1/reload"}, status: 200, calls: []string{"reload"}},
		{name: "action_no_content", req: call{"PUT", "/v1/servers/db2/set?state=drain"}, status: 204, calls: []string{"set db2 drain"}},

		{name: "err_unknown_server", req: call{"GET", "/v1/servers/nope"}, status: 404},
		{name: "err_set_unknown_server", req: call{"PUT", "/v1/servers/nope/set?state=maintenance"}, status: 404},
		{name: "err_unknown_path", req: call{"GET", "/v1/filters"}, status: 404},
		{name: "err_unknown_monitor", req: call{"PUT", "/v1/monitors/nope/stop"}, status: 404},
		{name: "err_unknown_session", req: call{"DELETE", "/v1/sessions/99"}, status: 404},
		{name: "err_bad_session_id", req: call{"GET", "/v1/sessions/abc"}, status: 400},
		{name: "err_bad_state", req: call{"PUT", "/v1/servers/db2/set?state=master"}, status: 400},
		{name: "err_missing_state", req: call{"PUT", "/v1/servers/db2/set"}, status: 400},
		{name: "err_force_drain", req: call{"PUT", "/v1/servers/db2/set?state=drain&force=yes"}, status: 400},
		{name: "err_force_clear", req: call{"PUT", "/v1/servers/db2/clear?state=maintenance&force=yes"}, status: 400},
		{name: "err_bad_force", req: call{"PUT", "/v1/servers/db2/set?state=maintenance&force=maybe"}, status: 400},
		{name: "err_unknown_param", req: call{"PUT", "/v1/servers/db2/set?state=maintenance&forse=yes"}, status: 400},
		{name: "err_drain_writer", req: call{"PUT", "/v1/servers/db1/set?state=drain"}, status: 409},
		{name: "err_method", req: call{"POST", "/v1/servers/db1"}, status: 405},
		{name: "err_method_action", req: call{"GET", "/v1/servers/db1/set"}, status: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := admintest.New()
			_, addr := admintest.Serve(t, rt, config.Admin{})
			c := client(t, nil)
			base := "http://" + addr
			for _, b := range tc.before {
				if r := do(t, c, b.method, base+b.path, admintest.User, admintest.Password); r.status != http.StatusNoContent {
					t.Fatalf("%s %s: %d %s", b.method, b.path, r.status, r.body)
				}
			}
			r := do(t, c, tc.req.method, base+tc.req.path, admintest.User, admintest.Password)
			if r.status != tc.status {
				t.Errorf("status %d, want %d; body:\n%s", r.status, tc.status, r.body)
			}
			if r.status != http.StatusNoContent {
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
				if !json.Valid([]byte(r.body)) {
					t.Errorf("body is not JSON: %q", r.body)
				}
			}
			if r.status == http.StatusMethodNotAllowed && r.header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			// The API answers compact JSON; the golden files are indented
			// so that a reviewer can read them.
			body := r.body
			if body != "" {
				var buf bytes.Buffer
				if err := json.Indent(&buf, []byte(body), "", "  "); err != nil {
					t.Fatal(err)
				}
				body = buf.String()
			}
			got := fmt.Sprintf("%s %s\n%d\n%s", tc.req.method, tc.req.path, r.status, body)
			golden(t, tc.name, got)
			if calls := rt.Calls(); !slices.Equal(calls, tc.calls) {
				t.Errorf("runtime calls %q, want %q", calls, tc.calls)
			}
		})
	}
}

func TestPretty(t *testing.T) {
	_, addr := admintest.Serve(t, admintest.New(), config.Admin{})
	c := client(t, nil)
	compact := do(t, c, "GET", "http://"+addr+"/v1/servers/db1", admintest.User, admintest.Password)
	pretty := do(t, c, "GET", "http://"+addr+"/v1/servers/db1?pretty=true", admintest.User, admintest.Password)
	var want bytes.Buffer
	if err := json.Indent(&want, []byte(compact.body), "", "  "); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.TrimSpace(compact.body), "\n") || pretty.body != want.String() {
		t.Errorf("compact:\n%s\npretty:\n%s", compact.body, pretty.body)
	}
	if r := do(t, c, "PUT", "http://"+addr+"/v1/servers/db2/set?state=drain&pretty=true", admintest.User, admintest.Password); r.status != http.StatusNoContent {
		t.Errorf("pretty on an action: %d %s", r.status, r.body)
	}
}

func TestReloadFailureIs500(t *testing.T) {
	rt := admintest.New()
	rt.ReloadErr = admintest.ErrReload
	_, addr := admintest.Serve(t, rt, config.Admin{})
	r := do(t, client(t, nil), "POST", "http://"+addr+"/v1/reload", admintest.User, admintest.Password)
	if r.status != http.StatusInternalServerError || !strings.Contains(r.body, "permission denied") {
		t.Errorf("got %d %s, want 500 with the runtime's error", r.status, r.body)
	}
}

func TestReloadReportsChanges(t *testing.T) {
	rt := admintest.New()
	rt.Reloaded = admintest.Reloaded
	_, addr := admintest.Serve(t, rt, config.Admin{})
	r := do(t, client(t, nil), "POST", "http://"+addr+"/v1/reload", admintest.User, admintest.Password)
	var doc api.Document[api.ReloadResource]
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Data.Attributes; !reflect.DeepEqual(got, admintest.Reloaded) {
		t.Errorf("reload document %+v, want %+v", got, admintest.Reloaded)
	}
}

// An invalid file is the operator's to fix: 400 with the file:line error.
func TestReloadInvalidFileIs400(t *testing.T) {
	rt := admintest.New()
	rt.ReloadErr = admintest.ErrReloadInvalid
	_, addr := admintest.Serve(t, rt, config.Admin{})
	r := do(t, client(t, nil), "POST", "http://"+addr+"/v1/reload", admintest.User, admintest.Password)
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, `/etc/maxproxy.toml:12: server \"db4\".port`) {
		t.Errorf("got %d %s, want 400 naming the file and line", r.status, r.body)
	}
}

// TestEveryRouteRequiresAuth: every route (and an unknown one) answers 401
// with a challenge to a request without or with wrong credentials, and the
// runtime sees no action.
func TestEveryRouteRequiresAuth(t *testing.T) {
	routes := []call{
		{"GET", "/"}, {"GET", "/v1/"}, {"GET", "/v1/maxproxy"}, {"POST", "/v1/reload"},
		{"GET", "/v1/servers"}, {"GET", "/v1/servers/db1"},
		{"PUT", "/v1/servers/db2/set?state=maintenance"}, {"PUT", "/v1/servers/db2/clear?state=maintenance"},
		{"GET", "/v1/services"}, {"GET", "/v1/services/rw-service"},
		{"GET", "/v1/listeners"}, {"GET", "/v1/listeners/rw-listener"},
		{"GET", "/v1/monitors"}, {"GET", "/v1/monitors/galera-monitor"},
		{"PUT", "/v1/monitors/galera-monitor/stop"}, {"PUT", "/v1/monitors/galera-monitor/start"},
		{"GET", "/v1/sessions"}, {"GET", "/v1/sessions/7"}, {"DELETE", "/v1/sessions/7"},
		{"GET", "/v1/no-such-thing"}, {"POST", "/v1/servers"},
	}
	creds := []struct{ name, user, password string }{
		{"none", "", ""},
		{"wrong password", admintest.User, "mariadb"},
		{"wrong user", "admin", admintest.Password},
		{"password prefix", admintest.User, admintest.Password[:4]},
		{"empty password", admintest.User, ""},
	}
	rt := admintest.New()
	_, addr := admintest.Serve(t, rt, config.Admin{})
	c := client(t, nil)
	for _, rc := range routes {
		for _, cr := range creds {
			t.Run(rc.method+" "+rc.path+" "+cr.name, func(t *testing.T) {
				r := do(t, c, rc.method, "http://"+addr+rc.path, cr.user, cr.password)
				if r.status != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401; body %s", r.status, r.body)
				}
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
				var doc api.ErrorDocument
				if err := json.Unmarshal([]byte(r.body), &doc); err != nil || len(doc.Errors) != 1 || doc.Errors[0].Detail == "" {
					t.Errorf("body %q is not an error document (%v)", r.body, err)
				}
			})
		}
	}
	if calls := rt.Calls(); len(calls) != 0 {
		t.Errorf("unauthenticated requests reached the runtime: %q", calls)
	}
}

func TestSetCredentials(t *testing.T) {
	srv, addr := admintest.Serve(t, admintest.New(), config.Admin{})
	c := client(t, nil)
	url := "http://" + addr + "/v1/maxproxy"
	if err := srv.SetCredentials("root", "n3w-password"); err != nil {
		t.Fatal(err)
	}
	if r := do(t, c, "GET", url, admintest.User, admintest.Password); r.status != http.StatusUnauthorized {
		t.Errorf("old credentials: status %d, want 401", r.status)
	}
	if r := do(t, c, "GET", url, "root", "n3w-password"); r.status != http.StatusOK {
		t.Errorf("new credentials: status %d, want 200", r.status)
	}
	if err := srv.SetCredentials("root", ""); err == nil {
		t.Error("an empty password was accepted")
	}
}

// fakeListener pretends to be bound to a public address: the tests may only
// bind loopback.
type fakeListener struct {
	net.Listener
	addr   net.Addr
	closed bool
}

func (l *fakeListener) Addr() net.Addr { return l.addr }
func (l *fakeListener) Close() error   { l.closed = true; return nil }

// defaultPasswordHash is a lowest-cost bcrypt hash of the default password,
// which is the default password as far as the exposure rule goes.
const defaultPasswordHash = "$2a$04$/EtWOp5paur8NpnXK4cfSe1125XGY0W1a6232e3hEPw.i.u2AspC6"

func TestDefaultPasswordRefusedOffLoopback(t *testing.T) {
	for i, listen := range []string{"0.0.0.0:8989", "10.1.2.3:8989", ":8989", "[::]:8989", "admin.example.com:8989"} {
		pw := config.DefaultAdminPassword
		if i%2 == 1 {
			pw = defaultPasswordHash
		}
		_, err := admin.New(config.Admin{Listen: listen, User: "admin", Password: pw}, admintest.New(), nil)
		if err == nil || !strings.Contains(err.Error(), "default password") {
			t.Errorf("New with listen %q and the default password: err %v, want refusal", listen, err)
		}
	}
	for _, listen := range []string{"127.0.0.1:8989", "[::1]:8989", "localhost:8989"} {
		if _, err := admin.New(config.Admin{Listen: listen, User: "admin", Password: defaultPasswordHash}, admintest.New(), nil); err != nil {
			t.Errorf("New with listen %q: %v", listen, err)
		}
	}
	// The socket itself is checked too: a caller may hand Serve any listener.
	srv, err := admin.New(config.Admin{Listen: "127.0.0.1:0", User: "admin", Password: defaultPasswordHash}, admintest.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln := &fakeListener{addr: &net.TCPAddr{IP: net.IPv4(0, 0, 0, 0), Port: 8989}}
	if err := srv.Serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), "default password") {
		t.Errorf("Serve on 0.0.0.0 with the default password: %v", err)
	}
	if !ln.closed {
		t.Error("refused listener was not closed")
	}
	// And so is a change of password while serving a public address.
	srv, err = admin.New(config.Admin{Listen: "127.0.0.1:0", User: "admin", Password: admintest.PasswordHash}, admintest.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := &fakeListener{Listener: failingListener{}, addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8989}}
	if err := srv.Serve(context.Background(), pub); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve: %v, want the listener's error", err)
	}
	if err := srv.SetCredentials("admin", config.DefaultAdminPassword); err == nil {
		t.Error("the default password was accepted while serving 10.1.2.3")
	}
}

// failingListener fails Accept at once, ending Serve.
type failingListener struct{}

func (failingListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (failingListener) Close() error              { return nil }
func (failingListener) Addr() net.Addr            { return &net.TCPAddr{} }

func TestTLS(t *testing.T) {
	certFile, keyFile, certPEM := admintest.SelfSignedCert(t, t.TempDir())
	_, addr := admintest.Serve(t, admintest.New(), config.Admin{TLSCert: certFile, TLSKey: keyFile})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	r := do(t, client(t, &tls.Config{RootCAs: pool}), "GET", "https://"+addr+"/v1/servers/db1", admintest.User, admintest.Password)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"Master, Synced, Running"`) {
		t.Errorf("over TLS: %d %s", r.status, r.body)
	}
	// Plain HTTP to the TLS port gets no API answer.
	r = do(t, client(t, nil), "GET", "http://"+addr+"/v1/servers", admintest.User, admintest.Password)
	if r.status == http.StatusOK {
		t.Error("plain HTTP was served on the TLS port")
	}
}

func TestBadTLSConfig(t *testing.T) {
	dir := t.TempDir()
	_, err := admin.New(config.Admin{Listen: "127.0.0.1:0", User: "a", Password: admintest.PasswordHash, TLSCert: filepath.Join(dir, "missing.crt"), TLSKey: filepath.Join(dir, "missing.key")}, admintest.New(), nil)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing key pair: %v", err)
	}
	if _, err := admin.New(config.Admin{Listen: "127.0.0.1:0", User: "a", Password: admintest.PasswordHash, TLSCert: "x.crt"}, admintest.New(), nil); err == nil {
		t.Error("tls_cert without tls_key was accepted")
	}
}

func TestServeStopsWithContext(t *testing.T) {
	srv, err := admin.New(config.Admin{Listen: "127.0.0.1:0", User: "a", Password: admintest.PasswordHash}, admintest.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	r := do(t, client(t, nil), "GET", "http://"+ln.Addr().String()+"/", "a", admintest.Password)
	if r.status != http.StatusOK {
		t.Fatalf("health: %d", r.status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("still accepting after Serve returned")
	}
}

func TestServerAttributesFromTopology(t *testing.T) {
	a := admin.ServerAttributes(topology.Server{
		Name: "db9", Address: "[::1]:3310", Priority: -1,
		State:  topology.Slave | topology.Synced | topology.Lagging | topology.Running,
		Galera: topology.Galera{LocalStateComment: "Synced", LocalIndex: 2, RecvQueue: 5, FlowControlSent: 9},
	})
	if a.Address != "::1" || a.Port != 3310 || a.Priority != -1 {
		t.Errorf("address %q port %d priority %d", a.Address, a.Port, a.Priority)
	}
	if a.State != "Slave, Synced, Lagging, Running" || !a.Galera.Lagging || a.Galera.LocalRecvQueue != 5 || a.Galera.FlowControlSent != 9 {
		t.Errorf("got %+v", a)
	}
}
