package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// notFixedDec is the column decimals value meaning "no fixed number of decimals" for DOUBLE/FLOAT.
const notFixedDec = 31

func (c *conn) deprecateEOF() bool { return c.caps&mysql.CLIENT_DEPRECATE_EOF != 0 }

func (c *conn) writeOK(affected, lastID uint64, status, warnings uint16, info string) error {
	c.out = appendOK(c.out[:0], 0x00, affected, lastID, status, warnings, info)
	return c.pc.writePacket(c.out)
}

func appendOK(b []byte, header byte, affected, lastID uint64, status, warnings uint16, info string) []byte {
	b = append(b, header)
	b = appendLenEncInt(b, affected)
	b = appendLenEncInt(b, lastID)
	b = appendUint16(b, status)
	b = appendUint16(b, warnings)
	if info == "" {
		return b
	}
	// Length-encoded, as MariaDB writes it; libmariadb reads it that way with or without SESSION_TRACK.
	return appendLenEncString(b, info)
}

func (c *conn) writeErr(e *mysql.MyError) error {
	b := append(c.out[:0], 0xff)
	b = appendUint16(b, e.Code)
	b = append(b, '#')
	state := e.State
	if len(state) != 5 {
		state = "HY000"
	}
	b = append(b, state...)
	b = append(b, e.Message...)
	c.out = b
	return c.pc.writePacket(c.out)
}

func (c *conn) writeEOF(warnings, status uint16) error {
	b := append(c.out[:0], 0xfe)
	b = appendUint16(b, warnings)
	c.out = appendUint16(b, status)
	return c.pc.writePacket(c.out)
}

// writeEndOfResult ends a result set: an EOF packet, or with DEPRECATE_EOF an OK packet with the EOF
// header.
func (c *conn) writeEndOfResult(warnings, status uint16) error {
	if c.deprecateEOF() {
		c.out = appendOK(c.out[:0], 0xfe, 0, 0, status, warnings, "")
		return c.pc.writePacket(c.out)
	}
	return c.writeEOF(warnings, status)
}

// writeColumnDefs writes cols, followed by an EOF unless the client deprecated it.
func (c *conn) writeColumnDefs(cols []Column, status uint16) error {
	for i := range cols {
		c.out = appendColumnDef(c.out[:0], &cols[i], nil)
		if err := c.pc.writePacket(c.out); err != nil {
			return err
		}
	}
	if c.deprecateEOF() {
		return nil
	}
	return c.writeEOF(0, status)
}

// appendColumnDef encodes a ColumnDefinition41; def, when not nil, is COM_FIELD_LIST's default value.
func appendColumnDef(b []byte, col *Column, def []byte) []byte {
	b = appendLenEncString(b, "def")
	b = appendLenEncString(b, col.DB)
	b = appendLenEncString(b, col.Table)
	b = appendLenEncString(b, col.OrgTable)
	b = appendLenEncString(b, col.Name)
	b = appendLenEncString(b, col.OrgName)
	b = append(b, 0x0c)
	cs := col.Charset
	if cs == 0 {
		cs = collationUTF8MB4GeneralCI
	}
	b = appendUint16(b, cs)
	b = appendUint32(b, col.Length)
	b = append(b, col.Type)
	b = appendUint16(b, col.Flags)
	b = append(b, col.Decimals, 0, 0)
	if def != nil {
		b = appendLenEncBytes(b, def)
	}
	return b
}

// writeResult sends res: an OK, or a result set in the text or binary protocol. more sets
// SERVER_MORE_RESULTS_EXISTS because further results of the same command follow.
func (c *conn) writeResult(ctx context.Context, res *Result, binary, more bool) error {
	status := res.Status
	if more {
		status |= mysql.SERVER_MORE_RESULTS_EXISTS
	}
	c.status = res.Status
	if res.Columns == nil {
		if res.Rows != nil {
			res.Rows.Close()
		}
		return c.writeOK(res.AffectedRows, res.LastInsertID, status, res.Warnings, res.Info)
	}
	if res.Rows != nil {
		defer res.Rows.Close()
	}
	cols := res.Columns
	c.out = appendLenEncInt(c.out[:0], uint64(len(cols)))
	if err := c.pc.writePacket(c.out); err != nil {
		return err
	}
	if err := c.writeColumnDefs(cols, status); err != nil {
		return err
	}
	if res.Rows != nil {
		if cap(c.row) < len(cols) {
			c.row = make([]Value, len(cols))
		}
		row := c.row[:len(cols)]
		for res.Rows.Next(row) {
			var err error
			if binary {
				c.out, err = appendBinaryRow(c.out[:0], cols, row)
			} else {
				c.out = appendTextRow(c.out[:0], cols, row)
			}
			if err != nil {
				return c.writeErr(asMyError(err))
			}
			if err := c.pc.writePacket(c.out); err != nil {
				return err
			}
		}
		if err := res.Rows.Err(); err != nil {
			return c.writeErr(c.statementError(ctx, err))
		}
	}
	return c.writeEndOfResult(res.Warnings, status)
}

// statementError maps a failed statement's error, turning interruptions by KILL into 1317.
func (c *conn) statementError(ctx context.Context, err error) *mysql.MyError {
	if c.interrupted() || (ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		return queryInterrupted()
	}
	return asMyError(err)
}

func appendTextRow(b []byte, cols []Column, row []Value) []byte {
	var tmp [64]byte
	for i := range row {
		v := &row[i]
		switch v.Kind {
		case KindNull:
			b = append(b, 0xfb)
		case KindBytes:
			b = appendLenEncBytes(b, v.Bytes)
		default:
			b = appendLenEncBytes(b, appendValueText(tmp[:0], &cols[i], v))
		}
	}
	return b
}

