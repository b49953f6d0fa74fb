// Command maxnode is a Galera-like MariaDB-compatible database node. See package node.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/maxproxy/maxproxy/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := node.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
