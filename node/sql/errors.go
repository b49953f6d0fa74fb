package sql

import (
	"errors"
	"fmt"
	"strings"

	"github.com/maxproxy/maxproxy/node/storage"
)

// Error is a MySQL error as the client sees it: the server writes Code, State and Msg into an ERR packet.
type Error struct {
	Code  uint16
	State string
	Msg   string
}

func (e *Error) Error() string { return fmt.Sprintf("ERROR %d (%s): %s", e.Code, e.State, e.Msg) }

// MySQL error codes used by the engine.
const (
	ErDBCreateExists           = 1007
	ErDBDropExists             = 1008
	ErDBAccessDenied           = 1044
	ErAccessDenied             = 1045
	ErNoDB                     = 1046
	ErBadNull                  = 1048
	ErBadDB                    = 1049
	ErTableExists              = 1050
	ErBadTable                 = 1051
	ErNonUniq                  = 1052
	ErBadField                 = 1054
	ErWrongFieldWithGroup      = 1055
	ErDupFieldName             = 1060
	ErDupKeyName               = 1061
	ErDupEntry                 = 1062
	ErParse                    = 1064
	ErEmptyQuery               = 1065
	ErNonUniqTable             = 1066
	ErInvalidDefault           = 1067
	ErMultiplePriKey           = 1068
	ErTooLongKey               = 1071
	ErKeyColumnDoesNotExist    = 1072
	ErCantDropFieldOrKey       = 1091
	ErCantRemoveAllFields      = 1090
	ErUnknownSystemVariable    = 1193
	ErWrongValueCountOnRow     = 1136
	ErNonExistingGrant         = 1141
	ErTableAccessDenied        = 1142
	ErNoSuchTable              = 1146
	ErSyntax                   = 1149
	ErWrongAutoKey             = 1075
	ErUnknownTable             = 1109
	ErWrongValueCount          = 1058
	ErFieldSpecifiedTwice      = 1110
	ErInvalidGroupFuncUse      = 1111
	ErLockWaitTimeout          = 1205
	ErReadOnlyTransaction      = 1207
	ErCantChangeTxCharacter    = 1568
	ErDeadlock                 = 1213
	ErNoDefaultForField        = 1364
	ErTruncatedWrongValue      = 1292
	ErTruncatedWrongValueFC    = 1366
	ErWarnDataOutOfRange       = 1264
	ErWarnDataTruncated        = 1265
	ErDataTooLong              = 1406
	ErNotSupportedYet          = 1235
	ErIncorrectGlobalLocal     = 1238
	ErWrongTypeForVar          = 1232
	ErWrongValueForVar         = 1231
	ErVarCantBeRead            = 1233
	ErSpecificAccessDenied     = 1227
	ErCannotUser               = 1396
	ErPasswordNoMatch          = 1133
	ErUnknownCharset           = 1115
	ErUnknownCollation         = 1273
	ErWrongDBName              = 1102
	ErWrongTableName           = 1103
	ErWrongColumnName          = 1166
	ErTooBigPrecision          = 1426
	ErTooBigScale              = 1425
	ErMBiggerThanD             = 1427
	ErTooBigFieldLength        = 1074
	ErBlobKeyWithoutLength     = 1170
	ErDivisionByZero           = 1365
	ErDataOutOfRange           = 1690
	ErWrongArguments           = 1210
	ErWrongParamCount          = 1582
	ErSpDoesNotExist           = 1305
	ErQueryInterrupted         = 1317
	ErOperandColumns           = 1241
	ErIllegalParamTypes        = 4078
	ErTableNotLocked           = 1100
	ErLockOrActiveTransaction  = 1192
	ErIllegalHaFunc            = 1031
	ErTableNotLockedForWrite   = 1099
	ErCantAggregate2Collations = 1267
	ErCollationCharsetMismatch = 1253
	ErSubqueryNo1Row           = 1242
	ErUnknownStmtHandler       = 1243
	ErWrongNumberOfColumns     = 1222
	ErPrimaryCantHaveNull      = 1171
	ErKeyDoesNotExist          = 1176
	ErWrongUsage               = 1221
)

