package server

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/test_driver"
)

// paramUnsigned is the flag byte of a bound parameter type marking an unsigned integer.
const paramUnsigned = 0x80

// cursorTypeMask covers COM_STMT_EXECUTE's cursor flags (read-only, for-update, scrollable); cursors
// are not supported. Bit 0x08 (MySQL 8's PARAMETER_COUNT_AVAILABLE) matters only with query
// attributes, which are not offered, so it is ignored.
const cursorTypeMask = 0x07

// stmt is a prepared statement of one connection.
type stmt struct {
	id        uint32
	text      string
	ast       ast.StmtNode
	numParams int
	columns   []Column

	types    []byte // MYSQL_TYPE_* per parameter, bound by the last execute that sent them
	unsigned []bool
	bound    bool

	longData    [][]byte // COM_STMT_SEND_LONG_DATA per parameter; nil when none was sent
	longDataErr bool     // a long-data packet was invalid; reported by the next execute

	params  []Value
	scratch []byte // text of temporal parameters; sized once so slices into it stay valid
}

func (c *conn) comStmtPrepare(ctx context.Context, data []byte) error {
	text := string(data)
	stmts, _, err := c.parser.Parse(text, "", "")
	if err != nil {
		return c.writeErr(parseError(err))
	}
	switch len(stmts) {
	case 0:
		return c.writeErr(newError(erEmptyQuery, "42000", "Query was empty"))
	case 1:
	default:
		return c.writeErr(secondStatementError(text, stmts))
	}
	st := &stmt{text: statementText(stmts[0]), ast: stmts[0]}
	st.numParams = NumberParams(st.ast)
	if _, isKill := st.ast.(*ast.KillStmt); !isKill {
		info, err := c.sess.Prepare(ctx, st.ast, st.text)
		if err != nil {
			return c.writeErr(c.statementError(ctx, err))
		}
		st.columns = info.Columns
	}
	if c.srv.prepared.Add(1) > int64(c.srv.cfg.MaxPreparedStmts) {
		c.srv.prepared.Add(-1)
		return c.writeErr(newError(erMaxPreparedStmts, "42000",
			"Can't create more than max_prepared_stmt_count statements (current value: %d)", c.srv.cfg.MaxPreparedStmts))
	}
	c.lastStmtID++
	st.id = c.lastStmtID
	st.types = make([]byte, st.numParams)
	st.unsigned = make([]bool, st.numParams)
	st.params = make([]Value, st.numParams)
	st.scratch = make([]byte, 0, 32*st.numParams)
	c.stmts[st.id] = st

	b := append(c.out[:0], 0x00)
	b = appendUint32(b, st.id)
	b = appendUint16(b, uint16(len(st.columns)))
	b = appendUint16(b, uint16(st.numParams))
	b = append(b, 0)
	c.out = appendUint16(b, 0)
	if err := c.pc.writePacket(c.out); err != nil {
		return err
	}
	if st.numParams > 0 {
		param := Column{Name: "?", Type: mysql.MYSQL_TYPE_VAR_STRING, Charset: 63, Flags: mysql.BINARY_FLAG}
		for range st.numParams {
			c.out = appendColumnDef(c.out[:0], &param, nil)
			if err := c.pc.writePacket(c.out); err != nil {
				return err
			}
		}
		if !c.deprecateEOF() {
			if err := c.writeEOF(0, c.status); err != nil {
				return err
			}
		}
	}
	if len(st.columns) > 0 {
		return c.writeColumnDefs(st.columns, c.status)
	}
	return nil
}

// lastStmt is MariaDB's statement id meaning "the statement prepared last" on this connection, which
// lets a client send PREPARE and EXECUTE without waiting for the id.
const lastStmt = 0xffffffff

func (c *conn) stmt(id uint32) *stmt {
	if id == lastStmt {
		id = c.lastStmtID
	}
	return c.stmts[id]
}

func (c *conn) lookupStmt(id uint32, command string) (*stmt, error) {
	if st := c.stmt(id); st != nil {
		return st, nil
	}
	return nil, c.writeErr(newError(erUnknownStmtHandler, "HY000",
		"Unknown prepared statement handler (%d) given to %s", id, command))
}

