package protocol

import (
	"crypto/sha1"
	"crypto/subtle"
)

// NativePlugin is the only authentication plugin the proxy speaks. It lets
// the proxy verify a client against the stored hash and re-derive a login
// token for any backend without knowing the password.
const NativePlugin = "mysql_native_password"

// SaltLen is the length of the scramble sent in the initial handshake.
const SaltLen = 20

// NativeStage1 returns SHA1(password), the secret a backend login needs.
// Use it for accounts whose cleartext password is configured (service users).
func NativeStage1(password string) []byte {
	if password == "" {
		return nil
	}
	h := sha1.Sum([]byte(password))
	return h[:]
}

// NativeStage2 returns SHA1(stage1), the value stored (hex encoded, with a
// leading '*') in mysql.user.
func NativeStage2(stage1 []byte) []byte {
	h := sha1.Sum(stage1)
	return h[:]
}

// NativeScramble computes a mysql_native_password reply from stage1:
// SHA1(salt ‖ SHA1(stage1)) XOR stage1. An empty stage1 (no password) gives
// an empty reply.
func NativeScramble(salt, stage1 []byte) []byte {
	if len(stage1) == 0 {
		return nil
	}
	stage2 := sha1.Sum(stage1)
	h := sha1.New()
	h.Write(salt)
	h.Write(stage2[:])
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= stage1[i]
	}
	return out
}

// VerifyNative checks a client's mysql_native_password reply against the
// stored stage2 = SHA1(SHA1(password)) and returns the recovered
// stage1 = SHA1(password) on success:
//
//	stage1 = reply XOR SHA1(salt ‖ stage2);  valid iff SHA1(stage1) == stage2
//
// An account without a password (empty stage2) accepts only an empty reply
// and yields a nil stage1.
func VerifyNative(salt, reply, stage2 []byte) (stage1 []byte, ok bool) {
	if len(stage2) == 0 {
		return nil, len(reply) == 0
	}
	if len(reply) != sha1.Size || len(stage2) != sha1.Size {
		return nil, false
	}
	h := sha1.New()
	h.Write(salt)
	h.Write(stage2)
	stage1 = h.Sum(nil)
	for i := range stage1 {
		stage1[i] ^= reply[i]
	}
	check := sha1.Sum(stage1)
	if subtle.ConstantTimeCompare(check[:], stage2) != 1 {
		return nil, false
	}
	return stage1, true
}
