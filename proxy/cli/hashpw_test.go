package cli

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/maxproxy/maxproxy/config"
)

func TestHashPassword(t *testing.T) {
	old := Stdin
	t.Cleanup(func() { Stdin = old })

	Stdin = strings.NewReader("op's pass word\n")
	code, out, errs := run(t, "hash-password")
	hash := strings.TrimSpace(out)
	if code != 0 || !config.IsBcryptHash(hash) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and a bcrypt hash", code, out, errs)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("op's pass word")); err != nil {
		t.Errorf("the printed hash does not match the password (only the newline may be dropped): %v", err)
	}
	if cost, _ := bcrypt.Cost([]byte(hash)); cost != config.AdminBcryptCost {
		t.Errorf("cost %d, want %d", cost, config.AdminBcryptCost)
	}

	for _, in := range []string{"", "\n", strings.Repeat("x", 73) + "\n"} {
		Stdin = strings.NewReader(in)
		if code, out, errs := run(t, "hash-password"); code != 1 || out != "" || errs == "" {
			t.Errorf("input %q: exit %d, stdout %q, stderr %q; want exit 1 with a message", in, code, out, errs)
		}
	}
}
