package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SpaceID names one ordered key space: a table's primary data or one secondary index. 0 is the catalog.
type SpaceID uint32

// Errors callers branch on with errors.Is.
var (
	ErrLockWaitTimeout = errors.New("lock wait timeout exceeded; try restarting transaction")
	ErrDeadlock        = errors.New("deadlock found when trying to get lock; try restarting transaction")
	ErrCertification   = errors.New("deadlock: wsrep aborted transaction (certification failed)")
	ErrTxnDone         = errors.New("transaction already committed or rolled back")
	ErrClosed          = errors.New("storage is closed")
	ErrReadOnly        = errors.New("cannot write in a READ ONLY transaction")
	ErrKeyInvalid      = errors.New("key is empty or longer than the maximum key size")
	ErrValueTooLarge   = errors.New("value is larger than the maximum value size")
)

// MaxValueSize is the largest value Put accepts (bbolt's limit).
const MaxValueSize = bolt.MaxValueSize

// MaxKeySize is the longest key Put and Delete accept (bbolt's limit).
const MaxKeySize = bolt.MaxKeySize

// DefaultLockWaitTimeout is innodb_lock_wait_timeout's default.
const DefaultLockWaitTimeout = 50 * time.Second

// Options configure Open.
type Options struct {
	// FlushPolicy is innodb_flush_log_at_trx_commit: 1 makes every commit durable before Commit returns (group
	// commit), 2 writes every commit to the file and fsyncs at least once a second. 0 means 1.
	FlushPolicy int
	Logger      *slog.Logger
	// Replicator orders and certifies write-sets; nil means a single node that accepts every write-set.
	Replicator Replicator

	checkpointBytes int64 // tests: log bytes that trigger a checkpoint (0: defaultCheckpointBytes)
}

// WriteSet is what a commit hands to replication: the keys it wrote with full row images.
type WriteSet struct {
	TxnID uint64
	// Snapshot is the commit seqno of the snapshot the transaction read.
	Snapshot uint64
	// Seqno is the position in the total order. Replicate sets it when it returns nil; the storage assigns it
	// when there is no Replicator.
	Seqno uint64
	// Ops are in first-write order with one op per key (the last write wins). The storage keeps the slice after
	// Commit or Apply returns; nobody may modify it afterwards.
	Ops []Op
}

// Op is one write of a write-set. DropSpace ops delete every key of Space and carry no Key.
type Op struct {
	Space     SpaceID
	Key       []byte
	Value     []byte
	Delete    bool
	DropSpace bool
}

// Replicator orders and certifies write-sets (the cluster layer). Replicate returns nil when ws may commit,
// having set ws.Seqno; ErrCertification when it must roll back; any other error when the outcome is unknown.
// When it returns ErrCertification with ws.Seqno set (ordered, then refused), the storage consumes that seqno
// itself (an empty apply that advances the position); with ws.Seqno 0 nothing is consumed.
type Replicator interface {
	Replicate(ctx context.Context, ws *WriteSet) error
}

// Stats are monotonically increasing event counts.
type Stats struct {
	Commits          uint64
	Rollbacks        uint64
	LockWaits        uint64 // lock requests that had to wait (Innodb_row_lock_waits)
	Deadlocks        uint64
	LockWaitTimeouts uint64
	BFAborts         uint64
	Replays          uint64 // committing transactions an earlier write-set needed a lock of (replay.go)
	Applied          uint64 // write-sets applied through Apply
	Flushes          uint64 // log writes (group commits)
	Checkpoints      uint64 // copies of logged commits into bbolt
	OpenWriters      int64  // transactions now open that have written something (wsrep_open_transactions)
}

// DB is an open storage directory. All methods are safe for concurrent use.
type DB struct {
	log       *slog.Logger
	policy    int
	repl      Replicator
	ckptBytes int64
	bolt      *bolt.DB

	spacesMu sync.Mutex                         // serialises creation of spaces
	spaces   atomic.Pointer[map[SpaceID]*space] // copy-on-write: readers never lock

	locks lockManager

	// Active transactions, for the snapshot horizon and AbortTxn, striped so Begin does not serialise.
	txns    [txnShards]txnShard
	nextTxn atomic.Uint64
	horizon atomic.Uint64 // no active snapshot is older than this; versions below it may be dropped

	// Commit ordering: applyMu serialises applying write-sets to memory in seqno order.
	applyMu     sync.Mutex
	turns       map[uint64]chan struct{} // guarded by applyMu: commits waiting for the seqno before theirs
	lastApplied uint64                   // guarded by applyMu
	visible     atomic.Uint64            // last published seqno; snapshots read it
	durable     atomic.Uint64            // last seqno written to the log

	flush flusher
	gc    collector

	counterMu sync.Mutex
	counters  map[string]*counter
	spaceMu   sync.Mutex
	nextSpace SpaceID

	closeMu  sync.RWMutex
	closed   bool
	closing  chan struct{}
	inflight sync.WaitGroup // commits and applies in progress
	bgWG     sync.WaitGroup // background goroutines

	fatal atomic.Pointer[error] // a failed log or checkpoint write: the store refuses further commits

	stats struct {
		commits, rollbacks, lockWaits, deadlocks, timeouts, bfAborts, replays, applied, flushes, checkpoints atomic.Uint64
		openWriters                                                                                          atomic.Int64
	}
}

