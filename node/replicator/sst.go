package replicator

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/maxproxy/maxproxy/node/certify"
	"github.com/maxproxy/maxproxy/node/consensus"
	"github.com/maxproxy/maxproxy/node/internal/fsutil"
	"github.com/maxproxy/maxproxy/node/storage"
)

// DefaultGcacheSize is Galera's gcache.size (128M): how many bytes of recent log a node keeps for members
// that fall behind (IST); one that falls further behind needs a state transfer (SST).
const DefaultGcacheSize = 128 << 20

// ErrStateTransfer: this node cannot catch up from any member's log (it is behind what they have
// discarded, or its own state could not be rebuilt after a crash) and needs a state snapshot transfer.
// The node stops its replicator and runs ReceiveStateTransfer from a donor, then starts again.
var ErrStateTransfer = errors.New("replicator: this node needs a state snapshot transfer (SST)")

// captureState is the FSM's part of a checkpoint at raft index: it runs on the consensus owner goroutine,
// so the state is exactly the one after index. It also returns the seqno the state is at.
func (r *Replicator) captureState(index uint64) ([]byte, uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fatal != nil {
		return nil, 0, r.fatal
	}
	if !r.haveUUID {
		return nil, 0, errors.New("replicator: no cluster state to checkpoint yet")
	}
	st := &savedState{Index: index, Seqno: r.seqno, UUID: formatUUID(r.uuid), ConfID: r.confID, TOICount: r.toiCount,
		CertState: r.cert.AppendState(nil), View: r.view}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, 0, fmt.Errorf("replicator: encode checkpoint: %w", err)
	}
	return b, r.seqno, nil
}

// restoreCheckpoint is consensus's Config.Restore for a crash restart: the FSM resumes from the state
// saved with the checkpoint, provided the storage holds every seqno it covers.
func (r *Replicator) restoreCheckpoint(cp *consensus.Checkpoint) error {
	var st savedState
	if err := json.Unmarshal(cp.Data, &st); err != nil {
		return fmt.Errorf("replicator: corrupt checkpoint: %w", err)
	}
	if r.durable < st.Seqno {
		// The storage lost commits the log no longer holds (an OS crash with a relaxed flush policy).
		return fmt.Errorf("%w: storage at seqno %d, checkpoint at %d", ErrStateTransfer, r.durable, st.Seqno)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.restoreLocked(&st); err != nil {
		return err
	}
	r.log.Info("replaying the raft log from the checkpoint", "index", cp.Index, "seqno", st.Seqno, "storage_seqno", r.durable)
	return nil
}

// restoreLocked puts the FSM in a saved state (a clean restart, a checkpoint).
func (r *Replicator) restoreLocked(st *savedState) error {
	cert, err := certify.Restore(st.CertState)
	if err != nil {
		return fmt.Errorf("replicator: %w", err)
	}
	if cert.Config() != r.cfg.Certify {
		return fmt.Errorf("replicator: saved certification config %+v differs from %+v", cert.Config(), r.cfg.Certify)
	}
	r.cert, r.seqno, r.index, r.skipThrough, r.confID = cert, st.Seqno, st.Index, st.Index, st.ConfID
	r.toiCount = st.TOICount
	r.view = st.View
	r.haveUUID = false
	if st.UUID != "" {
		if r.uuid, err = parseUUID(st.UUID); err != nil {
			return err
		}
		r.haveUUID = true
	}
	r.updateReadyLocked()
	return nil
}

// runGcache keeps the raft log within the gcache: once about a quarter of gcache.size was appended since
// the last checkpoint it takes one, waits until the storage has made its seqno durable (a crash restart
// replays from there), makes it the restart base and discards the log that no longer fits.
func (r *Replicator) runGcache(ctx context.Context) {
	defer r.wg.Done()
	tick := time.NewTicker(r.electionTimeout())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if uint64(max(r.logBytes.Load(), 0)) < r.gcacheSize()/4 {
			continue
		}
		if err := r.checkpointAndCompact(ctx, r.gcacheSize()); err != nil && ctx.Err() == nil {
			r.log.Warn("gcache checkpoint", "err", err)
		}
	}
}

func (r *Replicator) gcacheSize() uint64 {
	if r.cfg.GcacheSize == 0 {
		return DefaultGcacheSize
	}
	return r.cfg.GcacheSize
}

// checkpointAndCompact takes a checkpoint and discards the log before it beyond retain bytes.
func (r *Replicator) checkpointAndCompact(ctx context.Context, retain uint64) error {
	var seqno uint64
	appended := r.logBytes.Load()
	cp, err := r.node.Checkpoint(ctx, func(index uint64) ([]byte, error) {
		b, s, err := r.captureState(index)
		seqno = s
		return b, err
	})
	if err != nil {
		return err
	}
	if err := waitFor(ctx, func() bool { return r.db.DurableSeqno() >= seqno }); err != nil {
		return fmt.Errorf("waiting for the storage to make seqno %d durable: %w", seqno, err)
	}
	first, err := r.node.Compact(ctx, cp, retain)
	if err != nil {
		return err
	}
	r.logBytes.Add(-appended)
	r.mu.Lock()
	r.gcache.trim(first)
	r.mu.Unlock()
	r.log.Debug("gcache checkpoint", "index", cp.Index, "seqno", seqno, "first_retained", first)
	return nil
}

