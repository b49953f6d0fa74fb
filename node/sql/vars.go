package sql

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/sql/types"
)

type varScope uint8

const (
	scopeDefault varScope = iota // @@x: session value if the variable has one, else global
	scopeSession
	scopeGlobal
)

type varKind uint8

const (
	varStr varKind = iota
	varInt
	varBool
	varEnum
	varFloat
)

type varFlags uint8

const (
	flagGlobal   varFlags = 1 << iota // has a global value
	flagSession                       // has a session value
	flagReadOnly                      // SET refused (1238)
	flagNullable                      // may be set to NULL (character_set_results)
)

type sysVar struct {
	name  string
	kind  varKind
	flags varFlags
	def   string
	enum  []string
	min   int64
	max   int64
}

const both = flagGlobal | flagSession

// sysVars are the variables connectors and tools read; values follow MariaDB 10.11's defaults.
var sysVars = map[string]*sysVar{}

func defVar(name string, kind varKind, flags varFlags, def string, extra ...string) {
	sysVars[name] = &sysVar{name: name, kind: kind, flags: flags, def: def, enum: extra, min: 0, max: 1<<62 - 1}
}

func init() {
	cs := []string{}
	defVar("autocommit", varBool, both, "ON")
	defVar("sql_mode", varStr, both, "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION")
	for _, n := range []string{"character_set_client", "character_set_connection", "character_set_database", "character_set_server"} {
		defVar(n, varStr, both, "utf8mb4", cs...)
	}
	defVar("character_set_results", varStr, both|flagNullable, "utf8mb4")
	defVar("character_set_system", varStr, flagGlobal|flagReadOnly, "utf8mb3")
	defVar("character_set_filesystem", varStr, both, "binary")
	defVar("character_sets_dir", varStr, flagGlobal|flagReadOnly, "/usr/share/mariadb/charsets/")
	for _, n := range []string{"collation_connection", "collation_database", "collation_server"} {
		defVar(n, varStr, both, "utf8mb4_general_ci")
	}
	defVar("max_allowed_packet", varInt, both, "16777216")
	defVar("net_buffer_length", varInt, both, "16384")
	defVar("net_read_timeout", varInt, both, "30")
	defVar("net_write_timeout", varInt, both, "60")
	defVar("wait_timeout", varInt, both, "28800")
	defVar("interactive_timeout", varInt, both, "28800")
	defVar("connect_timeout", varInt, flagGlobal, "10")
	defVar("tx_isolation", varEnum, both, "REPEATABLE-READ", "READ-UNCOMMITTED", "READ-COMMITTED", "REPEATABLE-READ", "SERIALIZABLE")
	defVar("tx_read_only", varBool, both, "OFF")
	defVar("time_zone", varStr, both, "SYSTEM")
	defVar("system_time_zone", varStr, flagGlobal|flagReadOnly, "UTC")
	defVar("lower_case_table_names", varInt, flagGlobal|flagReadOnly, "0")
	defVar("lower_case_file_system", varBool, flagGlobal|flagReadOnly, "OFF")
	defVar("version", varStr, flagGlobal|flagReadOnly, "")
	defVar("version_comment", varStr, flagGlobal|flagReadOnly, "maxnode (Galera-compatible)")
	defVar("version_compile_os", varStr, flagGlobal|flagReadOnly, "debian-linux-gnu")
	defVar("version_compile_machine", varStr, flagGlobal|flagReadOnly, "x86_64")
	defVar("version_ssl_library", varStr, flagGlobal|flagReadOnly, "")
	defVar("protocol_version", varInt, flagGlobal|flagReadOnly, "10")
	defVar("innodb_lock_wait_timeout", varInt, both, "50")
	defVar("lock_wait_timeout", varInt, both, "86400")
	defVar("innodb_rollback_on_timeout", varBool, flagGlobal|flagReadOnly, "OFF")
	defVar("auto_increment_increment", varInt, both, "1")
	defVar("auto_increment_offset", varInt, both, "1")
	defVar("max_connections", varInt, flagGlobal, "151")
	defVar("max_user_connections", varInt, both, "0")
	defVar("hostname", varStr, flagGlobal|flagReadOnly, "")
	defVar("port", varInt, flagGlobal|flagReadOnly, "3306")
	defVar("datadir", varStr, flagGlobal|flagReadOnly, "")
	defVar("socket", varStr, flagGlobal|flagReadOnly, "")
	defVar("server_id", varInt, both, "1")
	defVar("license", varStr, flagGlobal|flagReadOnly, "GPL")
	defVar("performance_schema", varBool, flagGlobal|flagReadOnly, "OFF")
	defVar("query_cache_size", varInt, flagGlobal, "1048576")
	defVar("query_cache_type", varEnum, both, "OFF", "OFF", "ON", "DEMAND")
	defVar("have_query_cache", varStr, flagGlobal|flagReadOnly, "YES")
	defVar("init_connect", varStr, flagGlobal, "")
	defVar("sql_auto_is_null", varBool, flagSession, "OFF")
	defVar("sql_select_limit", varInt, both, "18446744073709551615")
	defVar("sql_safe_updates", varBool, both, "OFF")
	defVar("sql_big_selects", varBool, both, "ON")
	defVar("sql_log_bin", varBool, flagSession, "ON")
	defVar("sql_notes", varBool, both, "ON")
	defVar("sql_warnings", varBool, both, "OFF")
	defVar("sql_quote_show_create", varBool, both, "ON")
	defVar("foreign_key_checks", varBool, both, "ON")
	defVar("unique_checks", varBool, both, "ON")
	defVar("group_concat_max_len", varInt, both, "1048576")
	defVar("div_precision_increment", varInt, both, "4")
	defVar("default_storage_engine", varStr, both, "InnoDB")
	defVar("storage_engine", varStr, both, "InnoDB")
	defVar("default_tmp_storage_engine", varStr, both, "")
	defVar("default_week_format", varInt, both, "0")
	defVar("explicit_defaults_for_timestamp", varBool, both, "ON")
	defVar("have_ssl", varStr, flagGlobal|flagReadOnly, "DISABLED")
	defVar("have_openssl", varStr, flagGlobal|flagReadOnly, "NO")
	defVar("session_track_schema", varBool, both, "ON")
	defVar("session_track_state_change", varBool, both, "OFF")
	defVar("session_track_transaction_info", varEnum, both, "OFF", "OFF", "STATE", "CHARACTERISTICS")
	defVar("session_track_system_variables", varStr, both, "autocommit,character_set_client,character_set_connection,character_set_results,time_zone")
	defVar("log_bin", varBool, flagGlobal|flagReadOnly, "OFF")
	defVar("binlog_format", varEnum, both, "MIXED", "MIXED", "STATEMENT", "ROW")
	defVar("read_only", varBool, flagGlobal, "OFF")
	defVar("max_statement_time", varFloat, both, "0.000000")
	defVar("skip_networking", varBool, flagGlobal|flagReadOnly, "OFF")
	defVar("skip_name_resolve", varBool, flagGlobal|flagReadOnly, "OFF")
	defVar("bind_address", varStr, flagGlobal|flagReadOnly, "127.0.0.1")
	defVar("thread_handling", varStr, flagGlobal|flagReadOnly, "one-thread-per-connection")
	defVar("max_error_count", varInt, both, "64")
	defVar("sort_buffer_size", varInt, both, "2097152")
	defVar("join_buffer_size", varInt, both, "262144")
	defVar("tmp_table_size", varInt, both, "16777216")
	defVar("max_heap_table_size", varInt, both, "16777216")
	defVar("innodb_buffer_pool_size", varInt, flagGlobal, "134217728")
	defVar("innodb_flush_log_at_trx_commit", varInt, flagGlobal, "1")
	defVar("innodb_autoinc_lock_mode", varInt, flagGlobal|flagReadOnly, "2")
	defVar("innodb_version", varStr, flagGlobal|flagReadOnly, "10.11.99")
	defVar("old_passwords", varBool, both, "OFF")
	defVar("secure_auth", varBool, flagGlobal|flagReadOnly, "ON")
	defVar("default_authentication_plugin", varStr, flagGlobal|flagReadOnly, "mysql_native_password")
	defVar("warning_count", varInt, flagSession|flagReadOnly, "0")
	defVar("error_count", varInt, flagSession|flagReadOnly, "0")
	defVar("last_insert_id", varInt, flagSession, "0")
	defVar("identity", varInt, flagSession, "0")
	defVar("insert_id", varInt, flagSession, "0")
	defVar("timestamp", varFloat, flagSession, "0")
	defVar("pseudo_thread_id", varInt, flagSession, "0")
	defVar("big_tables", varBool, both, "OFF")
	defVar("sql_buffer_result", varBool, both, "OFF")
	defVar("optimizer_switch", varStr, both, "index_merge=on")
	defVar("profiling", varBool, both, "OFF")
	defVar("long_query_time", varFloat, both, "10.000000")
	defVar("slow_query_log", varBool, flagGlobal, "OFF")
	defVar("general_log", varBool, flagGlobal, "OFF")
	defVar("log_warnings", varInt, both, "2")
	defVar("completion_type", varEnum, both, "NO_CHAIN", "NO_CHAIN", "CHAIN", "RELEASE")
	defVar("in_transaction", varInt, flagSession|flagReadOnly, "0")
	defVar("external_user", varStr, flagSession|flagReadOnly, "")
	defVar("proxy_user", varStr, flagSession|flagReadOnly, "")
	defVar("gtid_domain_id", varInt, both, "0")
	defVar("gtid_strict_mode", varBool, flagGlobal, "OFF")
	defVar("log_slave_updates", varBool, flagGlobal|flagReadOnly, "OFF")
	defVar("wsrep_on", varBool, flagGlobal|flagReadOnly, "OFF")
	defVar("wsrep_sync_wait", varInt, both, "0")
	defVar("wsrep_causal_reads", varBool, both, "OFF")
	defVar("wsrep_retry_autocommit", varInt, both, "1")
	defVar("wsrep_max_ws_rows", varInt, flagGlobal, "0")
	defVar("wsrep_max_ws_size", varInt, flagGlobal, "2147483647")
	defVar("wsrep_desync", varBool, flagGlobal, "OFF")
	defVar("wsrep_reject_queries", varEnum, flagGlobal, "NONE", "NONE", "ALL", "ALL_KILL")
	defVar("wsrep_sst_donor_rejects_queries", varBool, flagGlobal, "OFF")
	defVar("wsrep_sst_donor", varStr, flagGlobal, "")
	// Read from the replication layer (ExtraVariables); registered so that SET GLOBAL reaches
	// EngineOptions.OnSetGlobal (pc.bootstrap=YES).
	defVar("wsrep_provider_options", varStr, flagGlobal, "")
	// Galera settings maxnode has one fixed answer for: listed so that tools reading them see what the
	// node does, read-only so that asking for anything else (RSU, parallel appliers, streaming
	// replication, dirty reads) is a clear error rather than silently ignored. A cluster node's
	// ExtraVariables override the node-specific ones.
	defVar("wsrep_provider", varStr, flagGlobal|flagReadOnly, "none")
	defVar("wsrep_osu_method", varStr, both|flagReadOnly, "TOI")
	defVar("wsrep_slave_threads", varInt, flagGlobal|flagReadOnly, "1")
	defVar("wsrep_sst_method", varStr, flagGlobal|flagReadOnly, "maxnode")
	defVar("wsrep_dirty_reads", varBool, both|flagReadOnly, "OFF")
	defVar("wsrep_certify_nonpk", varBool, flagGlobal|flagReadOnly, "ON")
	defVar("wsrep_log_conflicts", varBool, flagGlobal|flagReadOnly, "OFF")
	defVar("wsrep_gtid_mode", varBool, flagGlobal|flagReadOnly, "OFF")
	defVar("wsrep_gtid_domain_id", varInt, flagGlobal|flagReadOnly, "0")
	defVar("wsrep_debug", varStr, flagGlobal|flagReadOnly, "NONE")
	defVar("wsrep_trx_fragment_size", varInt, both|flagReadOnly, "0")
	defVar("wsrep_node_incoming_address", varStr, flagGlobal|flagReadOnly, "AUTO")
	defVar("wsrep_data_home_dir", varStr, flagGlobal|flagReadOnly, "")
	defVar("transaction_alloc_block_size", varInt, both, "8192")
	defVar("table_open_cache", varInt, flagGlobal, "2000")
	defVar("open_files_limit", varInt, flagGlobal|flagReadOnly, "32768")
	defVar("thread_cache_size", varInt, flagGlobal, "151")
	defVar("tmpdir", varStr, flagGlobal|flagReadOnly, "/tmp")
	defVar("basedir", varStr, flagGlobal|flagReadOnly, "/usr")
	defVar("pid_file", varStr, flagGlobal|flagReadOnly, "")
	defVar("default_password_lifetime", varInt, flagGlobal, "0")
	defVar("old_mode", varStr, both, "UTF8_IS_UTF8MB3")
	defVar("aria_used_for_temp_tables", varBool, flagGlobal|flagReadOnly, "ON")
	defVar("net_retry_count", varInt, both, "10")
	defVar("query_alloc_block_size", varInt, both, "16384")
	defVar("large_files_support", varBool, flagGlobal|flagReadOnly, "ON")
}

