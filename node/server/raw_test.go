package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// rawClient speaks the protocol byte by byte so tests control capabilities and see every packet.
type rawClient struct {
	t      *testing.T
	nc     net.Conn
	pc     *packetConn
	connID uint32
	salt   []byte
}

const baseClientCaps = mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH |
	mysql.CLIENT_LONG_PASSWORD | mysql.CLIENT_TRANSACTIONS | mysql.CLIENT_MULTI_RESULTS

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &rawClient{t: t, nc: nc, pc: newPacketConn(nc, 1<<30, 0)}
	g := c.read()
	r := reader{b: g}
	if r.byte1() != 10 {
		t.Fatalf("protocol version: %x", g)
	}
	version := string(r.nulString())
	if version != "5.5.5-10.11.99-MariaDB-maxnode" {
		t.Errorf("handshake version %q", version)
	}
	c.connID = r.uint32()
	c.salt = append(c.salt, r.bytes(8)...)
	r.byte1()
	capsLo := r.uint16()
	if coll := r.byte1(); coll != 45 {
		t.Errorf("server collation %d, want 45", coll)
	}
	r.uint16()
	caps := uint32(capsLo) | uint32(r.uint16())<<16
	if caps != serverCaps {
		t.Errorf("advertised caps %#x, want %#x", caps, serverCaps)
	}
	r.byte1()
	r.bytes(10)
	c.salt = append(c.salt, r.bytes(12)...)
	r.byte1()
	if p := string(r.nulString()); p != nativePlugin || r.err != nil {
		t.Fatalf("plugin %q err %v", p, r.err)
	}
	return c
}

// login sends a HandshakeResponse41 and returns the server's answer.
func (c *rawClient) login(caps uint32, user, pass, db string) []byte {
	c.t.Helper()
	b := appendUint32(nil, caps)
	b = appendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 23)...)
	b = append(b, user...)
	b = append(b, 0)
	var auth []byte
	if pass != "" {
		auth = mysql.CalcNativePassword(c.salt, []byte(pass))
	}
	b = append(b, byte(len(auth)))
	b = append(b, auth...)
	if caps&mysql.CLIENT_CONNECT_WITH_DB != 0 {
		b = append(b, db...)
		b = append(b, 0)
	}
	b = append(b, nativePlugin...)
	b = append(b, 0)
	c.write(b)
	return c.read()
}

func (c *rawClient) mustLogin(caps uint32) {
	c.t.Helper()
	if p := c.login(caps, "root", "", ""); p[0] != 0x00 {
		c.t.Fatalf("login: %q", p)
	}
}

func (c *rawClient) write(payload []byte) {
	c.t.Helper()
	if err := c.pc.writePacket(payload); err != nil {
		c.t.Fatal(err)
	}
	if err := c.pc.flush(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) read() []byte {
	c.t.Helper()
	p, err := c.pc.readPacket()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return append([]byte(nil), p...)
}

// command sends one command packet (sequence 0).
func (c *rawClient) command(cmd byte, data []byte) {
	c.pc.seq = 0
	c.write(append([]byte{cmd}, data...))
}

// readN reads n packets: where a reply ends is not knowable without decoding it, so tests say how
// many packets they expect.
func (c *rawClient) readN(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = c.read()
	}
	return out
}

// expectClosed asserts the server closes the connection.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	_, err := c.pc.readPacket()
	if err == nil {
		c.t.Fatal("connection still open")
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
		c.t.Fatalf("want EOF, got %v", err)
	}
}

func errCode(p []byte) (uint16, string) {
	if len(p) < 9 || p[0] != 0xff {
		return 0, string(p)
	}
	return binary.LittleEndian.Uint16(p[1:]), string(p[9:])
}

