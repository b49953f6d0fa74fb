package auth

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// Account is one row of mysql.user as the loader read it.
type Account struct {
	User, Host string
	// Plugin is the authentication plugin; "" means mysql_native_password.
	Plugin string
	// AuthString is the stored hash: "*" + 40 hex digits for
	// mysql_native_password, "" for an account without password.
	AuthString string
	IsRole     bool
	// DefaultRole is activated at login; its grants count for the database
	// check.
	DefaultRole string
	// GlobalDBAccess is set when the account holds any database-level
	// privilege on *.* (then every database is accessible).
	GlobalDBAccess bool
	// Locked is set by ALTER USER ... ACCOUNT LOCK.
	Locked bool
}

// DBGrant says User@Host has some privilege in database DB. Pattern is set
// for mysql.db rows, whose DB may contain wildcards.
type DBGrant struct {
	User, Host, DB string
	Pattern        bool
}

// RoleGrant is a mysql.roles_mapping row: Role granted to User@Host (Host
// is "" when the grantee is itself a role).
type RoleGrant struct {
	User, Host, Role string
}

// UserData is everything the account manager loads from a backend.
type UserData struct {
	Accounts   []Account
	DBGrants   []DBGrant
	RoleGrants []RoleGrant
	Databases  []string
}

type userEntry struct {
	Account
	host   hostPattern
	stage2 []byte
	sort   uint64
	// noPassword is set when AuthString is not a native hash (MariaDB
	// writes "invalid" for accounts that may only use unix_socket): no
	// password can match it.
	noPassword bool
}

type dbEntry struct {
	DBGrant
	host hostPattern
}

type role struct {
	global  bool
	dbs     []DBGrant
	granted []string
}

// snapshot is an immutable, indexed UserData.
type snapshot struct {
	users     []userEntry // sorted: user name, then most specific host first
	dbGrants  []dbEntry
	roles     map[string]*role
	databases map[string]struct{}
	// needsNames is set when some host pattern names hosts, so that
	// clients must be reverse-resolved to be matched.
	needsNames bool
}

func newSnapshot(d *UserData) *snapshot {
	s := &snapshot{roles: map[string]*role{}, databases: map[string]struct{}{}}
	for _, a := range d.Accounts {
		if a.IsRole {
			s.roles[a.User] = &role{global: a.GlobalDBAccess}
			continue
		}
		e := userEntry{Account: a, host: compileHost(a.Host), sort: specificity(a.Host, a.User)}
		if isNative(a.Plugin) && a.AuthString != "" {
			h, err := decodeStage2(a.AuthString)
			e.stage2, e.noPassword = h, err != nil
		}
		s.users = append(s.users, e)
	}
	sort.SliceStable(s.users, func(i, j int) bool {
		a, b := &s.users[i], &s.users[j]
		if a.User != b.User {
			return a.User < b.User
		}
		if a.sort != b.sort {
			return a.sort > b.sort
		}
		// MariaDB puts "localhost" before loopback addresses on a tie.
		return a.Host > b.Host
	})
	for _, g := range d.DBGrants {
		if r, ok := s.roles[g.User]; ok && g.Host == "" {
			r.dbs = append(r.dbs, g)
			continue
		}
		s.dbGrants = append(s.dbGrants, dbEntry{DBGrant: g, host: compileHost(g.Host)})
	}
	for _, g := range d.RoleGrants {
		// Grants to users take effect through DefaultRole; only role-to-role
		// grants are needed to expand an active role.
		if r, ok := s.roles[g.User]; ok && g.Host == "" {
			r.granted = append(r.granted, g.Role)
		}
	}
	for _, db := range d.Databases {
		s.databases[db] = struct{}{}
	}
	var hosts []string
	for _, u := range s.users {
		hosts = append(hosts, u.Host)
	}
	for _, g := range s.dbGrants {
		hosts = append(hosts, g.Host)
	}
	s.needsNames = needsNames(hosts)
	return s
}

func isNative(plugin string) bool {
	return plugin == "" || plugin == "mysql_native_password"
}

func decodeStage2(s string) ([]byte, error) {
	if len(s) != 41 || s[0] != '*' {
		return nil, fmt.Errorf("not a mysql_native_password hash (%d characters)", len(s))
	}
	h, err := hex.DecodeString(s[1:])
	if err != nil {
		return nil, fmt.Errorf("not a mysql_native_password hash: %w", err)
	}
	return h, nil
}

// find returns the account MariaDB would pick for user connecting from c:
// the most specific matching entry for the user name, unless an anonymous
// entry matches with a strictly more specific host.
func (s *snapshot) find(user string, c peer) *userEntry {
	var found *userEntry
	i := sort.Search(len(s.users), func(i int) bool { return s.users[i].User >= user })
	for ; i < len(s.users) && s.users[i].User == user; i++ {
		if s.users[i].host.match(c) {
			found = &s.users[i]
			break
		}
	}
	for i := 0; i < len(s.users) && s.users[i].User == ""; i++ {
		e := &s.users[i]
		if found != nil && e.sort <= found.sort {
			break
		}
		if e.host.match(c) {
			return e
		}
	}
	return found
}

// dbAccess reports whether the account may use db at login: a global
// database privilege, a database/table/routine grant for the user name (or
// an anonymous grant) from a matching host, or a grant of its default role
// and the roles granted to that role.
func (s *snapshot) dbAccess(acc *userEntry, user string, c peer, db string) bool {
	if acc.GlobalDBAccess || strings.EqualFold(db, "information_schema") {
		return true
	}
	for i := range s.dbGrants {
		g := &s.dbGrants[i]
		if (g.User == user || g.User == "") && g.host.match(c) && grantCovers(g.DBGrant, db) {
			return true
		}
	}
	if acc.DefaultRole == "" {
		return false
	}
	seen := map[string]bool{}
	queue := []string{acc.DefaultRole}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		r, ok := s.roles[name]
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		if r.global {
			return true
		}
		for _, g := range r.dbs {
			if grantCovers(g, db) {
				return true
			}
		}
		queue = append(queue, r.granted...)
	}
	return false
}

func grantCovers(g DBGrant, db string) bool {
	if g.Pattern {
		return wildMatch(db, g.DB)
	}
	return g.DB == db
}

func (s *snapshot) dbExists(db string) bool {
	_, ok := s.databases[db]
	return ok || strings.EqualFold(db, "information_schema")
}
