package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

const (
	stAuto     = mysql.SERVER_STATUS_AUTOCOMMIT
	stMore     = mysql.SERVER_MORE_RESULTS_EXISTS
	stInTrans  = mysql.SERVER_STATUS_IN_TRANS
	stCursor   = mysql.SERVER_STATUS_CURSOR_EXISTS
	stLastRow  = mysql.SERVER_STATUS_LAST_ROW_SEND
	eofCaps    = caps41 | mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_SESSION_TRACK
	deprecCaps = eofCaps | mysql.CLIENT_DEPRECATE_EOF
)

// Packet builders for synthetic replies.
func pOK(affected, insertID uint64, status uint16) []byte {
	return AppendOK(nil, OK{AffectedRows: affected, LastInsertID: insertID, Status: status}, eofCaps)
}
func pOKEOF(status uint16) []byte { // OK with the EOF header (DEPRECATE_EOF)
	p := pOK(0, 0, status)
	p[0] = headerEOF
	return p
}
func pEOF(status uint16) []byte { return AppendEOF(nil, EOF{Status: status}) }
func pERR(code uint16) []byte {
	return AppendERR(nil, &Error{Code: code, State: "42000", Message: "boom"}, caps41)
}
func pCount(n uint64) []byte  { return mysql.AppendLengthEncodedInteger(nil, n) }
func pCol(name string) []byte { return appendLenencString([]byte("\x03def\x00\x00\x00"), []byte(name)) }
func pRow(vals ...string) []byte {
	var b []byte
	for _, v := range vals {
		b = appendLenencString(b, []byte(v))
	}
	return b
}
func pBinRow() []byte { return []byte{0x00, 0x00, 1, 0, 0, 0} }
func pPrepareOK(id uint32, cols, params uint16) []byte {
	b := []byte{0}
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint16(b, cols)
	b = binary.LittleEndian.AppendUint16(b, params)
	return append(b, 0, 0, 0)
}

// resultSet builds a text result set with EOF framing according to deprecate.
func resultSet(deprecate bool, cols, rows int, status uint16) [][]byte {
	ps := [][]byte{pCount(uint64(cols))}
	for i := 0; i < cols; i++ {
		ps = append(ps, pCol(fmt.Sprint("c", i)))
	}
	if !deprecate {
		ps = append(ps, pEOF(status&^stMore))
	}
	for i := 0; i < rows; i++ {
		ps = append(ps, pRow(fmt.Sprint(i)))
	}
	if deprecate {
		return append(ps, pOKEOF(status))
	}
	return append(ps, pEOF(status))
}

