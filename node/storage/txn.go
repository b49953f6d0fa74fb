package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maxproxy/maxproxy/node/storage/btree"
)

// TxOptions configure Begin.
type TxOptions struct {
	ReadOnly bool
}

const (
	stateActive int32 = iota
	stateCommitting
	stateAborted // deadlock victim or BF-aborted: every call fails with ErrDeadlock until Rollback
	stateDone
)

// Txn is a transaction: a snapshot, buffered writes and the row locks it holds. A Txn is used by one goroutine
// at a time; DB.AbortTxn is the way to interrupt it from elsewhere.
type Txn struct {
	db          *DB
	id          uint64
	snap        uint64
	readOnly    bool
	lockTimeout time.Duration
	state       atomic.Int32
	waiting     atomic.Pointer[lockWaiter]
	bfSeqno     atomic.Uint64 // lowest seqno of a write-set that needed a lock while committing (replay.go)

	lockMu   sync.Mutex
	held     []heldLock
	released bool // locks were released; no new lock may be kept

	wrote   bool // counted in Stats.OpenWriters until finish
	writes  map[SpaceID]*btree.Tree[[]byte, *pendingWrite]
	ops     []Op
	dead    []bool // ops[i] was discarded by a later DropSpace (allocated on first use)
	dropped map[SpaceID]bool
	undo    []undoRec // how to take back each buffered write, for RollbackTo
}

type undoKind uint8

const (
	undoInsert undoKind = iota // first write of a key: its op is the last one when undone
	undoUpdate                 // later write of a key: restore the previous value
	undoDrop                   // DropSpace: restore the space's writes and drop state
)

type undoRec struct {
	kind       undoKind
	space      SpaceID
	key        []byte
	oldVal     []byte
	oldDel     bool
	tree       *btree.Tree[[]byte, *pendingWrite] // undoDrop: the writes the drop discarded
	dead       []int                              // undoDrop: ops the drop marked dead
	wasDropped bool
}

// Savepoint marks a point in a transaction's writes (statement start, SQL SAVEPOINT).
type Savepoint struct{ undo int }

type pendingWrite struct {
	key []byte
	val []byte
	del bool
	op  int // index in Txn.ops
}

// Begin starts a transaction whose snapshot is the latest published commit.
func (db *DB) Begin(opts TxOptions) *Txn {
	t := &Txn{
		db:          db,
		id:          db.nextTxn.Add(1),
		readOnly:    opts.ReadOnly,
		lockTimeout: DefaultLockWaitTimeout,
	}
	// The snapshot is read under the registry lock so the collector's horizon can never pass it.
	sh := db.txnShard(t.id)
	sh.mu.Lock()
	t.snap = db.visible.Load()
	sh.m[t.id] = t
	sh.mu.Unlock()
	return t
}

// AbortTxn aborts the active transaction id the way a replicated write-set does (BF abort): its locks are
// released now and its current or next call fails with ErrDeadlock. It returns false if the transaction is
// unknown, finished, or already committing.
func (db *DB) AbortTxn(id uint64) bool {
	sh := db.txnShard(id)
	sh.mu.Lock()
	t := sh.m[id]
	sh.mu.Unlock()
	return t != nil && t.abort(true)
}

// AbortSpaceHolders BF-aborts every local transaction that holds a lock in one of spaces and has not
// started committing, as a TOI DDL on those tables does in Galera; it returns how many it aborted.
func (db *DB) AbortSpaceHolders(spaces []SpaceID) int {
	var buf []*Txn
	n := 0
	for _, sp := range spaces {
		buf = db.locks.spaceHolders(sp, buf[:0])
		for _, t := range buf {
			if t.abort(true) {
				n++
			}
		}
	}
	return n
}

// abortLockHolders BF-aborts local transactions holding locks on ws's keys. Called with applyMu held.
func (db *DB) abortLockHolders(ws *WriteSet) {
	var buf []*Txn
	for i := range ws.Ops {
		op := &ws.Ops[i]
		if op.DropSpace {
			// Like a TOI DDL: every local transaction with a lock in the table loses.
			buf = db.locks.spaceHolders(op.Space, buf[:0])
		} else {
			buf = db.locks.holders(op.Space, op.Key, buf[:0])
		}
		for _, t := range buf {
			if !t.abort(true) {
				t.noteBFConflict(ws.Seqno)
			}
		}
	}
}

