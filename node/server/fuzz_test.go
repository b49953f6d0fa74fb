package server

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser"
)

// discardConn is a net.Conn whose peer has gone: reads end, writes vanish.
type discardConn struct{}

func (discardConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (discardConn) Write(b []byte) (int, error)      { return len(b), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (discardConn) SetDeadline(time.Time) error      { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzCommand feeds arbitrary command packets to a logged-in connection that has a prepared
// statement with parameters: decoding must answer or fail cleanly, never panic.
func FuzzCommand(f *testing.F) {
	exec := append(appendUint32([]byte{mysql.COM_STMT_EXECUTE}, 1), 0, 1, 0, 0, 0, 0b010, 1,
		mysql.MYSQL_TYPE_LONGLONG, 0x80, mysql.MYSQL_TYPE_NULL, 0, mysql.MYSQL_TYPE_DATETIME, 0)
	exec = append(appendUint32(appendUint32(exec, 7), 0), 11, 0xe8, 0x07, 2, 29, 1, 2, 3, 1, 0, 0, 0)
	for _, seed := range [][]byte{
		{mysql.COM_PING},
		append([]byte{mysql.COM_QUERY}, "SELECT 1, 'x'; SELECT ?"...),
		exec,
		append(appendUint32([]byte{mysql.COM_STMT_SEND_LONG_DATA}, 1), 1, 0, 'a', 'b'),
		appendUint32([]byte{mysql.COM_STMT_RESET}, 1),
		appendUint32([]byte{mysql.COM_STMT_CLOSE}, 1),
		append([]byte{mysql.COM_CHANGE_USER}, "app\x00\x14aaaaaaaaaaaaaaaaaaaa\x00-\x00mysql_native_password\x00"...),
		{mysql.COM_FIELD_LIST, 't', 0},
		{mysql.COM_SET_OPTION, 0, 0},
		{mysql.COM_STMT_PREPARE},
		appendUint32([]byte{mysql.COM_PROCESS_KILL}, 1),
	} {
		f.Add(seed)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing the fuzzer sends may block, not even SLEEP()
	f.Fuzz(func(t *testing.T, data []byte) {
		eng := newFakeEngine()
		srv, err := New(Config{Engine: eng, Version: "10.11.99-MariaDB-maxnode", MaxAllowedPacket: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		c := newConn(srv, 1, discardConn{})
		c.caps = serverCaps
		c.parser = parser.New()
		c.stmts = make(map[uint32]*stmt)
		c.sess, _ = eng.NewSession(1, "root", "127.0.0.1")
		if _, err := c.dispatch(ctx, append([]byte{mysql.COM_STMT_PREPARE}, "SELECT ?, ?, ?"...)); err != nil {
			t.Fatal(err)
		}
		_, _ = c.dispatch(ctx, data)
	})
}

// FuzzHandshakeResponse checks the login packet decoders never panic on arbitrary input.
func FuzzHandshakeResponse(f *testing.F) {
	f.Add([]byte("\x8d\xa6\x0f\x00\x00\x00\x00\x01\x2d" + string(make([]byte, 23)) + "root\x00\x00test\x00mysql_native_password\x00"))
	f.Add([]byte("\x05\xa2\x3f\x01\x00\x00\x00\x01\x2d" + string(make([]byte, 23)) + "u\x00\x14aaaaaaaaaaaaaaaaaaaa\x00\x10\x03_os\x05Linux\x02ab\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseHandshakeResponse(data)
		_, _ = parseChangeUser(data, serverCaps)
	})
}
