package classify

import "strings"

// fallback classifies a canonical text the TiDB parser rejected (MariaDB
// syntax it lacks: RETURNING, SET STATEMENT … FOR, CREATE OR REPLACE, XA,
// EXECUTE IMMEDIATE, FOR SYSTEM_TIME, SELECT … INTO @v, BEGIN NOT ATOMIC,
// HANDLER, SHOW ALL SLAVES STATUS …). It looks at the first keyword and
// scans for the tokens that change routing. Only a statement that is
// certainly a plain read keeps KindRead without master-only flags;
// anything it cannot place is KindUnknown, which routes to the master.
func fallback(canon []byte) Class {
	toks := fallbackTokens(canon)
	c := Class{Flags: FlagFallback}
	first := 0
	for first < len(toks) && toks[first] == "(" {
		first++
	}
	if first == len(toks) {
		return c
	}
	at := func(i int) string {
		if i >= 0 && i < len(toks) {
			return toks[i]
		}
		return ""
	}
	inInto := false // inside SELECT … INTO @a, @b: assigned, not read
	writes := false // a data-changing keyword, if the statement starts like a read
	for i, t := range toks {
		if inInto {
			if t == "," || strings.HasPrefix(t, "@") {
				continue
			}
			inInto = false
		}
		switch t {
		case "UPDATE":
			if p := at(i - 1); p != "FOR" && p != "KEY" {
				writes = true
			}
		case "INSERT", "DELETE", "REPLACE":
			if at(i+1) != "(" {
				writes = true
			}
		case ";":
			c.Flags |= FlagMultiStmt
		case "FOR":
			if n := at(i + 1); n == "UPDATE" || n == "SHARE" {
				c.Flags |= FlagForUpdate
			}
		case "LOCK":
			if at(i+1) == "IN" && at(i+2) == "SHARE" {
				c.Flags |= FlagForUpdate
			}
		case "LAST_INSERT_ID", "@@IDENTITY", "@@LAST_INSERT_ID", "@@SESSION.LAST_INSERT_ID":
			c.Flags |= FlagLastInsertID
		case "GET_LOCK":
			c.Flags |= FlagGetLock | FlagLockAcquire
		case "RELEASE_LOCK", "RELEASE_ALL_LOCKS":
			c.Flags |= FlagGetLock | FlagLockRelease
		case "IS_FREE_LOCK", "IS_USED_LOCK":
			c.Flags |= FlagGetLock
		case "NEXTVAL", "LASTVAL", "SETVAL", "CURRVAL":
			c.Flags |= FlagSequence
		case "NEXT", "PREVIOUS":
			if at(i+1) == "VALUE" && at(i+2) == "FOR" {
				c.Flags |= FlagSequence
			}
		case "FOUND_ROWS", "ROW_COUNT", "@@WARNING_COUNT", "@@ERROR_COUNT", "@@SESSION.WARNING_COUNT", "@@SESSION.ERROR_COUNT":
			c.Flags |= FlagPrevious
		case ":=":
			c.Flags |= FlagUserVarWrite
		case "INTO":
			switch n := at(i + 1); {
			case n == "OUTFILE" || n == "DUMPFILE":
				c.Flags |= FlagIntoOutfile
			case strings.HasPrefix(n, "@") && !strings.HasPrefix(n, "@@"):
				c.Flags |= FlagUserVarWrite
				inInto = true
			}
		default:
			switch {
			case strings.HasPrefix(t, "@@"):
			case strings.HasPrefix(t, "@"):
				c.Flags |= FlagUserVarRead
			case at(i+1) == "(" && isFuncName(t) && !notAFunction(at(i-1)):
				name := strings.ToLower(strings.Trim(t, "`"))
				if _, ok := nonDeterministic[name]; ok {
					c.Flags |= FlagNonDeterministic
				}
				_, builtin := builtinFuncs[name]
				if !builtin && !fallbackKeywords[t] || t[0] == '`' {
					c.Flags |= FlagUnknownFunc
				}
			}
		}
	}
	f := toks[first]
	switch f {
	case "SELECT", "WITH", "VALUES", "TABLE", "DO", "DESCRIBE", "DESC", "EXPLAIN":
		c.Kind = KindRead
		if writes { // WITH … UPDATE, EXPLAIN DELETE …: not certainly a read
			c.Kind = KindUnknown
		}
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
		c.Kind = KindWrite
	case "CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE":
		c.Kind = KindDDL
		fallbackDDL(&c, toks[first:])
	case "BEGIN":
		if at(first+1) == "NOT" { // BEGIN NOT ATOMIC … END: a compound statement
			c.Kind = KindOther
		} else {
			c.Kind = KindBegin
		}
	case "START":
		if at(first+1) == "TRANSACTION" {
			c.Kind = KindBegin
			for i := first + 2; i+1 < len(toks); i++ {
				if toks[i] == "READ" && toks[i+1] == "ONLY" {
					c.Flags |= FlagReadOnly
				}
			}
		} else {
			c.Kind = KindOther
		}
	case "COMMIT":
		c.Kind = KindCommit
	case "ROLLBACK":
		c.Kind = KindRollback
		for _, t := range toks[first:] {
			if t == "TO" {
				c.Kind = KindOther
			}
		}
	case "XA":
		switch at(first + 1) {
		case "START", "BEGIN":
			c.Kind = KindBegin
		case "COMMIT":
			c.Kind = KindCommit
		case "ROLLBACK":
			c.Kind = KindRollback
		default:
			c.Kind = KindOther
		}
	case "SET":
		fallbackSet(&c, toks[first:])
	case "USE":
		c.Kind = KindUse
	case "SHOW":
		c.Kind = KindShow
		switch at(first + 1) {
		case "MASTER", "BINLOG":
			if at(first+2) == "STATUS" {
				c.Flags |= FlagMasterOnly
			}
		case "WARNINGS", "ERRORS":
			c.Flags |= FlagPrevious
		case "COUNT": // SHOW COUNT(*) WARNINGS
			if w := at(first + 5); w == "WARNINGS" || w == "ERRORS" {
				c.Flags |= FlagPrevious
			}
		}
	case "CALL":
		c.Kind = KindCall
	case "LOAD":
		if n := at(first + 1); n == "DATA" || n == "XML" {
			c.Kind = KindLoadData
		} else {
			c.Kind = KindOther
		}
	case "LOCK":
		c.Kind = KindLockTables
	case "UNLOCK":
		c.Kind = KindUnlockTables
	case "KILL":
		c.Kind = KindKill
	case "GET":
		if at(first+1) == "DIAGNOSTICS" || at(first+2) == "DIAGNOSTICS" { // GET [CURRENT] DIAGNOSTICS
			c.Kind = KindRead
			c.Flags |= FlagPrevious
		} else {
			c.Kind = KindUnknown
		}
	case "PREPARE":
		c.Kind = KindPrepare
		c.Name = identLower(at(first + 1))
	case "EXECUTE":
		if at(first+1) == "IMMEDIATE" {
			c.Kind = KindOther
		} else {
			c.Kind = KindExecute
			c.Name = identLower(at(first + 1))
		}
	case "DEALLOCATE":
		c.Kind = KindDeallocate
		c.Name = identLower(at(first + 2))
	default:
		c.Kind = KindUnknown
	}
	if c.Flags.Has(FlagMultiStmt) {
		multiTempTables(&c, toks)
	}
	return c
}

