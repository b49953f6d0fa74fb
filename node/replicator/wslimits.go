package replicator

import (
	"errors"
	"sync/atomic"

	"github.com/maxproxy/maxproxy/node/storage"
)

// Write-set size limits (GALERA.md §3.3): wsrep_max_ws_rows and wsrep_max_ws_size. They are checked before
// anything is proposed, so a transaction over a limit is a plain local rollback that consumed no seqno
// anywhere; the errors are therefore distinct from storage.ErrCertification (no wsrep_retry_autocommit
// retry, and the SQL layer answers with Galera's codes, not 1213) and from ErrUnknownOutcome.
var (
	// ErrMaxWSRows: the write-set has more rows than wsrep_max_ws_rows (MySQL 1180, ER_ERROR_DURING_COMMIT,
	// "wsrep_max_ws_rows exceeded").
	ErrMaxWSRows = errors.New("replicator: wsrep_max_ws_rows exceeded")
	// ErrMaxWSSize: the encoded write-set is larger than wsrep_max_ws_size (MySQL 1105, "Maximum writeset
	// size exceeded").
	ErrMaxWSSize = errors.New("replicator: Maximum writeset size exceeded")
)

// Bounds of wsrep_max_ws_size in MariaDB; DefaultMaxWSSize is its default.
const (
	MinMaxWSSize     = 1024
	DefaultMaxWSSize = 2147483647
)

// wsLimits holds the current limits; Replicate reads them on every commit, SET GLOBAL writes them.
type wsLimits struct {
	maxRows atomic.Int64 // 0: unlimited
	maxSize atomic.Int64 // 0 until set: DefaultMaxWSSize
	// rowSpace tells which storage spaces hold table rows (the rest are secondary indexes, whose entries
	// are not rows of their own); nil counts every op.
	rowSpace atomic.Pointer[func(storage.SpaceID) bool]
}

// SetMaxWSRows sets wsrep_max_ws_rows: the most rows one write-set may change; 0 (the default) or less
// means no limit.
func (r *Replicator) SetMaxWSRows(n int64) { r.limits.maxRows.Store(max(n, 0)) }

// SetMaxWSSize sets wsrep_max_ws_size in bytes, clamped to MariaDB's range [MinMaxWSSize,
// DefaultMaxWSSize].
func (r *Replicator) SetMaxWSSize(n int64) {
	r.limits.maxSize.Store(min(max(n, MinMaxWSSize), DefaultMaxWSSize))
}

// SetRowSpaces tells the replicator which storage spaces hold table rows, so that wsrep_max_ws_rows
// counts rows rather than index entries. Without it every changed key counts as a row.
func (r *Replicator) SetRowSpaces(isRow func(storage.SpaceID) bool) {
	if isRow == nil {
		r.limits.rowSpace.Store(nil)
		return
	}
	r.limits.rowSpace.Store(&isRow)
}

// checkRows refuses a write-set that changes more rows than wsrep_max_ws_rows. Free while unlimited.
func (l *wsLimits) checkRows(ops []storage.Op) error {
	limit := l.maxRows.Load()
	if limit <= 0 || int64(len(ops)) <= limit {
		return nil // every row is at least one op: fewer ops than the limit cannot exceed it
	}
	var isRow func(storage.SpaceID) bool
	if p := l.rowSpace.Load(); p != nil {
		isRow = *p
	}
	var rows int64
	for i := range ops {
		if ops[i].DropSpace || (isRow != nil && !isRow(ops[i].Space)) {
			continue
		}
		if rows++; rows > limit {
			return ErrMaxWSRows
		}
	}
	return nil
}

// checkSize refuses an encoded write-set entry larger than wsrep_max_ws_size.
func (l *wsLimits) checkSize(n int) error {
	limit := l.maxSize.Load()
	if limit == 0 {
		limit = DefaultMaxWSSize
	}
	if int64(n) > limit {
		return ErrMaxWSSize
	}
	return nil
}
