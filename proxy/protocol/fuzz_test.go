package protocol

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

func FuzzHandshakeResponse(f *testing.F) {
	f.Add((&HandshakeResponse{Capabilities: ServerCapabilities, User: "app", AuthResponse: bytes.Repeat([]byte{7}, 20),
		DB: "db", AuthPlugin: NativePlugin, Attrs: []Attr{{"a", "b"}}}).Append(nil))
	f.Add((&HandshakeResponse{Capabilities: mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION, User: "u"}).Append(nil))
	f.Add((&HandshakeResponse{Capabilities: mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SSL}).AppendSSLRequest(nil))
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := ParseHandshakeResponse(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := ParseHandshakeResponse(r.Append(nil))
		if err != nil {
			t.Fatalf("re-encoded response does not parse: %v", err)
		}
		if !reflect.DeepEqual(normResp(again), normResp(r)) {
			t.Fatalf("round trip\n got %+v\nwant %+v", again, r)
		}
	})
}

func normResp(r *HandshakeResponse) HandshakeResponse {
	c := *r
	if len(c.AuthResponse) == 0 {
		c.AuthResponse = nil
	}
	if len(c.Attrs) == 0 {
		c.Attrs = nil
	}
	return c
}

func FuzzSSLRequest(f *testing.F) {
	f.Add((&HandshakeResponse{Capabilities: mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SSL, Collation: 45}).AppendSSLRequest(nil))
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := ParseSSLRequest(p)
		if (err == nil) != IsSSLRequest(p) {
			t.Fatalf("ParseSSLRequest and IsSSLRequest disagree: %v", err)
		}
		if err == nil && !bytes.Equal(r.AppendSSLRequest(nil)[:9], p[:9]) {
			t.Fatal("round trip changed the fixed fields")
		}
	})
}

func FuzzChangeUser(f *testing.F) {
	caps := ServerCapabilities
	f.Add((&ChangeUser{User: "bob", AuthResponse: bytes.Repeat([]byte{1}, 20), DB: "x", Collation: 45,
		AuthPlugin: NativePlugin, Attrs: []Attr{{"k", "v"}}}).Append(nil, caps), uint32(caps))
	f.Add([]byte{mysql.COM_CHANGE_USER, 'b', 0, 0, 'd', 0}, uint32(0))
	f.Fuzz(func(t *testing.T, p []byte, caps uint32) {
		cu, err := ParseChangeUser(p, caps)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if caps&mysql.CLIENT_SECURE_CONNECTION == 0 && bytes.IndexByte(cu.AuthResponse, 0) >= 0 {
			return // cannot be re-encoded NUL-terminated; nothing to compare
		}
		again, err := ParseChangeUser(cu.Append(nil, caps), caps)
		if err != nil {
			t.Fatalf("re-encoded change user does not parse: %v", err)
		}
		if again.User != cu.User || again.DB != cu.DB || !bytes.Equal(again.AuthResponse, cu.AuthResponse) ||
			again.Collation != cu.Collation || again.AuthPlugin != cu.AuthPlugin || len(again.Attrs) != len(cu.Attrs) {
			t.Fatalf("round trip\n got %+v\nwant %+v", again, cu)
		}
	})
}

func FuzzOK(f *testing.F) {
	f.Add(AppendOK(nil, OK{AffectedRows: 1, Status: 2, Info: []byte("i")}, caps41), uint32(caps41))
	f.Add(AppendOK(nil, OK{Status: mysql.SERVER_SESSION_STATE_CHANGED, SessionState: []byte{1, 2, 1, 'a'}},
		caps41|mysql.CLIENT_SESSION_TRACK), uint32(caps41|mysql.CLIENT_SESSION_TRACK))
	f.Fuzz(func(t *testing.T, p []byte, caps uint32) {
		ok, err := ParseOK(p, caps)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := ParseOK(AppendOK(nil, ok, caps), caps)
		if err != nil {
			t.Fatalf("re-encoded OK does not parse: %v", err)
		}
		if again.AffectedRows != ok.AffectedRows || again.LastInsertID != ok.LastInsertID || again.Status != ok.Status ||
			again.Warnings != ok.Warnings || !bytes.Equal(again.Info, ok.Info) || !bytes.Equal(again.SessionState, ok.SessionState) {
			t.Fatalf("round trip\n got %+v\nwant %+v", again, ok)
		}
		_ = ForEachSessionChange(ok.SessionState, func(byte, []byte) error { return nil })
	})
}