func (c *conn) comStmtExecute(ctx context.Context, data []byte) error {
	r := reader{b: data}
	id := r.uint32()
	flags := r.byte1()
	r.uint32() // iteration count, always 1
	if r.err != nil {
		return c.malformed()
	}
	st := c.stmt(id)
	if st == nil {
		_, err := c.lookupStmt(id, "mysqld_stmt_execute")
		return err
	}
	if flags&cursorTypeMask != 0 {
		return c.writeErr(notSupported("cursors"))
	}
	ok, err := c.decodeParams(st, &r)
	if err != nil {
		return err
	}
	if !ok {
		return c.writeErr(newError(erWrongArguments, "HY000", "Incorrect arguments to mysqld_stmt_execute"))
	}
	var params []Value
	if st.numParams > 0 {
		params = st.params
	}
	err = c.runStatement(ctx, st.ast, st.text, params, true, false)
	clear(st.longData)
	if errors.Is(err, errStatementFailed) {
		return nil
	}
	return err
}

// decodeParams fills st.params from an execute packet. ok is false when the values are unusable
// (no types ever bound, an unknown type, bad long data); err when the packet is malformed, which has
// then been answered.
func (c *conn) decodeParams(st *stmt, r *reader) (ok bool, err error) {
	n := st.numParams
	if n == 0 {
		return true, nil
	}
	nulls := r.bytes((n + 7) / 8)
	newBound := r.byte1()
	if r.err != nil {
		return false, c.malformed()
	}
	if newBound == 1 {
		for i := range n {
			st.types[i] = r.byte1()
			st.unsigned[i] = r.byte1()&paramUnsigned != 0
		}
		if r.err != nil {
			return false, c.malformed()
		}
		st.bound = true
	}
	if !st.bound || st.longDataErr {
		st.longDataErr = false
		return false, nil
	}
	st.scratch = st.scratch[:0]
	for i := range n {
		p := &st.params[i]
		*p = Value{Type: st.types[i]}
		if nulls[i/8]&(1<<(i%8)) != 0 || st.types[i] == mysql.MYSQL_TYPE_NULL {
			continue
		}
		if st.longData != nil && st.longData[i] != nil {
			p.Kind, p.Bytes = KindBytes, st.longData[i]
			continue
		}
		var known bool
		st.scratch, known = decodeParam(r, p, st.unsigned[i], st.scratch)
		if !known {
			return false, nil
		}
	}
	if r.err != nil {
		return false, c.malformed()
	}
	return true, nil
}

// decodeParam reads one binary-protocol parameter value of type p.Type. Temporal values are turned
// into their text form in scratch. known is false for a type the protocol does not define.
func decodeParam(r *reader, p *Value, unsigned bool, scratch []byte) (_ []byte, known bool) {
	switch p.Type {
	case mysql.MYSQL_TYPE_TINY:
		b := r.byte1()
		p.Kind, p.Int = KindInt, int64(int8(b))
		if unsigned {
			p.Kind, p.Int = KindUint, int64(b)
		}
	case mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_YEAR:
		v := r.uint16()
		p.Kind, p.Int = KindInt, int64(int16(v))
		if unsigned {
			p.Kind, p.Int = KindUint, int64(v)
		}
	case mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_INT24:
		v := r.uint32()
		p.Kind, p.Int = KindInt, int64(int32(v))
		if unsigned {
			p.Kind, p.Int = KindUint, int64(v)
		}
	case mysql.MYSQL_TYPE_LONGLONG:
		p.Kind, p.Int = KindInt, int64(r.uint64())
		if unsigned {
			p.Kind = KindUint
		}
	case mysql.MYSQL_TYPE_FLOAT:
		p.Kind, p.Float = KindFloat, float64(math.Float32frombits(r.uint32()))
	case mysql.MYSQL_TYPE_DOUBLE:
		p.Kind, p.Float = KindFloat, math.Float64frombits(r.uint64())
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_NEWDATE:
		var dt dateTime
		raw := r.bytes(int(r.byte1()))
		switch len(raw) {
		case 0:
		case 4, 7, 11:
			dt.year = binary.LittleEndian.Uint16(raw)
			dt.month, dt.day = raw[2], raw[3]
			if len(raw) >= 7 {
				dt.hour, dt.minute, dt.second = raw[4], raw[5], raw[6]
			}
			if len(raw) == 11 {
				dt.micro = binary.LittleEndian.Uint32(raw[7:])
			}
		default:
			r.fail()
			return scratch, true
		}
		start := len(scratch)
		scratch = appendDateTimeText(scratch, dt, p.Type != mysql.MYSQL_TYPE_DATE)
		p.Kind, p.Bytes = KindBytes, scratch[start:len(scratch):len(scratch)]
	case mysql.MYSQL_TYPE_TIME:
		var t timeValue
		raw := r.bytes(int(r.byte1()))
		switch len(raw) {
		case 0:
		case 8, 12:
			t.neg = raw[0] == 1
			t.hours = binary.LittleEndian.Uint32(raw[1:])*24 + uint32(raw[5])
			t.minute, t.second = raw[6], raw[7]
			if len(raw) == 12 {
				t.micro = binary.LittleEndian.Uint32(raw[8:])
			}
		default:
			r.fail()
			return scratch, true
		}
		start := len(scratch)
		scratch = appendTimeText(scratch, t)
		p.Kind, p.Bytes = KindBytes, scratch[start:len(scratch):len(scratch)]
	case mysql.MYSQL_TYPE_DECIMAL, mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_VARCHAR,
		mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_TINY_BLOB,
		mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB, mysql.MYSQL_TYPE_BLOB,
		mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET, mysql.MYSQL_TYPE_BIT, mysql.MYSQL_TYPE_JSON,
		mysql.MYSQL_TYPE_GEOMETRY:
		p.Kind, p.Bytes = KindBytes, r.lenEncString()
	default:
		return scratch, false
	}
	return scratch, true
}

