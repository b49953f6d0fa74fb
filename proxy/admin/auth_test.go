package admin

import (
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/maxproxy/maxproxy/config"
)

func TestCredentials(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for name, configured := range map[string]string{"plain": "s3cret", "bcrypt hash": string(hash)} {
		t.Run(name, func(t *testing.T) {
			c, err := newCredentials("ops", configured)
			if err != nil {
				t.Fatal(err)
			}
			if string(c.hash) == "s3cret" || !config.IsBcryptHash(string(c.hash)) {
				t.Fatalf("the password is kept as %q, want a bcrypt hash", c.hash)
			}
			// The second round runs after a verified password was remembered:
			// the shortcut must not let anything else in.
			for round := range 2 {
				if !c.check("ops", "s3cret") {
					t.Errorf("round %d: the right user and password are refused", round)
				}
				bads := [][2]string{{"ops", "S3CRET"}, {"admin", "s3cret"}}
				if name != "plain" {
					// A plain password is hashed at the production cost, which
					// the race detector makes seconds per wrong guess: the
					// longer list runs against the cheap hash only.
					bads = append(bads, [2]string{"ops", "s3cret "}, [2]string{"ops", ""}, [2]string{"", ""})
				}
				for _, bad := range bads {
					if c.check(bad[0], bad[1]) {
						t.Errorf("round %d: %q/%q accepted", round, bad[0], bad[1])
					}
				}
			}
			if c.defaultPwd {
				t.Error("a password of the operator's own is taken for the default one")
			}
		})
	}

	defHash, _ := bcrypt.GenerateFromPassword([]byte(config.DefaultAdminPassword), bcrypt.MinCost)
	for _, p := range []string{config.DefaultAdminPassword, string(defHash)} {
		c, err := newCredentials("admin", p)
		if err != nil {
			t.Fatal(err)
		}
		if !c.defaultPwd {
			t.Errorf("%q is not recognised as the default password", p)
		}
	}
	if _, err := newCredentials("admin", ""); err == nil {
		t.Error("an empty password is accepted")
	}
}
