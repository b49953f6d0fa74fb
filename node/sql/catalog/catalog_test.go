package catalog

import "testing"

func TestUserOrderAndHostMatch(t *testing.T) {
	us := []*User{{User: "app", Host: "%"}, {User: "", Host: "localhost"}, {User: "app", Host: "10.0.%"}, {User: "app", Host: "localhost"}}
	SortUsers(us)
	var got []string
	for _, u := range us {
		got = append(got, u.User+"@"+u.Host)
	}
	want := []string{"app@localhost", "@localhost", "app@10.0.%", "app@%"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order = %v, want %v", got, want)
		}
	}
	for _, c := range []struct {
		pattern, host string
		want          bool
	}{
		{"%", "1.2.3.4", true}, {"10.0.%", "10.0.9.9", true}, {"10.0.%", "10.1.0.1", false},
		{"localhost", "127.0.0.1", false}, {"127.0.0.1", "127.0.0.1", true}, {"db_", "db1", true}, {"LocalHost", "localhost", true},
	} {
		if got := MatchHost(c.pattern, c.host); got != c.want {
			t.Errorf("MatchHost(%q, %q) = %v", c.pattern, c.host, got)
		}
	}
}
