package replicator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/maxproxy/maxproxy/node/consensus"
	"github.com/maxproxy/maxproxy/node/storage"
	"github.com/maxproxy/maxproxy/node/writeset"
)

// Total order isolation (GALERA.md §4.2, §12.3). A DDL statement is ordered as a TOI entry — the statement
// text, its default schema and sql_mode, and EXCLUSIVE keys on the storage spaces it changes — and
// executed at its seqno on every node, origin included, by the TOIExecutor, after every lower seqno has
// committed and before any higher one (certification makes TOI PA-unsafe). Before it runs, local
// transactions holding locks in those spaces are BF-aborted; write-sets that read them before the DDL
// fail certification on every node (the TOI's keys are in the index).
//
// Space ids: the n-th TOI entry of the log (n counted by the FSM from the cluster entry, so every node
// counts alike) may allocate the spaces [TOISpaceBase + n·TOISpaces, +TOISpaces). The storage's own
// allocator, used by a standalone node, stays below TOISpaceBase. Concurrent CREATE TABLEs on different
// nodes therefore never share a space, and every node gives a table the same one.

// TOISpaceBase is the first space id allocated by TOI; TOISpaces is how many one TOI statement may use
// (a table and its indexes: MariaDB allows 64 indexes per table).
const (
	TOISpaceBase storage.SpaceID = 1 << 31
	TOISpaces                    = 128
	maxTOICount                  = (1<<32 - 1 - uint64(TOISpaceBase)) / TOISpaces
)

// kindTOI entries carry: uvarint length + sql_mode, then a writeset encoding with FlagTOI, Schema and DDL.
const kindTOI byte = 'T'

// TOIRequest is a DDL statement to order (the SQL layer's request, as the replicator sees it).
type TOIRequest struct {
	Schema  string
	SQL     string
	SQLMode string
	Spaces  []storage.SpaceID // spaces the statement changes or removes (EXCLUSIVE keys, BF abort)
}

// TOIExecutor executes an ordered DDL statement on this node (node/sql's TOIApplier). ctx must reach the
// storage commit of the statement unchanged: Replicate recognises it and places the commit at the TOI's
// seqno. spaces allocates the storage spaces of new tables and indexes. The error is the statement's own
// (the same on every node) or a failure to run it.
type TOIExecutor interface {
	ExecTOI(ctx context.Context, req TOIRequest, spaces func() (storage.SpaceID, error)) error
}

// SetTOIExecutor installs the executor of TOI entries. Call it before Start: a node that applies a TOI
// entry without one stops applying (fatal).
func (r *Replicator) SetTOIExecutor(x TOIExecutor) { r.toiExec = x }

// toiItem is a TOI entry on its way to the apply goroutine.
type toiItem struct {
	req   TOIRequest
	ok    bool // passed certification
	count uint64
	w     *waiter // the origin's session, when it still waits
}

// toiCommitKey marks the context of a TOI execution; its value is a *toiCommit.
type toiCommitKey struct{}

// toiCommit is the single storage commit a TOI execution may make, at seqno.
type toiCommit struct {
	seqno uint64
	ws    *storage.WriteSet
}

func (tc *toiCommit) commit(ws *storage.WriteSet) error {
	if tc.ws != nil {
		return fmt.Errorf("replicator: a TOI statement committed twice at seqno %d: %w", tc.seqno, ErrNotOrdered)
	}
	tc.ws, ws.Seqno = ws, tc.seqno
	return nil
}

func encodeTOI(sqlMode string, ws *writeset.WriteSet) ([]byte, error) {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(sqlMode)+ws.Size())
	b = append(b, kindTOI)
	b = binary.AppendUvarint(b, uint64(len(sqlMode)))
	b = append(b, sqlMode...)
	b, err := ws.AppendEncode(b)
	if err != nil {
		return nil, fmt.Errorf("replicator: encode TOI: %w", err)
	}
	return b, nil
}

func decodeTOI(p []byte, ws *writeset.WriteSet) (string, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return "", errBadEntry
	}
	mode := string(p[k : k+int(n)])
	if err := writeset.Decode(p[k+int(n):], ws); err != nil {
		return "", err
	}
	if ws.Flags&writeset.FlagTOI == 0 {
		return "", errBadEntry
	}
	return mode, nil
}

