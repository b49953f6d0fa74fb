package router

import (
	"slices"
	"testing"

	"github.com/maxproxy/maxproxy/router/classify"
)

// TestSessionState checks what the proxy's pooling and admin views read
// from a Session after each statement of a sequence.
func TestSessionState(t *testing.T) {
	type want struct {
		inTrx, roTrx, acOff, userVars bool // inTrx: InTransaction, true with autocommit off too
		pins                          Pin
		temps                         []string
	}
	steps := []struct {
		sql   string
		reply Reply
		want  want
	}{
		{"SELECT 1", Reply{OK: true}, want{}},
		{"SET @a = 1", Reply{OK: true}, want{userVars: true}},
		{"BEGIN", Reply{OK: true}, want{inTrx: true, userVars: true}},
		{"CREATE TEMPORARY TABLE Tmp (a INT)", Reply{OK: true}, want{inTrx: true, userVars: true, temps: []string{"tmp"}}},
		{"COMMIT", Reply{OK: true}, want{userVars: true, temps: []string{"tmp"}}},
		{"START TRANSACTION READ ONLY", Reply{OK: true}, want{inTrx: true, roTrx: true, userVars: true, temps: []string{"tmp"}}},
		{"ROLLBACK", Reply{OK: true}, want{userVars: true, temps: []string{"tmp"}}},
		{"SET autocommit=0", Reply{OK: true}, want{inTrx: true, acOff: true, userVars: true, temps: []string{"tmp"}}},
		{"SELECT GET_LOCK('x', 1)", Reply{OK: true, HasStatus: true, Status: StatusInTrans},
			want{inTrx: true, acOff: true, userVars: true, pins: PinGetLock, temps: []string{"tmp"}}},
		{"LOCK TABLES t WRITE", Reply{OK: true, HasStatus: true},
			want{inTrx: true, acOff: true, userVars: true, pins: PinGetLock | PinLockedTables, temps: []string{"tmp"}}},
		{"SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE", Reply{OK: true, HasStatus: true},
			want{inTrx: true, acOff: true, userVars: true, pins: PinGetLock | PinLockedTables | PinSerializable, temps: []string{"tmp"}}},
		{"UNLOCK TABLES", Reply{OK: false}, // failed: nothing changes
			want{inTrx: true, acOff: true, userVars: true, pins: PinGetLock | PinLockedTables | PinSerializable, temps: []string{"tmp"}}},
		{"UNLOCK TABLES", Reply{OK: true, HasStatus: true, Status: StatusAutocommit},
			want{userVars: true, pins: PinGetLock | PinSerializable, temps: []string{"tmp"}}},
		{"SELECT RELEASE_LOCK('x')", Reply{OK: true}, want{userVars: true, pins: PinSerializable, temps: []string{"tmp"}}},
		{"DROP TABLE tmp", Reply{OK: true}, want{userVars: true, pins: PinSerializable}},
	}
	cls := classify.New(0)
	snap := threeSynced()
	var o Options
	var s Session
	for i, st := range steps {
		c, h := cls.Classify([]byte(st.sql))
		req := Request{Cmd: CmdQuery, Class: c, Hint: h}
		s.Advance(req, Route(req, &s, snap, &o, nil), st.reply, &o)
		got := want{s.InTransaction(), s.ReadOnlyTransaction(), s.AutocommitOff(),
			s.UserVariables(), s.Pins(), s.TempTables()}
		if got.inTrx != st.want.inTrx || got.roTrx != st.want.roTrx || got.acOff != st.want.acOff ||
			got.userVars != st.want.userVars || got.pins != st.want.pins || !slices.Equal(got.temps, st.want.temps) {
			t.Fatalf("step %d %q: got %+v (pins %v), want %+v (pins %v)", i, st.sql, got, got.pins, st.want, st.want.pins)
		}
	}
	// COM_RESET_CONNECTION forgets everything.
	req := Request{Cmd: CmdResetConnection}
	s.Advance(req, Route(req, &s, snap, &o, nil), Reply{OK: true}, &o)
	if s.Pins() != 0 || s.UserVariables() || len(s.TempTables()) != 0 || s.InTransaction() {
		t.Errorf("after reset: %+v", s)
	}
}
