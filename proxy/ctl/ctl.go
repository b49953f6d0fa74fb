package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/maxproxy/maxproxy/proxy/admin/client"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// usageError is a mistake in the command line rather than a failed request.
type usageError struct{ error }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Main runs `maxproxy ctl` with args (after "ctl") and returns the exit
// status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	home, _ := os.UserHomeDir() // without a home there is no defaults file
	root := newRoot(home, stdout)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	if ue := (usageError{}); errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run 'maxproxy ctl --help' for usage.")
		return exitUsage
	}
	return exitFail
}

// cli holds the state one invocation shares between commands.
type cli struct {
	opts  options
	home  string
	out   io.Writer
	flags *pflag.FlagSet
}

// newRoot builds the command tree.
func newRoot(home string, out io.Writer) *cobra.Command {
	c := &cli{home: home, out: out}
	root := &cobra.Command{
		Use:           "ctl",
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "maxproxy ctl"},
		Short:         "Administer a running maxproxy through its REST API",
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE:          func(*cobra.Command, []string) error { return usageErrorf("missing command") },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	c.opts.register(root.PersistentFlags())
	// -h is --hosts, as in maxctrl; help stays reachable as --help.
	root.PersistentFlags().Bool("help", false, "help for this command")
	c.flags = root.PersistentFlags()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetHelpCommand(&cobra.Command{Hidden: true})
	root.AddCommand(c.listCmd(), c.showCmd(), c.setCmd("set"), c.setCmd("clear"),
		c.monitorCmd("stop"), c.monitorCmd("start"), c.killCmd(), c.reloadCmd())
	return root
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

// exactArgs wants n arguments, named in usage.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%q takes %d argument(s), got %d; usage: %s", cmd.CommandPath(), n, len(args), cmd.UseLine())
		}
		return nil
	}
}

// group is a command that only holds subcommands: running it alone, or
// with an unknown subcommand, is a usage error.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, s := range cmd.Commands() {
				if !s.Hidden {
					names = append(names, s.Name())
				}
			}
			if len(args) == 0 {
				return usageErrorf("%s what? expected one of: %s", cmd.Name(), strings.Join(names, ", "))
			}
			return usageErrorf("unknown object %q for %s: expected one of: %s", args[0], cmd.Name(), strings.Join(names, ", "))
		},
	}
	g.AddCommand(subs...)
	return g
}

// each runs fn against every host in --hosts; with more than one host
// each output is headed by its host. A failure on one host does not stop
// the others; every failure is returned.
func (c *cli) each(ctx context.Context, fn func(ctx context.Context, cl *client.Client, w io.Writer) error) error {
	if err := c.opts.applyFile(c.flags, c.home); err != nil {
		return err
	}
	hosts := c.opts.hostList()
	if len(hosts) == 0 {
		return usageErrorf("--hosts is empty")
	}
	tlsConf, err := c.opts.tlsConfig()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hosts {
		cl, err := client.New(client.Options{URL: h, User: c.opts.user, Password: c.opts.password, TLS: tlsConf, Timeout: c.opts.timeout})
		if err != nil {
			return usageError{err}
		}
		if len(hosts) > 1 {
			fmt.Fprintf(c.out, "%s:\n", h)
		}
		err = fn(ctx, cl, c.out)
		cl.Close()
		if err != nil {
			if len(hosts) > 1 {
				err = fmt.Errorf("%s: %w", h, err)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
