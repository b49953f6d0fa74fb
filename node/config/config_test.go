package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseGood(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "good.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/var/lib/maxnode" || cfg.Listen != "127.0.0.1:3307" || cfg.NodeName != "node1" {
		t.Errorf("basic keys: %+v", cfg)
	}
	if cfg.FlushLogAtTrxCommit != 2 || cfg.LockWaitTimeout != 10 || cfg.MaxConnections != 500 {
		t.Errorf("tuning keys: %+v", cfg)
	}
	if cfg.MaxAllowedPacket != DefaultMaxAllowedPacket || cfg.LogLevel != "info" || cfg.NetWriteTimeout != 60 {
		t.Errorf("defaults not kept: %+v", cfg)
	}
	if len(cfg.Users) != 2 || cfg.Users[0].Host != "%" || cfg.Users[1].PasswordHash == "" ||
		len(cfg.Users[0].Grants) != 2 {
		t.Errorf("users: %+v", cfg.Users)
	}
	if cfg.Gcache.Size != 256<<20 || cfg.SSTDonor != "node2,node3," || cfg.PC.Weight != 0 {
		t.Errorf("gcache.size %d, sst_donor %q, pc.weight %d", cfg.Gcache.Size, cfg.SSTDonor, cfg.PC.Weight)
	}
	if cfg.GCS != (GCS{FCLimit: 32, FCFactor: 0.5}) {
		t.Errorf("gcs: %+v", cfg.GCS)
	}
	if cfg.WaitTimeout != 600 {
		t.Errorf("wait_timeout %d", cfg.WaitTimeout)
	}
	if d := cfg.LockWaitTimeoutDuration().String(); d != "10s" {
		t.Errorf("lock wait timeout %s", d)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse("empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:3306" || cfg.MaxConnections != 151 || cfg.LockWaitTimeout != 50 ||
		cfg.FlushLogAtTrxCommit != 1 || cfg.NodeName == "" || cfg.GCS != (GCS{FCLimit: 16, FCFactor: 1}) {
		t.Errorf("defaults: %+v", cfg)
	}
	if err := cfg.ValidateDataDir(); err == nil {
		t.Error("missing datadir accepted")
	}
}

func TestParseBad(t *testing.T) {
	for _, tc := range []struct{ name, toml, want string }{
		{"unknown key", "datadir = \"/d\"\n\nlisen = \"x\"\n", `bad.toml:3: unknown key "lisen"`},
		{"galera key not implemented", "datadir = \"/d\"\n[wsrep]\ncluster_address = \"gcomm://\"\n", `bad.toml:2: unknown key "wsrep"`},
		{"unknown user key", "[[user]]\nname = \"a\"\npasswd = \"x\"\n", `bad.toml:3: unknown key "user.passwd"`},
		{"type mismatch", "max_connections = \"many\"\n", `bad.toml:1: max_connections: incompatible types`},
		{"syntax", "datadir = \n", `bad.toml:1:`},
		{"listen", "listen = \"3306\"\n", `bad.toml:1: listen: want host:port, got "3306"`},
		{"flush", "\ninnodb_flush_log_at_trx_commit = 3\n", `bad.toml:2: innodb_flush_log_at_trx_commit: must be 0, 1 or 2, got 3`},
		{"lock wait", "innodb_lock_wait_timeout = 0\n", `bad.toml:1: innodb_lock_wait_timeout: must be between 1 and`},
		{"max connections", "max_connections = 0\n", `bad.toml:1: max_connections: must be between 1 and 100000`},
		{"wait timeout", "wait_timeout = -1\n", `bad.toml:1: wait_timeout: must be between 1 and`},
		{"net write timeout", "net_write_timeout = 0\n", `bad.toml:1: net_write_timeout: must be between 1 and`},
		{"log level", "log_level = \"loud\"\n", `bad.toml:1: log_level: must be debug, info, warn or error`},
		{"both passwords", "[[user]]\nname = \"a\"\npassword = \"x\"\npassword_hash = \"*0000000000000000000000000000000000000000\"\n",
			`bad.toml:4: user.password_hash: set password or password_hash, not both`},
		{"bad hash", "[[user]]\nname = \"a\"\npassword_hash = \"abc\"\n", `bad.toml:3: user.password_hash: want "*" followed by 40 hex digits`},
		{"quote in name", "[[user]]\nname = \"a'b\"\n", `bad.toml:2: user.name: invalid user name "a'b"`},
		{"bad grant", "[[user]]\nname = \"a\"\ngrants = [\"ALL\"]\n", `bad.toml:3: user.grants: want "<privileges> ON <db>.<table>", got "ALL"`},
		{"fc limit", "gcs.fc_limit = 0\n", `bad.toml:1: gcs.fc_limit: must be between 1 and`},
		{"fc factor", "[gcs]\nfc_factor = 1.5\n", `bad.toml:2: gcs.fc_factor: must be between 0.0 and 1.0, got 1.5`},
		{"other provider option", "gcs.fc_debug = 1\n", `bad.toml:1: unknown key "gcs.fc_debug"`},
		{"inactive timeout syntax", "evs.inactive_timeout = \"15 s\"\n", `bad.toml:1: evs.inactive_timeout: bad duration "15 s": want PT15S or 15s`},
		{"inactive timeout range", "[evs]\ninactive_timeout = \"PT0.5S\"\n", `bad.toml:2: evs.inactive_timeout: must be between 1s and 1h, got 500ms`},
		{"bare PT", "evs.inactive_timeout = \"PT\"\n", `bad duration "PT"`},
		{"gcache size syntax", "gcache.size = \"12Q\"\n", `bad.toml:1: gcache.size: bad size "12Q": want a number of bytes or one like 128M`},
		{"gcache size range", "[gcache]\nsize = 100\n", `bad.toml:2: gcache.size: must be at least 1024 bytes, got 100`},
		{"negative gcache size", "gcache.size = -1\n", `bad size -1: must not be negative`},
		{"pc weight", "pc.weight = 3\n", `bad.toml:1: pc.weight: 3 cannot be expressed: raft counts every voter once`},
		{"pc weight range", "[pc]\nweight = 256\n", `bad.toml:2: pc.weight: must be between 0 and 255, got 256`},
		{"sst donor", "sst_donor = \"node2,,node3\"\n", `bad.toml:1: sst_donor: empty node name in "node2,,node3"`},
		{"duplicate account", "[[user]]\nname = \"a\"\n[[user]]\nname = \"a\"\nhost = \"%\"\n", `account 'a'@'%' is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.toml", []byte(tc.toml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("got %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func FuzzParse(f *testing.F) {
	good, err := os.ReadFile(filepath.Join("testdata", "good.toml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("[[user]]\nname = \"a\"\n[x]\ny = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse("fuzz.toml", data)
	})
}

func TestGcacheSize(t *testing.T) {
	for _, tc := range []struct {
		toml string
		want uint64
	}{
		{"", DefaultGcacheSize},
		{"gcache.size = \"64K\"\n", 64 << 10},
		{"[gcache]\nsize = \"1G\"\n", 1 << 30},
		{"gcache.size = \"256m\"\n", 256 << 20},
		{"gcache.size = 65536\n", 65536},
		{"gcache.size = \"2048\"\n", 2048},
	} {
		c, err := Parse("node.toml", []byte(tc.toml))
		if err != nil || uint64(c.Gcache.Size) != tc.want {
			t.Errorf("%q: %d %v, want %d", tc.toml, c.Gcache.Size, err, tc.want)
		}
	}
}

func TestParseSSTDonor(t *testing.T) {
	for _, tc := range []struct {
		v        string
		names    []string
		anyOther bool
	}{
		{"", nil, true},
		{"node2", []string{"node2"}, false},
		{"node2, node3,", []string{"node2", "node3"}, true},
	} {
		names, anyOther, err := ParseSSTDonor(tc.v)
		if err != nil || fmt.Sprint(names) != fmt.Sprint(tc.names) || anyOther != tc.anyOther {
			t.Errorf("ParseSSTDonor(%q) = %q, %v, %v; want %q, %v", tc.v, names, anyOther, err, tc.names, tc.anyOther)
		}
	}
}

func TestInactiveTimeout(t *testing.T) {
	for _, tc := range []struct {
		toml string
		want time.Duration
	}{
		{"", DefaultInactiveTimeout},
		{"evs.inactive_timeout = \"PT30S\"\n", 30 * time.Second},
		{"[evs]\ninactive_timeout = \"PT1M30S\"\n", 90 * time.Second},
		{"evs.inactive_timeout = \"pt1h\"\n", time.Hour},
		{"evs.inactive_timeout = \"2500ms\"\n", 2500 * time.Millisecond},
	} {
		c, err := Parse("node.toml", []byte(tc.toml))
		if err != nil || time.Duration(c.EVS.InactiveTimeout) != tc.want {
			t.Errorf("%q: %v %v, want %v", tc.toml, time.Duration(c.EVS.InactiveTimeout), err, tc.want)
		}
	}
}
