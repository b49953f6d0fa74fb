package sql

import (
	"sort"

	"github.com/maxproxy/maxproxy/node/sql/types"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
)

// restoreText renders an AST node back to SQL (used for error messages).
func restoreText(n ast.Node) string {
	var sb strings.Builder
	ctx := format.NewRestoreCtx(format.RestoreStringSingleQuotes|format.RestoreKeyWordLowercase|format.RestoreNameBackQuotes, &sb)
	if err := n.Restore(ctx); err != nil {
		return ""
	}
	return sb.String()
}

// fieldText extracts a select field's original text starting at offset: MariaDB names result columns after
// the expression exactly as written.
func fieldText(sqlText string, offset int) string {
	if offset < 0 || offset >= len(sqlText) {
		return ""
	}
	s := sqlText[offset:]
	depth := 0
	var quote byte
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			if c == '\\' && quote != '`' {
				i++
				continue
			}
			if c == quote {
				if i+1 < len(s) && s[i+1] == quote {
					i++
					continue
				}
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"', '`':
			quote = c
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return strings.TrimSpace(s[:i])
			}
			depth--
		case ',', ';':
			if depth == 0 {
				return strings.TrimSpace(s[:i])
			}
		case ' ', '\t', '\n', '\r':
			if depth == 0 && endsField(s[i+1:]) {
				return strings.TrimSpace(s[:i])
			}
		}
	}
	return strings.TrimSpace(s)
}

var fieldTerminators = []string{"from", "where", "as", "into", "group", "order", "limit", "having", "for", "lock", "union", "window", "procedure"}

func endsField(rest string) bool {
	rest = strings.TrimLeft(rest, " \t\n\r")
	for _, kw := range fieldTerminators {
		if len(rest) >= len(kw) && strings.EqualFold(rest[:len(kw)], kw) &&
			(len(rest) == len(kw) || !isIdentChar(rest[len(kw)])) {
			return true
		}
	}
	// an implicit alias: "expr alias" — the expression ends before an identifier following a complete term
	return false
}

func isIdentChar(c byte) bool {
	return c == '_' || c == '$' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func sortSliceStable(idx []int, less func(a, b int) bool) {
	sort.SliceStable(idx, func(i, j int) bool { return less(idx[i], idx[j]) })
}

func sortSliceStableRows(rows [][]types.Value, less func(a, b []types.Value) bool) {
	sort.SliceStable(rows, func(i, j int) bool { return less(rows[i], rows[j]) })
}
