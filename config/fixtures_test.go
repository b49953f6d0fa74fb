package config

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBadFixtures parses every file in testdata/bad. Each starts with a
// comment saying what is wrong, followed by one `# want: ` line per expected
// error, exactly as `maxproxy check-config` prints it, in order. Errors name
// the file by its base name.
func TestBadFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found %d bad fixtures, want at least 20", len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".toml"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := wantLines(data)
			if len(want) == 0 {
				t.Fatal("the fixture has no `# want: ` line")
			}
			cfg, err := Parse(name, data)
			if err == nil {
				t.Fatalf("Parse accepted the file: %+v", cfg)
			}
			if cfg != nil {
				t.Error("Parse returned a Config together with an error")
			}
			if got := ErrorLines(err); !slices.Equal(got, want) {
				t.Errorf("errors differ\ngot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			// A file saved on Windows, with CRLF line ends and a
			// byte-order mark, gives the same errors.
			windows := append([]byte("\ufeff"), bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))...)
			_, err = Parse(name, windows)
			if got := ErrorLines(err); !slices.Equal(got, want) {
				t.Errorf("with CRLF and a BOM, errors differ\ngot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

func wantLines(data []byte) []string {
	var want []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if w, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			want = append(want, w)
		}
	}
	return want
}

func TestGoodFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no good fixtures")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".toml"), func(t *testing.T) {
			if problems := Check(path); problems != nil {
				t.Errorf("Check found problems:\n%s", strings.Join(problems, "\n"))
			}
		})
	}
}