const txnShards = 16

type txnShard struct {
	mu sync.Mutex
	m  map[uint64]*Txn
	_  [40]byte // keep shards on separate cache lines
}

func (db *DB) txnShard(id uint64) *txnShard { return &db.txns[id%txnShards] }

type counter struct {
	next    uint64 // next value to hand out
	ceiling uint64 // persisted: no value >= ceiling has been handed out
}

// Open loads the store under dir (created if missing) into memory and starts its background goroutines.
func Open(dir string, opts Options) (*DB, error) {
	policy := opts.FlushPolicy
	if policy == 0 {
		policy = 1
	}
	if policy != 1 && policy != 2 {
		return nil, fmt.Errorf("storage: flush policy %d: must be 1 or 2", opts.FlushPolicy)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("storage: create data directory: %w", err)
	}
	bdb, err := bolt.Open(filepath.Join(dir, dataFile), 0o600, &bolt.Options{
		Timeout:        time.Second, // another process holding the file must not hang us
		NoFreelistSync: true,        // rebuilt on open; halves the pages written per commit
		FreelistType:   bolt.FreelistMapType,
		// Reserve address space up front: while the file grows, every time it outgrows the mapping bbolt
		// copies the checkpoint transaction's nodes out of it and maps it again (in sysbench runs right
		// after prepare, 4-5% of a node's CPU). Only address space is reserved, not memory.
		InitialMmapSize: initialMmapSize,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", filepath.Join(dir, dataFile), err)
	}
	// bbolt is written only by checkpoints, space-id and counter updates, all off the commit path: always
	// fsynced, so the image a checkpoint leaves is consistent whatever the policy.
	db := &DB{
		log:       log,
		policy:    policy,
		repl:      opts.Replicator,
		ckptBytes: cmp.Or(opts.checkpointBytes, defaultCheckpointBytes),
		bolt:      bdb,
		counters:  map[string]*counter{},
		closing:   make(chan struct{}),
	}
	db.turns = map[uint64]chan struct{}{}
	for i := range db.txns {
		db.txns[i].m = map[uint64]*Txn{}
	}
	db.locks.init()
	empty := map[SpaceID]*space{}
	db.spaces.Store(&empty)
	path := filepath.Join(dir, dataFile)
	unclean, err := openMarked(bdb)
	if err == nil && unclean {
		// Killed or crashed: with policy 2 an OS crash can leave bbolt pages unordered on disk, so look at
		// every page before trusting the file.
		log.Warn("storage was not closed cleanly; checking the data file", "file", path)
		err = checkFile(bdb)
	}
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("storage: %s is damaged (restore it by state transfer): %w", path, err)
	}
	walDir := filepath.Join(dir, walDirName)
	replayed, err := replayWAL(bdb, walDir, log)
	if err == nil {
		err = os.MkdirAll(walDir, 0o750)
	}
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("storage: replay the log in %s: %w", walDir, err)
	}
	if replayed > 0 {
		log.Info("storage replayed commits from the log", "commits", replayed)
	}
	st, err := load(bdb, db)
	if err == nil {
		err = db.persistMeta(keyOpen, []byte{1})
	}
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("storage: load %s: %w", path, err)
	}
	db.flush.init(db, walDir)
	if err := db.flush.wal.open(st.seqno); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("storage: start the log: %w", err)
	}
	db.lastApplied = st.seqno
	db.visible.Store(st.seqno)
	db.durable.Store(st.seqno)
	db.horizon.Store(st.seqno)
	db.nextSpace = st.nextSpace
	db.gc.init(db)
	db.bgWG.Add(3)
	go db.flush.run()
	go db.flush.runCheckpoints()
	go db.gc.run()
	log.Info("storage opened", "dir", dir, "seqno", st.seqno, "spaces", st.spaces, "keys", st.keys, "flush_policy", policy)
	return db, nil
}

