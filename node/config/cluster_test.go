package config

import (
	"slices"
	"strings"
	"testing"
)

func TestClusterKeys(t *testing.T) {
	cfg, err := Parse("node.toml", []byte(`cluster_name = "prod"
cluster_address = "gcomm://10.0.0.1,10.0.0.2:5000, [::1]:4567"
node_address = "10.0.0.2:5000"
`))
	if err != nil {
		t.Fatal(err)
	}
	members, self, err := cfg.ClusterMembers()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.1:4567", "10.0.0.2:5000", "[::1]:4567"}; !slices.Equal(members, want) || self != 1 {
		t.Errorf("members %v self %d, want %v self 1", members, self, want)
	}
	if !cfg.Clustered() || cfg.ClusterName != "prod" {
		t.Errorf("cluster settings %+v", cfg)
	}
	def, err := Parse("empty.toml", nil)
	if err != nil || def.Clustered() || def.ClusterName != DefaultClusterName {
		t.Errorf("standalone defaults: %+v %v", def, err)
	}
}

func TestClusterKeysBad(t *testing.T) {
	for _, tc := range []struct{ name, toml, want string }{
		{"scheme", `cluster_address = "10.0.0.1"`, `cluster_address: want "gcomm://host:port,..."`},
		{"empty gcomm", `cluster_address = "gcomm://"`, `an empty gcomm:// is not supported`},
		{"options", `cluster_address = "gcomm://a?pc.wait_prim=no"`, `provider options`},
		{"duplicate", "cluster_address = \"gcomm://a,a:4567\"\nnode_address = \"a\"", `member a:4567 is listed twice`},
		{"no node address", `cluster_address = "gcomm://a,b"`, `node_address: must be set`},
		{"not a member", "cluster_address = \"gcomm://a,b\"\nnode_address = \"c\"", `c:4567 is not one of cluster_address's members`},
		{"node address alone", `node_address = "a"`, `node_address: needs cluster_address`},
		{"empty name", `cluster_name = ""`, `cluster_name: must not be empty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.toml", []byte(tc.toml+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