// ID identifies the transaction (AbortTxn, WriteSet.TxnID).
func (t *Txn) ID() uint64 { return t.id }

// Snapshot is the commit seqno the transaction reads.
func (t *Txn) Snapshot() uint64 { return t.snap }

// SetLockWaitTimeout sets innodb_lock_wait_timeout for this transaction's later lock waits.
func (t *Txn) SetLockWaitTimeout(d time.Duration) { t.lockTimeout = max(d, 0) }

func (t *Txn) check() error {
	if t.db.isClosed() {
		return ErrClosed
	}
	switch t.state.Load() {
	case stateActive:
		return nil
	case stateAborted:
		return ErrDeadlock
	default:
		return ErrTxnDone
	}
}

// abort ends an active transaction's ability to proceed and releases its locks at once.
func (t *Txn) abort(bf bool) bool {
	if !t.state.CompareAndSwap(stateActive, stateAborted) {
		return false
	}
	// End a lock wait in progress. A wait that starts after this load sees the state and gives up itself.
	if w := t.waiting.Load(); w != nil {
		close(w.aborted)
	}
	t.releaseLocks()
	if bf {
		t.db.stats.bfAborts.Add(1)
	}
	return true
}

func (t *Txn) lock(ctx context.Context, space SpaceID, key []byte, mode lockMode) error {
	err := t.db.locks.acquire(ctx, t, space, key, mode)
	if errors.Is(err, ErrDeadlock) {
		// InnoDB rolls the whole victim back so the other transactions can proceed.
		t.abort(false)
	}
	return err
}

// addHeld records a granted lock for release at the end. upgrade means the key is already recorded. If the
// transaction ended (was aborted) while the lock was being granted, the lock is released again.
func (t *Txn) addHeld(lm *lockManager, l heldLock, upgrade bool) error {
	t.lockMu.Lock()
	if t.released {
		t.lockMu.Unlock()
		lm.release(t, l)
		if err := t.check(); err != nil {
			return err
		}
		return ErrTxnDone
	}
	if !upgrade {
		t.held = append(t.held, l)
	}
	t.lockMu.Unlock()
	return nil
}

func (t *Txn) releaseLocks() {
	t.lockMu.Lock()
	held := t.held
	t.held = nil
	t.released = true
	t.lockMu.Unlock()
	for _, l := range held {
		t.db.locks.release(t, l)
	}
}

// finish releases everything the transaction holds; the state is already final.
func (t *Txn) finish() {
	t.releaseLocks()
	sh := t.db.txnShard(t.id)
	sh.mu.Lock()
	delete(sh.m, t.id)
	sh.mu.Unlock()
	if t.wrote {
		t.wrote = false
		t.db.stats.openWriters.Add(-1)
	}
	t.writes, t.ops, t.dead, t.dropped, t.undo = nil, nil, nil, nil, nil
}

func (t *Txn) own(space SpaceID, key []byte) (*pendingWrite, bool) {
	if tr := t.writes[space]; tr != nil {
		return tr.Get(key)
	}
	return nil, false
}

// read returns the version of key visible at seq.
func (db *DB) read(space SpaceID, key []byte, seq uint64) *version {
	sp := db.space(space)
	if sp == nil {
		return nil
	}
	mk := makeKey(key)
	sp.mu.RLock()
	head, _ := sp.tree.Get(mk)
	sp.mu.RUnlock()
	return head.at(seq)
}

// Get reads key from the snapshot plus the transaction's own writes.
func (t *Txn) Get(space SpaceID, key []byte) ([]byte, bool, error) {
	if err := t.check(); err != nil {
		return nil, false, err
	}
	return t.get(space, key, t.snap)
}

func (t *Txn) get(space SpaceID, key []byte, seq uint64) ([]byte, bool, error) {
	if p, ok := t.own(space, key); ok {
		if p.del {
			return nil, false, nil
		}
		return p.val, true, nil
	}
	if t.dropped[space] {
		return nil, false, nil
	}
	v := t.db.read(space, key, seq)
	if v == nil || v.del {
		return nil, false, nil
	}
	return v.val, true, nil
}

// GetForUpdate locks key (exclusive or shared) until the transaction ends and reads its latest committed
// version plus the transaction's own writes.
func (t *Txn) GetForUpdate(ctx context.Context, space SpaceID, key []byte, exclusive bool) ([]byte, bool, error) {
	if err := t.check(); err != nil {
		return nil, false, err
	}
	mode := lockShared
	if exclusive {
		mode = lockExclusive
	}
	if err := t.lock(ctx, space, key, mode); err != nil {
		return nil, false, err
	}
	return t.get(space, key, t.db.visible.Load())
}

