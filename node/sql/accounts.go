package sql

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/auth"
	"github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/maxproxy/maxproxy/node/sql/catalog"
	"github.com/maxproxy/maxproxy/node/storage"
)

// NativePasswordHash is MariaDB's mysql_native_password hash: "*" + upper hex of SHA1(SHA1(password)).
// The empty password has the empty hash.
func NativePasswordHash(pw string) string {
	if pw == "" {
		return ""
	}
	h1 := sha1.Sum([]byte(pw))
	h2 := sha1.Sum(h1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
}

func (s *Session) account() *catalog.User {
	for _, u := range s.e.schema.Load().Users {
		if u.User == s.authUser && u.Host == s.authHost {
			return u
		}
	}
	return nil
}

func (s *Session) hasGlobalPriv(p catalog.Privileges) bool {
	u := s.account()
	return u != nil && u.Global&p == p
}

// hasPriv reports whether the session's account holds all of p on db (global or database grants).
func (s *Session) hasPriv(db string, p catalog.Privileges) bool {
	u := s.account()
	if u == nil {
		return false
	}
	have := u.Global
	for pattern, dp := range u.DBs {
		if pattern == db || (strings.ContainsAny(pattern, "%_") && catalog.MatchHost(pattern, db)) {
			have |= dp
		}
	}
	return have&p == p
}

func (s *Session) hasDBAccess(db string) bool {
	if strings.EqualFold(db, "information_schema") {
		return true
	}
	u := s.account()
	if u == nil {
		return false
	}
	if u.Global&catalog.PrivAll != 0 {
		return true
	}
	for pattern, dp := range u.DBs {
		if dp != 0 && (pattern == db || catalog.MatchHost(pattern, db)) {
			return true
		}
	}
	return false
}

func (s *Session) errTableDenied(cmd, db, table string) *Error {
	return newErr(ErTableAccessDenied, "%s command denied to user '%s'@'%s' for table `%s`.`%s`", cmd, s.authUser, s.authHost, db, table)
}

func (s *Session) errDBDenied(db string) *Error {
	return newErr(ErDBAccessDenied, "Access denied for user '%s'@'%s' to database '%s'", s.authUser, s.authHost, db)
}

func (s *Session) errSpecificDenied(priv string) *Error {
	return newErr(ErSpecificAccessDenied, "Access denied; you need (at least one of) the %s privilege(s) for this operation", priv)
}

func privFromType(t mysql.PrivilegeType) (catalog.Privileges, bool) {
	switch t {
	case mysql.AllPriv:
		return catalog.PrivAll, true
	case mysql.SelectPriv:
		return catalog.PrivSelect, true
	case mysql.InsertPriv:
		return catalog.PrivInsert, true
	case mysql.UpdatePriv:
		return catalog.PrivUpdate, true
	case mysql.DeletePriv:
		return catalog.PrivDelete, true
	case mysql.CreatePriv:
		return catalog.PrivCreate, true
	case mysql.DropPriv:
		return catalog.PrivDrop, true
	case mysql.ReloadPriv:
		return catalog.PrivReload, true
	case mysql.ShutdownPriv:
		return catalog.PrivShutdown, true
	case mysql.ProcessPriv:
		return catalog.PrivProcess, true
	case mysql.FilePriv:
		return catalog.PrivFile, true
	case mysql.GrantPriv:
		return catalog.PrivGrant, true
	case mysql.ReferencesPriv:
		return catalog.PrivReferences, true
	case mysql.IndexPriv:
		return catalog.PrivIndex, true
	case mysql.AlterPriv:
		return catalog.PrivAlter, true
	case mysql.ShowDBPriv:
		return catalog.PrivShowDB, true
	case mysql.SuperPriv:
		return catalog.PrivSuper, true
	case mysql.CreateTMPTablePriv:
		return catalog.PrivCreateTmpTable, true
	case mysql.LockTablesPriv:
		return catalog.PrivLockTables, true
	case mysql.ExecutePriv:
		return catalog.PrivExecute, true
	case mysql.ReplicationSlavePriv:
		return catalog.PrivReplSlave, true
	case mysql.ReplicationClientPriv:
		return catalog.PrivReplClient, true
	case mysql.CreateViewPriv:
		return catalog.PrivCreateView, true
	case mysql.ShowViewPriv:
		return catalog.PrivShowView, true
	case mysql.CreateRoutinePriv:
		return catalog.PrivCreateRoutine, true
	case mysql.AlterRoutinePriv:
		return catalog.PrivAlterRoutine, true
	case mysql.CreateUserPriv:
		return catalog.PrivCreateUser, true
	case mysql.EventPriv:
		return catalog.PrivEvent, true
	case mysql.TriggerPriv:
		return catalog.PrivTrigger, true
	}
	return 0, false
}

func userHost(u *auth.UserIdentity) (string, string) {
	h := u.Hostname
	if h == "" {
		h = "%"
	}
	return u.Username, h
}

func authString(spec *ast.UserSpec) (string, error) {
	if spec.AuthOpt == nil {
		return "", nil
	}
	o := spec.AuthOpt
	if o.AuthPlugin != "" && o.AuthPlugin != mysql.AuthNativePassword {
		return "", errNotSupported("authentication plugin " + o.AuthPlugin)
	}
	if o.ByAuthString {
		return NativePasswordHash(o.AuthString), nil
	}
	if o.ByHashString || o.HashString != "" {
		h := strings.ToUpper(o.HashString)
		if h != "" && (len(h) != 41 || h[0] != '*') {
			return "", newErr(1372, "Password hash should be a 41-digit hexadecimal number")
		}
		return h, nil
	}
	return NativePasswordHash(o.AuthString), nil
}

func (s *Session) findUser(sch *catalog.Schema, user, host string) *catalog.User {
	for _, u := range sch.Users {
		if u.User == user && strings.EqualFold(u.Host, host) {
			return u
		}
	}
	return nil
}

func cloneUser(u *catalog.User) *catalog.User {
	c := *u
	c.DBs = map[string]catalog.Privileges{}
	for k, v := range u.DBs {
		c.DBs[k] = v
	}
	c.DBGrantOption = map[string]bool{}
	for k, v := range u.DBGrantOption {
		c.DBGrantOption[k] = v
	}
	return &c
}

func (s *Session) execAccountStmt(ctx context.Context, stmt ast.StmtNode) (*Result, error) {
	switch x := stmt.(type) {
	case *ast.CreateUserStmt:
		s.e.status.incCom("Com_create_user")
		return s.createUser(ctx, x)
	case *ast.AlterUserStmt:
		s.e.status.incCom("Com_alter_user")
		return s.alterUser(ctx, x)
	case *ast.DropUserStmt:
		s.e.status.incCom("Com_drop_user")
		return s.dropUser(ctx, x)
	case *ast.GrantStmt:
		s.e.status.incCom("Com_grant")
		return s.grant(ctx, x)
	case *ast.RevokeStmt:
		s.e.status.incCom("Com_revoke")
		return s.revoke(ctx, x)
	case *ast.SetPwdStmt:
		return s.setPassword(ctx, x)
	}
	return nil, errNotSupported(stmtName(stmt))
}

func (s *Session) createUser(ctx context.Context, x *ast.CreateUserStmt) (*Result, error) {
	if !s.hasGlobalPriv(catalog.PrivCreateUser) {
		return nil, s.errSpecificDenied("CREATE USER")
	}
	if x.IsCreateRole {
		return nil, errNotSupported("CREATE ROLE")
	}
	var failed []string
	err := s.ddlTxn(ctx, nil, func(t *storage.Txn) error {
		sch := s.e.schema.Load()
		for _, spec := range x.Specs {
			user, host := userHost(spec.User)
			if s.findUser(sch, user, host) != nil {
				if x.IfNotExists {
					s.warn("Note", 1973, "Can't create user '%s'@'%s'; it already exists", user, host)
					continue
				}
				failed = append(failed, "'"+user+"'@'"+host+"'")
				continue
			}
			as, err := authString(spec)
			if err != nil {
				return err
			}
			u := &catalog.User{User: user, Host: host, AuthString: as}
			if err := putDef(ctx, t, catalog.UserKey(user, host), u); err != nil {
				return err
			}
		}
		if len(failed) > 0 {
			return newErr(ErCannotUser, "Operation CREATE USER failed for %s", strings.Join(failed, ","))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

func (s *Session) alterUser(ctx context.Context, x *ast.AlterUserStmt) (*Result, error) {
	if x.CurrentAuth != nil {
		return nil, errNotSupported("ALTER USER USER()")
	}
	if !s.hasGlobalPriv(catalog.PrivCreateUser) {
		return nil, s.errSpecificDenied("CREATE USER")
	}
	var failed []string
	err := s.ddlTxn(ctx, nil, func(t *storage.Txn) error {
		sch := s.e.schema.Load()
		for _, spec := range x.Specs {
			user, host := userHost(spec.User)
			u := s.findUser(sch, user, host)
			if u == nil {
				if x.IfExists {
					continue
				}
				failed = append(failed, "'"+user+"'@'"+host+"'")
				continue
			}
			nu := cloneUser(u)
			if spec.AuthOpt != nil {
				as, err := authString(spec)
				if err != nil {
					return err
				}
				nu.AuthString = as
			}
			for _, lo := range x.PasswordOrLockOptions {
				switch lo.Type {
				case ast.Lock:
					nu.Locked = true
				case ast.Unlock:
					nu.Locked = false
				}
			}
			if err := putDef(ctx, t, catalog.UserKey(user, host), nu); err != nil {
				return err
			}
		}
		if len(failed) > 0 {
			return newErr(ErCannotUser, "Operation ALTER USER failed for %s", strings.Join(failed, ","))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

func (s *Session) dropUser(ctx context.Context, x *ast.DropUserStmt) (*Result, error) {
	if x.IsDropRole {
		return nil, errNotSupported("DROP ROLE")
	}
	if !s.hasGlobalPriv(catalog.PrivCreateUser) {
		return nil, s.errSpecificDenied("CREATE USER")
	}
	var failed []string
	err := s.ddlTxn(ctx, nil, func(t *storage.Txn) error {
		sch := s.e.schema.Load()
		for _, ui := range x.UserList {
			user, host := userHost(ui)
			if s.findUser(sch, user, host) == nil {
				if x.IfExists {
					s.warn("Note", 1974, "Can't drop user '%s'@'%s'; it doesn't exist", user, host)
					continue
				}
				failed = append(failed, "'"+user+"'@'"+host+"'")
				continue
			}
			if err := t.Delete(ctx, catalog.Space, catalog.UserKey(user, host)); err != nil {
				return err
			}
		}
		if len(failed) > 0 {
			return newErr(ErCannotUser, "Operation DROP USER failed for %s", strings.Join(failed, ","))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

// grantTarget returns the database pattern of a GRANT level ("" = global).
func (s *Session) grantTarget(level *ast.GrantLevel) (string, error) {
	switch level.Level {
	case ast.GrantLevelGlobal:
		return "", nil
	case ast.GrantLevelDB:
		db := level.DBName
		if db == "" {
			if s.db == "" {
				return "", newErr(ErNoDB, "No database selected")
			}
			db = s.db
		}
		return db, nil
	}
	return "", errNotSupported("table-level and column-level privileges")
}

func (s *Session) privList(privs []*ast.PrivElem) (catalog.Privileges, bool, error) {
	var p catalog.Privileges
	grantOpt := false
	for _, pe := range privs {
		if len(pe.Cols) > 0 {
			return 0, false, errNotSupported("column-level privileges")
		}
		if pe.Priv == mysql.UsagePriv {
			continue
		}
		bit, ok := privFromType(pe.Priv)
		if !ok {
			return 0, false, errNotSupported("privilege " + pe.Priv.String())
		}
		if bit == catalog.PrivGrant {
			grantOpt = true
			continue
		}
		p |= bit
	}
	return p, grantOpt, nil
}

func (s *Session) grant(ctx context.Context, x *ast.GrantStmt) (*Result, error) {
	if x.ObjectType != ast.ObjectTypeNone && x.ObjectType != ast.ObjectTypeTable {
		return nil, errNotSupported("GRANT on this object type")
	}
	db, err := s.grantTarget(x.Level)
	if err != nil {
		return nil, err
	}
	p, grantOpt, err := s.privList(x.Privs)
	if err != nil {
		return nil, err
	}
	if x.WithGrant {
		grantOpt = true
	}
	if db != "" {
		p &= dbLevelPrivs
	}
	// The grantor needs GRANT OPTION plus the privileges granted.
	me := s.account()
	if me == nil || !(me.GlobalGrantOption || (db != "" && me.DBGrantOption[db])) || !s.hasPriv(db, p) {
		return nil, newErr(ErDBAccessDenied, "Access denied for user '%s'@'%s' to database '%s'", s.authUser, s.authHost, dbOrStar(db))
	}
	err = s.ddlTxn(ctx, nil, func(t *storage.Txn) error {
		sch := s.e.schema.Load()
		for _, spec := range x.Users {
			user, host := userHost(spec.User)
			u := s.findUser(sch, user, host)
			var nu *catalog.User
			if u == nil {
				if spec.AuthOpt == nil {
					return newErr(ErPasswordNoMatch, "Can't find any matching row in the user table")
				}
				nu = &catalog.User{User: user, Host: host}
			} else {
				nu = cloneUser(u)
			}
			if spec.AuthOpt != nil {
				as, err := authString(spec)
				if err != nil {
					return err
				}
				nu.AuthString = as
			}
			if db == "" {
				nu.Global |= p
				nu.GlobalGrantOption = nu.GlobalGrantOption || grantOpt
			} else {
				if nu.DBs == nil {
					nu.DBs = map[string]catalog.Privileges{}
				}
				if nu.DBGrantOption == nil {
					nu.DBGrantOption = map[string]bool{}
				}
				nu.DBs[db] |= p
				if grantOpt {
					nu.DBGrantOption[db] = true
				}
			}
			if err := putDef(ctx, t, catalog.UserKey(user, host), nu); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

// dbLevelPrivs are the privileges that exist at database level.
const dbLevelPrivs = catalog.PrivSelect | catalog.PrivInsert | catalog.PrivUpdate | catalog.PrivDelete | catalog.PrivCreate |
	catalog.PrivDrop | catalog.PrivReferences | catalog.PrivIndex | catalog.PrivAlter | catalog.PrivCreateTmpTable |
	catalog.PrivLockTables | catalog.PrivExecute | catalog.PrivCreateView | catalog.PrivShowView | catalog.PrivCreateRoutine |
	catalog.PrivAlterRoutine | catalog.PrivEvent | catalog.PrivTrigger | catalog.PrivDeleteHistory

func dbOrStar(db string) string {
	if db == "" {
		return "*"
	}
	return db
}

func (s *Session) revoke(ctx context.Context, x *ast.RevokeStmt) (*Result, error) {
	db, err := s.grantTarget(x.Level)
	if err != nil {
		return nil, err
	}
	p, grantOpt, err := s.privList(x.Privs)
	if err != nil {
		return nil, err
	}
	me := s.account()
	if me == nil || !(me.GlobalGrantOption || (db != "" && me.DBGrantOption[db])) {
		return nil, newErr(ErDBAccessDenied, "Access denied for user '%s'@'%s' to database '%s'", s.authUser, s.authHost, dbOrStar(db))
	}
	err = s.ddlTxn(ctx, nil, func(t *storage.Txn) error {
		sch := s.e.schema.Load()
		for _, spec := range x.Users {
			user, host := userHost(spec.User)
			u := s.findUser(sch, user, host)
			if u == nil {
				return newErr(ErNonExistingGrant, "There is no such grant defined for user '%s' on host '%s'", user, host)
			}
			nu := cloneUser(u)
			if db == "" {
				nu.Global &^= p
				if grantOpt || p == catalog.PrivAll {
					nu.GlobalGrantOption = false
				}
			} else {
				if _, ok := nu.DBs[db]; !ok {
					return newErr(ErNonExistingGrant, "There is no such grant defined for user '%s' on host '%s'", user, host)
				}
				nu.DBs[db] &^= p
				if grantOpt || p&dbLevelPrivs == dbLevelPrivs {
					delete(nu.DBGrantOption, db)
				}
				if nu.DBs[db] == 0 && !nu.DBGrantOption[db] {
					delete(nu.DBs, db)
				}
			}
			if err := putDef(ctx, t, catalog.UserKey(user, host), nu); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

func (s *Session) setPassword(ctx context.Context, x *ast.SetPwdStmt) (*Result, error) {
	user, host := s.authUser, s.authHost
	if x.User != nil && !x.User.CurrentUser {
		user, host = userHost(x.User)
		if !s.hasGlobalPriv(catalog.PrivCreateUser) && !(user == s.authUser && host == s.authHost) {
			return nil, newErr(ErDBAccessDenied, "Access denied for user '%s'@'%s' to database 'mysql'", s.authUser, s.authHost)
		}
	}
	err := s.ddlTxn(ctx, nil, func(t *storage.Txn) error {
		u := s.findUser(s.e.schema.Load(), user, host)
		if u == nil {
			return newErr(ErPasswordNoMatch, "Can't find any matching row in the user table")
		}
		nu := cloneUser(u)
		nu.AuthString = NativePasswordHash(x.Password)
		return putDef(ctx, t, catalog.UserKey(user, host), nu)
	})
	if err != nil {
		return nil, err
	}
	return &Result{}, nil
}

// showGrants renders SHOW GRANTS lines as MariaDB does.
func showGrants(u *catalog.User) []string {
	var out []string
	who := "`" + u.User + "`@`" + u.Host + "`"
	g := "GRANT " + privText(u.Global, true) + " ON *.* TO " + who
	if u.AuthString != "" {
		g += " IDENTIFIED BY PASSWORD '" + u.AuthString + "'"
	}
	if u.GlobalGrantOption {
		g += " WITH GRANT OPTION"
	}
	out = append(out, g)
	dbs := make([]string, 0, len(u.DBs))
	for db := range u.DBs {
		dbs = append(dbs, db)
	}
	sortStrings(dbs)
	for _, db := range dbs {
		l := "GRANT " + privText(u.DBs[db], false) + " ON `" + db + "`.* TO " + who
		if u.DBGrantOption[db] {
			l += " WITH GRANT OPTION"
		}
		out = append(out, l)
	}
	return out
}

func privText(p catalog.Privileges, global bool) string {
	if p == 0 {
		return "USAGE"
	}
	if (global && p&catalog.PrivAll == catalog.PrivAll) || (!global && p&dbLevelPrivs == dbLevelPrivs) {
		return "ALL PRIVILEGES"
	}
	var names []string
	for _, pn := range catalog.PrivNames {
		if p&pn.P != 0 {
			names = append(names, pn.Name)
		}
	}
	return strings.Join(names, ", ")
}