// multiTempTables sets Name to the temporary tables the statements of a
// multi-statement create, as the parser path does.
func multiTempTables(c *Class, toks []string) {
	c.Flags &^= FlagTempCreate | FlagDropTable
	var names []string
	for len(toks) > 0 {
		end := 0
		for end < len(toks) && toks[end] != ";" {
			end++
		}
		if end > 0 && toks[0] == "CREATE" {
			var one Class
			fallbackDDL(&one, toks[:end])
			if one.Flags.Has(FlagTempCreate) {
				names = append(names, one.Name)
			}
		}
		if end == len(toks) {
			break
		}
		toks = toks[end+1:]
	}
	c.Name = ""
	if len(names) > 0 {
		c.Flags |= FlagTempCreate
		c.Name = strings.Join(names, "\x00")
	}
}

// fallbackDDL handles CREATE [OR REPLACE] TEMPORARY TABLE and DROP
// [TEMPORARY] TABLE, whose table names the session must track.
func fallbackDDL(c *Class, toks []string) {
	if toks[0] == "DROP" && len(toks) > 2 && toks[1] == "PREPARE" {
		c.Kind = KindDeallocate
		c.Name = identLower(toks[2])
		return
	}
	i := 1
	temp := false
	for i < len(toks) && (toks[i] == "OR" || toks[i] == "REPLACE" || toks[i] == "TEMPORARY") {
		temp = temp || toks[i] == "TEMPORARY"
		i++
	}
	if i >= len(toks) || toks[i] != "TABLE" {
		return
	}
	i++
	if i+1 < len(toks) && toks[i] == "IF" && (toks[i+1] == "EXISTS" || toks[i+1] == "NOT") {
		i += 2
		if i < len(toks) && toks[i] == "EXISTS" {
			i++
		}
	}
	var names []string
	for i < len(toks) {
		name := toks[i]
		if i+2 < len(toks) && toks[i+1] == "." { // schema.table
			name = toks[i+2]
			i += 2
		}
		names = append(names, identLower(name))
		i++
		if toks[0] != "DROP" || i >= len(toks) || toks[i] != "," {
			break
		}
		i++
	}
	if len(names) == 0 {
		return
	}
	if toks[0] == "DROP" {
		c.Flags |= FlagDropTable
		c.Name = strings.Join(names, "\x00")
	} else if temp {
		c.Flags |= FlagTempCreate
		c.Name = names[0]
	}
}