func cat(parts ...[][]byte) [][]byte {
	var out [][]byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

type trackCase struct {
	name      string
	cmd       []byte
	deprecate bool
	packets   [][]byte
	infileAt  int // index of the packet answered with SendInfile, or -1
	check     func(t *testing.T, r *Reply)
}

func TestTracker(t *testing.T) {
	query := []byte{mysql.COM_QUERY, 'x'}
	var cases []trackCase
	for _, dep := range []bool{false, true} {
		cases = append(cases,
			trackCase{name: "ok", cmd: query, deprecate: dep, packets: [][]byte{pOK(3, 9, stAuto|stInTrans)}, infileAt: -1,
				check: func(t *testing.T, r *Reply) {
					if r.AffectedRows != 3 || r.LastInsertID != 9 || !r.InTransaction() || !r.Autocommit() || r.Results != 1 {
						t.Fatalf("%+v", r)
					}
				}},
			trackCase{name: "err", cmd: query, deprecate: dep, packets: [][]byte{pERR(1064)}, infileAt: -1,
				check: func(t *testing.T, r *Reply) {
					e := r.Error()
					if !r.IsErr || r.HasStatus || e.Code != 1064 || e.State != "42000" || e.Message != "boom" {
						t.Fatalf("%+v", r)
					}
				}},
			trackCase{name: "result set", cmd: query, deprecate: dep, packets: resultSet(dep, 3, 5, stAuto), infileAt: -1,
				check: func(t *testing.T, r *Reply) {
					if r.Rows != 5 || r.Results != 1 || r.Status != stAuto {
						t.Fatalf("%+v", r)
					}
				}},
			trackCase{name: "empty result set", cmd: query, deprecate: dep, packets: resultSet(dep, 1, 0, stAuto), infileAt: -1},
			trackCase{name: "multi results", cmd: query, deprecate: dep, infileAt: -1,
				packets: cat(resultSet(dep, 1, 2, stAuto|stMore), [][]byte{pOK(1, 0, stAuto|stMore)}, resultSet(dep, 2, 1, stAuto|stMore), [][]byte{pOK(0, 0, stAuto)}),
				check: func(t *testing.T, r *Reply) {
					if r.Results != 4 || r.Rows != 3 || r.Status&stMore != 0 {
						t.Fatalf("%+v", r)
					}
				}},
			trackCase{name: "error after results", cmd: query, deprecate: dep, infileAt: -1,
				packets: cat(resultSet(dep, 1, 1, stAuto|stMore), [][]byte{pERR(1146)}),
				check: func(t *testing.T, r *Reply) {
					if !r.IsErr || r.ErrCode != 1146 || r.Results != 1 {
						t.Fatalf("%+v", r)
					}
				}},
			trackCase{name: "error mid rows", cmd: query, deprecate: dep, infileAt: -1,
				packets: append(resultSet(dep, 1, 2, stAuto)[:3+boolInt(!dep)], pERR(1317))},
			trackCase{name: "local infile", cmd: query, deprecate: dep, infileAt: 0,
				packets: [][]byte{append([]byte{headerInfile}, "/tmp/x"...), pOK(3, 0, stAuto)},
				check: func(t *testing.T, r *Reply) {
					if r.AffectedRows != 3 || r.Results != 1 {
						t.Fatalf("%+v", r)
					}
				}},
			trackCase{name: "local infile in multi statement", cmd: query, deprecate: dep, infileAt: 0,
				packets: [][]byte{append([]byte{headerInfile}, "/tmp/x"...), pOK(3, 0, stAuto|stMore), pOK(0, 0, stAuto)}},
			trackCase{name: "prepare", cmd: []byte{mysql.COM_STMT_PREPARE, 'x'}, deprecate: dep, infileAt: -1,
				packets: cat([][]byte{pPrepareOK(7, 2, 3)}, [][]byte{pCol("?"), pCol("?"), pCol("?")}, eofIf(!dep), [][]byte{pCol("a"), pCol("b")}, eofIf(!dep)),
				check: func(t *testing.T, r *Reply) {
					if r.StmtID != 7 || r.NumColumns != 2 || r.NumParams != 3 {
						t.Fatalf("%+v", r)
					}
				}},
			trackCase{name: "prepare no columns", cmd: []byte{mysql.COM_STMT_PREPARE, 'x'}, deprecate: dep, infileAt: -1,
				packets: cat([][]byte{pPrepareOK(8, 0, 1)}, [][]byte{pCol("?")}, eofIf(!dep))},
			trackCase{name: "prepare nothing", cmd: []byte{mysql.COM_STMT_PREPARE, 'x'}, deprecate: dep, infileAt: -1,
				packets: [][]byte{pPrepareOK(9, 0, 0)}},
			trackCase{name: "prepare error", cmd: []byte{mysql.COM_STMT_PREPARE, 'x'}, deprecate: dep, infileAt: -1,
				packets: [][]byte{pERR(1064)}},
			trackCase{name: "execute binary rows", cmd: []byte{mysql.COM_STMT_EXECUTE, 1, 0, 0, 0, 0}, deprecate: dep, infileAt: -1,
				packets: cat([][]byte{pCount(1), pCol("a")}, eofIf(!dep), [][]byte{pBinRow(), pBinRow()}, [][]byte{term(dep, stAuto)}),
				check: func(t *testing.T, r *Reply) {
					if r.Rows != 2 || r.CursorOpen {
						t.Fatalf("%+v", r)
					}
				}},
			trackCase{name: "execute opens cursor", cmd: []byte{mysql.COM_STMT_EXECUTE, 1, 0, 0, 0, 1}, deprecate: dep, infileAt: -1,
				packets: cat([][]byte{pCount(1), pCol("a")}, [][]byte{term(dep, stAuto|stCursor)}),
				check: func(t *testing.T, r *Reply) {
					if !r.CursorOpen || r.Rows != 0 {
						t.Fatalf("%+v", r)
					}
				}},
			trackCase{name: "fetch", cmd: []byte{mysql.COM_STMT_FETCH, 1, 0, 0, 0, 9, 0, 0, 0}, deprecate: dep, infileAt: -1,
				packets: [][]byte{pBinRow(), pBinRow(), term(dep, stAuto|stCursor|stLastRow)},
				check: func(t *testing.T, r *Reply) {
					if r.Rows != 2 || r.Status&stLastRow == 0 {
						t.Fatalf("%+v", r)
					}
				}},
			trackCase{name: "field list", cmd: []byte{mysql.COM_FIELD_LIST, 't', 0}, deprecate: dep, infileAt: -1,
				packets: [][]byte{pCol("a"), pCol("b"), term(dep, stAuto)}},
			trackCase{name: "ping", cmd: []byte{mysql.COM_PING}, deprecate: dep, infileAt: -1, packets: [][]byte{pOK(0, 0, stAuto)}},
			trackCase{name: "set option", cmd: []byte{mysql.COM_SET_OPTION, 0, 0}, deprecate: dep, infileAt: -1, packets: [][]byte{pEOF(stAuto)}},
			trackCase{name: "statistics", cmd: []byte{mysql.COM_STATISTICS}, deprecate: dep, infileAt: -1, packets: [][]byte{[]byte("Uptime: 5  Threads: 1")}},
		)
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/deprecate=%v", c.name, c.deprecate), func(t *testing.T) {
			var tr Tracker
			caps := uint32(eofCaps)
			if c.deprecate {
				caps = deprecCaps
			}
			expect, err := tr.Start(c.cmd, caps)
			if err != nil || !expect {
				t.Fatalf("start: %v %v", expect, err)
			}
			for i, p := range c.packets {
				step, err := tr.Feed(p)
				if err != nil {
					t.Fatalf("packet %d (%x): %v", i, p, err)
				}
				want := More
				switch {
				case i == c.infileAt:
					want = SendInfile
				case i == len(c.packets)-1:
					want = Done
				}
				if step != want {
					t.Fatalf("packet %d (%x): step %v, want %v", i, p, step, want)
				}
			}
			if _, err := tr.Feed(pOK(0, 0, 0)); !errors.Is(err, ErrReplyComplete) {
				t.Fatalf("feed after done: %v", err)
			}
			if c.check != nil {
				c.check(t, tr.Reply())
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func eofIf(b bool) [][]byte {
	if b {
		return [][]byte{pEOF(stAuto)}
	}
	return nil
}

func term(deprecate bool, status uint16) []byte {
	if deprecate {
		return pOKEOF(status)
	}
	return pEOF(status)
}

func TestTrackerCommandsWithoutReply(t *testing.T) {
	for _, cmd := range []byte{mysql.COM_STMT_CLOSE, mysql.COM_STMT_SEND_LONG_DATA, mysql.COM_QUIT} {
		var tr Tracker
		expect, err := tr.Start([]byte{cmd, 1, 0, 0, 0}, deprecCaps)
		if err != nil || expect {
			t.Errorf("0x%02x: expect reply %v, %v", cmd, expect, err)
		}
		if _, err := tr.Feed(pOK(0, 0, 0)); !errors.Is(err, ErrReplyComplete) {
			t.Errorf("0x%02x: feed accepted", cmd)
		}
	}
}

func TestTrackerRejects(t *testing.T) {
	var tr Tracker
	for _, cmd := range []byte{mysql.COM_CHANGE_USER, mysql.COM_BINLOG_DUMP, mysql.COM_REGISTER_SLAVE, 0xfa, 0xfe} {
		if _, err := tr.Start([]byte{cmd}, deprecCaps); !errors.Is(err, ErrUnsupportedCommand) {
			t.Errorf("0x%02x: %v", cmd, err)
		}
	}
	if _, err := tr.Start(nil, deprecCaps); !errors.Is(err, ErrMalformed) {
		t.Error("empty command accepted")
	}
	bad := []struct {
		name string
		cmd  []byte
		seq  [][]byte
	}{
		{"empty packet", []byte{mysql.COM_QUERY}, [][]byte{{}}},
		{"zero columns", []byte{mysql.COM_QUERY}, [][]byte{{0xfc, 0, 0}}},
		{"absurd column count", []byte{mysql.COM_QUERY}, [][]byte{{0xfd, 0xff, 0xff, 0xff}}},
		{"truncated OK", []byte{mysql.COM_QUERY}, [][]byte{{0x00, 0xfc}}},
		{"infile for execute", []byte{mysql.COM_STMT_EXECUTE, 1, 0, 0, 0, 0}, [][]byte{{0xfb, 'x'}}},
		{"short prepare OK", []byte{mysql.COM_STMT_PREPARE}, [][]byte{{0x00, 1, 0}}},
		{"row instead of EOF", []byte{mysql.COM_QUERY}, [][]byte{pCount(1), pCol("a"), pRow("1")}},
		{"garbage for ping", []byte{mysql.COM_PING}, [][]byte{{0x42}}},
	}
	for _, b := range bad {
		var tr Tracker
		if _, err := tr.Start(b.cmd, eofCaps); err != nil {
			t.Fatal(err)
		}
		var err error
		for _, p := range b.seq {
			if _, err = tr.Feed(p); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", b.name, err)
		}
		if _, err := tr.Feed(pOK(0, 0, 0)); !errors.Is(err, ErrReplyComplete) {
			t.Errorf("%s: tracker accepts packets after an error", b.name)
		}
	}
}

func TestTrackerSessionStateAcrossResults(t *testing.T) {
	var tr Tracker
	caps := uint32(deprecCaps)
	if _, err := tr.Start([]byte{mysql.COM_QUERY}, caps); err != nil {
		t.Fatal(err)
	}
	s1 := []byte{SessionTrackSchema, 3, 2, 'd', 'b'}
	s2 := []byte{SessionTrackStateChange, 2, 1, '1'}
	ok1 := AppendOK(nil, OK{Status: stMore | mysql.SERVER_SESSION_STATE_CHANGED, SessionState: s1}, caps)
	ok2 := AppendOK(nil, OK{Status: mysql.SERVER_SESSION_STATE_CHANGED, SessionState: s2}, caps)
	if step, err := tr.Feed(ok1); step != More || err != nil {
		t.Fatal(step, err)
	}
	if step, err := tr.Feed(ok2); step != Done || err != nil {
		t.Fatal(step, err)
	}
	if got := string(tr.Reply().SessionState); got != string(s1)+string(s2) {
		t.Fatalf("%q", got)
	}
}

// TestTrackerDoesNotAllocate guards the relay's hot path.
func TestTrackerDoesNotAllocate(t *testing.T) {
	var tr Tracker
	pkts := resultSet(true, 4, 20, stAuto)
	cmd := []byte{mysql.COM_QUERY, 'x'}
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = tr.Start(cmd, deprecCaps)
		for _, p := range pkts {
			_, _ = tr.Feed(p)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per reply", allocs)
	}
}
