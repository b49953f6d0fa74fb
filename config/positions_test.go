package config

import (
	"errors"
	"strings"
	"testing"
)

func TestScanPositions(t *testing.T) {
	src := `# [[server]] in a comment is not a header
title = """
[[server]]
name = "not a key"
"""
[proxy] # a comment
datadir = '/x' # key = in a comment
"quoted.key" = 1
dotted . key = 2

[[server]]
name = "a"
list = [
  "x", # a comment inside
  "y",
]

[[server]]
name = 'b'
nested = { port = 1, inner = { deep = true } }
[server.extra]
k = 1

[[listener]]
name = "l"
`
	want := map[string]int{
		pathKey("title"):                            2,
		pathKey("proxy"):                            6,
		pathKey("proxy", "datadir"):                 7,
		pathKey("proxy", "quoted.key"):              8,
		pathKey("proxy", "dotted", "key"):           9,
		pathKey("server", "[0]"):                    11,
		pathKey("server", "[0]", "name"):            12,
		pathKey("server", "[0]", "list"):            13,
		pathKey("server", "[0]", "list", "[1]"):     15,
		pathKey("server", "[1]"):                    18,
		pathKey("server", "[1]", "name"):            19,
		pathKey("server", "[1]", "nested", "port"):  20,
		pathKey("server", "[1]", "nested", "inner"): 20,
		pathKey("server", "[1]", "extra", "k"):      22,
		pathKey("listener", "[0]", "name"):          25,
	}
	got, tooDeep := scanPositions([]byte(src))
	if tooDeep != 0 {
		t.Errorf("nesting reported too deep at line %d", tooDeep)
	}
	for k, line := range want {
		if got[k] != line {
			t.Errorf("%s: line %d, want %d", strings.ReplaceAll(k, "\x00", "."), got[k], line)
		}
	}
	if _, ok := got[pathKey("server", "[2]")]; ok {
		t.Error("the multi-line string or comment was read as a [[server]] header")
	}
}

// Inline arrays of tables get the same per-element lines as [[server]].
func TestInlineTableErrorLines(t *testing.T) {
	src := `server = [
  { name = "a", address = "10.0.0.1" },
  { name = "b", address = "10.0.0.2",
    port = 0 },
]
`
	_, err := Parse("f.toml", []byte(src))
	lines := ErrorLines(err)
	want := `f.toml:4: server "b".port: must be between 1 and 65535, got 0`
	if len(lines) == 0 || lines[0] != want {
		t.Fatalf("got %q, want first %q", lines, want)
	}
}

func TestScanPositionsNeverStalls(t *testing.T) {
	// Not valid TOML, so Parse never scans these; the scanner must still
	// end on them.
	for _, src := range []string{"[", "[[", "a = [", "a = {", `a = "`, `a = """`, "= = =", "a = [1,,]", "\x00\xff", "[a.\"b"} {
		scanPositions([]byte(src))
	}
}

func TestDeepNestingRefused(t *testing.T) {
	for _, src := range []string{
		"a = " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000),
		"a = " + strings.Repeat("{b=", 5000) + "1" + strings.Repeat("}", 5000),
		"\n[" + strings.Repeat("a.", 5000) + "b]\n",
		"\n\n" + strings.Repeat("c.", 5000) + "d = 1\n",
	} {
		_, err := Parse("deep.toml", []byte(src))
		var e *Error
		if !errors.As(err, &e) || e.Line != strings.Count(src[:strings.IndexAny(src, "[{.")], "\n")+1 ||
			!strings.Contains(e.Msg, "nested more than 32 levels") {
			t.Errorf("%.20q...: got %v", src, err)
		}
	}
}
