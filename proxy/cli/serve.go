package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/maxproxy/maxproxy/config"
	"github.com/maxproxy/maxproxy/proxy/server"
)

// serve loads the configuration and runs the proxy until ctx ends (SIGINT,
// SIGTERM), then shuts down gracefully. SIGHUP reloads the configuration
// file, as `maxproxy ctl reload` does. It is also what `maxproxy -c FILE`
// runs.
func serve(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlagSet("serve", stderr)
	path := fs.String("c", DefaultConfigPath, "configuration `file`")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	// Caught from the start: SIGHUP's default action ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := config.Load(*path)
	if err != nil {
		for _, line := range config.ErrorLines(err) {
			fmt.Fprintln(stderr, line)
		}
		return exitFail
	}
	level := new(slog.LevelVar)
	log, closeLog, err := server.NewLogger(cfg.Log, level, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "maxproxy: %v\n", err)
		return exitFail
	}
	defer closeLog()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	log.Info("starting maxproxy", "version", Version, "config", *path)
	srv, err := server.New(cfg, server.Options{Logger: log, Registerer: reg, Gatherer: reg, Version: Version, ConfigFile: *path, LogLevel: level})
	if err == nil {
		err = runWithReloads(ctx, srv, hup, log)
	}
	if err != nil {
		log.Error("maxproxy failed", "err", err)
		fmt.Fprintf(stderr, "maxproxy: %v\n", err)
		return exitFail
	}
	return exitOK
}

// runWithReloads runs srv until ctx ends, reloading on every signal from
// hup.
func runWithReloads(ctx context.Context, srv *server.Server, hup <-chan os.Signal, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { reloadOnSignal(ctx, hup, srv.Reload, log) })
	err := srv.Run(ctx)
	cancel()
	wg.Wait()
	return err
}

// reloadOnSignal calls reload for each signal until ctx ends. Reload logs
// what it applied and refused; a failure leaves the proxy running with
// the configuration it had, so it is logged, not fatal.
func reloadOnSignal(ctx context.Context, sig <-chan os.Signal, reload func(context.Context) (server.ReloadResult, error), log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-sig:
			log.Info("reloading the configuration", "signal", s.String())
			if _, err := reload(ctx); err != nil {
				log.Error("reload on signal failed; the proxy keeps its configuration", "signal", s.String(), "err", err)
			}
		}
	}
}
