package server

import (
	"errors"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// MariaDB error codes the protocol layer raises itself.
const (
	erConCount           = 1040
	erAccessDenied       = 1045
	erUnknownCom         = 1047
	erServerShutdown     = 1053
	erParse              = 1064
	erEmptyQuery         = 1065
	erNoSuchThread       = 1094
	erKillDenied         = 1095
	erUnknown            = 1105
	erNetPacketTooLarge  = 1153
	erNetPacketsOutOfOrd = 1156
	erWrongArguments     = 1210
	erNotSupportedYet    = 1235
	erUnknownStmtHandler = 1243
	erQueryInterrupted   = 1317
	erMaxPreparedStmts   = 1461
	erMalformedPacket    = 1835
	erConnectionKilled   = 1927
	erAccountLocked      = 4151
)

var errSSLRequested = errors.New("client requested SSL, which this server does not offer")

func newError(code uint16, state, format string, args ...any) *mysql.MyError {
	return &mysql.MyError{Code: code, State: state, Message: fmt.Sprintf(format, args...)}
}

func accessDenied(user, host string, withPassword bool) *mysql.MyError {
	using := "NO"
	if withPassword {
		using = "YES"
	}
	return newError(erAccessDenied, "28000", "Access denied for user '%s'@'%s' (using password: %s)", user, host, using)
}

func queryInterrupted() *mysql.MyError {
	return newError(erQueryInterrupted, "70100", "Query execution was interrupted")
}

func notSupported(what string) *mysql.MyError {
	return newError(erNotSupportedYet, "42000", "This version of MariaDB doesn't yet support '%s'", what)
}

// syntaxError is ER_PARSE_ERROR with MariaDB's wording; near is the text from the offending token on.
func syntaxError(near string, line int) *mysql.MyError {
	if len(near) > 80 {
		near = truncateUTF8(near, 80)
	}
	return newError(erParse, "42000",
		"You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '%s' at line %d",
		near, line)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// asMyError turns an engine error into what the client sees. Errors without a MySQL code become
// ER_UNKNOWN_ERROR with their text, so nothing is hidden.
func asMyError(err error) *mysql.MyError {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return me
	}
	return newError(erUnknown, "HY000", "%s", err.Error())
}
