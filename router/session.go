package router

import (
	"slices"
	"strings"

	"github.com/maxproxy/maxproxy/router/classify"
)

// Server status flags of OK and EOF packets that Advance reads.
const (
	StatusInTrans         uint16 = 0x0001 // SERVER_STATUS_IN_TRANS
	StatusAutocommit      uint16 = 0x0002 // SERVER_STATUS_AUTOCOMMIT
	StatusInTransReadOnly uint16 = 0x2000 // SERVER_STATUS_IN_TRANS_READONLY
)

// Pin is a set of reasons that keep every statement of a session on the master.
type Pin uint8

// The pin reasons.
const (
	PinStrictMultiStmt Pin = 1 << iota // strict_multi_stmt after a multi-statement
	PinStrictSPCall                    // strict_sp_calls after a CALL
	PinGetLock                         // GET_LOCK() was called and no RELEASE_LOCK() since
	PinSerializable                    // the session isolation level is SERIALIZABLE
	PinLockedTables                    // LOCK TABLES is in effect
)

var pinNames = [...]string{"strict_multi_stmt", "strict_sp_calls", "get_lock", "serializable", "locked_tables"}

// String lists the reasons, comma separated.
func (p Pin) String() string {
	var parts []string
	for i, n := range pinNames {
		if p&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ",")
}

// first returns the name of the lowest reason, for Decision.Reason.
func (p Pin) first() string {
	for i, n := range pinNames {
		if p&(1<<i) != 0 {
			return n
		}
	}
	return ""
}

// Reply is what the proxy saw of a statement's response.
type Reply struct {
	// OK is false when the statement failed (an ERR packet); its effects on
	// session state are then not applied, except what Status says.
	OK bool
	// Status holds the server status flags of the final OK/EOF packet, when
	// HasStatus is set. They are authoritative for transaction and
	// autocommit state: they catch implicit commits, and statements the
	// classifier cannot see into (prepared COMMIT, multi-statements). They
	// are ignored for TargetAll decisions, whose replies disagree.
	Status    uint16
	HasStatus bool
}

type preparedStmt struct {
	class classify.Class
	hint  classify.Hint // a hint in the prepared text applies to every execution
	last  string        // the server of the last COM_STMT_EXECUTE, for COM_STMT_FETCH
}

// Session is the routing state of one client session. The proxy keeps one
// per client connection (the zero value is a fresh session), reads it
// through Route and changes it only through Advance, from a single
// goroutine. Copying a Session shares its maps: use Clone for a snapshot.
type Session struct {
	inTrx, trxReadOnly bool
	trxServer          string // the reader running the read-only transaction
	autocommitOff      bool
	userVars           bool // the session assigned user variables (connection state to keep)
	userVarsOnMaster   bool // a user variable was assigned on the master only
	unnamedTempTables  bool // a temporary table whose name is unknown (created by a text-prepared statement)
	pins               Pin
	last               string // the server of the previous statement
	tempTables         []string
	prepared           map[uint32]preparedStmt
	textPrepared       map[string]classify.Class
	// TieBreak spreads sessions over equally loaded readers: set it once
	// (e.g. from the session id) for a deterministic but varied choice.
	TieBreak uint32
}

// InTransaction reports whether a transaction is open (explicitly, or
// implicitly with autocommit off).
func (s *Session) InTransaction() bool { return s.inTrx || s.autocommitOff }

// ReadOnlyTransaction reports whether the open transaction is READ ONLY.
func (s *Session) ReadOnlyTransaction() bool { return s.inTrx && s.trxReadOnly }

// ReadOnlyTrxServer returns the reader running the session's read-only
// transaction, or "" when there is none (or the master runs it).
func (s *Session) ReadOnlyTrxServer() string {
	if s.inTrx && s.trxReadOnly {
		return s.trxServer
	}
	return ""
}

