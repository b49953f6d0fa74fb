package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/proxy/admin/api"
	"github.com/maxproxy/maxproxy/proxy/ctl"
)

const adminITPassword = "it-admin-pw"

// startProxyWithAdmin is startProxy with the admin REST API enabled on a
// loopback port; it returns the API's address.
func startProxyWithAdmin(t *testing.T) (*runningProxy, string) {
	t.Helper()
	cfg := parseProxyConfig(t, galera3.Get(t).Nodes(), "", "")
	cfg.Admin.Enabled, cfg.Admin.Listen = true, "127.0.0.1:0"
	cfg.Admin.User, cfg.Admin.Password = "ops", adminITPassword
	p := runProxy(t, cfg, "it")
	return p, p.srv.AdminAddr().String()
}

// ctlRun runs `maxproxy ctl` in-process against addr and returns its exit
// status, stdout and stderr.
func ctlRun(ctx context.Context, addr, password string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	argv := append([]string{"--hosts", addr, "--user", "ops", "--password", password}, args...)
	code := ctl.Main(ctx, argv, &out, &errb)
	return code, out.String(), errb.String()
}

// serverRows returns the `ctl list servers` rows by server name.
func serverRows(t *testing.T, ctx context.Context, addr string) map[string]string {
	t.Helper()
	code, out, stderr := ctlRun(ctx, addr, adminITPassword, "list", "servers")
	if code != 0 {
		t.Fatalf("list servers: exit %d: %s", code, stderr)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = line
		}
	}
	return rows
}

