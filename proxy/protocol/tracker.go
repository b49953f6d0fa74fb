package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Step tells a relay what to do after a reply packet was fed to a Tracker.
type Step uint8

const (
	// More means more server packets belong to this reply.
	More Step = iota
	// Done means the reply is complete; the next packet belongs to the next
	// command.
	Done
	// SendInfile means the server asked for a LOCAL INFILE file: relay
	// client packets to the server up to and including an empty one, then
	// keep feeding server packets.
	SendInfile
)

func (s Step) String() string {
	switch s {
	case More:
		return "more"
	case Done:
		return "done"
	case SendInfile:
		return "send-infile"
	}
	return fmt.Sprintf("Step(%d)", uint8(s))
}

var (
	// ErrUnsupportedCommand is returned by Tracker.Start for commands whose
	// replies cannot be relayed (replication, COM_CHANGE_USER which the
	// session handles itself, MariaDB's COM_MULTI and bulk execute).
	ErrUnsupportedCommand = errors.New("protocol: command not supported by the reply tracker")
	// ErrReplyComplete is returned when a packet is fed after Done, or after
	// an earlier error.
	ErrReplyComplete = errors.New("protocol: packet fed to a completed reply")
)

// Reply summarises a command's reply for the session layer. Byte slices are
// owned by the Tracker and valid until its next Start.
type Reply struct {
	Command byte
	// Status is the server status of the last OK or EOF packet; HasStatus
	// is false when none was seen (the reply was a lone ERR, or a command
	// whose reply carries no status).
	Status    uint16
	HasStatus bool
	// AffectedRows, LastInsertID, Warnings come from the last OK packet.
	AffectedRows uint64
	LastInsertID uint64
	Warnings     uint16
	// Results counts the OK packets and result sets of the reply (more than
	// one for multi-statements and CALL).
	Results int
	// Rows counts row packets across all result sets.
	Rows uint64
	// IsErr, ErrCode, SQLState and ErrMessage describe an ERR packet, which
	// always ends a reply.
	IsErr      bool
	ErrCode    uint16
	SQLState   [5]byte
	ErrMessage []byte
	// Prepared-statement fields from a COM_STMT_PREPARE reply.
	StmtID     uint32
	NumColumns uint16
	NumParams  uint16
	// CursorOpen is set when COM_STMT_EXECUTE opened a server-side cursor;
	// rows then come with COM_STMT_FETCH.
	CursorOpen bool
	// SessionState concatenates the session-state-change records of all OK
	// packets of the reply (see ForEachSessionChange).
	SessionState []byte
}

// InTransaction reports whether the server said a transaction is open.
func (r *Reply) InTransaction() bool { return r.Status&mysql.SERVER_STATUS_IN_TRANS != 0 }

// Autocommit reports whether the server said autocommit is on.
func (r *Reply) Autocommit() bool { return r.Status&mysql.SERVER_STATUS_AUTOCOMMIT != 0 }

// Error returns the ERR packet as *Error, or nil. It allocates; use the
// fields on hot paths.
func (r *Reply) Error() *Error {
	if !r.IsErr {
		return nil
	}
	state := string(r.SQLState[:])
	if r.SQLState == [5]byte{} {
		state = "HY000"
	}
	return &Error{Code: r.ErrCode, State: state, Message: string(r.ErrMessage)}
}

type trackState uint8

const (
	stIdle trackState = iota
	stFirst
	stColumns
	stColumnsEOF
	stRows
	stInfileResult
	stPrepareFirst
	stPrepareParams
	stPrepareParamsEOF
	stPrepareColumns
	stPrepareColumnsEOF
	stFieldList
	stSimple
	stStatistics
	stDone
	stFailed
)

// maxColumns bounds a column count so that corrupt input cannot make the
// tracker expect billions of definitions. MariaDB allows 4096 columns per
// table; a result set can join a few tables.
const maxColumns = 1 << 16

// Tracker follows the packets of one reply at a time and says when it ends.
// It keeps only counters and a few reused buffers: feeding a packet does not
// allocate once the buffers have grown. Zero value is ready to use.
//
//	t.Start(cmd, caps)
//	for { step, err := t.Feed(packet) ... }
type Tracker struct {
	state     trackState
	deprecate bool
	binary    bool // binary protocol rows (COM_STMT_EXECUTE, COM_STMT_FETCH)
	caps      uint32
	remaining uint64
	reply     Reply
	errBuf    []byte
	stateBuf  []byte
}

