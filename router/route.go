package router

import (
	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/router/classify"
)

// Route decides where req goes (readwritesplit). It is a pure function of
// its arguments: it reads s but does not change it (see Session.Advance),
// and it allocates nothing. snap may be nil (no topology yet). load is the
// only input that may change between two calls with the same arguments.
func Route(req Request, s *Session, snap *topology.Snapshot, o *Options, load Load) Decision {
	r := router{s: s, snap: snap, o: o, load: load}
	switch req.Cmd {
	case CmdQuery:
		return r.route(req.Class, req.Hint, true)
	case CmdStmtPrepare:
		return Decision{Target: TargetAll, Reason: ReasonStmtPrepare}
	case CmdStmtExecute:
		p, ok := s.prepared[req.StmtID]
		if !ok {
			return r.master(ReasonStmtUnknown)
		}
		h := req.Hint
		if h.Target == classify.HintNone {
			h = p.hint
		}
		return r.route(p.class, h, true)
	case CmdStmtFetch:
		// The cursor lives where the statement was executed.
		if p, ok := s.prepared[req.StmtID]; ok && p.last != "" {
			return Decision{Target: TargetPrevious, Server: p.last, Reason: ReasonStmtFetch}
		}
		return r.master(ReasonStmtUnknown)
	case CmdStmtClose:
		return Decision{Target: TargetAll, Reason: ReasonStmtClose}
	case CmdStmtReset:
		return Decision{Target: TargetAll, Reason: ReasonStmtReset}
	case CmdInitDB:
		return Decision{Target: TargetAll, Reason: ReasonInitDB}
	case CmdResetConnection:
		return Decision{Target: TargetAll, Reason: ReasonResetConnection}
	}
	return r.master(ReasonCommand)
}

type router struct {
	s    *Session
	snap *topology.Snapshot
	o    *Options
	load Load
}

// route applies MaxScale's readwritesplit rules to one statement class.
// tablesKnown is false for a class without a table list (the text of a
// text PREPARE), which then counts as reading any temporary table.
func (r *router) route(c classify.Class, h classify.Hint, tablesKnown bool) Decision {
	s, f := r.s, c.Flags
	if f.Has(classify.FlagMultiStmt) {
		return r.master(ReasonMultiStmt)
	}

	// Session commands go everywhere, inside transactions too.
	switch c.Kind {
	case classify.KindSet:
		switch {
		case f.Has(classify.FlagSetGlobal):
			return r.master(ReasonSetGlobal)
		case f.Any(classify.FlagLastInsertID | classify.FlagGetLock | classify.FlagSequence | classify.FlagUnknownFunc):
			// The value only means something on the master.
			return r.master(ReasonSetMasterOnly)
		case !f.Has(classify.FlagFallback) && s.readsTempTable(c, tablesKnown):
			// SET @v = (SELECT … FROM tmp) would fail where tmp does not exist.
			return r.master(ReasonTempTable)
		}
		return Decision{Target: TargetAll, Reason: ReasonSet}
	case classify.KindUse:
		return Decision{Target: TargetAll, Reason: ReasonUse}
	case classify.KindPrepare:
		return Decision{Target: TargetAll, Reason: ReasonPrepare}
	case classify.KindDeallocate:
		return Decision{Target: TargetAll, Reason: ReasonDeallocate}
	}

	// Transaction boundaries.
	switch c.Kind {
	case classify.KindBegin:
		// A BEGIN commits the open transaction implicitly, so it must reach
		// the server running it. Inside a read-write transaction that is the
		// master, whatever the BEGIN starts; a read-only transaction that
		// follows a read-only one stays on its reader.
		roTrx := s.inTrx && s.trxReadOnly && s.trxServer != ""
		switch {
		case roTrx && f.Has(classify.FlagReadOnly):
			return r.readOnlyTrx(ReasonTrxBeginReadOnly)
		case roTrx:
			// The master starts the new transaction; the proxy ends the
			// reader's (Session.ReadOnlyTrxServer) so that its snapshot does
			// not outlive it.
			return r.master(ReasonTrxBeginEndsReadOnly)
		case f.Has(classify.FlagReadOnly) && s.pins == 0 && !s.autocommitOff && !s.inTrx:
			return r.reader(ReasonTrxBeginReadOnly)
		}
		return r.master(ReasonTrxBegin)
	case classify.KindCommit, classify.KindRollback:
		if s.inTrx && s.trxReadOnly && s.trxServer != "" {
			return r.readOnlyTrx(ReasonTrxEndReadOnly)
		}
		return r.master(ReasonTrxEnd)
	case classify.KindUnlockTables:
		return r.master(ReasonUnlockTables)
	}
	if s.inTrx && s.trxReadOnly && s.trxServer != "" {
		return r.readOnlyTrx(ReasonReadOnlyTrx)
	}
	if s.inTrx {
		return r.master(ReasonTrx)
	}
	if s.autocommitOff {
		return r.master(ReasonAutocommitOff)
	}
	if s.pins != 0 {
		return r.master(ReasonPinnedPrefix + s.pins.first())
	}

	// Hints override when their target is valid.
	switch h.Target {
	case classify.HintMaster:
		return r.master(ReasonHintMaster)
	case classify.HintServer:
		if srv := r.snap.Server(h.Server); srv != nil && usable(srv.State) {
			return Decision{Target: TargetServer, Server: srv.Name, Reason: ReasonHintServer}
		}
	case classify.HintSlave:
		if c.Kind == classify.KindRead || c.Kind == classify.KindShow {
			if name, _ := r.pickReader(); name != "" {
				return Decision{Target: TargetSlave, Server: name, Reason: ReasonHintSlave}
			}
		}
	case classify.HintLast:
		if srv := r.snap.Server(s.last); srv != nil && usable(srv.State) {
			return Decision{Target: TargetPrevious, Server: s.last, Reason: ReasonHintLast}
		}
	}

	switch c.Kind {
	case classify.KindRead:
		return r.read(c, tablesKnown)
	case classify.KindShow:
		switch {
		case f.Has(classify.FlagMasterOnly):
			return r.master(ReasonShowMasterStatus)
		case f.Has(classify.FlagPrevious):
			return r.previous()
		case s.readsTempTable(c, true):
			return r.master(ReasonTempTable) // SHOW COLUMNS FROM tmp, SHOW CREATE TABLE tmp
		}
		return r.reader(ReasonShow)
	case classify.KindExecute:
		inner, ok := s.textPrepared[c.Name]
		if !ok || inner.Kind == classify.KindUnknown {
			return r.master(ReasonExecuteUnknown)
		}
		return r.route(inner, h, false)
	case classify.KindWrite:
		return r.master(ReasonWrite)
	case classify.KindDDL:
		return r.master(ReasonDDL)
	case classify.KindCall:
		return r.master(ReasonCall)
	case classify.KindLoadData:
		return r.master(ReasonLoadData)
	case classify.KindLockTables:
		return r.master(ReasonLockTables)
	case classify.KindUnlockTables:
		return r.master(ReasonUnlockTables)
	case classify.KindKill:
		return r.master(ReasonKill)
	case classify.KindOther:
		return r.master(ReasonOther)
	}
	return r.master(ReasonUnknown)
}

