package server

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// errMalformed reports a packet that does not decode; the connection is closed after it.
var errMalformed = errors.New("malformed packet")

// reader decodes a payload with bounds checks: any read past the end sets err and returns zero values,
// so decoders check err once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() { r.err = errMalformed; r.b = nil }

func (r *reader) byte1() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uint16() uint16 {
	if len(r.b) < 2 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) uint32() uint32 {
	if len(r.b) < 4 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) uint64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// nulString reads up to a NUL byte; a missing terminator takes the rest of the payload, as servers do.
func (r *reader) nulString() []byte {
	i := bytes.IndexByte(r.b, 0)
	if i < 0 {
		v := r.b
		r.b = nil
		return v
	}
	v := r.b[:i:i]
	r.b = r.b[i+1:]
	return v
}

func (r *reader) lenEncInt() uint64 {
	first := r.byte1()
	switch first {
	case 0xfc:
		return uint64(r.uint16())
	case 0xfd:
		b := r.bytes(3)
		if b == nil {
			return 0
		}
		return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16
	case 0xfe:
		return r.uint64()
	case 0xfb, 0xff:
		r.fail()
		return 0
	}
	return uint64(first)
}

func (r *reader) lenEncString() []byte {
	n := r.lenEncInt()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	return r.bytes(int(n))
}

func appendLenEncInt(b []byte, n uint64) []byte { return mysql.AppendLengthEncodedInteger(b, n) }

func appendLenEncString(b []byte, s string) []byte {
	b = appendLenEncInt(b, uint64(len(s)))
	return append(b, s...)
}

func appendLenEncBytes(b, s []byte) []byte {
	b = appendLenEncInt(b, uint64(len(s)))
	return append(b, s...)
}

func appendUint16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func appendUint32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