// waitFor polls cond every millisecond until it holds or ctx ends. The conditions it waits on (storage
// positions) have no notification of their own and are reached within milliseconds.
func waitFor(ctx context.Context, cond func() bool) error {
	if cond() {
		return nil
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// onSnapshot is consensus's OnSnapshot: the leader no longer holds what this node needs.
func (r *Replicator) onSnapshot(req consensus.SnapshotRequest) {
	r.sstOnce.Do(func() {
		r.log.Warn("this node is behind every member's gcache: it needs a state transfer", "leader", req.From, "checkpoint", req.Index)
		r.sstIndex = req.Index
		close(r.sstNeeded)
	})
}

// requestStateTransfer: this node's data cannot follow the log (see applyCluster).
func (r *Replicator) requestStateTransfer() {
	r.sstOnce.Do(func() { close(r.sstNeeded) })
}

// StateTransferIndex is the raft index a state transfer must reach at least (the leader's checkpoint), once
// StateTransferNeeded is closed; 0 when any will do.
func (r *Replicator) StateTransferIndex() uint64 {
	select {
	case <-r.sstNeeded:
		return r.sstIndex
	default:
		return 0
	}
}

// StateTransferNeeded is closed when the node learned that only a state transfer brings it back; stop
// the node (without leaving the cluster) and run ReceiveStateTransfer.
func (r *Replicator) StateTransferNeeded() <-chan struct{} { return r.sstNeeded }

// Wire format of a state transfer, donor to joiner: magic, a status byte; on refusal a reason
// (uvarint length, text); on success the checkpoint (uvarint length, consensus.Checkpoint.Marshal) and
// the storage's snapshot stream (storage.WriteSnapshot's format, self-checking).
const sstMagic = "MXSST1"

const (
	sstOK      = 0
	sstRefused = 1
)

// maxCheckpointBytes bounds a checkpoint on the wire (its certification index is the big part).
const maxCheckpointBytes = 1 << 30

// sstWait bounds how long a donor waits to have applied what the joiner needs and to pin its storage.
const sstWait = 10 * time.Second

// ServeStateTransfer is the donor side of an SST: it refuses (telling the joiner why) unless it is Synced
// (or the joiner accepts any state: everything a member applied is committed, so a non-primary member's
// state is a valid, maybe older, prefix — the joiner may be needed to restore quorum) and, when the
// joiner names its donors (wsrep_sst_donor), named; otherwise it is Donor/Desynced while it writes its
// checkpoint, at raft index req.MinIndex or later, and the storage snapshot at exactly the checkpoint's
// seqno to w. Commits continue meanwhile (the storage snapshot is MVCC); the donor leaves
// flow control for the duration, as Galera's donors do.
func (r *Replicator) ServeStateTransfer(ctx context.Context, w io.Writer, req consensus.StateTransferRequest) error {
	joiner, minIndex := req.Joiner, req.MinIndex
	bw := bufio.NewWriterSize(w, 64<<10)
	refuse := func(reason string) error {
		b := append([]byte(sstMagic), sstRefused)
		b = binary.AppendUvarint(b, uint64(len(reason)))
		_, werr := bw.Write(append(b, reason...))
		return errors.Join(fmt.Errorf("replicator: state transfer to %d refused: %s", joiner, reason), werr, bw.Flush())
	}
	if r.cfg.Arbitrator {
		return refuse("an arbitrator stores no data to donate")
	}
	if len(req.Donors) > 0 && !slices.Contains(req.Donors, r.cfg.NodeName) {
		return refuse(fmt.Sprintf("%q is not among the joiner's donors %v", r.cfg.NodeName, req.Donors))
	}
	if st := r.Status(); st.LocalState != StateSynced && !req.AnyState {
		return refuse("donor is not Synced (" + st.LocalStateComment + ")")
	}
	r.mu.Lock()
	ready := r.haveUUID && r.fatal == nil
	r.mu.Unlock()
	if !ready {
		return refuse("donor has no usable cluster state")
	}
	r.fc.setDonor(true)
	defer r.fc.setDonor(false)
	r.log.Info("donating a state transfer", "joiner", joiner, "min_index", minIndex)
	wctx, cancel := context.WithTimeout(ctx, sstWait)
	defer cancel()
	if err := waitFor(wctx, func() bool { return r.node.Status().Applied >= minIndex }); err != nil {
		return refuse(fmt.Sprintf("donor has not applied index %d", minIndex))
	}
	var pin *storage.PinnedSnapshot
	cp, err := r.node.Checkpoint(wctx, func(index uint64) ([]byte, error) {
		b, seqno, err := r.captureState(index)
		if err != nil {
			return nil, err
		}
		// The FSM stands still while this runs, so nothing after seqno can commit: once the storage has
		// committed seqno (queued applies and sessions finishing their own commits), a snapshot of it
		// matches the checkpoint exactly.
		if err := waitFor(wctx, func() bool { return r.db.LastCommitted() >= seqno }); err != nil {
			return nil, fmt.Errorf("storage did not reach seqno %d: %w", seqno, err)
		}
		pin = r.db.PinSnapshot()
		if got := pin.Seqno(); got != seqno {
			pin.Close()
			pin = nil
			return nil, fmt.Errorf("storage snapshot at seqno %d, checkpoint at %d", got, seqno)
		}
		return b, nil
	})
	if err != nil {
		return refuse(err.Error())
	}
	defer pin.Close()
	cpb, err := cp.Marshal()
	if err != nil {
		return refuse(err.Error())
	}
	b := append([]byte(sstMagic), sstOK)
	b = binary.AppendUvarint(b, uint64(len(cpb)))
	if _, err := bw.Write(append(b, cpb...)); err != nil {
		return fmt.Errorf("replicator: state transfer to %d: %w", joiner, err)
	}
	start := time.Now()
	write := pin.WriteTo
	if req.NoData {
		write = pin.WritePositionTo // an arbitrator: positions, no rows
	}
	seqno, err := write(ctx, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("replicator: state transfer to %d: %w", joiner, err)
	}
	r.log.Info("state transfer donated", "joiner", joiner, "index", cp.Index, "seqno", seqno, "took", time.Since(start))
	return nil
}

// Donating reports whether this node is donating a state transfer now (Donor/Desynced).
func (r *Replicator) Donating() bool { return r.fc.donating() }

// sstMarker is present in the data directory while a received state transfer is being installed: a node
// that finds it at start has a half-installed state and must receive a transfer again.
const sstMarker = "sst_in_progress"

// StateTransferIncomplete reports whether dataDir holds a state transfer that was interrupted while
// being installed; such a node must receive one again before it starts.
func StateTransferIncomplete(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, sstMarker))
	return err == nil
}