// Start begins tracking the reply to the command packet cmd on a
// connection with the negotiated capabilities caps. It reports whether the
// command has a reply at all (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA and
// COM_QUIT have none).
func (t *Tracker) Start(cmd []byte, caps uint32) (expectReply bool, err error) {
	if len(cmd) == 0 {
		t.state = stFailed
		return false, fmt.Errorf("%w: empty command", ErrMalformed)
	}
	t.reply = Reply{Command: cmd[0], ErrMessage: t.errBuf[:0], SessionState: t.stateBuf[:0]}
	t.caps = caps
	t.deprecate = caps&mysql.CLIENT_DEPRECATE_EOF != 0
	t.binary = false
	t.remaining = 0
	switch cmd[0] {
	case mysql.COM_QUERY, mysql.COM_PROCESS_INFO:
		t.state = stFirst
	case mysql.COM_STMT_EXECUTE:
		t.state, t.binary = stFirst, true
	case mysql.COM_STMT_FETCH:
		t.state, t.binary = stRows, true
	case mysql.COM_STMT_PREPARE:
		t.state = stPrepareFirst
	case mysql.COM_FIELD_LIST:
		t.state = stFieldList
	case mysql.COM_STATISTICS:
		t.state = stStatistics
	case mysql.COM_STMT_CLOSE, mysql.COM_STMT_SEND_LONG_DATA, mysql.COM_QUIT:
		t.state = stDone
		return false, nil
	case mysql.COM_INIT_DB, mysql.COM_PING, mysql.COM_RESET_CONNECTION, mysql.COM_SET_OPTION,
		mysql.COM_STMT_RESET, mysql.COM_REFRESH, mysql.COM_PROCESS_KILL, mysql.COM_DEBUG,
		mysql.COM_SHUTDOWN, mysql.COM_CREATE_DB, mysql.COM_DROP_DB:
		t.state = stSimple
	default:
		t.state = stFailed
		return false, fmt.Errorf("%w: 0x%02x", ErrUnsupportedCommand, cmd[0])
	}
	return true, nil
}

// Reply returns the summary of the current (or last) reply.
func (t *Tracker) Reply() *Reply { return &t.reply }

// Feed consumes the payload of the next server packet of the reply.
// After Done or an error, Feed returns ErrReplyComplete until the next Start.
func (t *Tracker) Feed(p []byte) (Step, error) {
	step, err := t.feed(p)
	if err != nil {
		t.state = stFailed
		return Done, err
	}
	if step == Done {
		t.state = stDone
	}
	return step, nil
}

func (t *Tracker) feed(p []byte) (Step, error) {
	switch t.state {
	case stIdle, stDone, stFailed:
		return Done, ErrReplyComplete
	case stStatistics:
		return Done, nil
	}
	if len(p) == 0 {
		return Done, fmt.Errorf("%w: empty reply packet", ErrMalformed)
	}
	if p[0] == headerERR && t.state != stColumns && t.state != stPrepareParams && t.state != stPrepareColumns {
		return Done, t.onERR(p)
	}
	switch t.state {
	case stFirst:
		switch p[0] {
		case headerOK:
			return t.onOK(p, true)
		case headerInfile:
			if t.reply.Command != mysql.COM_QUERY {
				return Done, fmt.Errorf("%w: LOCAL INFILE request in reply to 0x%02x", ErrMalformed, t.reply.Command)
			}
			t.state = stInfileResult
			return SendInfile, nil
		}
		n, _, ok := lenencInt(p)
		if !ok || n == 0 || n > maxColumns {
			return Done, fmt.Errorf("%w: column count", ErrMalformed)
		}
		t.remaining, t.state = n, stColumns
		return More, nil
	case stColumns:
		if t.remaining--; t.remaining == 0 {
			if t.deprecate {
				t.state = stRows
			} else {
				t.state = stColumnsEOF
			}
		}
		return More, nil
	case stColumnsEOF:
		st, err := t.onEOF(p)
		if err != nil {
			return Done, err
		}
		if t.binary && st&mysql.SERVER_STATUS_CURSOR_EXISTS != 0 {
			t.reply.CursorOpen = true
			t.reply.Results++
			return Done, nil
		}
		t.state = stRows
		return More, nil
	case stRows:
		if !IsEOF(p) {
			t.reply.Rows++
			return More, nil
		}
		t.reply.Results++
		return t.onTerminator(p)
	case stInfileResult:
		if p[0] != headerOK {
			return Done, fmt.Errorf("%w: LOCAL INFILE result", ErrMalformed)
		}
		return t.onOK(p, true)
	case stPrepareFirst:
		if p[0] != headerOK || len(p) < 12 {
			return Done, fmt.Errorf("%w: COM_STMT_PREPARE OK", ErrMalformed)
		}
		r := &t.reply
		r.StmtID = binary.LittleEndian.Uint32(p[1:])
		r.NumColumns = binary.LittleEndian.Uint16(p[5:])
		r.NumParams = binary.LittleEndian.Uint16(p[7:])
		r.Warnings = binary.LittleEndian.Uint16(p[10:])
		r.Results = 1
		return t.prepareNext(stPrepareFirst), nil
	case stPrepareParams, stPrepareColumns:
		if t.remaining--; t.remaining == 0 {
			if !t.deprecate {
				t.state++ // the matching *EOF state
				return More, nil
			}
			return t.prepareNext(t.state + 1), nil
		}
		return More, nil
	case stPrepareParamsEOF, stPrepareColumnsEOF:
		if _, err := t.onEOF(p); err != nil {
			return Done, err
		}
		return t.prepareNext(t.state), nil
	case stFieldList:
		if !IsEOF(p) {
			return More, nil
		}
		return t.onTerminator(p)
	case stSimple:
		switch {
		case p[0] == headerOK:
			return t.onOK(p, false)
		case IsEOF(p):
			return t.onTerminator(p)
		}
		return Done, fmt.Errorf("%w: unexpected 0x%02x in reply to 0x%02x", ErrMalformed, p[0], t.reply.Command)
	}
	return Done, fmt.Errorf("%w: tracker state %d", ErrMalformed, t.state)
}