// waitServer polls `ctl list servers` until the row of server satisfies ok.
func waitServer(t *testing.T, ctx context.Context, addr, server, what string, ok func(row string) bool) {
	t.Helper()
	err := harness.Poll(ctx, what, 50*time.Millisecond, func(context.Context) error {
		if row := serverRows(t, ctx, addr)[server]; !ok(row) {
			return fmt.Errorf("row: %q", row)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// slaveReads is the number of autocommit reads the rw service sent to
// each server.
// readsAvoid runs 10 reads through p, each in a new session, and fails t
// unless every one of them went to a reader of names other than avoid.
func readsAvoid(t *testing.T, ctx context.Context, p *runningProxy, names []string, avoid string) {
	t.Helper()
	before := p.slaveReads(t, names)
	readsVia(t, ctx, p, 10)
	after := p.slaveReads(t, names)
	if after[avoid] != before[avoid] {
		t.Errorf("%s, in maintenance, got %v reads", avoid, after[avoid]-before[avoid])
	}
	var total float64
	for _, n := range names {
		total += after[n] - before[n]
	}
	if total != 10 {
		t.Errorf("10 reads, %v routed to readers: %v -> %v", total, before, after)
	}
}

func (p *runningProxy) slaveReads(t *testing.T, names []string) map[string]float64 {
	out := map[string]float64{}
	for _, n := range names {
		out[n] = p.routed(t, "rw", n, "slave")
	}
	return out
}

// TestProxyAdminCtl drives a proxy in front of the real 3-node Galera
// cluster with `maxproxy ctl`, as an operator would: the listing shows the
// monitor's view of the cluster, maintenance takes a reader out of read
// routing and clear puts it back, draining the writer is refused with the
// reason, a wrong password is refused, and killing a listed session
// closes the client's connection.
func TestProxyAdminCtl(t *testing.T) {
	p, addr := startProxyWithAdmin(t)
	ctx := ctxFor(t, 2*time.Minute)
	names := []string{"node1", "node2", "node3"}

	// The three nodes, Synced, exactly one Master.
	var master string
	waitServer(t, ctx, addr, "node3", "the monitor to report every node", func(string) bool {
		rows := serverRows(t, ctx, addr)
		masters := 0
		for _, n := range names {
			if !strings.Contains(rows[n], "Synced, Running") {
				return false
			}
			if strings.Contains(rows[n], "Master") {
				masters++
				master = n
			}
		}
		return masters == 1
	})
	code, out, _ := ctlRun(ctx, addr, adminITPassword, "list", "monitors")
	if code != 0 || !strings.Contains(out, "Running") || !strings.Contains(out, master) {
		t.Errorf("list monitors (exit %d):\n%s", code, out)
	}
	reader := "node2"
	if master == reader {
		reader = "node3"
	}

	// Maintenance: the reader gets no new reads, the other reader does.
	if code, _, stderr := ctlRun(ctx, addr, adminITPassword, "set", "server", reader, "maintenance"); code != 0 {
		t.Fatalf("set maintenance: exit %d: %s", code, stderr)
	}
	waitServer(t, ctx, addr, reader, "maintenance to show", func(row string) bool { return strings.Contains(row, "Maintenance") })
	readsAvoid(t, ctx, p, names, reader)
	inMaintenance := p.routed(t, "rw", reader, "slave")
	db := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	db.SetMaxIdleConns(0) // every session below is a new one

	// Clear: the reader is routed to again.
	if code, _, stderr := ctlRun(ctx, addr, adminITPassword, "clear", "server", reader, "maintenance"); code != 0 {
		t.Fatalf("clear maintenance: exit %d: %s", code, stderr)
	}
	waitServer(t, ctx, addr, reader, "maintenance to clear", func(row string) bool {
		return row != "" && !strings.Contains(row, "Maintenance") && strings.Contains(row, "Slave")
	})
	// Sessions held open at once spread over the readers by their
	// connection counts.
	held := 0
	var onReader *sql.Conn // the last session opened: its read went to reader
	err := harness.Poll(ctx, reader+" routed to again", 10*time.Millisecond, func(ctx context.Context) error {
		if held >= 20 {
			return harness.Permanent(errors.New("20 concurrent sessions and no read on " + reader))
		}
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		held++
		onReader = c
		t.Cleanup(func() { c.Close() })
		var one int
		if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return err
		}
		if p.routed(t, "rw", reader, "slave") == inMaintenance {
			return errors.New("no read yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Forced maintenance also closes the sessions connected to the server.
	if code, _, stderr := ctlRun(ctx, addr, adminITPassword, "set", "server", reader, "maintenance", "--force"); code != 0 {
		t.Fatalf("set maintenance --force: exit %d: %s", code, stderr)
	}
	if err := onReader.PingContext(ctx); err == nil {
		t.Errorf("a session connected to %s survived forced maintenance", reader)
	}
	if code, _, stderr := ctlRun(ctx, addr, adminITPassword, "clear", "server", reader, "maintenance"); code != 0 {
		t.Fatalf("clear maintenance: exit %d: %s", code, stderr)
	}

	// Draining the writer is refused with the reason.
	code, _, stderr := ctlRun(ctx, addr, adminITPassword, "set", "server", master, "drain")
	if code == 0 || !strings.Contains(stderr, "409") || !strings.Contains(stderr, "cannot be drained") {
		t.Errorf("drain the writer: exit %d: %s", code, stderr)
	}
	// A wrong password is refused.
	code, out, stderr = ctlRun(ctx, addr, "not-the-password", "list", "servers")
	if code == 0 || !strings.Contains(stderr, "401") || strings.Contains(out, "node1") {
		t.Errorf("wrong password: exit %d: %s%s", code, out, stderr)
	}
	// This proxy was built from a configuration in code: there is no file
	// to reload, and reload says so (proxy_reload_test.go reloads files).
	code, _, stderr = ctlRun(ctx, addr, adminITPassword, "reload")
	if code == 0 || !strings.Contains(stderr, "409") || !strings.Contains(stderr, "no configuration file") {
		t.Errorf("reload: exit %d: %s", code, stderr)
	}

	// A client session is listed, and killing it closes its connection.
	victimDB := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", "mysql"))
	victim, err := victimDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	if _, err := victim.ExecContext(ctx, "DO 1"); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = ctlRun(ctx, addr, adminITPassword, "--json", "list", "sessions")
	if code != 0 {
		t.Fatalf("list sessions: exit %d: %s", code, stderr)
	}
	var sessions api.Document[[]api.SessionResource]
	if err := json.Unmarshal([]byte(out), &sessions); err != nil {
		t.Fatalf("list sessions --json: %v\n%s", err, out)
	}
	id := ""
	for _, s := range sessions.Data {
		if s.Attributes.Database == "mysql" {
			id = s.ID
		}
	}
	if id == "" {
		t.Fatalf("the client's session is not listed:\n%s", out)
	}
	code, out, _ = ctlRun(ctx, addr, adminITPassword, "list", "sessions")
	if !strings.Contains(out, "\n"+id+" ") || !strings.Contains(out, "app") {
		t.Errorf("list sessions (exit %d) lacks session %s:\n%s", code, id, out)
	}
	if code, _, stderr := ctlRun(ctx, addr, adminITPassword, "kill", "session", id); code != 0 {
		t.Fatalf("kill session %s: exit %d: %s", id, code, stderr)
	}
	if err := victim.PingContext(ctx); err == nil {
		t.Error("the killed session's connection still answers")
	}
	err = harness.Poll(ctx, "the killed session to leave the list", 20*time.Millisecond, func(context.Context) error {
		code, out, stderr := ctlRun(ctx, addr, adminITPassword, "list", "sessions")
		if code != 0 {
			return harness.Permanent(fmt.Errorf("list sessions: exit %d: %s", code, stderr))
		}
		if strings.Contains(out, "\n"+id+" ") {
			return fmt.Errorf("still listed:\n%s", out)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}