var sqlStates = map[uint16]string{
	ErDBCreateExists: "HY000", ErDBDropExists: "HY000", ErDBAccessDenied: "42000", ErAccessDenied: "28000",
	ErNoDB: "3D000", ErBadNull: "23000", ErBadDB: "42000", ErTableExists: "42S01", ErBadTable: "42S02",
	ErNonUniq: "23000", ErBadField: "42S22", ErDupFieldName: "42S21", ErDupKeyName: "42000", ErDupEntry: "23000",
	ErParse: "42000", ErEmptyQuery: "42000", ErNonUniqTable: "42000", ErInvalidDefault: "42000",
	ErMultiplePriKey: "42000", ErTooLongKey: "42000", ErKeyColumnDoesNotExist: "42000", ErCantDropFieldOrKey: "42000",
	ErCantRemoveAllFields: "42000", ErUnknownSystemVariable: "HY000", ErWrongValueCountOnRow: "21S01",
	ErNonExistingGrant: "42000", ErTableAccessDenied: "42000", ErNoSuchTable: "42S02", ErSyntax: "42000",
	ErWrongAutoKey: "42000", ErUnknownTable: "42S02", ErWrongValueCount: "21S01", ErFieldSpecifiedTwice: "HY000",
	ErInvalidGroupFuncUse: "HY000", ErLockWaitTimeout: "HY000", ErReadOnlyTransaction: "25000", ErDeadlock: "40001",
	ErNoDefaultForField: "HY000", ErTruncatedWrongValue: "22007", ErTruncatedWrongValueFC: "22007",
	ErWarnDataOutOfRange: "22003", ErWarnDataTruncated: "01000", ErDataTooLong: "22001", ErNotSupportedYet: "42000",
	ErIncorrectGlobalLocal: "HY000", ErWrongTypeForVar: "42000", ErWrongValueForVar: "42000", ErVarCantBeRead: "HY000",
	ErSpecificAccessDenied: "42000", ErCannotUser: "HY000", ErPasswordNoMatch: "28000", ErUnknownCharset: "42000",
	ErUnknownCollation: "HY000", ErWrongDBName: "42000", ErWrongTableName: "42000", ErWrongColumnName: "42000",
	ErTooBigPrecision: "42000", ErTooBigScale: "42000", ErMBiggerThanD: "42000", ErTooBigFieldLength: "42000",
	ErBlobKeyWithoutLength: "42000", ErDivisionByZero: "22012", ErDataOutOfRange: "22003", ErWrongArguments: "HY000",
	ErWrongParamCount: "42000", ErSpDoesNotExist: "42000", ErQueryInterrupted: "70100", ErOperandColumns: "21000",
	ErSubqueryNo1Row: "21000", ErUnknownStmtHandler: "HY000", ErWrongNumberOfColumns: "21000",
	ErPrimaryCantHaveNull: "42000", ErKeyDoesNotExist: "42000", ErCantChangeTxCharacter: "25001",
	ErWrongFieldWithGroup: "42000", ErCollationCharsetMismatch: "42000", ErWrongUsage: "HY000",
}

// newErr builds an Error with the code's SQLSTATE.
func newErr(code uint16, format string, args ...any) *Error {
	st, ok := sqlStates[code]
	if !ok {
		st = "HY000"
	}
	return &Error{Code: code, State: st, Msg: fmt.Sprintf(format, args...)}
}

func errNotSupported(what string) *Error {
	return newErr(ErNotSupportedYet, "This version of MariaDB doesn't yet support '%s'", what)
}

func errNoSuchTable(db, table string) *Error {
	return newErr(ErNoSuchTable, "Table '%s.%s' doesn't exist", db, table)
}

func errUnknownColumn(name, where string) *Error {
	return newErr(ErBadField, "Unknown column '%s' in '%s'", name, where)
}

// toClientError maps storage and context errors onto MySQL errors; other errors pass through unchanged.
func toClientError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, storage.ErrLockWaitTimeout):
		return newErr(ErLockWaitTimeout, "Lock wait timeout exceeded; try restarting transaction")
	case errors.Is(err, storage.ErrDeadlock):
		return newErr(ErDeadlock, "Deadlock found when trying to get lock; try restarting transaction")
	case errors.Is(err, storage.ErrCertification):
		return newErr(ErDeadlock, "Deadlock found when trying to get lock; try restarting transaction")
	case errors.Is(err, storage.ErrReadOnly):
		return newErr(1792, "Cannot execute statement in a READ ONLY transaction")
	case errors.Is(err, storage.ErrKeyInvalid):
		return newErr(ErTooLongKey, "Specified key was too long; max key length is 3072 bytes")
	case errors.Is(err, errInterrupted):
		return newErr(ErQueryInterrupted, "Query execution was interrupted")
	}
	return err
}

var errInterrupted = errors.New("query interrupted")

// SyntaxError converts a TiDB parser error for sqlText into MariaDB's 1064 message
// ("... near '<rest of statement>' at line N").
func SyntaxError(sqlText string, err error) *Error {
	msg := err.Error()
	line := 1
	near := ""
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i:], "line %d", &line)
	}
	if i := strings.Index(msg, "near \""); i >= 0 {
		rest := msg[i+6:]
		if j := strings.LastIndex(rest, "\""); j >= 0 {
			rest = rest[:j]
		}
		near = rest
	} else {
		near = sqlText
	}
	if r := []rune(near); len(r) > 80 {
		near = string(r[:80])
	}
	return newErr(ErParse, "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '%s' at line %d", near, line)
}