func TestResultSetFraming(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		name string
		caps uint32
		// first byte and length of every packet of "SELECT 1, 'a'"
		want []string
	}{
		{"classic EOF", baseClientCaps, []string{"02/1", "def", "def", "fe/5", "row", "fe/5"}},
		{"deprecate EOF", baseClientCaps | mysql.CLIENT_DEPRECATE_EOF, []string{"02/1", "def", "def", "row", "fe/7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			c.mustLogin(tc.caps)
			c.command(mysql.COM_QUERY, []byte("SELECT 1, 'a'"))
			got := describe(c.readN(len(tc.want)))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("packets %v, want %v", got, tc.want)
			}
			c.command(mysql.COM_PING, nil)
			if p := c.read(); p[0] != 0 {
				t.Errorf("ping after result: %q", p)
			}
		})
	}
}

// describe names packets for comparisons: column definitions and rows by kind, others by header/len.
func describe(ps [][]byte) []string {
	var out []string
	for _, p := range ps {
		switch {
		case bytes.HasPrefix(p, []byte("\x03def")):
			out = append(out, "def")
		case p[0] == 0x01 && len(p) == 2: // text row "1"
			out = append(out, "row")
		case p[0] == 0xfe || p[0] == 0x00 || p[0] == 0xff || len(p) == 1:
			out = append(out, fmt.Sprintf("%02x/%d", p[0], len(p)))
		default:
			out = append(out, "row")
		}
	}
	return out
}

func TestMultiStatementStatusFlags(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr)
	c.mustLogin(baseClientCaps | mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_DEPRECATE_EOF)
	c.command(mysql.COM_QUERY, []byte("SELECT 1; SELECT 2"))
	ps := c.readN(8) // count, def, row, end; count, def, row, end
	first, last := ps[3], ps[7]
	if binary.LittleEndian.Uint16(first[3:])&mysql.SERVER_MORE_RESULTS_EXISTS == 0 {
		t.Errorf("first result lacks SERVER_MORE_RESULTS_EXISTS: %x", first)
	}
	if binary.LittleEndian.Uint16(last[3:])&mysql.SERVER_MORE_RESULTS_EXISTS != 0 {
		t.Errorf("last result has SERVER_MORE_RESULTS_EXISTS: %x", last)
	}

	// COM_SET_OPTION turns multi-statements off and on again; it answers with an EOF packet.
	c.command(mysql.COM_SET_OPTION, []byte{1, 0})
	if p := c.read(); p[0] != 0xfe || len(p) != 5 {
		t.Fatalf("set option reply %x", p)
	}
	c.command(mysql.COM_QUERY, []byte("SELECT 1; SELECT 2"))
	if code, _ := errCode(c.read()); code != erParse {
		t.Errorf("multi-statement after MULTI_STATEMENTS_OFF: got %d", code)
	}
	c.command(mysql.COM_SET_OPTION, []byte{0, 0})
	c.read()
	c.command(mysql.COM_QUERY, []byte("SELECT 1; SELECT 2"))
	if ps := c.readN(8); ps[7][0] != 0xfe {
		t.Errorf("multi-statement after MULTI_STATEMENTS_ON: %x", ps)
	}
}

