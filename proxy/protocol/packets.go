package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Packet header bytes that start generic response packets.
const (
	headerOK     = mysql.OK_HEADER
	headerERR    = mysql.ERR_HEADER
	headerEOF    = mysql.EOF_HEADER
	headerInfile = mysql.LocalInFile_HEADER
)

// lenencInt decodes a length-encoded integer at the start of b. Unlike
// mysql.LengthEncodedInt it never reads past b: truncated input yields
// ok=false. 0xFB (SQL NULL) and 0xFF are reported as not ok because no caller
// here accepts them in an integer position.
func lenencInt(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch b[0] {
	case 0xfb, 0xff:
		return 0, 0, false
	case 0xfc:
		n = 3
	case 0xfd:
		n = 4
	case 0xfe:
		n = 9
	default:
		n = 1
	}
	if len(b) < n {
		return 0, 0, false
	}
	v, _, _ = mysql.LengthEncodedInt(b[:n])
	return v, n, true
}

// lenencString decodes a length-encoded string at the start of b. The result
// aliases b.
func lenencString(b []byte) (s []byte, n int, ok bool) {
	l, n, ok := lenencInt(b)
	if !ok || l > uint64(len(b)-n) {
		return nil, 0, false
	}
	end := n + int(l)
	return b[n:end:end], end, true
}