// prepareNext moves past the section of a COM_STMT_PREPARE reply that ended
// in state from.
func (t *Tracker) prepareNext(from trackState) Step {
	r := &t.reply
	if from < stPrepareParams && r.NumParams > 0 {
		t.state, t.remaining = stPrepareParams, uint64(r.NumParams)
		return More
	}
	if from < stPrepareColumns && r.NumColumns > 0 {
		t.state, t.remaining = stPrepareColumns, uint64(r.NumColumns)
		return More
	}
	return Done
}

// next decides between another result (SERVER_MORE_RESULTS_EXISTS) and the
// end of the reply.
func (t *Tracker) next(status uint16) Step {
	if status&mysql.SERVER_MORE_RESULTS_EXISTS != 0 {
		t.state = stFirst
		return More
	}
	return Done
}

func (t *Tracker) onOK(p []byte, countResult bool) (Step, error) {
	ok, err := ParseOK(p, t.caps)
	if err != nil {
		return Done, err
	}
	r := &t.reply
	r.AffectedRows, r.LastInsertID, r.Warnings = ok.AffectedRows, ok.LastInsertID, ok.Warnings
	r.Status, r.HasStatus = ok.Status, true
	if countResult {
		r.Results++
	}
	if len(ok.SessionState) > 0 {
		r.SessionState = append(r.SessionState, ok.SessionState...)
		t.stateBuf = r.SessionState
	}
	if t.state == stSimple || t.state == stFieldList {
		return Done, nil
	}
	return t.next(ok.Status), nil
}

// onTerminator handles the 0xFE packet that ends rows or a field list: an
// OK packet with the EOF header under CLIENT_DEPRECATE_EOF, a classic EOF
// otherwise. Servers still send classic 5-byte EOFs for some commands with
// DEPRECATE_EOF on, so the length decides.
func (t *Tracker) onTerminator(p []byte) (Step, error) {
	var status uint16
	if t.deprecate && len(p) >= 7 {
		ok, err := ParseOK(p, t.caps)
		if err != nil {
			return Done, err
		}
		r := &t.reply
		r.AffectedRows, r.LastInsertID, r.Warnings = ok.AffectedRows, ok.LastInsertID, ok.Warnings
		r.Status, r.HasStatus = ok.Status, true
		if len(ok.SessionState) > 0 {
			r.SessionState = append(r.SessionState, ok.SessionState...)
			t.stateBuf = r.SessionState
		}
		status = ok.Status
	} else {
		st, err := t.onEOF(p)
		if err != nil {
			return Done, err
		}
		status = st
	}
	switch {
	case t.state == stSimple || t.state == stFieldList:
		return Done, nil
	case t.binary && t.reply.Command == mysql.COM_STMT_EXECUTE && status&mysql.SERVER_STATUS_CURSOR_EXISTS != 0:
		t.reply.CursorOpen = true
	}
	return t.next(status), nil
}

func (t *Tracker) onEOF(p []byte) (uint16, error) {
	e, err := ParseEOF(p)
	if err != nil {
		return 0, err
	}
	r := &t.reply
	r.Status, r.HasStatus, r.Warnings = e.Status, true, e.Warnings
	return e.Status, nil
}

func (t *Tracker) onERR(p []byte) error {
	code, state, msg, ok := parseERRFields(p)
	if !ok {
		return fmt.Errorf("%w: ERR packet", ErrMalformed)
	}
	r := &t.reply
	r.IsErr, r.ErrCode = true, code
	copy(r.SQLState[:], state)
	r.ErrMessage = append(r.ErrMessage[:0], msg...)
	t.errBuf = r.ErrMessage
	return nil
}
