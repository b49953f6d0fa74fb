package consensus

import (
	"errors"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// The appender goroutine makes MsgStorageAppend durable (raft's "local append thread" of
// AsyncStorageWrites) so that the owner goroutine keeps stepping messages, proposing and applying
// entries that are already durable while an fdatasync is in flight. A leader under load otherwise
// applies (and answers) a committed batch only after it has also synced the next one.
//
// Appends complete in the order raft issued them. Everything queued while one write is in flight is
// written together, with one fdatasync, so the number of syncs follows the disk's speed rather than the
// number of Readys. Responses addressed to other nodes (acknowledgements, votes) go to the transport as
// soon as their write is durable; those addressed to this node are handed back to the owner goroutine,
// which steps them. The appender never waits for the owner goroutine, so the owner may wait for it
// (drainAppends) before it writes to the store itself.

// appendJob is one MsgStorageAppend, prepared on the owner goroutine.
type appendJob struct {
	hs    *pb.HardState // the latest hard state (nil: none yet)
	ents  []*pb.Entry
	apply []byte        // encoded apply state riding along (nil: unchanged)
	sync  bool          // must be durable before its responses go out
	resps []*pb.Message // raft's responses, released once the write is durable
	done  chan struct{} // a drain marker: closed once everything queued before it is done
}

// appendBatchMax bounds how many queued appends one write covers.
const appendBatchMax = 256

func (n *Node) runAppender() {
	defer close(n.appenderDone)
	batch := make([]appendJob, 0, appendBatchMax)
	for j := range n.appends {
		batch = append(batch[:0], j)
	drain:
		for len(batch) < appendBatchMax {
			select {
			case j, ok := <-n.appends:
				if !ok {
					break drain
				}
				batch = append(batch, j)
			default:
				break drain
			}
		}
		if err := n.appendBatch(batch); err != nil {
			n.appendMu.Lock()
			n.appendErr = err
			n.appendMu.Unlock()
			n.signalAppended()
			return
		}
		clear(batch)
	}
}

func (n *Node) appendBatch(batch []appendJob) error {
	var hs *pb.HardState
	var apply []byte
	var ents [][]*pb.Entry
	sync := false
	for i := range batch {
		j := &batch[i]
		sync = sync || j.sync
		if j.hs != nil {
			hs = j.hs
		}
		if j.apply != nil {
			apply = j.apply
		}
		if len(j.ents) > 0 {
			ents = append(ents, j.ents)
		}
	}
	switch {
	case sync:
		if err := n.store.saveBatch(hs, ents, apply); err != nil {
			return err
		}
	case hs != nil && !raft.IsEmptyHardState(hs):
		// Only the commit index moved: raft re-learns it from the leader, it is written with the next
		// durable write.
		if err := n.store.SetHardState(hs); err != nil {
			return err
		}
	}
	var remote []*pb.Message
	var local []*pb.Message
	for i := range batch {
		for _, m := range batch[i].resps {
			if m.GetTo() == n.cfg.ID {
				local = append(local, m)
			} else {
				remote = append(remote, m)
			}
		}
	}
	if remote = dropSuperseded(remote); len(remote) > 0 {
		n.cfg.Transport.Send(remote)
	}
	if len(local) > 0 {
		n.appendMu.Lock()
		n.appended = append(n.appended, local...)
		n.appendMu.Unlock()
		n.signalAppended()
	}
	for i := range batch {
		if batch[i].done != nil {
			close(batch[i].done)
		}
	}
	return nil
}

func (n *Node) signalAppended() {
	select {
	case n.appendSig <- struct{}{}:
	default:
	}
}

// takeAppended returns the responses of completed appends for the owner goroutine to step, or the
// error that stopped the appender.
func (n *Node) takeAppended() ([]*pb.Message, error) {
	n.appendMu.Lock()
	defer n.appendMu.Unlock()
	msgs := n.appended
	n.appended = nil
	return msgs, n.appendErr
}

// queueAppend hands j to the appender.
func (n *Node) queueAppend(j appendJob) error {
	select {
	case n.appends <- j:
		return nil
	case <-n.appenderDone:
		_, err := n.takeAppended()
		return errors.Join(errAppenderStopped, err)
	}
}

var errAppenderStopped = errors.New("consensus: raft log writer stopped")

// drainAppends waits until every append queued so far is durable (their responses may still wait to be
// stepped). The owner goroutine calls it before it writes to the store itself, so that its write lands
// after them and nothing writes concurrently.
func (n *Node) drainAppends() error {
	done := make(chan struct{})
	if err := n.queueAppend(appendJob{done: done}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-n.appenderDone:
		_, err := n.takeAppended()
		return errors.Join(errAppenderStopped, err)
	}
}

// stopAppender lets the appender finish what is queued and waits for it.
func (n *Node) stopAppender() {
	close(n.appends)
	<-n.appenderDone
}