// fallbackSet classifies a SET the parser rejected. SET STATEMENT … FOR
// runs another statement, and SET PASSWORD / DEFAULT ROLE change accounts:
// those go to the master. Everything else is session state for all backends.
func fallbackSet(c *Class, toks []string) {
	c.Kind = KindSet
	if len(toks) < 2 {
		return
	}
	switch t := toks[1]; {
	case t == "STATEMENT" || t == "PASSWORD" || t == "DEFAULT":
		c.Kind = KindUnknown
		return
	case t == "GLOBAL" || strings.HasPrefix(t, "@@GLOBAL."):
		c.Flags |= FlagSetGlobal
	}
	for i := 1; i+2 < len(toks); i++ {
		name := toks[i]
		for _, p := range []string{"@@SESSION.", "@@LOCAL.", "@@"} {
			name = strings.TrimPrefix(name, p)
		}
		if name == "AUTOCOMMIT" && toks[i+1] == "=" {
			switch strings.ToUpper(strings.Trim(toks[i+2], `'"`)) {
			case "1", "ON", "TRUE":
				c.Flags |= FlagAutocommitOn
			case "0", "OFF", "FALSE":
				c.Flags |= FlagAutocommitOff
			}
		}
	}
	if c.Flags.Has(FlagUserVarRead) {
		// In SET the variables on the left are assigned; the scan above
		// cannot tell sides apart, so count both.
		c.Flags |= FlagUserVarWrite
	}
}

func identLower(t string) string {
	if len(t) >= 2 && t[0] == '`' {
		t = strings.ReplaceAll(t[1:len(t)-1], "``", "`")
	}
	return strings.ToLower(t)
}

func isFuncName(t string) bool {
	return t != "" && (isWordByte(t[0]) && !isDigit(t[0]) || t[0] == '`')
}

// notAFunction reports whether a word followed by '(' after prev is a name
// that is not a call: a table or column list (INTO t (a), TABLE t (…)).
func notAFunction(prev string) bool {
	switch prev {
	case "INTO", "TABLE", "JOIN", "FROM", "UPDATE", "AS", "INDEX", "KEY", "EXISTS", "WITH", "RECURSIVE":
		return true
	}
	return false
}

// fallbackKeywords are words that may be followed by '(' without being a
// function call.
var fallbackKeywords = map[string]bool{
	"IN": true, "EXISTS": true, "AS": true, "FROM": true, "JOIN": true, "ON": true, "USING": true,
	"VALUES": true, "VALUE": true, "SELECT": true, "WHERE": true, "AND": true, "OR": true, "NOT": true,
	"ALL": true, "ANY": true, "SOME": true, "OVER": true, "WINDOW": true, "BY": true, "LATERAL": true,
	"ROW": true, "INTO": true, "TABLE": true, "UNION": true, "EXCEPT": true, "INTERSECT": true,
	"KEY": true, "INDEX": true, "CASE": true, "WHEN": true, "THEN": true, "ELSE": true, "IS": true,
	"LIKE": true, "BETWEEN": true, "RETURN": true, "RETURNING": true, "WITH": true, "SET": true,
	"HAVING": true, "LIMIT": true, "DISTINCT": true, "PRIMARY": true, "UNIQUE": true, "CHECK": true,
	"REFERENCES": true, "PARTITION": true, "FOR": true, "OF": true, "XOR": true, "DIV": true,
	"MOD": true, "REGEXP": true, "RLIKE": true, "INTERVAL": true, "BINARY": true, "CAST": true,
	"CONVERT": true, "MATCH": true, "AGAINST": true, "COLUMNS": true, "NESTED": true, "PATH": true,
	"USE": true, "IGNORE": true, "FORCE": true, "DO": true, "CALL": true, "EXPLAIN": true,
	"ROLLUP": true, "ORDER": true, "GROUP": true, "LIMITS": true, "PERIOD": true, "SYSTEM_TIME": true,
}

// fallbackTokens splits a canonical text into words, quoted names,
// variables, literals and punctuation; executable-comment markers vanish.
func fallbackTokens(s []byte) []string {
	var toks []string
	i := 0
	for i < len(s) {
		b := s[i]
		switch {
		case isSpace(b):
			i++
		case b == '/' && i+2 < len(s) && s[i+1] == '*' && (s[i+2] == '!' || s[i+2] == 'M'):
			j := i + 2
			for j < len(s) && (s[j] == '!' || s[j] == 'M') {
				j++
			}
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			i = j
		case b == '*' && i+1 < len(s) && s[i+1] == '/':
			i += 2
		case b == '`' || b == '\'' || b == '"':
			j := skipQuoted(s, i, b)
			toks = append(toks, string(s[i:j]))
			i = j
		case b == '@':
			j := i + 1
			for j < len(s) && (s[j] == '@' || isWordByte(s[j]) || s[j] == '.') {
				j++
			}
			if j < len(s) && (s[j] == '\'' || s[j] == '"' || s[j] == '`') {
				j = skipQuoted(s, j, s[j])
			}
			toks = append(toks, string(s[i:j]))
			i = j
		case isWordByte(b):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, string(s[i:j]))
			i = j
		case b == '(' || b == ')' || b == ',' || b == ';' || b == '.':
			toks = append(toks, string(s[i:i+1]))
			i++
		default:
			n := operatorLen(s[i:])
			toks = append(toks, string(s[i:i+n]))
			i += n
		}
	}
	return toks
}
