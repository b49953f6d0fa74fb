package harness

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// Shared is a fixture started at most once per test binary, by the first
// test that asks for it, and closed by Main after all tests ran. Tests of a
// package share one cluster this way instead of paying its start-up each.
// Tests using a shared fixture must leave it as they found it (restart
// what they stop, drop what they create).
type Shared[T any] struct {
	name  string
	start func(context.Context, *Scope) (T, error)

	once  sync.Once
	scope *Scope
	val   T
	err   error
}

// NewShared declares a shared fixture; start runs on first Get.
func NewShared[T any](name string, start func(context.Context, *Scope) (T, error)) *Shared[T] {
	return &Shared[T]{name: name, start: start}
}

// Get returns the fixture, starting it on first use. If it could not start,
// every caller fails with the same error, or skips when tools are missing.
func (f *Shared[T]) Get(t testing.TB) T {
	t.Helper()
	f.once.Do(func() {
		f.scope, f.err = NewScope(f.name, func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "%s: %s\n", f.name, fmt.Sprintf(format, args...))
		})
		if f.err == nil {
			f.val, f.err = f.start(context.Background(), f.scope)
		}
	})
	if IsMissing(f.err) {
		t.Skipf("integration: %v", f.err)
	}
	if f.err != nil {
		t.Fatalf("shared fixture %s: %v", f.name, f.err)
	}
	return f.val
}

// Close stops everything the fixture started. When failed, it logs the
// tail of every process's log first (see Scope.Close).
func (f *Shared[T]) Close(failed bool) error {
	if f.scope == nil {
		return nil
	}
	return f.scope.Close(failed || (f.err != nil && !IsMissing(f.err)))
}

// Fixture is what Main closes after the tests.
type Fixture interface {
	Close(failed bool) error
}

// Main runs the tests, closes the fixtures, and then checks that no
// goroutine leaked (after the fixtures' connections are closed). Use it as
// os.Exit(harness.Main(m, fixtures...)) in TestMain.
func Main(m *testing.M, fixtures ...Fixture) int {
	code := m.Run()
	for _, f := range fixtures {
		if err := f.Close(code != 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutine leak after tests: %v\n", err)
			code = 1
		}
	}
	return code
}
