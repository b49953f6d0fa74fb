package config

import (
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// AdminBcryptCost is the bcrypt cost of admin password hashes maxproxy makes
// (`maxproxy hash-password`, and a plain admin.password hashed at start):
// about 50 ms per check on current hardware, which an operator's request
// does not notice and a password guesser does.
const AdminBcryptCost = 10

// maxBcryptPassword is bcrypt's input limit; longer passwords would be
// silently cut by other implementations, so they are refused.
const maxBcryptPassword = 72

// IsBcryptHash reports whether p is a bcrypt hash ($2a$, $2b$ or $2y$ with a
// valid cost), which admin.password may hold instead of the password itself.
func IsBcryptHash(p string) bool {
	if !strings.HasPrefix(p, "$2") {
		return false
	}
	_, err := bcrypt.Cost([]byte(p))
	return err == nil
}

// AdminPasswordIsDefault reports whether admin.password, plain or hashed, is
// DefaultAdminPassword.
func AdminPasswordIsDefault(p string) bool {
	if IsBcryptHash(p) {
		return bcrypt.CompareHashAndPassword([]byte(p), []byte(DefaultAdminPassword)) == nil
	}
	return p == DefaultAdminPassword
}
