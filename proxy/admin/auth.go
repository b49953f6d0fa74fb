package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"

	"github.com/maxproxy/maxproxy/config"
)

// The admin password is kept only as a bcrypt hash: the one admin.password
// holds (made with `maxproxy hash-password`, so the file need not contain
// the password), or one made at start from a plain admin.password. A
// request's password is checked with bcrypt's constant-time comparison.
//
// bcrypt makes every guess cost about 50 ms, which would also make every
// request of ctl or a script pay it. A password that was verified is
// therefore remembered as a salted SHA-256 digest and later requests with
// it are compared against that; a wrong password never matches the digest
// and always pays for bcrypt.

// credentials is the one accepted user and password.
type credentials struct {
	user       [sha256.Size]byte
	hash       []byte
	salt       [16]byte
	verified   atomic.Pointer[[sha256.Size]byte] // digest of the last verified password
	defaultPwd bool                              // the password is config.DefaultAdminPassword
}

func newCredentials(user, password string) (*credentials, error) {
	if user == "" || password == "" {
		return nil, errors.New("admin: user and password must not be empty")
	}
	c := &credentials{user: sha256.Sum256([]byte(user)), defaultPwd: config.AdminPasswordIsDefault(password)}
	if config.IsBcryptHash(password) {
		c.hash = []byte(password)
	} else {
		h, err := bcrypt.GenerateFromPassword([]byte(password), config.AdminBcryptCost)
		if err != nil {
			return nil, fmt.Errorf("admin: hash the password: %w", err)
		}
		c.hash = h
	}
	if _, err := rand.Read(c.salt[:]); err != nil {
		return nil, fmt.Errorf("admin: salt: %w", err)
	}
	return c, nil
}

func (c *credentials) digest(password string) [sha256.Size]byte {
	h := sha256.New()
	h.Write(c.salt[:])
	h.Write([]byte(password))
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// check reports whether user and password are the accepted ones. A wrong
// user costs as much as a wrong password.
func (c *credentials) check(user, password string) bool {
	u := sha256.Sum256([]byte(user))
	userOK := subtle.ConstantTimeCompare(u[:], c.user[:]) == 1
	d := c.digest(password)
	if v := c.verified.Load(); v != nil && subtle.ConstantTimeCompare(d[:], v[:]) == 1 {
		return userOK
	}
	if bcrypt.CompareHashAndPassword(c.hash, []byte(password)) != nil {
		return false
	}
	c.verified.Store(&d)
	return userOK
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