// Put locks key exclusively and buffers val as its new value.
func (t *Txn) Put(ctx context.Context, space SpaceID, key, val []byte) error {
	return t.write(ctx, space, key, val, false)
}

// Delete locks key exclusively and buffers its deletion.
func (t *Txn) Delete(ctx context.Context, space SpaceID, key []byte) error {
	return t.write(ctx, space, key, nil, true)
}

func (t *Txn) write(ctx context.Context, space SpaceID, key, val []byte, del bool) error {
	if err := t.check(); err != nil {
		return err
	}
	if t.readOnly {
		return ErrReadOnly
	}
	if err := checkSizes(key, val); err != nil {
		return err
	}
	if err := t.lock(ctx, space, key, lockExclusive); err != nil {
		return err
	}
	var vc []byte
	if !del {
		vc = bytes.Clone(val)
		if vc == nil {
			vc = []byte{}
		}
	}
	t.noteWrite()
	tr := t.writes[space]
	if tr == nil {
		if t.writes == nil {
			t.writes = map[SpaceID]*btree.Tree[[]byte, *pendingWrite]{}
		}
		tr = btree.New[[]byte, *pendingWrite](bytes.Compare)
		t.writes[space] = tr
	}
	if p, ok := tr.Get(key); ok {
		t.undo = append(t.undo, undoRec{kind: undoUpdate, space: space, key: p.key, oldVal: p.val, oldDel: p.del})
		p.val, p.del = vc, del
		t.ops[p.op].Value, t.ops[p.op].Delete = vc, del
		return nil
	}
	kc := bytes.Clone(key)
	t.ops = append(t.ops, Op{Space: space, Key: kc, Value: vc, Delete: del})
	tr.Set(kc, &pendingWrite{key: kc, val: vc, del: del, op: len(t.ops) - 1})
	t.undo = append(t.undo, undoRec{kind: undoInsert, space: space, key: kc})
	return nil
}

// noteWrite counts the transaction in Stats.OpenWriters from its first write on.
func (t *Txn) noteWrite() {
	if !t.wrote {
		t.wrote = true
		t.db.stats.openWriters.Add(1)
	}
}

// Savepoint returns a mark RollbackTo can return to.
func (t *Txn) Savepoint() Savepoint { return Savepoint{undo: len(t.undo)} }

// RollbackTo takes back every write and DropSpace made after sp, as if they had never been buffered: they
// leave the write-set too. Locks taken since stay held, as in InnoDB. Savepoints taken after sp become invalid.
func (t *Txn) RollbackTo(sp Savepoint) error {
	if err := t.check(); err != nil {
		return err
	}
	if sp.undo > len(t.undo) {
		return errors.New("storage: savepoint no longer exists")
	}
	for len(t.undo) > sp.undo {
		u := &t.undo[len(t.undo)-1]
		switch u.kind {
		case undoUpdate:
			p, _ := t.writes[u.space].Get(u.key)
			p.val, p.del = u.oldVal, u.oldDel
			t.ops[p.op].Value, t.ops[p.op].Delete = u.oldVal, u.oldDel
		case undoInsert:
			// Undo runs newest first, so this key's op is the last one buffered.
			t.writes[u.space].Delete(u.key)
			t.ops = t.ops[:len(t.ops)-1]
		case undoDrop:
			t.ops = t.ops[:len(t.ops)-1]
			if u.tree != nil {
				t.writes[u.space] = u.tree
			} else {
				delete(t.writes, u.space)
			}
			for _, i := range u.dead {
				t.dead[i] = false
			}
			if !u.wasDropped {
				delete(t.dropped, u.space)
			}
		}
		*u = undoRec{}
		t.undo = t.undo[:len(t.undo)-1]
	}
	return nil
}

func checkSizes(key, val []byte) error {
	if len(key) == 0 || len(key) > MaxKeySize {
		return fmt.Errorf("storage: key of %d bytes: %w", len(key), ErrKeyInvalid)
	}
	if len(val) > MaxValueSize {
		return fmt.Errorf("storage: value of %d bytes: %w", len(val), ErrValueTooLarge)
	}
	return nil
}

