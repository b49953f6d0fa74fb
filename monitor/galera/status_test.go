package galera

import "testing"

func TestParseStatusNamesAreCaseInsensitive(t *testing.T) {
	s := ParseStatus(map[string]string{
		"WSREP_LOCAL_STATE": "4", "Wsrep_Local_Index": "2", "wsrep_ready": "on",
		"wsrep_reject_queries": "all_kill", "wsrep_desync": "1", "wsrep_flow_control_sent": "18446744073709551615",
		"wsrep_local_recv_queue": " 12 ",
	})
	if s.LocalState != 4 || s.LocalIndex != 2 || !s.Ready || s.RejectQueries != "ALL_KILL" || !s.Desync ||
		s.FlowControlSent != 18446744073709551615 || s.RecvQueue != 12 {
		t.Fatalf("parsed %+v", s)
	}
	if got := ParseStatus(nil); got.LocalIndex != -1 || got.Ready {
		t.Fatalf("empty status parsed as %+v", got)
	}
}

func TestParseEventName(t *testing.T) {
	for _, e := range AllEvents {
		if got, err := ParseEventName(string(e)); err != nil || got != e {
			t.Errorf("ParseEventName(%q) = %q, %v", e, got, err)
		}
	}
	if _, err := ParseEventName("synced_up"); err == nil {
		t.Error("synced_up accepted, but it is not one of our events")
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add("wsrep_local_index", "0", "wsrep_local_state", "4")
	f.Add("wsrep_local_index", "-5", "wsrep_cluster_size", "99999999999999999999")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		s := ParseStatus(map[string]string{k1: v1, k2: v2})
		if s.LocalIndex < -1 {
			t.Fatalf("local index %d", s.LocalIndex)
		}
		p := Probe{Up: true, HasStatus: true, Status: s, Server: ServerConfig{Name: "a"}}
		res := Classify(Input{Probes: []Probe{p, {Server: ServerConfig{Name: "b"}}}})
		if len(res.Snapshot.Servers) != 2 {
			t.Fatal("lost a server")
		}
	})
}
