package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/proxy/server"
)

// serve loads the configuration and runs the proxy until ctx ends (SIGINT,
// SIGTERM), then shuts down gracefully. It is also what `maxproxy -c FILE`
// runs.
func serve(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlagSet("serve", stderr)
	path := fs.String("c", DefaultConfigPath, "configuration `file`")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg, err := config.Load(*path)
	if err != nil {
		for _, line := range config.ErrorLines(err) {
			fmt.Fprintln(stderr, line)
		}
		return exitFail
	}
	log, closeLog, err := server.NewLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "maxproxy: %v\n", err)
		return exitFail
	}
	defer closeLog()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	log.Info("starting maxproxy", "version", Version, "config", *path)
	if err := server.Serve(ctx, cfg, server.Options{Logger: log, Registerer: reg, Gatherer: reg, Version: Version, ConfigFile: *path}); err != nil {
		log.Error("maxproxy failed", "err", err)
		fmt.Fprintf(stderr, "maxproxy: %v\n", err)
		return exitFail
	}
	return exitOK
}
