package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics or hangs, always returns either
// a Config or an error made of *Error values, and that whatever it accepts
// also passes Validate.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.toml")
	seeds = append(seeds, examplePath)
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("server = [{name = 1}, 2, []]\n[[proxy]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.toml", data)
		if err != nil {
			if cfg != nil {
				t.Fatal("a Config came back with an error")
			}
			var one *Error
			if !errors.As(err, &one) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if cfg == nil {
			t.Fatal("no Config and no error")
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a file that Validate rejects: %v", err)
		}
	})
}