func TestMalformedPackets(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		name      string
		payload   []byte
		wantCode  uint16
		wantClose bool
	}{
		{"empty command", []byte{}, erMalformedPacket, true},
		{"short execute", []byte{mysql.COM_STMT_EXECUTE, 1, 0}, erMalformedPacket, true},
		{"short kill", []byte{mysql.COM_PROCESS_KILL, 1}, erMalformedPacket, true},
		{"short set option", []byte{mysql.COM_SET_OPTION, 1}, erMalformedPacket, true},
		{"change user garbage", []byte{mysql.COM_CHANGE_USER, 'x', 0, 200}, erMalformedPacket, true},
		{"unknown command", []byte{0x55}, erUnknownCom, false},
		{"unknown statement", []byte{mysql.COM_STMT_EXECUTE, 9, 0, 0, 0, 0, 1, 0, 0, 0}, erUnknownStmtHandler, false},
		{"cursor fetch", []byte{mysql.COM_STMT_FETCH, 1, 0, 0, 0, 1, 0, 0, 0}, erNotSupportedYet, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			c.mustLogin(baseClientCaps)
			c.pc.seq = 0
			c.write(tc.payload)
			if code, msg := errCode(c.read()); code != tc.wantCode {
				t.Fatalf("got %d %q, want %d", code, msg, tc.wantCode)
			}
			if tc.wantClose {
				c.expectClosed()
				return
			}
			c.command(mysql.COM_PING, nil)
			if p := c.read(); p[0] != 0 {
				t.Errorf("ping after error: %x", p)
			}
		})
	}

	t.Run("out of order", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.mustLogin(baseClientCaps)
		c.pc.seq = 5
		c.write([]byte{mysql.COM_PING})
		c.pc.seq = 0
		if code, _ := errCode(c.read()); code != erNetPacketsOutOfOrd {
			t.Fatalf("got %d, want %d", code, erNetPacketsOutOfOrd)
		}
		c.expectClosed()
	})
	t.Run("garbage handshake", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.write([]byte{1, 2, 3})
		if code, _ := errCode(c.read()); code != erMalformedPacket {
			t.Fatalf("got %d", code)
		}
		c.expectClosed()
	})
	t.Run("pre-4.1 client", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		if code, _ := errCode(c.login(mysql.CLIENT_LONG_PASSWORD, "root", "", "")); code != erMalformedPacket {
			t.Fatalf("got %d", code)
		}
		c.expectClosed()
	})
	t.Run("ssl request", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		b := appendUint32(nil, baseClientCaps|mysql.CLIENT_SSL)
		b = appendUint32(b, 1<<24)
		b = append(b, 45)
		c.write(append(b, make([]byte, 23)...))
		if code, _ := errCode(c.read()); code != erNotSupportedYet {
			t.Fatalf("got %d", code)
		}
		c.expectClosed()
	})
}

func TestUtilityCommands(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr)
	c.mustLogin(baseClientCaps | mysql.CLIENT_CONNECT_WITH_DB)

	c.command(mysql.COM_STATISTICS, nil)
	if p := string(c.read()); !strings.HasPrefix(p, "Uptime: ") || !strings.Contains(p, "Threads: 1  Questions: ") {
		t.Errorf("statistics %q", p)
	}

	c.command(mysql.COM_FIELD_LIST, []byte("t\x00"))
	ps := c.readN(len(cannedColumns) + 1)
	if !bytes.HasPrefix(ps[0], []byte("\x03def")) || ps[len(ps)-1][0] != 0xfe {
		t.Errorf("field list %q", ps)
	}

	c.command(mysql.COM_INIT_DB, []byte("nodb"))
	if code, msg := errCode(c.read()); code != 1049 || msg != "Unknown database 'nodb'" {
		t.Errorf("init db: %d %q", code, msg)
	}
	c.command(mysql.COM_INIT_DB, []byte("test"))
	if p := c.read(); p[0] != 0 {
		t.Errorf("init db: %x", p)
	}

	// A prepared statement does not survive COM_RESET_CONNECTION; the database does.
	c.command(mysql.COM_STMT_PREPARE, []byte("SELECT 1"))
	prep := c.readN(3) // prepare OK, 1 column def, EOF
	stmtID := binary.LittleEndian.Uint32(prep[0][1:])
	c.command(mysql.COM_RESET_CONNECTION, nil)
	if p := c.read(); p[0] != 0 {
		t.Fatalf("reset connection: %x", p)
	}
	c.command(mysql.COM_STMT_EXECUTE, append(appendUint32(nil, stmtID), 0, 1, 0, 0, 0))
	if code, msg := errCode(c.read()); code != erUnknownStmtHandler {
		t.Errorf("execute after reset: %d %q", code, msg)
	}
	c.command(mysql.COM_QUERY, []byte("SELECT DATABASE()"))
	if ps := c.readN(5); string(ps[3]) != "\x04test" {
		t.Errorf("database after reset: %q", ps)
	}
}

