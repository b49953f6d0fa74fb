package node

import (
	"strconv"
	"sync/atomic"

	"github.com/maxproxy/maxproxy/node/replicator"
	"github.com/maxproxy/maxproxy/node/sql"
	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/storage"
)

// wsLimits connects SET GLOBAL wsrep_max_ws_rows / wsrep_max_ws_size (GALERA.md §3.3) to the
// replicator, which refuses an over-limit write-set before proposing it.
type wsLimits interface {
	SetMaxWSRows(n int64)
	SetMaxWSSize(n int64)
}

// setWSLimit applies a validated SET GLOBAL of one of the limit variables; other names are ignored.
func setWSLimit(l wsLimits, name, value string) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		// The SQL layer normalised the value to an integer; an unsigned one beyond int64 means "no limit".
		n = 1<<63 - 1
	}
	switch name {
	case "wsrep_max_ws_rows":
		l.SetMaxWSRows(n)
	case "wsrep_max_ws_size":
		l.SetMaxWSSize(n)
	}
}

// rowSpaces answers, for wsrep_max_ws_rows, whether a storage space holds table rows rather than
// secondary-index entries (one changed row writes one key per index, and only the row counts). The
// index-space set is rebuilt when the engine's schema changes.
type rowSpaces struct {
	eng   *sql.Engine
	cache atomic.Pointer[indexSpaces]
}

type indexSpaces struct {
	schema *catalog.Schema
	spaces map[storage.SpaceID]struct{}
}

func (r *rowSpaces) isRow(sp storage.SpaceID) bool {
	schema := r.eng.Schema()
	c := r.cache.Load()
	if c == nil || c.schema != schema {
		c = &indexSpaces{schema: schema, spaces: map[storage.SpaceID]struct{}{}}
		for _, tables := range schema.Tables {
			for _, t := range tables {
				for _, ix := range t.Indexes {
					if ix.Space != t.Space {
						c.spaces[ix.Space] = struct{}{}
					}
				}
			}
		}
		r.cache.Store(c)
	}
	_, index := c.spaces[sp]
	return !index
}

var _ wsLimits = (*replicator.Replicator)(nil)
