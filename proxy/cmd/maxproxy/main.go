// Command maxproxy is the cluster-aware MariaDB/Galera SQL proxy. All logic
// lives in package cli so that it can be tested and embedded; main only turns
// signals into a context.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/maxproxy/maxproxy/proxy/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