func (e *Engine) initGlobals() {
	for name, v := range sysVars {
		e.globals[name] = e.varDefault(v)
	}
}

func (e *Engine) varDefault(v *sysVar) types.Value {
	switch v.name {
	case "version":
		return types.NewString(e.opts.ServerVersion)
	case "hostname":
		return types.NewString(e.opts.Hostname)
	case "port":
		return types.NewInt(int64(e.opts.Port))
	case "datadir":
		return types.NewString(e.opts.DataDir)
	}
	return parseVarValue(v, v.def)
}

func parseVarValue(v *sysVar, s string) types.Value {
	switch v.kind {
	case varBool:
		if strings.EqualFold(s, "ON") || s == "1" {
			return types.NewInt(1)
		}
		return types.NewInt(0)
	case varInt:
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			if u > 1<<63-1 {
				return types.NewUint(u)
			}
			return types.NewInt(int64(u))
		}
		i, _ := strconv.ParseInt(s, 10, 64)
		return types.NewInt(i)
	case varFloat:
		d, _, _ := types.ParseDecimal(s)
		return types.NewDecimal(d.Round(6))
	}
	return types.NewString(s)
}

// getSysVar reads @@name in the given scope.
func (s *Session) getSysVar(name string, sc varScope) (types.Value, error) {
	name = strings.ToLower(name)
	v, ok := sysVars[name]
	if !ok || (v.flags&flagSession == 0 || sc == scopeGlobal) {
		// Variables of the replication layer (ExtraVariables) win over the registry's global defaults.
		if ev, ok := s.e.extraVar(name); ok {
			return ev, nil
		}
	}
	if !ok {
		return types.Null, newErr(ErUnknownSystemVariable, "Unknown system variable '%s'", name)
	}
	switch name {
	case "warning_count":
		return types.NewInt(int64(s.warnCount)), nil
	case "error_count":
		n := 0
		for _, w := range s.warnings {
			if w.Level == "Error" {
				n++
			}
		}
		return types.NewInt(int64(n)), nil
	case "last_insert_id", "identity":
		return types.NewUint(s.lastInsertID), nil
	case "in_transaction":
		return types.NewBool(s.InTransaction()), nil
	case "pseudo_thread_id":
		return types.NewUint(uint64(s.connID)), nil
	case "timestamp":
		t := s.stmtTime()
		d := types.DecimalFromInt(t.UnixMicro())
		q, _ := d.Div(types.DecimalFromInt(1000000))
		return types.NewDecimal(q.Round(6)), nil
	}
	if sc == scopeGlobal {
		if v.flags&flagGlobal == 0 {
			return types.Null, newErr(ErIncorrectGlobalLocal, "Variable '%s' is a SESSION variable", name)
		}
		s.e.globalsMu.RLock()
		defer s.e.globalsMu.RUnlock()
		return s.e.globals[name], nil
	}
	if sc == scopeSession && v.flags&flagSession == 0 {
		return types.Null, newErr(ErIncorrectGlobalLocal, "Variable '%s' is a GLOBAL variable", name)
	}
	if sv, ok := s.vars[name]; ok {
		return sv, nil
	}
	s.e.globalsMu.RLock()
	defer s.e.globalsMu.RUnlock()
	return s.e.globals[name], nil
}