// AutocommitOff reports whether the client turned autocommit off.
func (s *Session) AutocommitOff() bool { return s.autocommitOff }

// UserVariables reports whether the session has assigned user variables,
// state a pooled backend connection would have to carry.
func (s *Session) UserVariables() bool { return s.userVars }

// Pins returns the reasons the session is pinned to the master.
func (s *Session) Pins() Pin { return s.pins }

// TempTables returns the session's temporary tables (lower case).
func (s *Session) TempTables() []string { return slices.Clone(s.tempTables) }

// Last returns the server that ran the previous statement.
func (s *Session) Last() string { return s.last }

// Prepared returns the class of a binary prepared statement.
func (s *Session) Prepared(id uint32) (classify.Class, bool) {
	p, ok := s.prepared[id]
	return p.class, ok
}

// Clone returns an independent copy, for reporting.
func (s *Session) Clone() Session {
	c := *s
	c.tempTables = slices.Clone(s.tempTables)
	if s.prepared != nil {
		c.prepared = make(map[uint32]preparedStmt, len(s.prepared))
		for k, v := range s.prepared {
			c.prepared[k] = v
		}
	}
	if s.textPrepared != nil {
		c.textPrepared = make(map[string]classify.Class, len(s.textPrepared))
		for k, v := range s.textPrepared {
			c.textPrepared[k] = v
		}
	}
	return c
}

func (s *Session) hasTempTable(name string) bool {
	for _, t := range s.tempTables {
		if t == name {
			return true
		}
	}
	return false
}

// readsTempTable reports whether c may read one of the session's
// temporary tables. Without a reliable table list (a fallback class) any
// temporary table counts.
func (s *Session) readsTempTable(c classify.Class, tablesKnown bool) bool {
	if s.unnamedTempTables {
		return true
	}
	if len(s.tempTables) == 0 {
		return false
	}
	if !tablesKnown || c.Flags.Has(classify.FlagFallback) {
		return true
	}
	for t := range c.TableList() {
		if s.hasTempTable(t) {
			return true
		}
	}
	return false
}

// Advance updates the session after the proxy ran req where d said and got
// reply r. It is the only way session state changes.
func (s *Session) Advance(req Request, d Decision, r Reply, o *Options) {
	if d.Server != "" {
		s.last = d.Server
	}
	switch req.Cmd {
	case CmdStmtPrepare:
		if r.OK {
			if s.prepared == nil {
				s.prepared = make(map[uint32]preparedStmt)
			}
			s.prepared[req.StmtID] = preparedStmt{class: req.Class, hint: req.Hint}
		}
	case CmdStmtClose:
		delete(s.prepared, req.StmtID)
	case CmdStmtExecute:
		if p, ok := s.prepared[req.StmtID]; ok {
			p.last = d.Server
			s.prepared[req.StmtID] = p
			if r.OK {
				s.apply(p.class, d, o)
			}
		}
	case CmdResetConnection:
		// The servers forget the session's state; the connections stay.
		*s = Session{TieBreak: s.TieBreak, last: s.last}
	case CmdQuery:
		if r.OK {
			s.apply(req.Class, d, o)
		}
	}
	// A session command's replies come from several backends whose status
	// differs (only one runs the transaction); its class says all it changes.
	if r.HasStatus && d.Target != TargetAll {
		s.inTrx = r.Status&StatusInTrans != 0
		s.autocommitOff = r.Status&StatusAutocommit == 0
		if r.Status&StatusInTransReadOnly != 0 {
			s.trxReadOnly = true
		}
		if !s.inTrx {
			s.trxReadOnly, s.trxServer = false, ""
		}
	}
}

