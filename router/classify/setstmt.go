package classify

// setStatementBody returns the statement that MariaDB's
// `SET STATEMENT var=value [, …] FOR statement` runs, or nil when sql is
// not such a statement. The variables apply to that one statement only,
// so the class is the inner statement's. (The TiDB parser lacks the syntax.)
func setStatementBody(sql []byte) []byte {
	i := skipSpaceAndComments(sql, 0)
	for _, kw := range []string{"set", "statement"} {
		j := wordEnd(sql, i)
		if !eqFold(sql[i:j], kw) {
			return nil
		}
		i = skipSpaceAndComments(sql, j)
	}
	depth := 0
	for i < len(sql) {
		switch b := sql[i]; {
		case b == '\'' || b == '"' || b == '`':
			i = skipQuoted(sql, i, b)
			continue
		case b == '(':
			depth++
		case b == ')':
			depth--
		case isWordByte(b):
			j := wordEnd(sql, i)
			if depth == 0 && eqFold(sql[i:j], "for") {
				return sql[j:]
			}
			i = j
			continue
		case b == '/' || b == '#' || b == '-':
			if k := skipSpaceAndComments(sql, i); k != i {
				i = k
				continue
			}
		}
		i++
	}
	return nil
}

func wordEnd(s []byte, i int) int {
	for i < len(s) && isWordByte(s[i]) {
		i++
	}
	return i
}

// skipSpaceAndComments returns the offset of the first byte at or after i
// that is neither whitespace nor inside a comment.
func skipSpaceAndComments(s []byte, i int) int {
	for i < len(s) {
		switch {
		case isSpace(s[i]):
			i++
		case s[i] == '#' || s[i] == '-' && i+1 < len(s) && s[i+1] == '-' && (i+2 == len(s) || isDashCommentSpace(s[i+2])):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case s[i] == '/' && i+1 < len(s) && s[i+1] == '*' && !(i+2 < len(s) && (s[i+2] == '!' || s[i+2] == 'M')):
			j := i + 2
			for j+1 < len(s) && !(s[j] == '*' && s[j+1] == '/') {
				j++
			}
			i = min(j+2, len(s))
		default:
			return i
		}
	}
	return i
}
