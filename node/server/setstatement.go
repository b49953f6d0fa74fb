package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// SET STATEMENT var = value [, ...] FOR statement is MariaDB's per-statement variable setting, which
// proxies use (maxproxy's causal reads send SET STATEMENT wsrep_sync_wait=1 FOR SELECT ...) and the
// TiDB parser does not know. The server runs it as MariaDB does: the session variables take the given
// values for the one statement and get their previous values back afterwards, whatever its outcome.

// VariableReader is implemented by sessions that can report a session variable's current value, which
// SET STATEMENT needs to restore it. A session without it answers SET STATEMENT with 1235.
type VariableReader interface {
	// SessionVariable returns @@session.name as a literal's value (nil, int64, uint64, float64 or
	// string), typed as SET accepts it back: an integer variable refuses a string (1232).
	SessionVariable(name string) (any, error)
}

// splitSetStatement splits text into "SET assignments" and the statement after the top-level FOR, or
// reports false when text is not a SET STATEMENT.
func splitSetStatement(text string) (set, inner string, ok bool) {
	rest, ok := cutWord(strings.TrimLeft(text, " \t\r\n"), "SET")
	if !ok {
		return "", "", false
	}
	rest, ok = cutWord(strings.TrimLeft(rest, " \t\r\n"), "STATEMENT")
	if !ok {
		return "", "", false
	}
	rest = strings.TrimLeft(rest, " \t\r\n")
	depth := 0
	var quote byte
	for i := 0; i < len(rest); i++ {
		ch := rest[i]
		switch {
		case quote != 0:
			if ch == '\\' && quote != '`' {
				i++
			} else if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"' || ch == '`':
			quote = ch
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case depth == 0 && (ch == 'f' || ch == 'F') && (i == 0 || isSpace(rest[i-1])):
			if after, ok := cutWord(rest[i:], "FOR"); ok {
				return "SET " + rest[:i], strings.TrimLeft(after, " \t\r\n"), true
			}
		}
	}
	return "", "", false
}

// cutWord removes the keyword word (any case) from the start of s when a blank follows it.
func cutWord(s, word string) (string, bool) {
	if len(s) <= len(word) || !strings.EqualFold(s[:len(word)], word) || !isSpace(s[len(word)]) {
		return "", false
	}
	return s[len(word):], true
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// setStatement runs SET STATEMENT: assignments is "SET ..." and inner the rest of the query text.
func (c *conn) setStatement(ctx context.Context, text, assignments, inner string) error {
	vr, ok := c.sess.(VariableReader)
	if !ok {
		return c.writeErr(notSupported("SET STATEMENT"))
	}
	sets, _, err := c.parser.Parse(assignments, "", "")
	if err != nil || len(sets) != 1 {
		return c.writeErr(syntaxError(strings.TrimLeft(text, " \t\r\n"), 1))
	}
	set, ok := sets[0].(*ast.SetStmt)
	if !ok {
		return c.writeErr(syntaxError(strings.TrimLeft(text, " \t\r\n"), 1))
	}
	for _, v := range set.Variables {
		// Only session system variables: no user variables, no GLOBAL, no SET NAMES / PASSWORD forms.
		if !v.IsSystem || v.IsGlobal || v.Name == "" || v.Name == ast.SetNames || v.Name == ast.SetCharset {
			return c.writeErr(syntaxError(strings.TrimLeft(assignments[len("SET "):], " \t\r\n"), 1))
		}
	}
	stmts, _, err := c.parser.Parse(inner, "", "")
	if err != nil {
		return c.writeErr(parseError(err))
	}
	if len(stmts) == 0 {
		return c.writeErr(syntaxError("", 1))
	}
	if len(stmts) > 1 && !c.multiStmts {
		return c.writeErr(secondStatementError(inner, stmts))
	}

	saved := make([]*ast.VariableAssignment, 0, len(set.Variables))
	for _, v := range set.Variables {
		val, err := vr.SessionVariable(v.Name)
		if err != nil {
			return c.writeErr(c.statementError(ctx, err))
		}
		saved = append(saved, &ast.VariableAssignment{Name: v.Name, IsSystem: true, Value: ast.NewValueExpr(val, "", "")})
	}
	if _, err := c.sess.Execute(ctx, set, assignments, nil); err != nil {
		return c.writeErr(c.statementError(ctx, err))
	}
	err = c.runStatement(ctx, stmts[0], statementText(stmts[0]), nil, false, len(stmts) > 1)
	// The previous values come back whatever the statement did; a failure to restore is logged, since
	// the client already has the statement's answer.
	if _, rerr := c.sess.Execute(context.WithoutCancel(ctx), &ast.SetStmt{Variables: saved}, "SET STATEMENT restore", nil); rerr != nil {
		c.srv.log.LogAttrs(ctx, slog.LevelWarn, "SET STATEMENT could not restore the session variables",
			slog.Uint64("conn", uint64(c.id)), slog.Any("err", rerr))
	}
	if err != nil {
		if errors.Is(err, errStatementFailed) {
			return nil
		}
		return err
	}
	for i, st := range stmts[1:] {
		more := i < len(stmts)-2
		if err := c.runStatement(ctx, st, statementText(st), nil, false, more); err != nil {
			if errors.Is(err, errStatementFailed) {
				return nil
			}
			return err
		}
	}
	return nil
}
