package backend_test

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/maxproxy/maxproxy/proxy/backend"
	"github.com/maxproxy/maxproxy/proxy/protocol"
)

// captureClient records relayed packets; it stands in for a client socket.
type captureClient struct {
	packets [][]byte
	flushes int
	infile  [][]byte // packets the "client" sends for LOCAL INFILE
}

func (c *captureClient) WritePacket(p []byte) error {
	c.packets = append(c.packets, append([]byte(nil), p...))
	return nil
}
func (c *captureClient) Flush() error { c.flushes++; return nil }
func (c *captureClient) ReadPacket() ([]byte, error) {
	if len(c.infile) == 0 {
		return nil, errors.New("no more client packets")
	}
	p := c.infile[0]
	c.infile = c.infile[1:]
	return p, nil
}

func dialApp(t testing.TB, caps uint32) *backend.Conn {
	t.Helper()
	s := needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := backend.Dial(ctx, s.Addr(), 0, &protocol.LoginConfig{
		User: appUser, Stage1: protocol.NativeStage1(appPass), DB: testDB, Collation: 255,
		ClientCapabilities: caps,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const fullCaps = protocol.ServerCapabilities

func TestExecStatusAndSessionTracking(t *testing.T) {
	for _, caps := range []uint32{fullCaps, fullCaps &^ mysql.CLIENT_DEPRECATE_EOF &^ mysql.CLIENT_SESSION_TRACK} {
		t.Run(strconv.FormatUint(uint64(caps), 16), func(t *testing.T) {
			c := dialApp(t, caps)
			ctx := context.Background()
			r, err := c.Exec(ctx, "SELECT @@collation_connection")
			if err != nil || r.Rows != 1 || r.Results != 1 {
				t.Fatalf("select: %+v %v", r, err)
			}
			r, err = c.Exec(ctx, "BEGIN")
			if err != nil || !r.InTransaction() {
				t.Fatalf("BEGIN: in trans %v, %v", r.InTransaction(), err)
			}
			r, err = c.Exec(ctx, "COMMIT")
			if err != nil || r.InTransaction() || !r.Autocommit() {
				t.Fatalf("COMMIT: status %#x, %v", r.Status, err)
			}
			if _, err = c.Exec(ctx, "SET SESSION session_track_schema = ON"); err != nil {
				t.Fatal(err)
			}
			r, err = c.Exec(ctx, "USE information_schema")
			if err != nil {
				t.Fatal(err)
			}
			var schema string
			_ = protocol.ForEachSessionChange(r.SessionState, func(typ byte, data []byte) error {
				if typ == protocol.SessionTrackSchema {
					s, _, _, _ := mysql.LengthEncodedString(data)
					schema = string(s)
				}
				return nil
			})
			if caps&mysql.CLIENT_SESSION_TRACK != 0 && schema != "information_schema" {
				t.Fatalf("schema change not tracked: %q", r.SessionState)
			}
			if caps&mysql.CLIENT_SESSION_TRACK == 0 && len(r.SessionState) != 0 {
				t.Fatalf("session state without SESSION_TRACK: %q", r.SessionState)
			}
			r, err = c.Exec(ctx, "SELECT 1; SELECT 2, 3 UNION SELECT 4, 5; DO 0")
			if err != nil || r.Results != 3 || r.Rows != 3 {
				t.Fatalf("multi: %+v, %v", r, err)
			}
			_, err = c.Exec(ctx, "SELECT * FROM proxytest.no_such_table")
			var me *protocol.Error
			if !errors.As(err, &me) || me.Code != 1146 || me.State != "42S02" {
				t.Fatalf("want 1146, got %v", err)
			}
			if c.Broken() {
				t.Fatal("a server error must not break the connection")
			}
			if _, err := c.Exec(ctx, "DO 1"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConnectionIDMatchesServer(t *testing.T) {
	c := dialApp(t, fullCaps)
	cl := &captureClient{}
	res, err := c.Relay(context.Background(), cl, append([]byte{mysql.COM_QUERY}, "SELECT CONNECTION_ID()"...))
	if err != nil || res.ClientErr != nil {
		t.Fatal(err, res.ClientErr)
	}
	// Packets: column count, column def, row, OK-as-EOF.
	if len(cl.packets) != 4 || cl.flushes != 1 || res.Forwarded != 4 {
		t.Fatalf("%d packets, %d flushes, forwarded %d", len(cl.packets), cl.flushes, res.Forwarded)
	}
	v, _, _, _ := mysql.LengthEncodedString(cl.packets[2])
	if string(v) != strconv.Itoa(int(c.ConnectionID())) {
		t.Fatalf("CONNECTION_ID() = %s, handshake said %d", v, c.ConnectionID())
	}
}

func TestRelayPreparedCursorAndFetch(t *testing.T) {
	for _, caps := range []uint32{fullCaps, fullCaps &^ mysql.CLIENT_DEPRECATE_EOF} {
		c := dialApp(t, caps)
		ctx := context.Background()
		cl := &captureClient{}
		res, err := c.Relay(ctx, cl, append([]byte{mysql.COM_STMT_PREPARE}, "SELECT ? AS a UNION ALL SELECT 2 UNION ALL SELECT 3"...))
		if err != nil {
			t.Fatal(err)
		}
		r := res.Reply
		if r.IsErr || r.NumParams != 1 || r.NumColumns != 1 || r.StmtID == 0 {
			t.Fatalf("prepare: %+v", r)
		}
		id := r.StmtID
		// COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY and one INT param = 1.
		exec := []byte{mysql.COM_STMT_EXECUTE, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, mysql.MYSQL_TYPE_LONG, 0, 1, 0, 0, 0}
		binary.LittleEndian.PutUint32(exec[1:], id)
		res, err = c.Relay(ctx, cl, exec)
		if err != nil || res.Reply.IsErr {
			t.Fatalf("execute: %v %s", err, res.Reply.ErrMessage)
		}
		if !res.Reply.CursorOpen || res.Reply.Rows != 0 {
			t.Fatalf("execute with cursor: %+v", res.Reply)
		}
		fetch := []byte{mysql.COM_STMT_FETCH, 0, 0, 0, 0, 2, 0, 0, 0}
		binary.LittleEndian.PutUint32(fetch[1:], id)
		var rows uint64
		for i := 0; i < 3; i++ {
			res, err = c.Relay(ctx, cl, fetch)
			if err != nil || res.Reply.IsErr {
				t.Fatalf("fetch: %v %s", err, res.Reply.ErrMessage)
			}
			rows += res.Reply.Rows
			if res.Reply.Status&mysql.SERVER_STATUS_LAST_ROW_SEND != 0 {
				break
			}
		}
		if rows != 3 {
			t.Fatalf("fetched %d rows, want 3", rows)
		}
		closeCmd := []byte{mysql.COM_STMT_CLOSE, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(closeCmd[1:], id)
		before := len(cl.packets)
		if res, err = c.Relay(ctx, cl, closeCmd); err != nil || len(cl.packets) != before {
			t.Fatalf("close: %v, %d packets relayed", err, len(cl.packets)-before)
		}
		if _, err := c.Exec(ctx, "DO 1"); err != nil {
			t.Fatalf("connection unusable after COM_STMT_CLOSE: %v", err)
		}
	}
}

func TestRelaySimpleCommands(t *testing.T) {
	c := dialApp(t, fullCaps&^mysql.CLIENT_DEPRECATE_EOF)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE TABLE IF NOT EXISTS fl (a INT, b TEXT)"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		cmd     []byte
		packets int
	}{
		{"ping", []byte{mysql.COM_PING}, 1},
		{"statistics", []byte{mysql.COM_STATISTICS}, 1},
		{"field list", append([]byte{mysql.COM_FIELD_LIST}, "fl\x00"...), 3},
		{"init db", append([]byte{mysql.COM_INIT_DB}, testDB...), 1},
		{"set option", []byte{mysql.COM_SET_OPTION, 1, 0}, 1},
		{"reset connection", []byte{mysql.COM_RESET_CONNECTION}, 1},
	}
	for _, tc := range cases {
		cl := &captureClient{}
		res, err := c.Relay(ctx, cl, tc.cmd)
		if err != nil || res.Reply.IsErr {
			t.Fatalf("%s: %v %s", tc.name, err, res.Reply.ErrMessage)
		}
		if len(cl.packets) != tc.packets || cl.flushes != 1 {
			t.Fatalf("%s: %d packets %d flushes, want %d and 1", tc.name, len(cl.packets), cl.flushes, tc.packets)
		}
	}
	_, err := c.Relay(ctx, &captureClient{}, []byte{mysql.COM_BINLOG_DUMP})
	if !errors.Is(err, protocol.ErrUnsupportedCommand) || c.Broken() {
		t.Fatalf("binlog dump: %v, broken %v", err, c.Broken())
	}
}

func TestRelayInfileAndExecRefusesInfile(t *testing.T) {
	c := dialApp(t, fullCaps)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE TABLE IF NOT EXISTS inf (a INT)"); err != nil {
		t.Fatal(err)
	}
	cl := &captureClient{infile: [][]byte{[]byte("1\n2\n"), []byte("3\n"), {}}}
	res, err := c.Relay(ctx, cl, append([]byte{mysql.COM_QUERY}, "LOAD DATA LOCAL INFILE 'x' INTO TABLE inf"...))
	if err != nil || res.Reply.IsErr || res.Reply.AffectedRows != 3 {
		t.Fatalf("load data: %v %+v", err, res.Reply)
	}
	if cl.flushes != 2 {
		t.Fatalf("flushes %d, want 2 (infile request, final OK)", cl.flushes)
	}
	_, err = c.Exec(ctx, "LOAD DATA LOCAL INFILE 'x' INTO TABLE inf")
	if !errors.Is(err, backend.ErrInfileRefused) || c.Broken() {
		t.Fatalf("exec infile: %v broken %v", err, c.Broken())
	}
}

func TestLoginErrors(t *testing.T) {
	s := needServer(t)
	ctx := context.Background()
	_, err := backend.Dial(ctx, s.Addr(), 5*time.Second, &protocol.LoginConfig{User: appUser, Stage1: protocol.NativeStage1("nope")})
	var me *protocol.Error
	if !errors.As(err, &me) || me.Code != protocol.ERAccessDenied {
		t.Fatalf("wrong password: %v", err)
	}
	_, err = backend.Dial(ctx, s.Addr(), 5*time.Second, &protocol.LoginConfig{User: appUser, Stage1: protocol.NativeStage1(appPass), DB: "missing_db"})
	if !errors.As(err, &me) || me.Code != 1044 && me.Code != 1049 {
		t.Fatalf("missing db: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := backend.Dial(cctx, s.Addr(), 0, &protocol.LoginConfig{User: appUser}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled dial: %v", err)
	}
}

func TestChangeUserOnBackend(t *testing.T) {
	s := needServer(t)
	ctx := context.Background()
	if err := s.Exec(ctx, "CREATE USER IF NOT EXISTS 'other'@'%' IDENTIFIED BY 'o-pw'"); err != nil {
		t.Fatal(err)
	}
	c := dialApp(t, fullCaps)
	if _, err := c.Exec(ctx, "SET @keep = 1"); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeUser(ctx, &protocol.LoginConfig{User: "other", Stage1: protocol.NativeStage1("o-pw"), Collation: 45}); err != nil {
		t.Fatal(err)
	}
	cl := &captureClient{}
	if _, err := c.Relay(ctx, cl, append([]byte{mysql.COM_QUERY}, "SELECT CURRENT_USER(), IFNULL(@keep, 'reset')"...)); err != nil {
		t.Fatal(err)
	}
	row := cl.packets[len(cl.packets)-2]
	user, _, n, _ := mysql.LengthEncodedString(row)
	keep, _, _, _ := mysql.LengthEncodedString(row[n:])
	if string(user) != "other@%" || string(keep) != "reset" {
		t.Fatalf("after change user: %q %q", user, keep)
	}
	// Twice in a row: MariaDB hands out a fresh scramble each time.
	if err := c.ChangeUser(ctx, &protocol.LoginConfig{User: appUser, Stage1: protocol.NativeStage1(appPass), DB: testDB}); err != nil {
		t.Fatal(err)
	}
	err := c.ChangeUser(ctx, &protocol.LoginConfig{User: "other", Stage1: protocol.NativeStage1("wrong")})
	var me *protocol.Error
	if !errors.As(err, &me) || me.Code != protocol.ERAccessDenied || !c.Broken() {
		t.Fatalf("wrong password: %v, broken %v", err, c.Broken())
	}
}

// TestRelayDoesNotMaterialiseResults relays ~40 MB of rows and checks that
// the proxy side allocated a small fraction of that: rows flow through fixed
// buffers. (Without -race it is zero; the race detector makes sync.Pool drop
// buffers on purpose, hence the margin.)
func TestRelayDoesNotMaterialiseResults(t *testing.T) {
	c := dialApp(t, fullCaps)
	cl := &discardClient{}
	cmd := append([]byte{mysql.COM_QUERY}, "SELECT seq, REPEAT('x', 400) FROM seq_1_to_100000"...)
	ctx := context.Background()
	if _, err := c.Relay(ctx, cl, cmd); err != nil { // warm the buffers
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := c.Relay(ctx, cl, cmd)
	runtime.ReadMemStats(&after)
	if err != nil || res.Reply.Rows != 100000 {
		t.Fatalf("%v rows %d", err, res.Reply.Rows)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
		t.Fatalf("relaying 40 MB allocated %d bytes", d)
	}
}

func TestPingAndResetConnection(t *testing.T) {
	c := dialApp(t, fullCaps)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "SET @v = 7"); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.ResetConnection(ctx); err != nil {
		t.Fatal(err)
	}
	cl := &captureClient{}
	if _, err := c.Relay(ctx, cl, append([]byte{mysql.COM_QUERY}, "SELECT IFNULL(@v, 'gone')"...)); err != nil {
		t.Fatal(err)
	}
	v, _, _, _ := mysql.LengthEncodedString(cl.packets[2])
	if string(v) != "gone" {
		t.Fatalf("user variable survived COM_RESET_CONNECTION: %q", v)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Ping(ctx2); !errors.Is(err, context.Canceled) || c.Broken() {
		t.Fatalf("ping with cancelled context: %v broken %v", err, c.Broken())
	}
	// A session's context has no deadline and is passed with every
	// command: the hook that makes its cancellation interrupt I/O stays
	// registered across commands, and still ends a waiting one.
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	if err := c.Ping(sctx); err != nil {
		t.Fatalf("ping under a live session context: %v", err)
	}
	if err := c.Ping(sctx); err != nil {
		t.Fatalf("second ping under the same context: %v", err)
	}
	// A second connection of another session: cancelling that session's
	// context must end its waiting command (and must not reach c, whose
	// hook watches sctx and would otherwise cut c's next command below).
	c2 := dialApp(t, fullCaps)
	sctx2, scancel2 := context.WithCancel(ctx)
	defer scancel2()
	if err := c2.Ping(sctx2); err != nil {
		t.Fatalf("ping under the second session's context: %v", err)
	}
	time.AfterFunc(50*time.Millisecond, scancel2)
	if _, err := c2.Exec(sctx2, "DO SLEEP(5)"); !errors.Is(err, context.Canceled) || !c2.Broken() {
		t.Fatalf("exec when the session context is cancelled: %v broken %v", err, c2.Broken())
	}
	// A context ending while the command waits breaks the connection: the
	// reply's position is unknown.
	ctx3, cancel3 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel3()
	if _, err := c.Exec(ctx3, "DO SLEEP(5)"); !errors.Is(err, context.DeadlineExceeded) || !c.Broken() {
		t.Fatalf("exec past deadline: %v broken %v", err, c.Broken())
	}
}