// apply records the effects of a successful statement of class c.
func (s *Session) apply(c classify.Class, d Decision, o *Options) {
	f := c.Flags
	kind := c.Kind
	if f.Has(classify.FlagMultiStmt) {
		// Only the flags of a multi-statement are known, not which statement
		// did what: transaction state comes from the reply status, and
		// strict_multi_stmt exists for sessions that need more.
		kind = classify.KindUnknown
	}
	switch kind {
	case classify.KindBegin:
		// BEGIN commits an open transaction and releases LOCK TABLES.
		s.inTrx = true
		s.trxReadOnly = f.Has(classify.FlagReadOnly)
		s.trxServer = ""
		if s.trxReadOnly && d.Target == TargetSlave {
			// A read-only transaction the master took (no slave, or pinned)
			// is just a transaction on the master.
			s.trxServer = d.Server
		}
		s.pins &^= PinLockedTables
	case classify.KindCommit, classify.KindRollback:
		s.inTrx, s.trxReadOnly, s.trxServer = false, false, ""
	case classify.KindSet:
		if f.Has(classify.FlagAutocommitOff) {
			s.autocommitOff = true
		}
		if f.Has(classify.FlagAutocommitOn) {
			// SET autocommit=1 also commits the open transaction.
			s.autocommitOff = false
			s.inTrx, s.trxReadOnly, s.trxServer = false, false, ""
		}
		if f.Has(classify.FlagIsolation) {
			if f.Has(classify.FlagSerializable) {
				s.pins |= PinSerializable
			} else {
				s.pins &^= PinSerializable
			}
		}
	case classify.KindLockTables:
		s.pins |= PinLockedTables
	case classify.KindUnlockTables:
		s.pins &^= PinLockedTables
	case classify.KindCall:
		if o.StrictSPCalls {
			s.pins |= PinStrictSPCall
		}
	case classify.KindPrepare:
		if s.textPrepared == nil {
			s.textPrepared = make(map[string]classify.Class)
		}
		s.textPrepared[c.Name] = classify.Class{Kind: c.PrepKind, Flags: c.PrepFlags}
	case classify.KindDeallocate:
		delete(s.textPrepared, c.Name)
	case classify.KindExecute:
		if inner, ok := s.textPrepared[c.Name]; ok {
			s.apply(inner, d, o)
		}
	case classify.KindDDL:
		if !f.Any(classify.FlagTempCreate | classify.FlagDropTable) {
			// Other DDL commits implicitly (the reply status confirms it).
			s.inTrx, s.trxReadOnly, s.trxServer = false, false, ""
		}
	}
	if f.Has(classify.FlagTempCreate) {
		if c.Name == "" {
			s.unnamedTempTables = true
		}
		for name := range c.NameList() {
			if !s.hasTempTable(name) {
				s.tempTables = append(slices.Clip(s.tempTables), name)
			}
		}
	}
	if f.Has(classify.FlagDropTable) {
		// DROP TABLE t drops the temporary t when there is one.
		for name := range c.NameList() {
			s.tempTables = slices.DeleteFunc(slices.Clip(s.tempTables), func(t string) bool { return t == name })
		}
	}
	if f.Has(classify.FlagRenameTable) {
		var from string
		odd := false
		for name := range c.NameList() {
			if odd = !odd; odd {
				from = name
				continue
			}
			for i, t := range s.tempTables {
				if t == from {
					s.tempTables = slices.Clone(s.tempTables)
					s.tempTables[i] = name
					break
				}
			}
		}
	}
	if f.Has(classify.FlagMultiStmt) && o.StrictMultiStmt {
		s.pins |= PinStrictMultiStmt
	}
	if f.Has(classify.FlagLockAcquire) {
		s.pins |= PinGetLock
	}
	if f.Has(classify.FlagLockRelease) {
		// Named locks are almost always taken and released in pairs; a
		// nested holder keeps its lock on the master either way.
		s.pins &^= PinGetLock
	}
	if f.Has(classify.FlagUserVarWrite) {
		s.userVars = true
		if d.Target != TargetAll {
			// The variable now exists only where the statement ran.
			s.userVarsOnMaster = true
		}
	}
}
