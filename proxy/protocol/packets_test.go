package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

const caps41 = mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_TRANSACTIONS

func TestOKRoundTrip(t *testing.T) {
	state := []byte{SessionTrackSchema, 5, 4, 's', 'h', 'o', 'p'}
	cases := []struct {
		name string
		ok   OK
		caps uint32
	}{
		{"plain", OK{AffectedRows: 3, LastInsertID: 70000, Status: 2, Warnings: 1, Info: []byte("Rows matched: 3")}, caps41},
		{"big ids", OK{AffectedRows: 1 << 40, LastInsertID: 1<<24 + 5, Status: 3}, caps41},
		{"session track", OK{Status: mysql.SERVER_SESSION_STATE_CHANGED | 2, Info: []byte("x"), SessionState: state}, caps41 | mysql.CLIENT_SESSION_TRACK},
		{"session track no info", OK{Status: 2}, caps41 | mysql.CLIENT_SESSION_TRACK},
		{"pre-4.1 with transactions", OK{AffectedRows: 1, Status: 2}, mysql.CLIENT_TRANSACTIONS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := AppendOK(nil, c.ok, c.caps)
			got, err := ParseOK(p, c.caps)
			if err != nil {
				t.Fatal(err)
			}
			norm := func(o OK) OK {
				if len(o.Info) == 0 {
					o.Info = nil
				}
				if len(o.SessionState) == 0 {
					o.SessionState = nil
				}
				return o
			}
			if !reflect.DeepEqual(norm(got), norm(c.ok)) {
				t.Fatalf("got %+v, want %+v", got, c.ok)
			}
		})
	}
}

func TestParseOKRejectsTruncation(t *testing.T) {
	full := AppendOK(nil, OK{AffectedRows: 300, LastInsertID: 1 << 20, Status: 2, Info: []byte("abc")}, caps41|mysql.CLIENT_SESSION_TRACK)
	// Every prefix that cuts a fixed field must fail; none may panic.
	for i := 0; i < len(full); i++ {
		_, err := ParseOK(full[:i], caps41|mysql.CLIENT_SESSION_TRACK)
		if i < 1+3+4+4 && err == nil {
			t.Fatalf("prefix %d accepted", i)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix %d: %v does not wrap ErrMalformed", i, err)
		}
	}
}

func TestForEachSessionChange(t *testing.T) {
	state := []byte{SessionTrackSchema, 5, 4, 's', 'h', 'o', 'p', SessionTrackStateChange, 2, 1, '1'}
	var got []string
	err := ForEachSessionChange(state, func(typ byte, data []byte) error {
		got = append(got, string(rune('0'+typ))+":"+string(data))
		return nil
	})
	if err != nil || !reflect.DeepEqual(got, []string{"1:\x04shop", "2:\x011"}) {
		t.Fatalf("%q %v", got, err)
	}
	if err := ForEachSessionChange(state[:4], func(byte, []byte) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated record: %v", err)
	}
}

func TestERRAndEOF(t *testing.T) {
	e := ErrAccessDenied("app", "10.0.0.1", true)
	p := AppendERR(nil, e, caps41)
	got, err := ParseERR(p)
	if err != nil || *got != *e {
		t.Fatalf("%+v %v", got, err)
	}
	if e.Error() != "ERROR 1045 (28000): Access denied for user 'app'@'10.0.0.1' (using password: YES)" {
		t.Fatal(e.Error())
	}
	// Without PROTOCOL_41 there is no SQLSTATE; the parser defaults it.
	got, err = ParseERR(AppendERR(nil, e, 0))
	if err != nil || got.State != "HY000" || got.Code != 1045 {
		t.Fatalf("%+v %v", got, err)
	}
	eof := EOF{Warnings: 2, Status: mysql.SERVER_MORE_RESULTS_EXISTS}
	if got, err := ParseEOF(AppendEOF(nil, eof)); err != nil || got != eof {
		t.Fatalf("%+v %v", got, err)
	}
	if !IsEOF([]byte{0xfe, 0, 0, 2, 0}) || IsEOF(append([]byte{0xfe}, make([]byte, maxFrame)...)) || IsEOF(nil) {
		t.Fatal("IsEOF boundaries")
	}
}

func TestLenencNeverReadsPastInput(t *testing.T) {
	for _, b := range [][]byte{{}, {0xfc}, {0xfc, 1}, {0xfd, 1, 2}, {0xfe, 1, 2, 3, 4, 5, 6, 7}, {0xfb}, {0xff}} {
		if _, _, ok := lenencInt(b); ok {
			t.Errorf("lenencInt(%x) accepted", b)
		}
	}
	if v, n, ok := lenencInt([]byte{0xfd, 1, 2, 3}); !ok || n != 4 || v != 0x030201 {
		t.Fatal(v, n, ok)
	}
	// A string claiming 2^64-1 bytes must fail, not overflow.
	huge := []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a'}
	if _, _, ok := lenencString(huge); ok {
		t.Fatal("huge length accepted")
	}
	s, n, ok := lenencString([]byte{3, 'a', 'b', 'c', 'd'})
	if !ok || n != 4 || !bytes.Equal(s, []byte("abc")) {
		t.Fatal(s, n, ok)
	}
}