func (c *conn) comStmtSendLongData(data []byte) error {
	r := reader{b: data}
	id := r.uint32()
	param := int(r.uint16())
	if r.err != nil {
		return c.malformed()
	}
	st := c.stmt(id)
	if st == nil {
		return nil // no reply is defined for this command; MariaDB ignores unknown statements too
	}
	if param >= st.numParams {
		st.longDataErr = true
		return nil
	}
	if st.longData == nil {
		st.longData = make([][]byte, st.numParams)
	}
	if len(st.longData[param])+len(r.b) > c.srv.cfg.MaxAllowedPacket {
		st.longDataErr = true
		return nil
	}
	if st.longData[param] == nil {
		st.longData[param] = []byte{}
	}
	st.longData[param] = append(st.longData[param], r.b...)
	return nil
}

func (c *conn) comStmtClose(data []byte) error {
	if len(data) < 4 {
		return c.malformed()
	}
	if st := c.stmt(binary.LittleEndian.Uint32(data)); st != nil {
		c.closeStmt(st)
	}
	return nil
}

func (c *conn) closeStmt(st *stmt) {
	delete(c.stmts, st.id)
	c.srv.prepared.Add(-1)
}

func (c *conn) comStmtReset(data []byte) error {
	if len(data) < 4 {
		return c.malformed()
	}
	st, err := c.lookupStmt(binary.LittleEndian.Uint32(data), "mysqld_stmt_reset")
	if st == nil {
		return err
	}
	st.longData = nil
	st.longDataErr = false
	return c.writeOK(0, 0, c.status, 0, "")
}

// paramNumberer collects a statement's ? markers.
type paramNumberer struct{ markers []ast.ParamMarkerExpr }

func (p *paramNumberer) Enter(n ast.Node) (ast.Node, bool) {
	if m, ok := n.(ast.ParamMarkerExpr); ok {
		p.markers = append(p.markers, m)
	}
	return n, false
}

func (p *paramNumberer) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// NumberParams gives each ? marker its position in the statement text, which is the index of its value
// in COM_STMT_EXECUTE, and returns how many there are. The parser leaves the order unset (TiDB's
// planner assigns it), and a tree walk does not visit markers in text order (INSERT ... SET, ON
// DUPLICATE KEY UPDATE), so they are sorted by offset.
func NumberParams(stmt ast.StmtNode) int {
	var p paramNumberer
	stmt.Accept(&p)
	slices.SortFunc(p.markers, func(a, b ast.ParamMarkerExpr) int {
		return cmp.Compare(markerOffset(a), markerOffset(b))
	})
	for i, m := range p.markers {
		m.SetOrder(i)
	}
	return len(p.markers)
}

func markerOffset(m ast.ParamMarkerExpr) int {
	if pm, ok := m.(*test_driver.ParamMarkerExpr); ok {
		return pm.Offset
	}
	return 0
}