func TestRawLoginMatrix(t *testing.T) {
	ts := startServer(t, nil)
	withDB := baseClientCaps | mysql.CLIENT_CONNECT_WITH_DB
	for _, tc := range []struct {
		name           string
		caps           uint32
		user, pass, db string
		wantCode       uint16
	}{
		{"plain", baseClientCaps, "app", "secret", "", 0},
		{"deprecate eof", baseClientCaps | mysql.CLIENT_DEPRECATE_EOF, "app", "secret", "", 0},
		{"multi statements", baseClientCaps | mysql.CLIENT_MULTI_STATEMENTS, "app", "secret", "", 0},
		{"with db", withDB, "app", "secret", "test", 0},
		{"with unknown db", withDB, "app", "secret", "nodb", 1049},
		{"with forbidden db", withDB, "other", "pw2", "shop", 1044},
		{"wrong password", baseClientCaps, "app", "secret2", "", erAccessDenied},
		{"unknown user", baseClientCaps | mysql.CLIENT_DEPRECATE_EOF, "nobody", "", "", erAccessDenied},
		{"lenenc auth data", baseClientCaps | mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, "app", "secret", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			p := c.login(tc.caps, tc.user, tc.pass, tc.db)
			if tc.wantCode == 0 {
				if p[0] != 0 {
					t.Fatalf("login: %q", p)
				}
				c.command(mysql.COM_QUERY, []byte("SELECT DATABASE()"))
				want := 5
				if tc.caps&mysql.CLIENT_DEPRECATE_EOF != 0 {
					want = 4
				}
				c.readN(want)
				return
			}
			if code, msg := errCode(p); code != tc.wantCode {
				t.Fatalf("got %d %q, want %d", code, msg, tc.wantCode)
			}
			c.expectClosed()
		})
	}
}

func TestChangeUser(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr)
	c.mustLogin(baseClientCaps | mysql.CLIENT_DEPRECATE_EOF)
	changeUser := func(user, pass, db string) []byte {
		b := append([]byte(user), 0)
		auth := mysql.CalcNativePassword(c.salt, []byte(pass))
		b = append(b, byte(len(auth)))
		b = append(b, auth...)
		b = append(b, db...)
		b = append(b, 0, 45, 0)
		b = append(b, nativePlugin...)
		c.command(mysql.COM_CHANGE_USER, append(b, 0))
		return c.read()
	}
	if p := changeUser("app", "secret", "test"); p[0] != 0 {
		t.Fatalf("change user: %q", p)
	}
	c.command(mysql.COM_QUERY, []byte("SELECT DATABASE(), CONNECTION_ID()"))
	ps := c.readN(5)
	if !bytes.HasPrefix(ps[3], []byte("\x04test")) {
		t.Errorf("after change user: %q", ps[3])
	}
	ts.eng.mu.Lock()
	got := ts.eng.sessions[c.connID].user
	ts.eng.mu.Unlock()
	if got != "app" {
		t.Errorf("session user %q, want app", got)
	}
	if code, _ := errCode(changeUser("app", "nope", "")); code != erAccessDenied {
		t.Fatalf("bad change user: want 1045")
	}
	c.expectClosed()
}