// toiKeys are EXCLUSIVE keys on whole spaces, in the form certKeys gives a dropped space.
func toiKeys(spaces []storage.SpaceID) []writeset.Key {
	keys := make([]writeset.Key, 0, len(spaces))
	for _, sp := range spaces {
		keys = append(keys, writeset.Key{Type: writeset.KeyExclusive, Parts: [][]byte{binary.BigEndian.AppendUint32(nil, uint32(sp))}})
	}
	return keys
}

func keySpaces(keys []writeset.Key) []storage.SpaceID {
	var out []storage.SpaceID
	for _, k := range keys {
		if len(k.Parts) == 1 && len(k.Parts[0]) == 4 {
			out = append(out, storage.SpaceID(binary.BigEndian.Uint32(k.Parts[0])))
		}
	}
	return out
}

// ReplicateTOI orders a DDL statement and returns once this node has executed it at its position: nil or
// the statement's own error (identical on every node). ErrNotPrimary / ErrNotOrdered: nothing was ordered.
// An error wrapping ErrUnknownOutcome: the statement may still run (the deadline passed or the primary
// component was lost while it was ordered or executing).
func (r *Replicator) ReplicateTOI(ctx context.Context, req TOIRequest) error {
	if !r.Primary() {
		return ErrNotPrimary
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ReplicateTimeout)
	defer cancel()
	if err := r.fc.wait(ctx); err != nil {
		return err
	}
	ws := writeset.WriteSet{
		Source:   r.source,
		LastSeen: r.db.LastCommitted(),
		Flags:    writeset.FlagTOI,
		Keys:     toiKeys(req.Spaces),
		Schema:   req.Schema,
		DDL:      req.SQL,
	}
	retry := time.NewTicker(r.cfg.tick())
	defer retry.Stop()
	for {
		ws.TrxID = r.trx.Add(1)
		data, err := encodeTOI(req.SQLMode, &ws)
		if err != nil {
			return errors.Join(ErrNotOrdered, err)
		}
		w := &waiter{done: make(chan struct{})}
		r.mu.Lock()
		r.waiters[ws.TrxID] = w
		r.mu.Unlock()
		_, perr := r.node.Propose(ctx, data)
		r.mu.Lock()
		settled, seqno := w.settled, w.seqno
		if !settled {
			delete(r.waiters, ws.TrxID)
		}
		r.mu.Unlock()
		switch {
		case settled && seqno == 0:
			return ErrNotOrdered
		case settled:
			r.replicated.Add(1)
			r.replicatedBytes.Add(uint64(len(data)))
			select {
			case <-w.done:
				return w.err
			case <-ctx.Done():
				return fmt.Errorf("%w: DDL ordered at seqno %d is still executing: %w", ErrUnknownOutcome, seqno, ctx.Err())
			}
		case errors.Is(perr, consensus.ErrNotCommitted):
		case perr == nil:
			return fmt.Errorf("%w: TOI applied without reaching the certifier", ErrUnknownOutcome)
		default:
			return fmt.Errorf("%w: %w", ErrUnknownOutcome, perr)
		}
		// Never ordered: propose again once a leader is known, while time remains.
		for {
			select {
			case <-ctx.Done():
				return ErrNotOrdered
			case <-retry.C:
			}
			if r.Primary() {
				break
			}
		}
	}
}

// applyTOIEntry is the FSM step for a TOI entry: it consumes a seqno, certifies (a TOI always passes
// unless its interval is out of the certification window) and queues the execution. Called with mu held.
func (r *Replicator) applyTOIEntry(index uint64, p []byte) {
	var ws writeset.WriteSet
	mode, err := decodeTOI(p, &ws)
	if err != nil {
		r.log.Error("malformed TOI entry consumes its seqno without effect", "index", index, "err", err)
		r.consume(nil)
		return
	}
	local := ws.Source == r.source
	w := r.waiters[ws.TrxID]
	if !local {
		w = nil
	}
	if w != nil {
		delete(r.waiters, ws.TrxID)
	}
	if !r.haveUUID {
		if w != nil {
			w.settled = true
			close(w.done)
		}
		return
	}
	r.seqno++
	seqno := r.seqno
	v, err := r.cert.Certify(seqno, &ws)
	if err != nil {
		r.fatal = fmt.Errorf("replicator: certify TOI seqno %d: %w", seqno, err)
		r.log.Error("certification state broken", "err", r.fatal)
		return
	}
	if w != nil {
		w.settled, w.seqno, w.ok = true, seqno, v.OK
	} else if !local && seqno > r.durable {
		r.received.Add(1)
		r.receivedBytes.Add(uint64(len(p) + 1))
	}
	if local && !v.OK {
		r.certFailures.Add(1)
	}
	it := &toiItem{ok: v.OK, w: w, req: TOIRequest{Schema: ws.Schema, SQL: ws.DDL, SQLMode: mode, Spaces: keySpaces(ws.Keys)}}
	if v.OK {
		r.toiCount++
		it.count = r.toiCount
	}
	if seqno <= r.durable {
		return // crash replay: the storage holds its effect already
	}
	r.queue.push(applyItem{seqno: seqno, toi: it})
}