func (e *Engine) extraVar(name string) (types.Value, bool) {
	if e.opts.ExtraVariables == nil {
		return types.Null, false
	}
	for _, nv := range e.opts.ExtraVariables() {
		if strings.EqualFold(nv.Name, name) {
			return types.NewString(nv.Value), true
		}
	}
	return types.Null, false
}

// Variable reads a system variable as the session sees it (e.g. wsrep_sync_wait for the replication layer).
func (s *Session) Variable(name string) (Value, error) { return s.getSysVar(name, scopeDefault) }

// showValue renders a variable as SHOW VARIABLES does (booleans as ON/OFF).
func showValue(v *sysVar, val types.Value) string {
	if val.IsNull() {
		return ""
	}
	if v != nil && v.kind == varBool {
		if t, _ := types.Truth(val); t {
			return "ON"
		}
		return "OFF"
	}
	return val.String()
}

// execSet handles SET statements.
func (s *Session) execSet(ctx context.Context, x *ast.SetStmt, params []Value) (*Result, error) {
	for _, a := range x.Variables {
		if err := s.setOne(ctx, a, params); err != nil {
			return nil, err
		}
	}
	return &Result{}, nil
}

func (s *Session) setOne(ctx context.Context, a *ast.VariableAssignment, params []Value) error {
	cp := &compiler{s: s, sc: &scope{}, clause: "SELECT", params: params}
	switch {
	case a.Name == ast.SetNames || a.Name == ast.SetCharset:
		charset := "utf8mb4"
		coll := ""
		if a.Value != nil {
			if ve, ok := a.Value.(ast.ValueExpr); ok {
				charset = strings.ToLower(ve.GetString())
			}
		}
		if a.ExtendValue != nil {
			coll = strings.ToLower(a.ExtendValue.GetString())
		}
		if _, ok := types.CollationByName(charset); !ok && charset != "default" {
			return newErr(ErUnknownCharset, "Unknown character set: '%s'", charset)
		}
		if charset == "default" {
			charset = "utf8mb4"
		}
		if coll == "" {
			coll = defaultCollation(charset)
		} else if _, ok := types.CollationByName(coll); !ok {
			return newErr(ErUnknownCollation, "Unknown collation: '%s'", coll)
		}
		s.vars["character_set_client"] = types.NewString(charset)
		s.vars["character_set_results"] = types.NewString(charset)
		if a.Name == ast.SetNames {
			s.vars["character_set_connection"] = types.NewString(charset)
			s.vars["collation_connection"] = types.NewString(coll)
		} else {
			s.vars["character_set_connection"] = s.vars["character_set_database"]
			if s.vars["character_set_connection"].IsNull() {
				s.vars["character_set_connection"] = types.NewString("utf8mb4")
			}
		}
		return nil
	case !a.IsSystem:
		if a.Value == nil {
			return errNotSupported("this SET form")
		}
		e, err := cp.compile(a.Value)
		if err != nil {
			return err
		}
		v, err := e.eval(&evalCtx{s: s})
		if err != nil {
			return err
		}
		s.userVars[strings.ToLower(a.Name)] = v
		return nil
	}
	name := strings.ToLower(a.Name)
	if name == "tx_isolation_one_shot" {
		// SET TRANSACTION ISOLATION LEVEL ... (next transaction only): every level runs as a snapshot here,
		// so only the value is checked.
		name = "tx_isolation"
		if a.Value == nil {
			return nil
		}
		e, err := cp.compile(a.Value)
		if err != nil {
			return err
		}
		v, err := e.eval(&evalCtx{s: s})
		if err != nil {
			return err
		}
		_, err = normalizeVar(sysVars[name], v)
		return err
	}
	v, ok := sysVars[name]
	if !ok {
		if _, ok := s.e.extraVar(name); ok {
			return newErr(ErIncorrectGlobalLocal, "Variable '%s' is a read only variable", name)
		}
		return newErr(ErUnknownSystemVariable, "Unknown system variable '%s'", name)
	}
	if v.flags&flagReadOnly != 0 {
		return newErr(ErIncorrectGlobalLocal, "Variable '%s' is a read only variable", name)
	}
	global := a.IsGlobal
	if global && v.flags&flagGlobal == 0 {
		return newErr(1228, "Variable '%s' is a SESSION variable and can't be used with SET GLOBAL", name)
	}
	if !global && v.flags&flagSession == 0 {
		return newErr(1229, "Variable '%s' is a GLOBAL variable and should be set with SET GLOBAL", name)
	}
	if global && !s.hasGlobalPriv(catalog.PrivSuper) {
		return s.errSpecificDenied("SUPER")
	}
	var val types.Value
	if a.Value == nil {
		val = s.e.varDefault(v)
	} else if _, isDefault := a.Value.(*ast.DefaultExpr); isDefault {
		val = s.e.varDefault(v)
	} else {
		var raw types.Value
		if cn, ok := a.Value.(*ast.ColumnNameExpr); ok && cn.Name.Table.L == "" {
			// SET x = ON / SET time_zone = SYSTEM: bare words are values
			raw = types.NewString(cn.Name.Name.O)
		} else {
			e, err := cp.compile(a.Value)
			if err != nil {
				return err
			}
			if raw, err = e.eval(&evalCtx{s: s}); err != nil {
				return err
			}
		}
		var err error
		if val, err = normalizeVar(v, raw); err != nil {
			return err
		}
	}
	if name == "autocommit" && !global {
		on, _ := types.Truth(val)
		if on && s.inTxn {
			// Switching autocommit on commits the open transaction (as MySQL).
			if err := s.commitTxn(ctx); err != nil {
				return err
			}
		}
	}
	if name == "innodb_lock_wait_timeout" && !global && s.txn != nil {
		i, _ := types.ToInt(val)
		s.txn.SetLockWaitTimeout(secondsDur(i))
	}
	if name == "last_insert_id" || name == "identity" {
		u, _ := types.ToUint(val)
		s.lastInsertID = u
		return nil
	}
	if global && s.e.opts.OnSetGlobal != nil {
		if err := s.e.opts.OnSetGlobal(name, types.ToText(val)); err != nil {
			return err
		}
	}
	if global && name == "wsrep_desync" && s.e.opts.SetDesync != nil {
		on, _ := types.Truth(val)
		if err := s.e.opts.SetDesync(on); err != nil {
			return err
		}
	}
	if global {
		s.e.globalsMu.Lock()
		s.e.globals[name] = val
		s.e.globalsMu.Unlock()
		return nil
	}
	s.vars[name] = val
	return nil
}

