package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/maxproxy/maxproxy/proxy/admin/api"
	"github.com/maxproxy/maxproxy/proxy/admin/client"
)

// read is one list or show command: the API path it reads (for --json) and
// how it prints a table.
type read struct {
	use, short string
	args       int
	path       func(args []string) string
	table      func(ctx context.Context, cl *client.Client, w io.Writer, args []string) error
}

func (c *cli) readCmd(r read) *cobra.Command {
	return &cobra.Command{
		Use:   r.use,
		Short: r.short,
		Args:  exactArgs(r.args),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.each(cmd.Context(), func(ctx context.Context, cl *client.Client, w io.Writer) error {
				if c.opts.json {
					body, err := cl.Raw(ctx, http.MethodGet, r.path(args))
					if err != nil {
						return err
					}
					return printJSON(w, body)
				}
				return r.table(ctx, cl, w, args)
			})
		},
	}
}

func collection(typ string) func([]string) string {
	return func([]string) string { return api.Path(typ) }
}

func object(typ string) func([]string) string {
	return func(args []string) string { return api.Path(typ, args[0]) }
}

// listTable adapts a typed list call and a table printer.
func listTable[T any](get func(*client.Client, context.Context) ([]T, error), print func(io.Writer, []T) error) func(context.Context, *client.Client, io.Writer, []string) error {
	return func(ctx context.Context, cl *client.Client, w io.Writer, _ []string) error {
		v, err := get(cl, ctx)
		if err != nil {
			return err
		}
		return print(w, v)
	}
}

// showTable adapts a typed get-one call and a table printer.
func showTable[T any](get func(*client.Client, context.Context, string) (T, error), print func(io.Writer, T) error) func(context.Context, *client.Client, io.Writer, []string) error {
	return func(ctx context.Context, cl *client.Client, w io.Writer, args []string) error {
		v, err := get(cl, ctx, args[0])
		if err != nil {
			return err
		}
		return print(w, v)
	}
}

func (c *cli) listCmd() *cobra.Command {
	return group("list", "List objects",
		c.readCmd(read{use: "servers", short: "List servers with their state and Galera status", path: collection(api.TypeServers),
			table: listTable((*client.Client).Servers, printServers)}),
		c.readCmd(read{use: "services", short: "List services", path: collection(api.TypeServices),
			table: listTable((*client.Client).Services, printServices)}),
		c.readCmd(read{use: "listeners", short: "List listeners", path: collection(api.TypeListeners),
			table: listTable((*client.Client).Listeners, printListeners)}),
		c.readCmd(read{use: "monitors", short: "List monitors", path: collection(api.TypeMonitors),
			table: listTable((*client.Client).Monitors, printMonitors)}),
		c.readCmd(read{use: "sessions", short: "List client sessions", path: collection(api.TypeSessions),
			table: listTable((*client.Client).Sessions, printSessions)}),
	)
}

func (c *cli) showCmd() *cobra.Command {
	return group("show", "Show one object in detail",
		c.readCmd(read{use: "server NAME", short: "Show a server", args: 1, path: object(api.TypeServers),
			table: showTable((*client.Client).Server, printServer)}),
		c.readCmd(read{use: "service NAME", short: "Show a service", args: 1, path: object(api.TypeServices),
			table: showTable((*client.Client).Service, printService)}),
		c.readCmd(read{use: "listener NAME", short: "Show a listener", args: 1, path: object(api.TypeListeners),
			table: showTable((*client.Client).Listener, printListener)}),
		c.readCmd(read{use: "monitor NAME", short: "Show a monitor", args: 1, path: object(api.TypeMonitors),
			table: showTable((*client.Client).Monitor, printMonitor)}),
		c.readCmd(read{use: "session ID", short: "Show a client session", args: 1, path: object(api.TypeSessions),
			table: showTable((*client.Client).Session, printSession)}),
		c.readCmd(read{use: "maxproxy", short: "Show the proxy's version and uptime", path: collection(api.TypeMaxProxy),
			table: func(ctx context.Context, cl *client.Client, w io.Writer, _ []string) error {
				m, err := cl.MaxProxy(ctx)
				if err != nil {
					return err
				}
				return printMaxProxy(w, m)
			}}),
	)
}

// printJSON indents the API's compact JSON for a reader.
func printJSON(w io.Writer, body []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(body), "", "  "); err != nil {
		return fmt.Errorf("response is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

// action runs fn on every host and prints OK, as maxctrl does.
func (c *cli) action(cmd *cobra.Command, fn func(ctx context.Context, cl *client.Client) error) error {
	return c.each(cmd.Context(), func(ctx context.Context, cl *client.Client, w io.Writer) error {
		if err := fn(ctx, cl); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w, "OK")
		return err
	})
}

// setCmd is `set server` or `clear server`.
func (c *cli) setCmd(verb string) *cobra.Command {
	var force bool
	server := &cobra.Command{
		Use:   "server NAME maintenance|drain",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a server's maintenance or drain state",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, state := args[0], args[1]
			return c.action(cmd, func(ctx context.Context, cl *client.Client) error {
				if verb == "set" {
					return cl.SetServerState(ctx, name, state, force)
				}
				return cl.ClearServerState(ctx, name, state)
			})
		},
	}
	if verb == "set" {
		server.Flags().BoolVar(&force, "force", false, "with maintenance: also close the server's open connections")
	}
	return group(verb, strings.ToUpper(verb[:1])+verb[1:]+" object state", server)
}

// monitorCmd is `stop monitor` or `start monitor`.
func (c *cli) monitorCmd(verb string) *cobra.Command {
	return group(verb, strings.ToUpper(verb[:1])+verb[1:]+" objects", &cobra.Command{
		Use:   "monitor NAME",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a monitor",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.action(cmd, func(ctx context.Context, cl *client.Client) error {
				if verb == "stop" {
					return cl.StopMonitor(ctx, args[0])
				}
				return cl.StartMonitor(ctx, args[0])
			})
		},
	})
}

func (c *cli) killCmd() *cobra.Command {
	return group("kill", "End objects", &cobra.Command{
		Use:   "session ID",
		Short: "End a client session, as KILL CONNECTION does",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.action(cmd, func(ctx context.Context, cl *client.Client) error {
				return cl.KillSession(ctx, args[0])
			})
		},
	})
}

func (c *cli) reloadCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Make the proxy read its configuration file again",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.each(cmd.Context(), func(ctx context.Context, cl *client.Client, w io.Writer) error {
				if c.opts.json {
					body, err := cl.Raw(ctx, http.MethodPost, api.Path(api.TypeReload))
					if err != nil {
						return err
					}
					return printJSON(w, body)
				}
				res, err := cl.Reload(ctx)
				if err != nil {
					return err
				}
				return printReload(w, res)
			})
		},
	}
}