// ReceiveStateTransfer is the joiner side of an SST: it reads what ServeStateTransfer wrote and installs
// it: the replication state in dataDir (Config.DataDir) and the storage in storageDir, which no running
// node may be using. It returns the seqno the node now holds. A refusal or a damaged stream returns an
// error and, if the installation had begun, leaves the in-progress marker (StateTransferIncomplete).
func ReceiveStateTransfer(ctx context.Context, rd io.Reader, dataDir, storageDir string) (uint64, error) {
	br := bufio.NewReaderSize(rd, 64<<10)
	head := make([]byte, len(sstMagic)+1)
	if _, err := io.ReadFull(br, head); err != nil {
		return 0, fmt.Errorf("replicator: state transfer: %w", err)
	}
	if string(head[:len(sstMagic)]) != sstMagic {
		return 0, errors.New("replicator: state transfer: not a maxnode donor")
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n > maxCheckpointBytes {
		return 0, fmt.Errorf("replicator: state transfer: bad header (%v)", err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return 0, fmt.Errorf("replicator: state transfer: %w", err)
	}
	if head[len(sstMagic)] != sstOK {
		return 0, fmt.Errorf("replicator: donor refused the state transfer: %s", body)
	}
	cp, err := consensus.UnmarshalCheckpoint(body)
	if err != nil {
		return 0, fmt.Errorf("replicator: state transfer: %w", err)
	}
	var st savedState
	if err := json.Unmarshal(cp.Data, &st); err != nil {
		return 0, fmt.Errorf("replicator: state transfer: corrupt state: %w", err)
	}
	if _, err := parseUUID(st.UUID); err != nil {
		return 0, fmt.Errorf("replicator: state transfer: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return 0, fmt.Errorf("replicator: state transfer: %w", err)
	}
	if err := writeFileSync(dataDir, sstMarker, []byte("state transfer in progress\n")); err != nil {
		return 0, err
	}
	seqno, err := storage.InstallSnapshot(ctx, storageDir, br)
	if err != nil {
		return 0, fmt.Errorf("replicator: state transfer: %w", err)
	}
	if seqno != st.Seqno {
		return 0, fmt.Errorf("replicator: state transfer: storage at seqno %d, checkpoint at %d", seqno, st.Seqno)
	}
	if err := consensus.InstallCheckpoint(dataDir, cp); err != nil {
		return 0, fmt.Errorf("replicator: state transfer: %w", err)
	}
	st.Running = false
	if err := writeState(dataDir, &st); err != nil {
		return 0, err
	}
	u, _ := parseUUID(st.UUID)
	if err := writeGrastate(dataDir, grastate{UUID: u, Seqno: int64(st.Seqno)}); err != nil {
		return 0, err
	}
	if err := os.Remove(filepath.Join(dataDir, sstMarker)); err != nil {
		return 0, fmt.Errorf("replicator: state transfer: %w", err)
	}
	if err := fsutil.SyncDir(dataDir); err != nil {
		return 0, fmt.Errorf("replicator: state transfer: %w", err)
	}
	return seqno, nil
}
