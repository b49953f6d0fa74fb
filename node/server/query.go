package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/terror"
	"github.com/pingcap/tidb/pkg/parser/test_driver"
)

// comQuery runs COM_QUERY: one statement, or several when the client enabled multi-statements, each
// answered with its own result and SERVER_MORE_RESULTS_EXISTS on all but the last. Execution stops at
// the first error, as in MariaDB.
func (c *conn) comQuery(ctx context.Context, q []byte) error {
	// The AST keeps references into the text, and the packet buffer is reused: copy.
	text := string(q)
	if set, inner, ok := splitSetStatement(text); ok {
		return c.setStatement(ctx, text, set, inner)
	}
	stmts, _, err := c.parser.Parse(text, "", "")
	if err != nil {
		if alt, ok := quoteSetAll(text); ok {
			text = alt
			stmts, _, err = c.parser.Parse(text, "", "")
		}
	}
	if err != nil {
		return c.writeErr(parseError(err))
	}
	if len(stmts) == 0 {
		if hasComment(text) {
			// MariaDB answers a query of only comments with OK, an empty one (or ";") with 1065.
			return c.writeOK(0, 0, c.status, 0, "")
		}
		return c.writeErr(newError(erEmptyQuery, "42000", "Query was empty"))
	}
	if len(stmts) > 1 && !c.multiStmts {
		return c.writeErr(secondStatementError(text, stmts))
	}
	if strings.IndexByte(text, '?') >= 0 {
		// The TiDB parser accepts ? anywhere; MariaDB only in prepared statements.
		for _, st := range stmts {
			if off, ok := paramMarkerOffset(st); ok && off >= 0 && off <= len(text) {
				line := 1 + strings.Count(text[:off], "\n")
				return c.writeErr(syntaxError(text[off:], line))
			}
		}
	}
	for i, st := range stmts {
		more := i < len(stmts)-1
		if err := c.runStatement(ctx, st, statementText(st), nil, false, more); err != nil {
			if errors.Is(err, errStatementFailed) {
				return nil
			}
			return err
		}
	}
	return nil
}

// hasComment reports whether a query that parsed to no statement consisted of comments.
func hasComment(text string) bool {
	return strings.Contains(text, "--") || strings.Contains(text, "/*") || strings.IndexByte(text, '#') >= 0
}

// secondStatementError is MariaDB's answer to more than one statement where only one is allowed: a
// syntax error at the start of the second.
func secondStatementError(text string, stmts []ast.StmtNode) *mysql.MyError {
	off := min(len(stmts[0].Text()), len(text)) // the first statement's text starts the input
	rest := strings.TrimLeft(text[off:], " \t\r\n")
	line := 1 + strings.Count(text[:len(text)-len(rest)], "\n")
	return syntaxError(rest, line)
}

// errStatementFailed tells the caller a statement's error was sent and later statements must not run.
var errStatementFailed = errors.New("statement failed")

// statementText is a statement's own text without surrounding blanks and the terminating semicolon.
func statementText(st ast.StmtNode) string {
	s := strings.TrimSpace(st.Text())
	return strings.TrimSpace(strings.TrimSuffix(s, ";"))
}

// runStatement executes one statement and writes its result. It returns errStatementFailed after
// sending an ERR packet, or a connection error.
func (c *conn) runStatement(ctx context.Context, st ast.StmtNode, text string, params []Value, binary, more bool) error {
	if k, ok := st.(*ast.KillStmt); ok {
		if k.Expr != nil || k.TiDBExtension {
			return c.failStatement(notSupported("this form of KILL"))
		}
		if err := c.srv.kill(c, k.ConnectionID, k.Query); err != nil {
			return c.failStatement(asMyError(err))
		}
		if !k.Query && k.ConnectionID == uint64(c.id) {
			return c.failStatement(newError(erConnectionKilled, "70100", "Connection was killed"))
		}
		status := c.status
		if more {
			status |= mysql.SERVER_MORE_RESULTS_EXISTS
		}
		return c.writeOK(0, 0, status, 0, "")
	}
	res, err := c.sess.Execute(ctx, st, text, params)
	if errors.Is(err, ErrOutcomeUnknown) {
		c.srv.log.LogAttrs(ctx, slog.LevelWarn, "commit outcome unknown; closing the connection without an error",
			slog.Uint64("conn", uint64(c.id)), slog.Any("err", err))
		return fmt.Errorf("statement outcome unknown: %w", err)
	}
	if err != nil {
		return c.failStatement(c.statementError(ctx, err))
	}
	if c.interrupted() {
		// KILL QUERY raced with the statement's completion: MariaDB reports the interruption.
		if res.Rows != nil {
			res.Rows.Close()
		}
		return c.failStatement(queryInterrupted())
	}
	if err := c.writeResult(ctx, res, binary, more); err != nil {
		return err
	}
	return nil
}

func (c *conn) failStatement(e *mysql.MyError) error {
	if err := c.writeErr(e); err != nil {
		return err
	}
	return errStatementFailed
}

// tidbSyntaxErr matches the TiDB parser's "line L column C near "TEXT"" syntax error.
var tidbSyntaxErr = regexp.MustCompile(`(?s)line (\d+) column \d+ near "(.*)"`)

// parseError converts a TiDB parser error into MariaDB's.
func parseError(err error) *mysql.MyError {
	msg := err.Error()
	if m := tidbSyntaxErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return syntaxError(m[2], line)
	}
	var te *terror.Error
	if errors.As(err, &te) {
		se := terror.ToSQLError(te)
		return &mysql.MyError{Code: se.Code, State: se.State, Message: se.Message}
	}
	return syntaxError(msg, 1)
}

// comFieldList answers COM_FIELD_LIST (table NUL wildcard) with the table's column definitions, taken
// from a zero-row SELECT so the engine's metadata is the single source. The wildcard (deprecated since
// MySQL 5.7, only ever sent empty by current clients) is not applied.
func (c *conn) comFieldList(ctx context.Context, data []byte) error {
	r := reader{b: data}
	table := string(r.nulString())
	if table == "" {
		return c.malformed()
	}
	q := "SELECT * FROM `" + strings.ReplaceAll(table, "`", "``") + "` LIMIT 0"
	stmts, _, err := c.parser.Parse(q, "", "")
	if err != nil || len(stmts) != 1 {
		return c.writeErr(newError(1146, "42S02", "Table '%s.%s' doesn't exist", c.sess.CurrentDB(), table))
	}
	res, err := c.sess.Execute(ctx, stmts[0], q, nil)
	if err != nil {
		return c.writeErr(c.statementError(ctx, err))
	}
	if res.Rows != nil {
		res.Rows.Close()
	}
	for i := range res.Columns {
		c.out = appendColumnDef(c.out[:0], &res.Columns[i], []byte{})
		if err := c.pc.writePacket(c.out); err != nil {
			return err
		}
	}
	return c.writeEndOfResult(0, c.status)
}

// markerFinder finds the first ? placeholder of a statement.
type markerFinder struct {
	offset int
	found  bool
}

func (m *markerFinder) Enter(n ast.Node) (ast.Node, bool) {
	if pm, ok := n.(*test_driver.ParamMarkerExpr); ok && !m.found {
		m.offset, m.found = pm.Offset, true
	}
	return n, m.found
}

func (m *markerFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// paramMarkerOffset reports the byte offset of st's first ? placeholder in the query text.
func paramMarkerOffset(st ast.StmtNode) (int, bool) {
	var m markerFinder
	st.Accept(&m)
	return m.offset, m.found
}
