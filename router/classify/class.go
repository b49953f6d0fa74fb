package classify

import (
	"strings"
)

// Kind is what a statement does, as far as routing cares.
type Kind uint8

// The statement kinds. The zero value, KindUnknown, is what the token
// fallback returns when it cannot tell; the router sends it to the master.
const (
	KindUnknown      Kind = iota
	KindRead              // SELECT, set operations, TABLE, VALUES, DO, EXPLAIN/DESCRIBE
	KindWrite             // INSERT, REPLACE, UPDATE, DELETE
	KindDDL               // CREATE/ALTER/DROP/RENAME/TRUNCATE …
	KindBegin             // BEGIN, START TRANSACTION (FlagReadOnly for READ ONLY), XA START
	KindCommit            // COMMIT
	KindRollback          // ROLLBACK (not ROLLBACK TO SAVEPOINT, which is KindOther)
	KindSet               // SET of session or user variables, SET NAMES, SET TRANSACTION, SET ROLE
	KindUse               // USE db
	KindPrepare           // text PREPARE name FROM …
	KindExecute           // text EXECUTE name
	KindDeallocate        // DEALLOCATE / DROP PREPARE name
	KindShow              // SHOW …
	KindCall              // CALL proc()
	KindLoadData          // LOAD DATA [LOCAL] INFILE
	KindLockTables        // LOCK TABLES
	KindUnlockTables      // UNLOCK TABLES
	KindKill              // KILL [CONNECTION|QUERY] id
	KindOther             // everything else the master must run: FLUSH, GRANT, SAVEPOINT, HANDLER, XA …
	numKinds
)

var kindNames = [numKinds]string{
	"unknown", "read", "write", "ddl", "begin", "commit", "rollback", "set", "use",
	"prepare", "execute", "deallocate", "show", "call", "load_data", "lock_tables",
	"unlock_tables", "kill", "other",
}

// String returns the stable lower-case name used in golden files and metrics.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "invalid"
}

// Flags are properties of a statement beyond its kind.
type Flags uint32

// The statement flags.
const (
	FlagForUpdate        Flags = 1 << iota // SELECT … FOR UPDATE / LOCK IN SHARE MODE / FOR SHARE
	FlagLastInsertID                       // LAST_INSERT_ID(), @@identity, @@last_insert_id
	FlagGetLock                            // GET_LOCK family (get, release, release_all, is_free, is_used)
	FlagLockAcquire                        // GET_LOCK() itself: the session holds a named lock afterwards
	FlagLockRelease                        // RELEASE_LOCK()/RELEASE_ALL_LOCKS(): assume the session holds none afterwards
	FlagSequence                           // NEXTVAL/LASTVAL/SETVAL, NEXT VALUE FOR, seq.nextval
	FlagNonDeterministic                   // RAND(), UUID(), NOW(), CONNECTION_ID() … (informational)
	FlagUnknownFunc                        // a stored function or UDF: it may write
	FlagUserVarRead                        // reads @var
	FlagUserVarWrite                       // assigns @var (SET @v, @v := …, SELECT … INTO @v)
	FlagTempCreate                         // CREATE TEMPORARY TABLE; Class.Name is the table
	FlagDropTable                          // DROP [TEMPORARY] TABLE; Class.Name lists the tables
	FlagMultiStmt                          // several statements in one COM_QUERY
	FlagIntoOutfile                        // SELECT … INTO OUTFILE/DUMPFILE
	FlagFallback                           // classified by the token fallback, not the parser
	FlagMasterOnly                         // SHOW MASTER STATUS / SHOW BINLOG STATUS
	FlagPrevious                           // FOUND_ROWS(), ROW_COUNT(), SHOW WARNINGS/ERRORS: needs the previous connection
	FlagReadOnly                           // START TRANSACTION READ ONLY
	FlagAutocommitOn                       // SET autocommit=1 (also commits an open transaction)
	FlagAutocommitOff                      // SET autocommit=0
	FlagSetGlobal                          // SET GLOBAL …: a server-wide change, not session state
	FlagIsolation                          // sets the session isolation level
	FlagSerializable                       // … to SERIALIZABLE
	FlagRenameTable                        // RENAME TABLE / ALTER TABLE … RENAME; Class.Name lists old,new pairs
	numFlags             = iota
)