func defaultCollation(charset string) string {
	switch charset {
	case "binary":
		return "binary"
	case "latin1":
		return "latin1_swedish_ci"
	case "utf8", "utf8mb3":
		return "utf8mb3_general_ci"
	case "ascii":
		return "ascii_general_ci"
	}
	return charset + "_general_ci"
}

func normalizeVar(v *sysVar, raw types.Value) (types.Value, error) {
	if raw.IsNull() {
		if v.flags&flagNullable != 0 {
			return types.Null, nil
		}
		return types.Null, newErr(ErWrongValueForVar, "Variable '%s' can't be set to the value of 'NULL'", v.name)
	}
	switch v.kind {
	case varBool:
		if raw.IsStringish() {
			switch strings.ToUpper(raw.Str()) {
			case "ON", "TRUE", "1":
				return types.NewInt(1), nil
			case "OFF", "FALSE", "0":
				return types.NewInt(0), nil
			}
			return types.Null, newErr(ErWrongValueForVar, "Variable '%s' can't be set to the value of '%s'", v.name, raw.Str())
		}
		i, _ := types.ToInt(raw)
		if i != 0 && i != 1 {
			return types.Null, newErr(ErWrongValueForVar, "Variable '%s' can't be set to the value of '%d'", v.name, i)
		}
		return types.NewInt(i), nil
	case varInt:
		if raw.IsStringish() {
			if _, st := types.ToInt(raw); st != types.OK {
				return types.Null, newErr(ErWrongTypeForVar, "Incorrect argument type to variable '%s'", v.name)
			}
		}
		if raw.Kind() == types.KindUint {
			return raw, nil
		}
		i, _ := types.ToInt(raw)
		if i < v.min {
			i = v.min
		}
		return types.NewInt(i), nil
	case varFloat:
		d, _ := types.ToDecimal(raw)
		return types.NewDecimal(d.Round(6)), nil
	case varEnum:
		s := strings.ToUpper(types.ToText(raw))
		if raw.Kind() == types.KindInt {
			// SET x = 0 names the enum's first value, as in MariaDB.
			i := raw.Int()
			if i >= 0 && int(i) < len(v.enum) {
				s = v.enum[i]
			}
		}
		for _, e := range v.enum {
			if strings.EqualFold(e, s) {
				return types.NewString(e), nil
			}
		}
		return types.Null, newErr(ErWrongValueForVar, "Variable '%s' can't be set to the value of '%s'", v.name, types.ToText(raw))
	}
	if raw.IsNumeric() && v.name != "sql_mode" {
		return types.NewString(raw.String()), nil
	}
	val := types.ToText(raw)
	switch v.name {
	case "sql_mode":
		var modes []string
		seen := map[string]bool{}
		for _, m := range strings.Split(strings.ToUpper(val), ",") {
			m = strings.TrimSpace(m)
			if m != "" && !seen[m] {
				seen[m] = true
				modes = append(modes, m)
			}
		}
		val = strings.Join(modes, ",")
	case "character_set_client", "character_set_connection", "character_set_results", "character_set_server", "character_set_database":
		if _, ok := types.CollationByName(val); !ok && val != "binary" {
			return types.Null, newErr(ErUnknownCharset, "Unknown character set: '%s'", val)
		}
	case "collation_connection", "collation_server", "collation_database":
		if _, ok := types.CollationByName(val); !ok {
			return types.Null, newErr(ErUnknownCollation, "Unknown collation: '%s'", val)
		}
	case "time_zone":
		if !strings.EqualFold(val, "SYSTEM") {
			if _, ok := parseTZOffset(val); !ok {
				return types.Null, newErr(1298, "Unknown or incorrect time zone: '%s'", val)
			}
		} else {
			val = "SYSTEM"
		}
	}
	return types.NewString(val), nil
}

// sortedVarNames lists the registry's names in order.
func sortedVarNames() []string {
	names := make([]string, 0, len(sysVars))
	for n := range sysVars {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
