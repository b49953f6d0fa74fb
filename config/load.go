package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads and parses the file at path. Problems in the file are reported
// as for Parse; a file that cannot be read gives a plain wrapped error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Check loads and validates the file at path and returns one printable line
// per problem, or nil when the file is valid. It is what
// `maxproxy check-config` prints.
func Check(path string) []string {
	_, err := Load(path)
	return ErrorLines(err)
}

// Parse decodes and validates a configuration. filename only labels errors.
//
// On failure the error is a *Error when there is one problem and an
// ErrorList (sorted by line) when there are several; the returned Config is
// nil. A TOML syntax error stops at the parser's first error, since nothing
// after it can be trusted; every other problem is reported.
func Parse(filename string, data []byte) (*Config, error) {
	// Files saved on Windows may start with a byte-order mark and end lines
	// with CRLF. TOML allows normalising newlines, and doing so keeps the
	// parser's and the line scanner's line numbers the same.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	pos, tooDeep := scanPositions(data)
	if tooDeep > 0 {
		return nil, &Error{File: filename, Line: tooDeep,
			Msg: fmt.Sprintf("values and keys nested more than %d levels deep are not supported", maxNesting)}
	}
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		return nil, syntaxError(filename, err)
	}
	c := &collector{file: filename}
	d := decoder{collector: c, pos: pos, elems: map[string][]int{}}
	cfg := d.document(tree)
	validate(cfg, c, d.pos, d.elems)
	if err := c.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func syntaxError(file string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: file, Line: pe.Position.Line, Msg: "invalid TOML: " + pe.Message}
	}
	return &Error{File: file, Msg: "invalid TOML: " + strings.TrimPrefix(err.Error(), "toml: ")}
}