// read routes an autocommit read.
func (r *router) read(c classify.Class, tablesKnown bool) Decision {
	f := c.Flags
	switch {
	case f.Has(classify.FlagPrevious):
		return r.previous()
	case f.Has(classify.FlagForUpdate):
		return r.master(ReasonForUpdate)
	case f.Has(classify.FlagIntoOutfile):
		return r.master(ReasonIntoOutfile)
	case f.Has(classify.FlagLastInsertID):
		return r.master(ReasonLastInsertID)
	case f.Has(classify.FlagGetLock):
		return r.master(ReasonGetLock)
	case f.Has(classify.FlagSequence):
		return r.master(ReasonSequence)
	case f.Has(classify.FlagUnknownFunc):
		return r.master(ReasonUnknownFunc)
	case f.Has(classify.FlagUserVarWrite):
		if r.o.UseSQLVariablesIn == VarsAll {
			return Decision{Target: TargetAll, Reason: ReasonUserVarWrite}
		}
		return r.master(ReasonUserVarWrite)
	case r.s.readsTempTable(c, tablesKnown):
		return r.master(ReasonTempTable)
	case f.Has(classify.FlagUserVarRead) && r.o.UseSQLVariablesIn == VarsMaster:
		return r.master(ReasonUserVarRead)
	case f.Has(classify.FlagUserVarRead) && r.s.userVarsOnMaster:
		return r.master(ReasonUserVarOnMaster)
	}
	return r.reader(ReasonRead)
}

func (r *router) previous() Decision {
	if r.s.last == "" {
		return r.master(ReasonNoPrevious)
	}
	return Decision{Target: TargetPrevious, Server: r.s.last, Reason: ReasonPrevious}
}

// master sends the statement to the writer, or says there is none.
func (r *router) master(reason string) Decision {
	if m := r.usableMaster(); m != nil {
		return Decision{Target: TargetMaster, Server: m.Name, Reason: reason}
	}
	return Decision{Target: TargetMaster, Reason: ReasonNoMaster}
}

// reader sends a read to a slave, or to the master when no slave can take it.
func (r *router) reader(reason string) Decision {
	name, degraded := r.pickReader()
	if name == "" {
		if m := r.usableMaster(); m != nil {
			return Decision{Target: TargetMaster, Server: m.Name, Reason: ReasonNoSlave}
		}
		return Decision{Target: TargetSlave, Reason: ReasonNoServer}
	}
	if degraded {
		reason = degradedReason(reason)
	}
	return Decision{Target: TargetSlave, Server: name, Reason: reason}
}

// readOnlyTrx keeps a read-only transaction on the reader that began it.
func (r *router) readOnlyTrx(reason string) Decision {
	if srv := r.snap.Server(r.s.trxServer); srv != nil && usable(srv.State) {
		return Decision{Target: TargetSlave, Server: srv.Name, Reason: reason}
	}
	return Decision{Target: TargetSlave, Reason: ReasonReadOnlyTrxLost}
}

// degradedReason appends the degraded suffix without allocating for the
// reasons the router produces.
func degradedReason(reason string) string {
	switch reason {
	case ReasonRead:
		return ReasonRead + ReasonDegradedSuffix
	case ReasonShow:
		return ReasonShow + ReasonDegradedSuffix
	case ReasonTrxBeginReadOnly:
		return ReasonTrxBeginReadOnly + ReasonDegradedSuffix
	}
	return reason
}
