package galera

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The classification tables live in testdata/*.json. Each case is a
// sequence of rounds fed through Classify with the previous round's
// snapshot and memory, so failback, hysteresis and events are tested as
// sequences. A probe is written as the wsrep variables that differ from a
// healthy Synced node (the "wsrep_" prefix may be left out), or one of the
// words down, auth, noquery, plain; a server a round does not mention is
// that healthy node, with wsrep_local_index equal to its position and
// wsrep_node_name equal to its name. marker=node@version (or marker=none)
// sets the writer marker the node returns. Expectations left out of a
// round are not checked; a "want" that is present lists every server.

type caseFile struct {
	Cases []testCase `json:"cases"`
}

type testCase struct {
	Name    string `json:"name"`
	Options struct {
		AvailableWhenDonor       bool   `json:"available_when_donor"`
		DisableMasterFailback    bool   `json:"disable_master_failback"`
		DisableMasterRoleSetting bool   `json:"disable_master_role_setting"`
		UsePriority              bool   `json:"use_priority"`
		RootNodeAsMaster         bool   `json:"root_node_as_master"`
		LagFCSentThreshold       uint64 `json:"lag_fc_sent_threshold"`
		LagRecvQueueThreshold    int64  `json:"lag_recv_queue_threshold"`
		LagHysteresis            int    `json:"lag_hysteresis"`
		StickyWriter             bool   `json:"sticky_writer"`
	} `json:"options"`
	Servers []struct {
		Name     string `json:"name"`
		Priority int    `json:"priority"`
	} `json:"servers"`
	// Memory seeds the first round, as a journal restore would.
	Memory struct {
		Master string `json:"master"`
	} `json:"memory"`
	Rounds []testRound `json:"rounds"`
}

type testRound struct {
	At      string            `json:"at"`
	Probes  map[string]string `json:"probes"`
	Admin   map[string]string `json:"admin"`
	Want    map[string]string `json:"want"`
	Master  *string           `json:"master"`
	Events  *[]string         `json:"events"`
	Cluster *string           `json:"cluster"`
	Donor   *[]string         `json:"donor_updates"`
	// MarkerUpdate is "server node version", or "" for none.
	MarkerUpdate *string `json:"marker_update"`
}

func TestClassifyTables(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cf caseFile
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range cf.Cases {
			t.Run(strings.TrimSuffix(filepath.Base(f), ".json")+"/"+tc.Name, func(t *testing.T) {
				runCase(t, tc)
			})
		}
	}
}

func runCase(t *testing.T, tc testCase) {
	opts := Options{
		AvailableWhenDonor:       tc.Options.AvailableWhenDonor,
		DisableMasterFailback:    tc.Options.DisableMasterFailback,
		DisableMasterRoleSetting: tc.Options.DisableMasterRoleSetting,
		UsePriority:              tc.Options.UsePriority,
		RootNodeAsMaster:         tc.Options.RootNodeAsMaster,
		LagFCSentThreshold:       tc.Options.LagFCSentThreshold,
		LagRecvQueueThreshold:    tc.Options.LagRecvQueueThreshold,
		LagHysteresis:            tc.Options.LagHysteresis,
		StickyWriter:             tc.Options.StickyWriter,
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var prev Result
	prev.Memory.Master = tc.Memory.Master
	for ri, r := range tc.Rounds {
		now := t0
		if r.At != "" {
			d, err := time.ParseDuration(r.At)
			if err != nil {
				t.Fatal(err)
			}
			now = t0.Add(d)
		}
		in := Input{Prev: prev.Snapshot, Memory: prev.Memory, Options: opts, Now: now, Admin: map[string]Admin{}}
		for i, s := range tc.Servers {
			p, err := parseProbe(r.Probes[s.Name], i, len(tc.Servers), s.Name)
			if err != nil {
				t.Fatalf("round %d: %s: %v", ri, s.Name, err)
			}
			p.Server = ServerConfig{Name: s.Name, Address: fmt.Sprintf("127.0.0.1:%d", 3306+i), Priority: s.Priority}
			in.Probes = append(in.Probes, p)
		}
		for name, a := range r.Admin {
			var ad Admin
			for _, w := range strings.Fields(a) {
				switch w {
				case "maintenance":
					ad.Maintenance = true
				case "drain":
					ad.Drain = true
				default:
					t.Fatalf("round %d: bad admin word %q", ri, w)
				}
			}
			in.Admin[name] = ad
		}
		for name := range r.Probes {
			if in.Admin == nil || !hasServer(in.Probes, name) {
				t.Fatalf("round %d: probe for unknown server %q", ri, name)
			}
		}
		res := Classify(in)
		where := fmt.Sprintf("round %d (at %s)", ri, r.At)
		if r.Want != nil {
			if len(r.Want) != len(tc.Servers) {
				t.Fatalf("%s: want must list every server", where)
			}
			for _, s := range res.Snapshot.Servers {
				if got := s.State.String(); got != r.Want[s.Name] {
					t.Errorf("%s: %s state = %q, want %q", where, s.Name, got, r.Want[s.Name])
				}
			}
		}
		if r.Master != nil {
			got := ""
			if m := res.Snapshot.Master(); m != nil {
				got = m.Name
			}
			if got != *r.Master {
				t.Errorf("%s: master = %q, want %q", where, got, *r.Master)
			}
		}
		if r.Events != nil {
			got := []string{}
			for _, e := range res.Events {
				got = append(got, e.Server+" "+string(e.Name))
			}
			if !reflect.DeepEqual(got, *r.Events) {
				t.Errorf("%s: events = %q, want %q", where, got, *r.Events)
			}
		}
		if r.Cluster != nil && res.ClusterUUID != *r.Cluster {
			t.Errorf("%s: cluster = %q, want %q", where, res.ClusterUUID, *r.Cluster)
		}
		if r.Donor != nil {
			got := []string{}
			for _, u := range DonorUpdates(res.Snapshot, in.Probes, opts) {
				got = append(got, u.Server+" "+u.Statement)
			}
			if !reflect.DeepEqual(got, *r.Donor) {
				t.Errorf("%s: donor updates = %q, want %q", where, got, *r.Donor)
			}
		}
		if r.MarkerUpdate != nil {
			got := ""
			if u := res.MarkerUpdate; u != nil {
				got = fmt.Sprintf("%s %s %d", u.Server, u.Node, u.Version)
			}
			if got != *r.MarkerUpdate {
				t.Errorf("%s: marker update = %q, want %q", where, got, *r.MarkerUpdate)
			}
		}
		if res.Snapshot.Generation != uint64(ri+1) || !res.Snapshot.Taken.Equal(now) {
			t.Errorf("%s: generation %d taken %v", where, res.Snapshot.Generation, res.Snapshot.Taken)
		}
		prev = res
	}
}

func hasServer(ps []Probe, name string) bool {
	for _, p := range ps {
		if p.Server.Name == name {
			return true
		}
	}
	return false
}

// parseProbe expands the compact probe notation of the tables.
func parseProbe(spec string, idx, n int, name string) (Probe, error) {
	vars := map[string]string{
		"wsrep_local_state":               "4",
		"wsrep_local_state_comment":       "Synced",
		"wsrep_ready":                     "ON",
		"wsrep_cluster_status":            "Primary",
		"wsrep_cluster_state_uuid":        "u1",
		"wsrep_cluster_size":              strconv.Itoa(n),
		"wsrep_local_index":               strconv.Itoa(idx),
		"wsrep_desync":                    "OFF",
		"wsrep_reject_queries":            "NONE",
		"wsrep_sst_donor_rejects_queries": "OFF",
		"wsrep_local_recv_queue":          "0",
		"wsrep_flow_control_sent":         "0",
		"wsrep_sst_method":                "rsync",
		"wsrep_node_name":                 name,
		"wsrep_sst_donor":                 "",
	}
	p := Probe{Up: true, HasStatus: true}
	for _, tok := range strings.Fields(spec) {
		switch tok {
		case "down":
			return Probe{Err: "dial tcp: connection refused"}, nil
		case "auth":
			return Probe{AuthError: true, Err: "Access denied"}, nil
		case "noquery":
			return Probe{Up: true, Err: "ERROR 1105: query failed"}, nil
		case "plain":
			vars = map[string]string{}
			continue
		}
		k, v, ok := strings.Cut(tok, "=")
		if !ok {
			return p, fmt.Errorf("bad token %q", tok)
		}
		if k == "marker" { // marker=node@version, or marker=none for a missing row
			p.Marker.Read = true
			if v != "none" {
				node, ver, ok := strings.Cut(v, "@")
				n, err := strconv.ParseInt(ver, 10, 64)
				if !ok || err != nil {
					return p, fmt.Errorf("bad marker %q", v)
				}
				p.Marker.Node, p.Marker.Version = node, n
			}
			continue
		}
		if !strings.HasPrefix(k, "wsrep_") {
			k = "wsrep_" + k
		}
		if _, known := vars[k]; !known && len(vars) > 0 {
			return p, fmt.Errorf("unknown variable %q", k)
		}
		vars[k] = v
	}
	p.Status = ParseStatus(vars)
	return p, nil
}
