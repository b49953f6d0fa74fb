package admin

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/maxproxy/maxproxy/config"
)

// The admin password is kept only as a salted PBKDF2-SHA256 key (crypto/pbkdf2,
// standard library; golang.org/x/crypto/bcrypt is not a dependency of this
// module). Every request's password is derived the same way and compared in
// constant time, so a comparison leaks neither the password's length nor a
// matching prefix, and a memory dump of the process does not hold the
// password in the clear after start-up beyond the configuration itself.
//
// The iteration count trades a few milliseconds per authenticated request
// (an operator's CLI, not a hot path) for making each guess against the API
// cost the same.
const (
	kdfIterations = 4096
	kdfKeyLen     = 32
	saltLen       = 16
)

// credentials is the one accepted user and password.
type credentials struct {
	user       [sha256.Size]byte
	salt       []byte
	key        []byte
	defaultPwd bool // the password is config.DefaultAdminPassword
}

func newCredentials(user, password string) (*credentials, error) {
	if user == "" || password == "" {
		return nil, errors.New("admin: user and password must not be empty")
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("admin: salt: %w", err)
	}
	key, err := derive(password, salt)
	if err != nil {
		return nil, err
	}
	return &credentials{
		user:       sha256.Sum256([]byte(user)),
		salt:       salt,
		key:        key,
		defaultPwd: password == config.DefaultAdminPassword,
	}, nil
}

func derive(password string, salt []byte) ([]byte, error) {
	key, err := pbkdf2.Key(sha256.New, password, salt, kdfIterations, kdfKeyLen)
	if err != nil {
		return nil, fmt.Errorf("admin: derive password key: %w", err)
	}
	return key, nil
}

// check reports whether user and password are the accepted ones. It does
// the same work whether the user is right or not.
func (c *credentials) check(user, password string) bool {
	u := sha256.Sum256([]byte(user))
	key, err := derive(password, c.salt)
	if err != nil {
		return false
	}
	userOK := subtle.ConstantTimeCompare(u[:], c.user[:])
	keyOK := subtle.ConstantTimeCompare(key, c.key)
	return userOK&keyOK == 1
}

// errDefaultPassword refuses to expose the API with a password everyone knows.
var errDefaultPassword = fmt.Errorf("admin: the default password %q is refused on a non-loopback address: set admin.password", config.DefaultAdminPassword)

// checkExposure refuses a non-loopback address with the default password.
// The configuration validator refuses this too; checking the socket itself
// also covers a listener handed in by the caller and a wildcard bind.
func checkExposure(addr net.Addr, c *credentials) error {
	if !c.defaultPwd || isLoopback(addr) {
		return nil
	}
	return fmt.Errorf("%w (listening on %s)", errDefaultPassword, addr)
}

func isLoopback(addr net.Addr) bool {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	if addr.Network() == "unix" {
		return true
	}
	ap, err := netip.ParseAddrPort(addr.String())
	return err == nil && ap.Addr().IsLoopback()
}