// Close stops accepting work, waits for commits in progress and background goroutines, makes everything
// durable and closes the file. Transactions still open fail with ErrClosed afterwards.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return nil
	}
	db.closed = true
	close(db.closing)
	db.closeMu.Unlock()

	db.inflight.Wait()
	db.flush.stop()
	db.gc.stop()
	db.bgWG.Wait()
	var errs []error
	if db.fatal.Load() == nil {
		// Everything is written: the next Open need not check the file.
		if err := db.deleteMeta(keyOpen); err != nil {
			errs = append(errs, fmt.Errorf("storage: mark clean shutdown: %w", err))
		}
	}
	if err := db.bolt.Close(); err != nil {
		errs = append(errs, fmt.Errorf("storage: close: %w", err))
	}
	if p := db.fatal.Load(); p != nil {
		errs = append(errs, *p)
	}
	return errors.Join(errs...)
}

// enter registers a commit or apply in progress; it fails once Close has started.
func (db *DB) enter() error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	if p := db.fatal.Load(); p != nil {
		return *p
	}
	db.inflight.Add(1)
	return nil
}

func (db *DB) isClosed() bool {
	select {
	case <-db.closing:
		return true
	default:
		return false
	}
}

// LastCommitted is the seqno of the last commit applied to memory (wsrep_last_committed).
func (db *DB) LastCommitted() uint64 { return db.visible.Load() }

// DurableSeqno is the seqno of the last commit written to the bbolt file (fsynced with policy 1).
func (db *DB) DurableSeqno() uint64 { return db.durable.Load() }

// Stats returns event counts since Open.
func (db *DB) Stats() Stats {
	return Stats{
		Commits:          db.stats.commits.Load(),
		Rollbacks:        db.stats.rollbacks.Load(),
		LockWaits:        db.stats.lockWaits.Load(),
		Deadlocks:        db.stats.deadlocks.Load(),
		LockWaitTimeouts: db.stats.timeouts.Load(),
		BFAborts:         db.stats.bfAborts.Load(),
		Replays:          db.stats.replays.Load(),
		Applied:          db.stats.applied.Load(),
		Flushes:          db.stats.flushes.Load(),
		Checkpoints:      db.stats.checkpoints.Load(),
		OpenWriters:      db.stats.openWriters.Load(),
	}
}

// AllocSpaceID returns a new space id, durably: ids are never reused, even after a crash.
func (db *DB) AllocSpaceID() (SpaceID, error) {
	if err := db.enter(); err != nil {
		return 0, err
	}
	defer db.inflight.Done()
	db.spaceMu.Lock()
	defer db.spaceMu.Unlock()
	id := db.nextSpace
	if id == ^SpaceID(0) {
		return 0, errors.New("storage: space ids exhausted")
	}
	if err := db.persistMeta(keyNextSpace, encodeUint64(uint64(id+1))); err != nil {
		return 0, fmt.Errorf("storage: allocate space id: %w", err)
	}
	db.nextSpace = id + 1
	return id, nil
}

// counterBlock is how many AUTO_INCREMENT values are reserved per durable write.
const counterBlock = 1024

// NextCounter reserves n consecutive values of the named counter and returns the first. The first value is at
// least atLeast and at least 1; later calls return values above the reserved range. n == 0 only raises the
// counter to atLeast (after an explicit value was inserted). Values are not returned on rollback.
func (db *DB) NextCounter(name []byte, n uint64, atLeast uint64) (uint64, error) {
	if err := db.enter(); err != nil {
		return 0, err
	}
	defer db.inflight.Done()
	db.counterMu.Lock()
	defer db.counterMu.Unlock()
	c := db.counters[string(name)]
	if c == nil {
		c = &counter{next: 1, ceiling: 1}
		db.counters[string(name)] = c
	}
	first := max(c.next, atLeast, 1)
	end := first + n
	if end < first {
		return 0, fmt.Errorf("storage: counter %q overflows", name)
	}
	if end > c.ceiling {
		ceiling := end + counterBlock
		if ceiling < end {
			ceiling = ^uint64(0)
		}
		if err := db.persistCounter(name, ceiling); err != nil {
			return 0, fmt.Errorf("storage: counter %q: %w", name, err)
		}
		c.ceiling = ceiling
	}
	c.next = end
	return first, nil
}
