package router

// VarsTarget is use_sql_variables_in: where reads of user variables go.
type VarsTarget uint8

// The use_sql_variables_in values.
const (
	// VarsAll (MaxScale's default): SET @v goes to every backend, so a
	// SELECT that reads @v may run on a slave; a SELECT that assigns one
	// goes to every backend.
	VarsAll VarsTarget = iota
	// VarsMaster: statements that read or assign user variables go to the
	// master; SET @v still goes to every backend.
	VarsMaster
)

// Options are the readwritesplit parameters that change decisions. The
// zero value is MaxScale's default behaviour. The integrator maps the
// service configuration onto it; the router reads nothing else.
type Options struct {
	UseSQLVariablesIn VarsTarget
	// MasterAcceptReads lets the master serve reads like any slave.
	MasterAcceptReads bool
	// StrictMultiStmt pins the session to the master after a multi-statement.
	StrictMultiStmt bool
	// StrictSPCalls pins the session to the master after a CALL.
	StrictSPCalls bool
	// ReadFromSynced takes readers from Synced nodes rather than nodes with
	// the Slave role, for monitors run with disable_master_role_setting.
	ReadFromSynced bool
}

// Load reports the current load of a server: the number of statements in
// flight on it for readwritesplit (least_current_operations), or of client
// connections for readconnroute. A nil Load counts every server as idle.
// It is called during a decision and must not block.
type Load func(server string) int

func (l Load) of(server string) int {
	if l == nil {
		return 0
	}
	return l(server)
}