var flagNames = [numFlags]string{
	"for_update", "last_insert_id", "get_lock", "lock_acquire", "lock_release",
	"sequence", "non_deterministic", "unknown_func", "user_var_read", "user_var_write",
	"temp_create", "drop_table", "multi_stmt", "into_outfile", "fallback", "master_only",
	"previous", "read_only", "autocommit_on", "autocommit_off", "set_global", "isolation",
	"serializable", "rename_table",
}

// Has reports whether every flag in f is set.
func (fl Flags) Has(f Flags) bool { return fl&f == f }

// Any reports whether at least one flag in f is set.
func (fl Flags) Any(f Flags) bool { return fl&f != 0 }

// String lists the flags by name, comma separated, in bit order.
func (fl Flags) String() string {
	var b strings.Builder
	for i := 0; i < numFlags; i++ {
		if fl&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(flagNames[i])
	}
	return b.String()
}

// Class is the routing-relevant summary of one COM_QUERY (or of one
// prepared statement's text). It is a small comparable value: the cache
// hands out copies, and the strings in it are shared, never mutated.
type Class struct {
	Kind  Kind
	Flags Flags
	// PrepKind and PrepFlags classify the text of `PREPARE name FROM '…'`,
	// so that a later text EXECUTE can be routed like the statement it runs.
	// PrepKind is KindUnknown when the text comes from a variable.
	PrepKind  Kind
	PrepFlags Flags
	// Name is, depending on the kind: the temporary table created
	// (FlagTempCreate), the tables dropped (FlagDropTable, NUL separated),
	// old and new names in turn (FlagRenameTable), or the prepared
	// statement name (PREPARE/EXECUTE/DEALLOCATE). In a
	// multi-statement it lists only the temporary tables created.
	// Names are lower case: MariaDB compares them case-insensitively on the
	// common configurations, and one cache entry serves every spelling.
	Name string
	// Tables are the lower-case, unqualified names of the tables the
	// statement mentions, NUL separated, in first-seen order.
	Tables string
}

// NameList iterates over the NUL separated entries of Name.
func (c Class) NameList() func(yield func(string) bool) { return splitNUL(c.Name) }

// TableList iterates over the tables the statement mentions.
func (c Class) TableList() func(yield func(string) bool) { return splitNUL(c.Tables) }

// MentionsTable reports whether the statement mentions table name (case-insensitive).
func (c Class) MentionsTable(name string) bool {
	for t := range splitNUL(c.Tables) {
		if strings.EqualFold(t, name) {
			return true
		}
	}
	return false
}

func splitNUL(s string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for s != "" {
			head, rest, _ := strings.Cut(s, "\x00")
			if !yield(head) {
				return
			}
			s = rest
		}
	}
}

// String renders the class for golden files and logs, for example
// "read flags=user_var_read tables=t1,t2".
func (c Class) String() string {
	var b strings.Builder
	b.WriteString(c.Kind.String())
	if c.Flags != 0 {
		b.WriteString(" flags=")
		b.WriteString(c.Flags.String())
	}
	if c.Kind == KindPrepare {
		b.WriteString(" prep=")
		b.WriteString(c.PrepKind.String())
		if c.PrepFlags != 0 {
			b.WriteByte('/')
			b.WriteString(c.PrepFlags.String())
		}
	}
	if c.Name != "" {
		b.WriteString(" name=")
		b.WriteString(strings.ReplaceAll(c.Name, "\x00", ","))
	}
	if c.Tables != "" {
		b.WriteString(" tables=")
		b.WriteString(strings.ReplaceAll(c.Tables, "\x00", ","))
	}
	return b.String()
}