// execTOI runs a TOI item on the apply goroutine: once the storage holds every lower seqno it BF-aborts
// local transactions in the affected spaces and has the executor run the statement, whose commit lands at
// the item's seqno; when the statement commits nothing (it failed, or changed nothing) the seqno is
// consumed empty. It returns an error only when the node cannot go on applying.
func (r *Replicator) execTOI(seqno uint64, it *toiItem) error {
	var result error
	defer func() {
		if it.w != nil {
			it.w.err = result
			close(it.w.done)
		}
	}()
	if err := r.waitCommitted(seqno - 1); err != nil {
		result = fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
		return err
	}
	tc := &toiCommit{seqno: seqno}
	switch {
	case !it.ok:
		result = fmt.Errorf("replicator: DDL failed certification at seqno %d: %w", seqno, storage.ErrCertification)
	case r.cfg.Arbitrator:
		// No data, no schema: the seqno is consumed empty below.
	case r.toiExec == nil:
		return fmt.Errorf("replicator: TOI entry at seqno %d but no TOI executor is installed", seqno)
	case it.count > maxTOICount:
		result = fmt.Errorf("replicator: storage space ids for DDL are exhausted at seqno %d: %w", seqno, ErrNotOrdered)
	default:
		r.db.AbortSpaceHolders(it.req.Spaces)
		next := TOISpaceBase + storage.SpaceID((it.count-1)*TOISpaces)
		end := next + TOISpaces
		alloc := func() (storage.SpaceID, error) {
			if next == end {
				return 0, fmt.Errorf("replicator: a DDL statement may create at most %d tables and indexes", TOISpaces)
			}
			next++
			return next - 1, nil
		}
		result = r.toiExec.ExecTOI(context.WithValue(r.stopCtx, toiCommitKey{}, tc), it.req, alloc)
		if result != nil {
			r.log.Info("DDL failed at its position (identically on every node)", "seqno", seqno, "sql", it.req.SQL, "err", result)
		}
	}
	if tc.ws == nil {
		if err := r.db.Apply(context.Background(), &storage.WriteSet{}, seqno); err != nil {
			return fmt.Errorf("replicator: apply seqno %d: %w", seqno, err)
		}
		return nil
	}
	if got := r.db.LastCommitted(); got < seqno {
		return fmt.Errorf("replicator: DDL at seqno %d did not commit (storage at %d): %w", seqno, got, result)
	}
	if r.cfg.OnApply != nil && len(tc.ws.Ops) > 0 {
		r.cfg.OnApply(tc.ws)
	}
	return nil
}

// waitCommitted waits until the storage has committed seqno: lower seqnos of local sessions are
// committed by those sessions, which take microseconds to milliseconds once ordered; the storage has
// no commit notification to wait on.
func (r *Replicator) waitCommitted(seqno uint64) error {
	if r.db.LastCommitted() >= seqno {
		return nil
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for r.db.LastCommitted() < seqno {
		select {
		case <-r.stopCtx.Done():
			return fmt.Errorf("replicator: stopped while waiting for seqno %d to commit", seqno)
		case <-tick.C:
		}
	}
	return nil
}

// stopApplying ends the apply goroutine after a failure: the node leaves the primary component. A wait
// cut short by Close is not a failure; the position is simply not saved.
func (r *Replicator) stopApplying(seqno uint64, err error) {
	if r.stopCtx.Err() == nil {
		r.mu.Lock()
		r.fatal = err
		r.updateReadyLocked()
		r.mu.Unlock()
		r.log.Error("apply failed; the node leaves the primary component", "seqno", seqno, "err", err)
	}
	r.queue.close()
}
