package protocol

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

func TestNativePasswordAgainstGoMySQL(t *testing.T) {
	salt := []byte("0123456789abcdefghij")
	for _, pw := range []string{"sbpass", "p", strings.Repeat("long", 50)} {
		stage1 := NativeStage1(pw)
		// go-mysql's client computes the reply from the cleartext password;
		// ours from stage1 only. They must agree.
		want := mysql.CalcNativePassword(salt, []byte(pw))
		reply := NativeScramble(salt, stage1)
		if !bytes.Equal(reply, want) {
			t.Fatalf("%q: scramble %x, want %x", pw, reply, want)
		}
		stage2 := NativeStage2(stage1)
		got, ok := VerifyNative(salt, reply, stage2)
		if !ok || !bytes.Equal(got, stage1) {
			t.Fatalf("%q: verify %v, stage1 %x", pw, ok, got)
		}
		if !mysql.CompareNativePassword(reply, stage2, salt) {
			t.Fatalf("%q: go-mysql disagrees", pw)
		}
	}
}

func TestVerifyNativeRejects(t *testing.T) {
	salt := []byte("0123456789abcdefghij")
	stage2 := NativeStage2(NativeStage1("right"))
	cases := map[string][]byte{
		"wrong password": NativeScramble(salt, NativeStage1("wrong")),
		"other salt":     NativeScramble([]byte("jihgfedcba9876543210"), NativeStage1("right")),
		"empty":          nil,
		"short":          []byte("abc"),
	}
	for name, reply := range cases {
		if _, ok := VerifyNative(salt, reply, stage2); ok {
			t.Errorf("%s accepted", name)
		}
	}
	if _, ok := VerifyNative(salt, []byte("x"), nil); ok {
		t.Error("password accepted for an account without password")
	}
	if s1, ok := VerifyNative(salt, nil, nil); !ok || s1 != nil {
		t.Error("empty password refused for an account without password")
	}
}

func TestStoredHashFormat(t *testing.T) {
	// SELECT PASSWORD('sbpass') on MariaDB 10.11.
	const stored = "*138DD22E166357A46C6701892C5BB314770E8438"
	got := "*" + strings.ToUpper(hex.EncodeToString(NativeStage2(NativeStage1("sbpass"))))
	if got != stored {
		t.Fatalf("stage2 %s, MariaDB stores %s", got, stored)
	}
}

func TestBackendCollation(t *testing.T) {
	cases := map[uint8]uint8{0: 45, 8: 8, 33: 33, 45: 45, 46: 46, 224: 224, 246: 246, 255: 45, 17: 45, 250: 45}
	for in, want := range cases {
		if got := BackendCollation(in); got != want {
			t.Errorf("BackendCollation(%d) = %d, want %d", in, got, want)
		}
	}
}
