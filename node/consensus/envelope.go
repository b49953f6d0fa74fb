package consensus

import (
	"encoding/binary"
	"errors"
)

// Every entry this package proposes starts with an envelope naming its proposer and a per-proposer sequence
// number: kind (1) | proposer node id (8) | seq (8) | payload. Conf changes carry it in ConfChange.Context.
// Entries without an envelope (raft's empty leader entries) carry no data for the FSM.
const envelopeLen = 17

type entryKind byte

const (
	kindProposal entryKind = 1 // payload goes to the FSM
	kindBarrier  entryKind = 2 // no payload; settles the proposer's earlier pending proposals
	kindConf     entryKind = 3 // in ConfChange.Context; payload is the caller's context
)

var errBadEnvelope = errors.New("entry has a malformed envelope")

func appendEnvelope(b []byte, k entryKind, proposer, seq uint64, payload []byte) []byte {
	b = append(b, byte(k))
	b = binary.BigEndian.AppendUint64(b, proposer)
	b = binary.BigEndian.AppendUint64(b, seq)
	return append(b, payload...)
}

func parseEnvelope(b []byte) (k entryKind, proposer, seq uint64, payload []byte, err error) {
	if len(b) < envelopeLen {
		return 0, 0, 0, nil, errBadEnvelope
	}
	k = entryKind(b[0])
	if k < kindProposal || k > kindConf {
		return 0, 0, 0, nil, errBadEnvelope
	}
	return k, binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint64(b[9:]), b[envelopeLen:], nil
}
