package sql

import (
	"testing"

	"github.com/maxproxy/maxproxy/node/sql/types"
)

// Every value of an enum variable can be set, by name or by its 0-based number, as in MariaDB.
func TestEnumVariableValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  types.Value
		want string
	}{
		{"tx_isolation", types.NewString("read-uncommitted"), "READ-UNCOMMITTED"},
		{"tx_isolation", types.NewString("SERIALIZABLE"), "SERIALIZABLE"},
		{"query_cache_type", types.NewInt(0), "OFF"},
		{"query_cache_type", types.NewInt(2), "DEMAND"},
		{"wsrep_reject_queries", types.NewString("none"), "NONE"},
		{"wsrep_reject_queries", types.NewString("ALL_KILL"), "ALL_KILL"},
	} {
		got, err := normalizeVar(sysVars[tc.name], tc.raw)
		if err != nil || types.ToText(got) != tc.want {
			t.Errorf("SET %s = %v: %v, %v; want %s", tc.name, tc.raw, types.ToText(got), err, tc.want)
		}
	}
	for _, raw := range []types.Value{types.NewInt(3), types.NewInt(-1), types.NewString("SOME")} {
		if _, err := normalizeVar(sysVars["query_cache_type"], raw); err == nil {
			t.Errorf("SET query_cache_type = %v accepted", raw)
		}
	}
}