func TestBinaryParamsLongDataAndRebinding(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr)
	c.mustLogin(baseClientCaps | mysql.CLIENT_DEPRECATE_EOF)
	c.command(mysql.COM_STMT_PREPARE, []byte("SELECT ?, ?, ?, ?"))
	prep := c.readN(1 + 4 + 4) // OK, 4 param defs, 4 column defs (no EOFs)
	if prep[0][0] != 0 || binary.LittleEndian.Uint16(prep[0][7:]) != 4 {
		t.Fatalf("prepare: %x", prep[0])
	}

	datetime := []byte{11, 0xe8, 0x07, 2, 29, 13, 14, 15, 0x40, 0xe2, 0x01, 0} // 2024-02-29 13:14:15.123456
	timev := []byte{8, 1, 2, 0, 0, 0, 3, 4, 5}                                 // -51:04:05
	date := []byte{4, 0xd0, 0x07, 1, 1}                                        // 2000-01-01
	c.command(mysql.COM_STMT_SEND_LONG_DATA, append(appendUint16(appendUint32(nil, lastStmt), 3), "long "...))
	c.command(mysql.COM_STMT_SEND_LONG_DATA, append(appendUint16(appendUint32(nil, lastStmt), 3), "data"...))
	exec := appendUint32(nil, lastStmt)
	exec = append(exec, 0, 1, 0, 0, 0, 0, 1,
		mysql.MYSQL_TYPE_DATETIME, 0, mysql.MYSQL_TYPE_TIME, 0, mysql.MYSQL_TYPE_DATE, 0, mysql.MYSQL_TYPE_BLOB, 0)
	exec = append(append(append(exec, datetime...), timev...), date...)
	c.command(mysql.COM_STMT_EXECUTE, exec)
	ps := c.readN(7) // count, 4 defs, row, OK
	row := ps[5]
	want := append(append(append([]byte{0, 0}, datetime...), timev...), date...)
	want = append(want, 9)
	want = append(want, "long data"...)
	if !bytes.Equal(row, want) {
		t.Errorf("binary row\n got %x\nwant %x", row, want)
	}

	// Types bound before are reused when new-params-bound is 0; long data is gone after an execute.
	exec = appendUint32(nil, lastStmt)
	exec = append(exec, 0, 1, 0, 0, 0, 0b1000, 0)
	exec = append(append(append(exec, datetime...), timev...), date...)
	c.command(mysql.COM_STMT_EXECUTE, exec)
	ps = c.readN(7)
	if ps[5][1] != 0b100000 { // NULL bitmap: parameter 4 is column 4, bit 4+2
		t.Errorf("rebound row %x", ps[5])
	}

	// COM_STMT_RESET answers OK; an execute before any types were bound is refused.
	c.command(mysql.COM_STMT_RESET, appendUint32(nil, lastStmt))
	if p := c.read(); p[0] != 0 {
		t.Errorf("reset: %x", p)
	}
	c.command(mysql.COM_STMT_PREPARE, []byte("SELECT ?"))
	c.readN(3)
	c.command(mysql.COM_STMT_EXECUTE, append(appendUint32(nil, lastStmt), 0, 1, 0, 0, 0, 0, 0))
	if code, msg := errCode(c.read()); code != erWrongArguments || msg != "Incorrect arguments to mysqld_stmt_execute" {
		t.Errorf("execute without types: %d %q", code, msg)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.IdleTimeout = 50 * time.Millisecond })
	c := dialRaw(t, ts.addr)
	c.mustLogin(baseClientCaps)
	c.expectClosed() // nothing sent: the server hangs up after the idle timeout
}

func TestAuthSwitchFromOtherPlugin(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		pass     string
		wantCode uint16
	}{{"secret", 0}, {"wrong", erAccessDenied}} {
		c := dialRaw(t, ts.addr)
		b := appendUint32(nil, baseClientCaps)
		b = appendUint32(b, 1<<24)
		b = append(b, 45)
		b = append(b, make([]byte, 23)...)
		b = append(b, "app\x00"...)
		b = append(b, 32)
		b = append(b, make([]byte, 32)...) // a caching_sha2_password scramble the server cannot use
		b = append(b, "caching_sha2_password\x00"...)
		c.write(b)
		sw := c.read()
		if want := append(append([]byte("\xfemysql_native_password\x00"), c.salt...), 0); !bytes.Equal(sw, want) {
			t.Fatalf("auth switch request %q, want %q", sw, want)
		}
		c.write(mysql.CalcNativePassword(c.salt, []byte(tc.pass)))
		p := c.read()
		if code, msg := errCode(p); code != tc.wantCode || (code == 0 && p[0] != 0) {
			t.Errorf("password %q: got %d %q", tc.pass, code, msg)
		}
	}
}