// appendValueText formats a number the way MariaDB's text protocol does.
func appendValueText(b []byte, col *Column, v *Value) []byte {
	switch v.Kind {
	case KindInt:
		return strconv.AppendInt(b, v.Int, 10)
	case KindUint:
		return strconv.AppendUint(b, v.Uint(), 10)
	case KindFloat:
		return appendFloat(b, v.Float, col)
	case KindBytes:
		return append(b, v.Bytes...)
	}
	return b
}

// appendFloat prints like MariaDB (and node/sql's text conversion): fixed decimals when the column has
// them, otherwise the shortest representation, in exponent form ("1e20", "1.5e-7") only for magnitudes
// outside [1e-5, 1e15).
func appendFloat(b []byte, f float64, col *Column) []byte {
	bits := 64
	if col.Type == mysql.MYSQL_TYPE_FLOAT {
		bits = 32
	}
	if col.Decimals > 0 && col.Decimals < notFixedDec {
		return strconv.AppendFloat(b, f, 'f', int(col.Decimals), bits)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.AppendFloat(b, f, 'g', -1, bits)
	}
	if f == 0 {
		return append(b, '0')
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'e', -1, bits)
	e := start
	for b[e] != 'e' {
		e++
	}
	// The exponent is exact in the 'e' form; Log10 is not (Log10(1e15) < 15).
	if exp, _ := strconv.Atoi(string(b[e+1:])); exp >= -5 && exp < 15 {
		return strconv.AppendFloat(b[:start], f, 'f', -1, bits)
	}
	// Go writes e+20 / e-07; MariaDB writes e20 / e-7. Rewrite the exponent in place.
	w := e + 1
	r := e + 1
	if b[r] == '-' {
		w++
	}
	r++ // past the sign
	for r < len(b)-1 && b[r] == '0' {
		r++
	}
	n := copy(b[w:], b[r:])
	return b[:w+n]
}

// appendBinaryRow encodes a row of the binary protocol (COM_STMT_EXECUTE results).
func appendBinaryRow(b []byte, cols []Column, row []Value) ([]byte, error) {
	b = append(b, 0x00)
	nullStart := len(b)
	for range (len(cols) + 7 + 2) / 8 {
		b = append(b, 0)
	}
	for i := range row {
		v := &row[i]
		if v.Kind == KindNull {
			pos := i + 2
			b[nullStart+pos/8] |= 1 << (pos % 8)
			continue
		}
		var err error
		b, err = appendBinaryValue(b, &cols[i], v)
		if err != nil {
			return b, fmt.Errorf("column %q: %w", cols[i].Name, err)
		}
	}
	return b, nil
}

func appendBinaryValue(b []byte, col *Column, v *Value) ([]byte, error) {
	switch col.Type {
	case mysql.MYSQL_TYPE_TINY:
		n, err := intOf(v)
		return append(b, byte(n)), err
	case mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_YEAR:
		n, err := intOf(v)
		return appendUint16(b, uint16(n)), err
	case mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_INT24:
		n, err := intOf(v)
		return appendUint32(b, uint32(n)), err
	case mysql.MYSQL_TYPE_LONGLONG:
		n, err := intOf(v)
		return appendUint32(appendUint32(b, uint32(n)), uint32(n>>32)), err
	case mysql.MYSQL_TYPE_FLOAT:
		f, err := floatOf(v)
		return appendUint32(b, math.Float32bits(float32(f))), err
	case mysql.MYSQL_TYPE_DOUBLE:
		f, err := floatOf(v)
		bits := math.Float64bits(f)
		return appendUint32(appendUint32(b, uint32(bits)), uint32(bits>>32)), err
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_NEWDATE:
		if v.Kind != KindBytes {
			return b, errors.New("temporal value is not text")
		}
		dt, ok := parseDateTime(v.Bytes)
		if !ok {
			return b, fmt.Errorf("invalid datetime %q", v.Bytes)
		}
		return appendBinaryDateTime(b, dt), nil
	case mysql.MYSQL_TYPE_TIME:
		if v.Kind != KindBytes {
			return b, errors.New("time value is not text")
		}
		t, ok := parseTime(v.Bytes)
		if !ok {
			return b, fmt.Errorf("invalid time %q", v.Bytes)
		}
		return appendBinaryTime(b, t), nil
	}
	if v.Kind == KindBytes {
		return appendLenEncBytes(b, v.Bytes), nil
	}
	var tmp [64]byte
	return appendLenEncBytes(b, appendValueText(tmp[:0], col, v)), nil
}

// intOf converts a value for an integer column; the bits are what the wire carries, so signedness
// does not matter here.
func intOf(v *Value) (int64, error) {
	switch v.Kind {
	case KindInt, KindUint:
		return v.Int, nil
	case KindFloat:
		return int64(v.Float), nil
	case KindBytes:
		if n, err := strconv.ParseInt(string(v.Bytes), 10, 64); err == nil {
			return n, nil
		}
		u, err := strconv.ParseUint(string(v.Bytes), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid integer %q", v.Bytes)
		}
		return int64(u), nil
	}
	return 0, nil
}

func floatOf(v *Value) (float64, error) {
	switch v.Kind {
	case KindInt:
		return float64(v.Int), nil
	case KindUint:
		return float64(v.Uint()), nil
	case KindFloat:
		return v.Float, nil
	case KindBytes:
		f, err := strconv.ParseFloat(string(v.Bytes), 64)
		if err != nil {
			return 0, fmt.Errorf("invalid number %q", v.Bytes)
		}
		return f, nil
	}
	return 0, nil
}
