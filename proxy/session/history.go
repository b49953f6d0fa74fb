package session

import "bytes"

// history is the session command history (MaxScale's sescmd history): raw
// command payloads (COM_QUERY SET/USE/PREPARE, COM_INIT_DB,
// COM_SET_OPTION) replayed, in order, on every backend connection the
// session opens after they ran.
//
// With prune on, a command identical to an earlier one replaces it (the
// latest instance wins, as MaxScale 23.08+ collapses repeats) and, when the
// history is full, the oldest command is dropped. With prune off, a full
// history is abandoned: the session keeps its open connections but can
// open no new one, since it could not rebuild their state.
type history struct {
	max      int
	prune    bool
	disabled bool // disable_sescmd_history: nothing is recorded
	overflow bool
	cmds     [][]byte
}

func (h *history) add(cmd []byte) {
	if h.disabled || h.overflow {
		return
	}
	if h.prune {
		for i, c := range h.cmds {
			if bytes.Equal(c, cmd) {
				// Reuse the slot's storage: move it to the end.
				copy(h.cmds[i:], h.cmds[i+1:])
				h.cmds[len(h.cmds)-1] = c
				return
			}
		}
	}
	if h.max > 0 && len(h.cmds) >= h.max {
		if !h.prune {
			h.overflow = true
			h.cmds = nil
			return
		}
		copy(h.cmds, h.cmds[1:])
		h.cmds = h.cmds[:len(h.cmds)-1]
	}
	h.cmds = append(h.cmds, append([]byte(nil), cmd...))
}

func (h *history) reset() {
	h.cmds = h.cmds[:0]
	h.overflow = false
}

// replayable reports whether a new backend connection can be given the
// session's state.
func (h *history) replayable() bool { return !h.overflow }
