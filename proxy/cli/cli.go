// Package cli implements the maxproxy command line: it dispatches
// subcommands and maps their outcome to an exit status. It owns no runtime
// state; each subcommand builds what it needs from its flags.
package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/proxy/ctl"
)

// Version is stamped at build time by the Makefile
// (-ldflags -X github.com/maxproxy/maxproxy/proxy/cli.Version=...).
var Version = "dev"

// Exit statuses, following the sysexits convention for usage errors.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// Stdin is what hash-password reads; a variable so that tests can feed it.
var Stdin io.Reader = os.Stdin

// DefaultConfigPath is where maxproxy looks for its configuration when -c is
// not given, as MaxScale looks in /etc/maxscale.cnf. A variable so that tests
// can point it elsewhere.
var DefaultConfigPath = "/etc/maxproxy.toml"

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"check-config", "check-config [-c FILE]   validate a configuration file", checkConfig},
		{"ctl", "ctl <verb> ...           administer a running proxy (see maxproxy ctl --help)", ctl.Main},
		{"hash-password", "hash-password            read a password on stdin, print its bcrypt hash for admin.password", hashPassword},
		{"serve", "serve [-c FILE]          run the proxy (also: maxproxy -c FILE)", serve},
		{"version", "version                  print the version", version},
	}
}

// Main runs the command line args (without the program name) and returns the
// process exit status. With no command, or with only serve's flags, it
// serves: `maxproxy` and `maxproxy -c FILE` run the proxy as MaxScale does.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return serve(ctx, args, stdout, stderr)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	case "-c", "--c":
		return serve(ctx, args, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "maxproxy: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: maxproxy <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %s\n", c.usage)
	}
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("maxproxy "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and reports the exit status to return when parsing
// did not succeed (help asked for, or bad flags).
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	case err != nil:
		return exitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return 0, true
}

// checkConfig prints OK for a valid file, or one line per problem
// (file:line: key: message) and fails.
func checkConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check-config", stderr)
	path := fs.String("c", DefaultConfigPath, "configuration `file` to check")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if _, err := config.Load(*path); err != nil {
		for _, line := range config.ErrorLines(err) {
			fmt.Fprintln(stdout, line)
		}
		return exitFail
	}
	fmt.Fprintln(stdout, "OK")
	return exitOK
}

func version(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fmt.Fprintf(stdout, "maxproxy %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// hashPassword reads one line (the password) from standard input and prints
// its bcrypt hash, which admin.password accepts in place of the password so
// that the configuration file does not hold it.
func hashPassword(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("hash-password", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	line, err := bufio.NewReader(Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "maxproxy hash-password: %v\n", err)
		return exitFail
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		fmt.Fprintln(stderr, "maxproxy hash-password: no password on standard input")
		return exitFail
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), config.AdminBcryptCost)
	if err != nil {
		// bcrypt refuses passwords over 72 bytes.
		fmt.Fprintf(stderr, "maxproxy hash-password: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, string(hash))
	return exitOK
}
