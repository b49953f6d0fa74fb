package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem found in a configuration file.
type Error struct {
	File string // as given to Parse or Load; empty for Validate
	Line int    // 1-based; 0 when unknown (e.g. a Config built in code)
	Key  string // full key path, e.g. `service "rw".router` or `server[2].port`
	Msg  string
}

// Error renders the error as `file:line: key: message`, leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList holds every problem found in one file, sorted by line. Parse
// returns it when there is more than one.
type ErrorList []*Error

// Error renders one problem per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// ErrorLines splits an error returned by Parse, Load or Validate into one
// line per problem; nil gives nil.
func ErrorLines(err error) []string {
	if err == nil {
		return nil
	}
	var list ErrorList
	if errors.As(err, &list) {
		lines := make([]string, len(list))
		for i, e := range list {
			lines[i] = e.Error()
		}
		return lines
	}
	return []string{err.Error()}
}

// collector accumulates problems while a file is decoded and validated.
type collector struct {
	file string
	errs ErrorList
	// failed holds the keys (with their line, since duplicate names make
	// equal keys) whose value could not be decoded, so that validation does
	// not pile a second, confusing error onto the same key.
	failed map[string]bool
}

func failedKey(line int, key string) string { return strconv.Itoa(line) + ":" + key }

func (c *collector) add(line int, key, format string, args ...any) {
	if c.failed[failedKey(line, key)] {
		return
	}
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// fail records a decoding problem and silences validation of key.
func (c *collector) fail(line int, key, format string, args ...any) {
	c.add(line, key, format, args...)
	if c.failed == nil {
		c.failed = make(map[string]bool)
	}
	c.failed[failedKey(line, key)] = true
}

// err returns nil, the single *Error, or the ErrorList sorted by line;
// problems without a line go last.
func (c *collector) err() error {
	switch len(c.errs) {
	case 0:
		return nil
	case 1:
		return c.errs[0]
	}
	sort.SliceStable(c.errs, func(i, j int) bool {
		a, b := c.errs[i].Line, c.errs[j].Line
		if a == 0 || b == 0 {
			return a != 0 && b == 0
		}
		return a < b
	})
	return c.errs
}