// nulString returns the bytes before the first NUL and the bytes after it.
func nulString(b []byte) (s, rest []byte, ok bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

func appendLenencString(dst, s []byte) []byte {
	dst = mysql.AppendLengthEncodedInteger(dst, uint64(len(s)))
	return append(dst, s...)
}

// OK is a decoded OK packet (or an OK packet sent with the 0xFE header in
// place of EOF when CLIENT_DEPRECATE_EOF is on).
type OK struct {
	AffectedRows uint64
	LastInsertID uint64
	Status       uint16
	Warnings     uint16
	// Info is the human-readable message ("Rows matched: 1 ..."); it aliases
	// the packet.
	Info []byte
	// SessionState holds the raw session-state-change records present when
	// CLIENT_SESSION_TRACK is on and Status has SERVER_SESSION_STATE_CHANGED;
	// it aliases the packet. See ForEachSessionChange.
	SessionState []byte
}

// ParseOK decodes an OK packet. caps are the connection's negotiated
// capabilities; only CLIENT_PROTOCOL_41 and CLIENT_SESSION_TRACK matter.
func ParseOK(p []byte, caps uint32) (OK, error) {
	var ok OK
	if len(p) == 0 || (p[0] != headerOK && p[0] != headerEOF) {
		return ok, fmt.Errorf("%w: not an OK packet", ErrMalformed)
	}
	b := p[1:]
	var n int
	var good bool
	if ok.AffectedRows, n, good = lenencInt(b); !good {
		return ok, fmt.Errorf("%w: OK affected rows", ErrMalformed)
	}
	b = b[n:]
	if ok.LastInsertID, n, good = lenencInt(b); !good {
		return ok, fmt.Errorf("%w: OK last insert id", ErrMalformed)
	}
	b = b[n:]
	if caps&mysql.CLIENT_PROTOCOL_41 != 0 {
		if len(b) < 4 {
			return ok, fmt.Errorf("%w: OK status", ErrMalformed)
		}
		ok.Status = binary.LittleEndian.Uint16(b)
		ok.Warnings = binary.LittleEndian.Uint16(b[2:])
		b = b[4:]
	} else if caps&mysql.CLIENT_TRANSACTIONS != 0 {
		if len(b) < 2 {
			return ok, fmt.Errorf("%w: OK status", ErrMalformed)
		}
		ok.Status = binary.LittleEndian.Uint16(b)
		b = b[2:]
	}
	if caps&mysql.CLIENT_SESSION_TRACK == 0 {
		ok.Info = b
		return ok, nil
	}
	if len(b) == 0 {
		return ok, nil // servers omit an empty info string
	}
	if ok.Info, n, good = lenencString(b); !good {
		return ok, fmt.Errorf("%w: OK info", ErrMalformed)
	}
	b = b[n:]
	if ok.Status&mysql.SERVER_SESSION_STATE_CHANGED != 0 && len(b) > 0 {
		if ok.SessionState, _, good = lenencString(b); !good {
			return ok, fmt.Errorf("%w: OK session state", ErrMalformed)
		}
	}
	return ok, nil
}

// Session state change types (MariaDB enum_session_state_type).
const (
	SessionTrackSystemVariables            = 0
	SessionTrackSchema                     = 1
	SessionTrackStateChange                = 2
	SessionTrackGTIDs                      = 3
	SessionTrackTransactionCharacteristics = 4
	SessionTrackTransactionState           = 5
)

// ForEachSessionChange walks the records of OK.SessionState, calling fn with
// each record's type and data (which alias state). It stops at the first
// error from fn.
func ForEachSessionChange(state []byte, fn func(typ byte, data []byte) error) error {
	for len(state) > 0 {
		typ := state[0]
		data, n, ok := lenencString(state[1:])
		if !ok {
			return fmt.Errorf("%w: session state record", ErrMalformed)
		}
		if err := fn(typ, data); err != nil {
			return err
		}
		state = state[1+n:]
	}
	return nil
}

// AppendOK appends an OK packet payload to dst.
func AppendOK(dst []byte, ok OK, caps uint32) []byte {
	dst = append(dst, headerOK)
	dst = mysql.AppendLengthEncodedInteger(dst, ok.AffectedRows)
	dst = mysql.AppendLengthEncodedInteger(dst, ok.LastInsertID)
	if caps&mysql.CLIENT_PROTOCOL_41 != 0 {
		dst = binary.LittleEndian.AppendUint16(dst, ok.Status)
		dst = binary.LittleEndian.AppendUint16(dst, ok.Warnings)
	} else if caps&mysql.CLIENT_TRANSACTIONS != 0 {
		dst = binary.LittleEndian.AppendUint16(dst, ok.Status)
	}
	if caps&mysql.CLIENT_SESSION_TRACK != 0 {
		if len(ok.Info) > 0 || ok.Status&mysql.SERVER_SESSION_STATE_CHANGED != 0 {
			dst = appendLenencString(dst, ok.Info)
		}
		if ok.Status&mysql.SERVER_SESSION_STATE_CHANGED != 0 {
			dst = appendLenencString(dst, ok.SessionState)
		}
		return dst
	}
	return append(dst, ok.Info...)
}

// EOF is a decoded (pre-DEPRECATE_EOF) EOF packet.
type EOF struct {
	Warnings uint16
	Status   uint16
}

// IsEOF reports whether p is an EOF packet, or an OK packet carrying the EOF
// header, rather than a row that happens to start with 0xFE. A row can start
// with 0xFE only as the prefix of an 8-byte length, which makes it at least
// 0xFFFFFF bytes long.
func IsEOF(p []byte) bool {
	return len(p) > 0 && p[0] == headerEOF && len(p) < maxFrame
}

// ParseEOF decodes a classic EOF packet (5 bytes with CLIENT_PROTOCOL_41).
func ParseEOF(p []byte) (EOF, error) {
	if len(p) == 0 || p[0] != headerEOF || len(p) >= 9 {
		return EOF{}, fmt.Errorf("%w: not an EOF packet", ErrMalformed)
	}
	if len(p) < 5 {
		return EOF{}, nil // pre-4.1 EOF carries no status
	}
	return EOF{
		Warnings: binary.LittleEndian.Uint16(p[1:]),
		Status:   binary.LittleEndian.Uint16(p[3:]),
	}, nil
}

// AppendEOF appends a classic EOF packet payload.
func AppendEOF(dst []byte, e EOF) []byte {
	dst = append(dst, headerEOF)
	dst = binary.LittleEndian.AppendUint16(dst, e.Warnings)
	return binary.LittleEndian.AppendUint16(dst, e.Status)
}

// parseERRFields decodes an ERR packet without allocating. state is empty
// when the packet carries no SQLSTATE marker.
func parseERRFields(p []byte) (code uint16, state, msg []byte, ok bool) {
	if len(p) < 3 || p[0] != headerERR {
		return 0, nil, nil, false
	}
	code = binary.LittleEndian.Uint16(p[1:])
	b := p[3:]
	if len(b) >= 6 && b[0] == '#' {
		state, b = b[1:6], b[6:]
	}
	return code, state, b, true
}

// ParseERR decodes an ERR packet into an *Error.
func ParseERR(p []byte) (*Error, error) {
	code, state, msg, ok := parseERRFields(p)
	if !ok {
		return nil, fmt.Errorf("%w: not an ERR packet", ErrMalformed)
	}
	e := &Error{Code: code, State: string(state), Message: string(msg)}
	if e.State == "" {
		e.State = "HY000"
	}
	return e, nil
}

// AppendERR appends an ERR packet payload for e.
func AppendERR(dst []byte, e *Error, caps uint32) []byte {
	dst = append(dst, headerERR)
	dst = binary.LittleEndian.AppendUint16(dst, e.Code)
	if caps&mysql.CLIENT_PROTOCOL_41 != 0 {
		state := e.State
		if len(state) != 5 {
			state = "HY000"
		}
		dst = append(dst, '#')
		dst = append(dst, state...)
	}
	return append(dst, e.Message...)
}
