package admin_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/proxy/admin"
	"github.com/maxproxy/maxproxy/proxy/admin/admintest"
	"github.com/maxproxy/maxproxy/proxy/admin/api"
)

func newHandler(tb testing.TB, rt admin.Runtime) http.Handler {
	tb.Helper()
	srv, err := admin.New(config.Admin{Listen: "127.0.0.1:0", User: admintest.User, Password: admintest.PasswordHash}, rt, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	return srv.Handler()
}

// FuzzRequests: whatever the method, path and query, an authenticated
// request gets a documented status and, unless 204, a JSON body; nothing
// panics.
func FuzzRequests(f *testing.F) {
	for _, seed := range []struct{ method, target string }{
		{"GET", "/v1/servers/db1"}, {"PUT", "/v1/servers/db2/set?state=drain&force=no"},
		{"PUT", "/v1/servers/%2e%2e/clear?state=maintenance"}, {"DELETE", "/v1/sessions/7"},
		{"GET", "/v1//servers//"}, {"POST", "/v1/reload"}, {"PATCH", "/v1/monitors/galera-monitor/stop"},
		{"GET", "/v1/sessions/18446744073709551616"}, {"PUT", "/servers/db1/set?state=maintenance&state=drain"},
	} {
		f.Add(seed.method, seed.target)
	}
	h := newHandler(f, admintest.New())
	allowed := map[int]bool{200: true, 204: true, 400: true, 404: true, 405: true, 409: true}
	f.Fuzz(func(t *testing.T, method, target string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n#") {
			return
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+target, nil)
		if err != nil {
			return
		}
		req.SetBasicAuth(admintest.User, admintest.Password)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("%s %s: status %d: %s", method, target, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusNoContent && method != http.MethodHead && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: body is not JSON: %q", method, target, rec.Body)
		}
	})
}

// manySessions is the fake runtime with n sessions, for sizing the
// sessions list.
type manySessions struct {
	*admintest.Runtime
	sessions []admin.SessionInfo
}

func (m manySessions) Sessions() []admin.SessionInfo { return m.sessions }

func BenchmarkListSessions10k(b *testing.B) {
	rt := manySessions{Runtime: admintest.New()}
	for i := range 10000 {
		rt.sessions = append(rt.sessions, admin.SessionInfo{ID: uint64(i + 1), Service: "rw-service", Attributes: api.SessionAttributes{
			User: "app", Remote: fmt.Sprintf("127.0.0.1:%d", 20000+i), Connected: admintest.Started, State: "Idle",
			Idle:        api.Duration(time.Second),
			Connections: []api.SessionConnection{{Server: "db1", ThreadID: uint32(i)}, {Server: "db2", ThreadID: uint32(i)}},
		}})
	}
	h := newHandler(b, rt)
	req := httptest.NewRequest("GET", "/v1/sessions", nil)
	req.SetBasicAuth(admintest.User, admintest.Password)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
		b.SetBytes(int64(rec.Body.Len()))
	}
}

// BenchmarkAuthenticatedHealth is the cost of one authenticated request,
// dominated by the PBKDF2 derivation.
func BenchmarkAuthenticatedHealth(b *testing.B) {
	h := newHandler(b, admintest.New())
	req := httptest.NewRequest("GET", "/", nil)
	req.SetBasicAuth(admintest.User, admintest.Password)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
