package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	load := func(t *testing.T) *Config {
		t.Helper()
		cfg, err := Load(examplePath)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	for _, tc := range []struct {
		name    string
		change  func(c *Config)
		changes []string
		restart []string
	}{
		{name: "nothing", change: func(*Config) {}},
		{name: "an empty list equals a missing one", change: func(c *Config) {
			if c.Services[0].Servers != nil {
				t.Fatalf("the example's first service lists servers: %q", c.Services[0].Servers)
			}
			c.Services[0].Servers = []string{}
		}},
		{name: "hot keys", change: func(c *Config) {
			c.Log.Level = "debug"
			c.Admin.Password = "new"
			c.Proxy.AuthBlockDuration *= 2
			c.Servers[0].Address = "10.0.0.9"
			c.Servers[0].Port = 3307
			c.Monitors[0].MonitorInterval *= 2
			c.Services[0].TransactionReplay = false
			c.Services[1].Router = ReadWriteSplit
			c.Listeners[0].Service = "ro-service"
			c.Listeners[1].Port = 5008
		}, changes: []string{
			"changed proxy (auth_block_duration)",
			"changed log (level)",
			"changed admin (password)",
			`changed server "node1" (address, port)`,
			`changed monitor "galera-cluster" (monitor_interval)`,
			`changed service "rw-service" (transaction_replay)`,
			`changed service "ro-service" (router)`,
			`changed listener "rw-listener" (service)`,
			`changed listener "ro-listener" (port)`,
		}},
		{name: "restart keys", change: func(c *Config) {
			c.Proxy.DataDir = "/elsewhere"
			c.Log.Format = "json"
			c.Metrics.Listen = "127.0.0.1:9999"
			c.Monitors[0].Type = "other"
		}, restart: []string{"proxy.datadir", "log.format", "metrics.listen", `monitor "galera-cluster".type`}},
		{name: "hot and restart keys of one table", change: func(c *Config) {
			c.Admin.Listen = "127.0.0.1:9000"
			c.Admin.User = "ops"
		}, changes: []string{"changed admin (user)"}, restart: []string{"admin.listen"}},
		{name: "objects added, removed and renamed", change: func(c *Config) {
			c.Servers = append(c.Servers, Server{Name: "node4"})
			c.Monitors[0].Servers = append(c.Monitors[0].Servers, "node4")
			c.Services = c.Services[:1]
			c.Listeners[1].Name = "renamed"
		}, changes: []string{
			`added server "node4"`,
			`changed monitor "galera-cluster" (servers)`,
			`removed service "ro-service"`,
			`added listener "renamed"`,
			`removed listener "ro-listener"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, next := load(t), load(t)
			tc.change(next)
			d := Compare(old, next)
			var got []string
			for _, c := range d.Changes {
				got = append(got, c.String())
			}
			if !slices.Equal(got, tc.changes) {
				t.Errorf("changes:\ngot  %q\nwant %q", got, tc.changes)
			}
			if !slices.Equal(d.RestartRequired, tc.restart) {
				t.Errorf("restart required: got %q, want %q", d.RestartRequired, tc.restart)
			}
			if d.Empty() != (len(tc.changes)+len(tc.restart) == 0) {
				t.Errorf("Empty() = %v", d.Empty())
			}
		})
	}
}

func TestCompareFind(t *testing.T) {
	old, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	next, _ := Load(examplePath)
	next.Servers = next.Servers[1:]
	d := Compare(old, next)
	c, ok := d.Find("server", "node1")
	if !ok || c.Action != Removed || c.Object() != `server "node1"` {
		t.Errorf("Find(server, node1) = %+v, %v", c, ok)
	}
	if _, ok := d.Find("server", "node2"); ok {
		t.Error("an unchanged server is reported")
	}
}

// Every key is compared: a change to any single field of any table shows
// up in the diff, as a hot change or a restart key according to its tag.
func TestCompareSeesEveryField(t *testing.T) {
	base, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range sections() {
		for _, f := range sec.fields {
			if f.key == "name" {
				continue
			}
			next, _ := Load(examplePath)
			table := reflect.ValueOf(next).Elem().Field(sec.index)
			if sec.many {
				table = table.Index(0)
			}
			fv := table.Field(f.index)
			switch f.kind {
			case kindString:
				fv.SetString(fv.String() + "x")
			case kindBool:
				fv.SetBool(!fv.Bool())
			case kindInt, kindDuration, kindSize, kindThreads:
				fv.SetInt(fv.Int() + 1)
			case kindList:
				fv.Set(reflect.Append(fv, reflect.ValueOf("x")))
			}
			d := Compare(base, next)
			if f.reload == "restart" {
				if len(d.RestartRequired) != 1 || !strings.HasSuffix(d.RestartRequired[0], "."+f.key) || len(d.Changes) != 0 {
					t.Errorf("%s.%s: got %+v, want one restart key", sec.key, f.key, d)
				}
				continue
			}
			if len(d.Changes) != 1 || !slices.Equal(d.Changes[0].Keys, []string{f.key}) || len(d.RestartRequired) != 0 {
				t.Errorf("%s.%s: got %+v, want one hot change", sec.key, f.key, d)
			}
		}
	}
}

func TestEffective(t *testing.T) {
	old, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	next, _ := Load(examplePath)
	next.Proxy.DataDir = "/elsewhere"
	next.Log.Level, next.Log.Format = "debug", "json"
	next.Monitors[0].Type = "other"
	next.Monitors[0].MonitorInterval *= 3
	next.Listeners[0].Port = 7000
	next.Servers = append(next.Servers, Server{Name: "node4", Port: 3310})
	eff := Effective(old, next)
	if eff.Proxy.DataDir != old.Proxy.DataDir || eff.Log.Format != old.Log.Format || eff.Monitors[0].Type != old.Monitors[0].Type {
		t.Errorf("restart keys not kept from the running configuration: %+v %+v %q", eff.Proxy, eff.Log, eff.Monitors[0].Type)
	}
	if eff.Log.Level != "debug" || eff.Monitors[0].MonitorInterval != next.Monitors[0].MonitorInterval ||
		eff.Listeners[0].Port != 7000 || len(eff.Servers) != 4 || eff.Servers[3].Port != 3310 {
		t.Error("hot keys and new objects not taken from the new configuration")
	}
	if next.Monitors[0].Type != "other" || next.Proxy.DataDir != "/elsewhere" {
		t.Error("Effective modified its argument")
	}
	d := Compare(eff, next)
	if !slices.Equal(d.RestartRequired, []string{"proxy.datadir", "log.format", `monitor "galera-cluster".type`}) || len(d.Changes) != 0 {
		t.Errorf("the next reload of the same file reports %+v", d)
	}
}