// DropSpace deletes every key of space when the transaction commits (DROP TABLE, TRUNCATE). Reads in this
// transaction see the space empty except for writes made after the drop. It takes no row locks: node/sql
// serialises DDL against DML on the table.
func (t *Txn) DropSpace(space SpaceID) error {
	if err := t.check(); err != nil {
		return err
	}
	if t.readOnly {
		return ErrReadOnly
	}
	t.noteWrite()
	u := undoRec{kind: undoDrop, space: space, wasDropped: t.dropped[space]}
	if tr := t.writes[space]; tr != nil {
		if len(t.dead) < len(t.ops) {
			t.dead = append(t.dead, make([]bool, len(t.ops)-len(t.dead))...)
		}
		tr.Ascend(nil, false, func(_ []byte, p *pendingWrite) bool {
			t.dead[p.op] = true
			u.dead = append(u.dead, p.op)
			return true
		})
		u.tree = tr
		delete(t.writes, space)
	}
	if t.dropped == nil {
		t.dropped = map[SpaceID]bool{}
	}
	t.dropped[space] = true
	t.ops = append(t.ops, Op{Space: space, DropSpace: true})
	t.undo = append(t.undo, u)
	return nil
}

func (t *Txn) writeSetOps() []Op {
	if t.dead == nil {
		return t.ops
	}
	ops := make([]Op, 0, len(t.ops))
	for i, op := range t.ops {
		if i < len(t.dead) && t.dead[i] {
			continue
		}
		ops = append(ops, op)
	}
	return ops
}

// Commit replicates the transaction's write-set (when there is a Replicator), applies it in seqno order and
// returns once it is durable per the flush policy. The transaction is finished whatever the outcome.
func (t *Txn) Commit(ctx context.Context) error {
	if err := t.check(); err != nil {
		if errors.Is(err, ErrDeadlock) || errors.Is(err, ErrClosed) {
			t.Rollback()
		}
		return err
	}
	db := t.db
	if len(t.ops) == 0 {
		t.state.Store(stateDone)
		t.finish()
		db.stats.commits.Add(1)
		return nil
	}
	if !t.state.CompareAndSwap(stateActive, stateCommitting) {
		t.Rollback() // aborted just now
		return ErrDeadlock
	}
	if err := db.enter(); err != nil {
		t.state.Store(stateDone)
		t.finish()
		return err
	}
	defer db.inflight.Done()
	ws := &WriteSet{TxnID: t.id, Snapshot: t.snap, Ops: t.writeSetOps()}
	var seqno uint64
	if db.repl != nil {
		if err := db.repl.Replicate(ctx, ws); err != nil {
			t.state.Store(stateDone)
			t.finish()
			db.stats.rollbacks.Add(1)
			if ws.Seqno != 0 && errors.Is(err, ErrCertification) {
				// Ordered but refused: the seqno still advances the position, here as on every other node.
				if _, aerr := db.commitWriteSet(&WriteSet{TxnID: ws.TxnID}, ws.Seqno, false); aerr != nil {
					err = errors.Join(err, aerr)
				}
			}
			return fmt.Errorf("storage: replicate txn %d: %w", t.id, err)
		}
		if ws.Seqno == 0 {
			t.state.Store(stateDone)
			t.finish()
			return fmt.Errorf("storage: replicate txn %d: replicator accepted the write-set without a seqno", t.id)
		}
		seqno = ws.Seqno
	}
	b, err := db.commitWriteSet(ws, seqno, false)
	t.state.Store(stateDone)
	t.finish() // locks are released once the commit is visible, before waiting for the disk
	if err != nil {
		return fmt.Errorf("storage: commit txn %d: %w", t.id, err)
	}
	db.stats.commits.Add(1)
	if db.repl != nil {
		t.countReplay(ws.Seqno)
		// The replication log already holds the write-set durably (it is ordered only once it is), and a
		// restart re-applies it after DurableSeqno, as for DB.Apply: this store's own log write is not
		// waited for (see doc.go). A failed write still makes the store refuse every later commit.
		return nil
	}
	<-b.done
	return b.err
}

// Rollback discards the transaction's writes and releases its locks. It is idempotent and does nothing while
// Commit is running.
func (t *Txn) Rollback() {
	for {
		s := t.state.Load()
		if s == stateDone || s == stateCommitting {
			return
		}
		if t.state.CompareAndSwap(s, stateDone) {
			break
		}
	}
	t.db.stats.rollbacks.Add(1)
	t.finish()
}
