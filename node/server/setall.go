package server

import "regexp"

// setAllValue matches a SET of one variable to the bare word ALL (SET GLOBAL wsrep_reject_queries = ALL):
// MariaDB's grammar accepts ALL as a SET value, the TiDB parser only as a quoted string.
var setAllValue = regexp.MustCompile(`(?is)^(\s*SET\s+(?:GLOBAL\s+|SESSION\s+|@@(?:GLOBAL|SESSION)\.)?[a-z_][a-z0-9_]*\s*(?::=|=)\s*)ALL(\s*;?\s*)$`)

// quoteSetAll rewrites such a statement with 'ALL' quoted, for a second parse after the first failed.
func quoteSetAll(text string) (string, bool) {
	m := setAllValue.FindStringSubmatchIndex(text)
	if m == nil {
		return "", false
	}
	return text[:m[3]] + "'ALL'" + text[m[4]:], true
}