func FuzzERRAndEOF(f *testing.F) {
	f.Add(AppendERR(nil, ErrAccessDenied("a", "b", true), caps41))
	f.Add(AppendEOF(nil, EOF{Warnings: 1, Status: 2}))
	f.Fuzz(func(t *testing.T, p []byte) {
		if e, err := ParseERR(p); err == nil {
			if len(e.State) != 5 {
				t.Fatalf("state %q", e.State)
			}
			again, err := ParseERR(AppendERR(nil, e, caps41))
			if err != nil || again.Code != e.Code || again.Message != e.Message {
				t.Fatalf("ERR round trip: %+v %v", again, err)
			}
		}
		if e, err := ParseEOF(p); err == nil && len(p) >= 5 {
			if again, err := ParseEOF(AppendEOF(nil, e)); err != nil || again != e {
				t.Fatalf("EOF round trip: %+v %v", again, err)
			}
		}
	})
}

func FuzzInitialHandshake(f *testing.F) {
	if real, err := os.ReadFile("testdata/mariadb-10.11-greeting.bin"); err == nil {
		f.Add(real)
	}
	f.Add((&InitialHandshake{ServerVersion: "5.5.5-10.11.0-MariaDB", Salt: bytes.Repeat([]byte{'a'}, 20),
		Capabilities: ServerCapabilities, Collation: 45, AuthPlugin: NativePlugin}).Append(nil))
	f.Add(AppendERR(nil, ErrHostBlocked("h"), caps41))
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := ParseInitialHandshake(p)
		if err != nil {
			var me *Error
			if !errors.Is(err, ErrMalformed) && !errors.As(err, &me) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(h.Salt) < 8 {
			t.Fatalf("salt of %d bytes", len(h.Salt))
		}
	})
}

// FuzzTracker feeds arbitrary packet sequences. The tracker must never
// panic, must report Done exactly once and then refuse packets, must not
// ask for LOCAL INFILE data outside COM_QUERY, and must flag an error
// reply exactly when the final packet is an ERR.
func FuzzTracker(f *testing.F) {
	seed := func(cmd byte, deprecate bool, packets ...[]byte) {
		var data []byte
		for _, p := range packets {
			data = append(data, byte(len(p)), byte(len(p)>>8))
			data = append(data, p...)
		}
		f.Add(cmd, deprecate, data)
	}
	seed(mysql.COM_QUERY, true, resultSet(true, 2, 2, stAuto)...)
	seed(mysql.COM_QUERY, false, resultSet(false, 1, 1, stAuto|stMore)...)
	seed(mysql.COM_QUERY, false, append([]byte{headerInfile}, 'f'), pOK(1, 0, 0))
	seed(mysql.COM_STMT_PREPARE, false, pPrepareOK(1, 1, 1), pCol("a"), pEOF(0), pCol("b"), pEOF(0))
	seed(mysql.COM_STMT_EXECUTE, true, pCount(1), pCol("a"), pBinRow(), pOKEOF(stCursor))
	seed(mysql.COM_FIELD_LIST, false, pCol("a"), pEOF(0))
	seed(mysql.COM_PING, false, pERR(1))
	f.Fuzz(func(t *testing.T, cmd byte, deprecate bool, data []byte) {
		caps := uint32(eofCaps)
		if deprecate {
			caps = deprecCaps
		}
		var tr Tracker
		command := []byte{cmd, 1, 0, 0, 0, 1, 0, 0, 0}
		expect, err := tr.Start(command, caps)
		if err != nil || !expect {
			if _, ferr := tr.Feed([]byte{0}); !errors.Is(ferr, ErrReplyComplete) {
				t.Fatalf("feed after failed/empty start: %v", ferr)
			}
			return
		}
		done, failed := false, false
		for len(data) >= 2 {
			n := int(data[0]) | int(data[1])<<8
			data = data[2:]
			if n > len(data) {
				n = len(data)
			}
			p := data[:n]
			data = data[n:]
			step, err := tr.Feed(p)
			if done || failed {
				if !errors.Is(err, ErrReplyComplete) {
					t.Fatalf("packet accepted after completion: %v %v", step, err)
				}
				continue
			}
			if err != nil {
				failed = true
				continue
			}
			switch step {
			case SendInfile:
				if cmd != mysql.COM_QUERY {
					t.Fatalf("LOCAL INFILE requested for command 0x%02x", cmd)
				}
			case Done:
				done = true
				isERR := len(p) > 0 && p[0] == headerERR
				if r := tr.Reply(); r.IsErr && !isERR {
					t.Fatalf("reply marked as error but ended with %x", p)
				}
			}
		}
	})
}
