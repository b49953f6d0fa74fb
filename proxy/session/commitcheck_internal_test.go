package session

import (
	"regexp"
	"testing"

	"github.com/maxproxy/maxproxy/proxy/protocol"
	"github.com/maxproxy/maxproxy/router/classify"
)

func TestMarkerWriteStep(t *testing.T) {
	for _, tc := range []struct {
		err  *protocol.Error
		want markerStep
	}{
		{nil, markerWritten},
		{&protocol.Error{Code: 1146, State: "42S02"}, markerCreate},
		{&protocol.Error{Code: 1049, State: "42000"}, markerCreate},
		{&protocol.Error{Code: 1213, State: "40001"}, markerRolledBack},
		{&protocol.Error{Code: 1180, State: "40001"}, markerRolledBack}, // any serialization failure
		{&protocol.Error{Code: 1142, State: "42000"}, markerSkip},       // INSERT denied
		{&protocol.Error{Code: 1290, State: "HY000"}, markerSkip},       // read-only
		{&protocol.Error{Code: 1205, State: "HY000"}, markerSkip},       // lock wait: the transaction is still open
	} {
		if got := markerWriteStep(tc.err); got != tc.want {
			t.Errorf("markerWriteStep(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestProbeRetryable(t *testing.T) {
	for code, want := range map[uint16]bool{
		1047: true,  // not in the primary component: another writer will do
		1205: true,  // causal read timed out
		1927: true,  // connection killed
		1053: true,  // shutting down
		1040: true,  // too many connections
		1146: false, // no marker table: the check cannot be made
		1142: false, // SELECT denied
		1193: false, // no wsrep_sync_wait: no causal read
		1045: false, // login refused
	} {
		if got := probeRetryable(code); got != want {
			t.Errorf("probeRetryable(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestMayWrite(t *testing.T) {
	for _, tc := range []struct {
		c    classify.Class
		want bool
	}{
		{classify.Class{Kind: classify.KindWrite}, true},
		{classify.Class{Kind: classify.KindCall}, true},
		{classify.Class{Kind: classify.KindUnknown}, true},
		{classify.Class{Kind: classify.KindRead, Flags: classify.FlagSequence}, true},
		{classify.Class{Kind: classify.KindRead}, false},
		{classify.Class{Kind: classify.KindRead, Flags: classify.FlagForUpdate}, false},
		{classify.Class{Kind: classify.KindBegin}, false},
		{classify.Class{Kind: classify.KindSet}, false},
		{classify.Class{Kind: classify.KindShow}, false},
	} {
		if got := mayWrite(tc.c); got != tc.want {
			t.Errorf("mayWrite(%+v) = %v, want %v", tc.c, got, tc.want)
		}
	}
}

func TestMarkerStatements(t *testing.T) {
	var m commitMarker
	key := m.markerKey()
	if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(key) || m.markerKey() != key {
		t.Fatalf("key %q: want 24 stable hex digits", key)
	}
	if other := (&commitMarker{}).markerKey(); other == key {
		t.Errorf("two sessions share the key %q", key)
	}
	for got, want := range map[string]string{
		m.writeSQL(7):        "INSERT INTO maxproxy.trx_marker (id, seq) VALUES ('" + key + "', 7) ON DUPLICATE KEY UPDATE seq = 7",
		m.probeSQL(7, false): "SELECT 1 FROM maxproxy.trx_marker WHERE id = '" + key + "' AND seq >= 7",
		m.probeSQL(3, true):  "SELECT 1 FROM maxproxy.trx_marker WHERE id = '" + key + "' AND seq >= 3 FOR UPDATE",
		m.deleteSQL():        "DELETE FROM maxproxy.trx_marker WHERE id = '" + key + "'",
	} {
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}