// TestExactMaxPayload sends a command of exactly 16 MiB - 1 bytes, which the protocol follows with an
// empty packet, and reads back a row of the same size.
func TestExactMaxPayload(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr)
	c.mustLogin(baseClientCaps | mysql.CLIENT_DEPRECATE_EOF)
	c.command(mysql.COM_STMT_PREPARE, []byte("SELECT ?"))
	c.readN(3) // OK, param def, column def
	head := append(appendUint32([]byte{mysql.COM_STMT_EXECUTE}, lastStmt), 0, 1, 0, 0, 0, 0, 1, mysql.MYSQL_TYPE_STRING, 0)
	valueLen := maxPayload - len(head) - 4 // 4: the value's length prefix 0xfd + 3 bytes
	cmd := append(head, 0xfd, byte(valueLen), byte(valueLen>>8), byte(valueLen>>16))
	cmd = append(cmd, bytes.Repeat([]byte{'x'}, valueLen)...)
	if len(cmd) != maxPayload {
		t.Fatalf("built %d bytes", len(cmd))
	}
	c.pc.seq = 0
	c.write(cmd)     // writePacket adds the empty trailing packet
	ps := c.readN(4) // count, column def, row, OK
	row := ps[2]
	if len(row) != 2+4+valueLen || row[len(row)-1] != 'x' {
		t.Fatalf("row of %d bytes, want %d", len(row), 2+4+valueLen)
	}
	c.command(mysql.COM_PING, nil)
	if p := c.read(); p[0] != 0 {
		t.Errorf("ping after a full-size packet: %x", p)
	}
}

// A commit whose outcome is unknown ends the connection with no packet at all (the client sees 2013, an
// indeterminate commit), never an error that would claim a rollback.
func TestUnknownCommitOutcomeClosesWithoutError(t *testing.T) {
	ts := startServer(t, nil)
	ts.eng.failCommits(fmt.Errorf("engine: %w", ErrOutcomeUnknown))
	c := dialRaw(t, ts.addr)
	c.mustLogin(baseClientCaps)
	c.command(mysql.COM_QUERY, []byte("BEGIN"))
	if p := c.read(); p[0] != 0x00 {
		t.Fatalf("BEGIN: %q", p)
	}
	c.command(mysql.COM_QUERY, []byte("COMMIT"))
	c.expectClosed()

	// Any other error is still reported.
	ts.eng.failCommits(&mysql.MyError{Code: 1213, State: "40001", Message: "Deadlock found when trying to get lock; try restarting transaction"})
	c = dialRaw(t, ts.addr)
	c.mustLogin(baseClientCaps)
	c.command(mysql.COM_QUERY, []byte("COMMIT"))
	if code, msg := errCode(c.read()); code != 1213 {
		t.Fatalf("COMMIT: %d %s", code, msg)
	}
}

// CLIENT_FOUND_ROWS reaches the session: with it UPDATE reports matched rows, without it changed rows.
func TestClientFoundRowsReachesSession(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		caps uint32
		want byte
	}{{baseClientCaps, 1}, {baseClientCaps | mysql.CLIENT_FOUND_ROWS, 2}} {
		c := dialRaw(t, ts.addr)
		c.mustLogin(tc.caps)
		c.command(mysql.COM_QUERY, []byte("UPDATE t SET a = 1"))
		if p := c.read(); p[0] != 0x00 || p[1] != tc.want {
			t.Errorf("caps %#x: UPDATE answered %q, want OK with %d affected rows", tc.caps, p, tc.want)
		}
	}
}

// A KILL CONNECTION the engine executes itself closes the client connection, idle or not.
func TestEngineKillClosesConnection(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr)
	c.mustLogin(baseClientCaps)
	c.command(mysql.COM_PING, nil)
	if p := c.read(); p[0] != 0x00 {
		t.Fatalf("ping: %q", p)
	}
	ts.eng.mu.Lock()
	var id uint32
	for sid := range ts.eng.sessions {
		id = sid
	}
	ts.eng.mu.Unlock()
	ts.eng.killSession(id)
	c.expectClosed()
}
