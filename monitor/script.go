package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/maxproxy/maxproxy/monitor/galera"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

// scriptQueueLen bounds the events waiting for the script. Scripts are
// slow compared with probe rounds; when they fall this far behind, new
// events are dropped (and counted) rather than delaying probing.
const scriptQueueLen = 32

// maxScriptOutput bounds what is kept of one run's output for logging.
const maxScriptOutput = 64 << 10

// scriptRunner runs the monitor script for events, one at a time, in its
// own goroutine.
type scriptRunner struct {
	argv    []string
	timeout time.Duration
	events  map[galera.EventName]bool
	log     *slog.Logger
	metrics *metrics
	queue   chan []string
}

func newScriptRunner(o Options, log *slog.Logger, m *metrics) (*scriptRunner, error) {
	argv, err := splitCommand(o.Script)
	if err != nil {
		return nil, err
	}
	events := map[galera.EventName]bool{}
	if len(o.Events) == 0 {
		for _, e := range galera.AllEvents {
			events[e] = true
		}
	}
	for _, e := range o.Events {
		name, err := galera.ParseEventName(e)
		if err != nil {
			return nil, err
		}
		events[name] = true
	}
	return &scriptRunner{
		argv: argv, timeout: o.ScriptTimeout, events: events, log: log, metrics: m,
		queue: make(chan []string, scriptQueueLen),
	}, nil
}

// enqueue expands the placeholders for ev against snap and queues the run
// without blocking.
func (r *scriptRunner) enqueue(ev galera.Event, snap *topology.Snapshot) {
	if !r.events[ev.Name] {
		return
	}
	args := expand(r.argv, ev, snap)
	select {
	case r.queue <- args:
	default:
		r.metrics.scriptDropped.Inc()
		r.log.Warn("monitor script queue full, event dropped", "event", ev.Name, "server", ev.Server)
	}
}

// run executes queued scripts until ctx is done.
func (r *scriptRunner) run(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case args := <-r.queue:
			r.exec(ctx, args)
		}
	}
}

// exec runs one script: SIGTERM at the timeout and SIGKILL at twice the
// timeout, as MaxScale does. Its output is logged line by line, at the
// level named by a MaxScale-style prefix ("error:", "warning:", ...).
func (r *scriptRunner) exec(parent context.Context, args []string) {
	ctx, cancel := context.WithTimeout(parent, r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = r.timeout
	var out limitedBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	for _, line := range strings.Split(strings.TrimRight(out.buf.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		level, msg := scriptLogLevel(line)
		r.log.Log(context.Background(), level, "monitor script output", "script", args[0], "output", msg)
	}
	switch {
	case err == nil:
		r.metrics.scriptRuns.WithLabelValues("ok").Inc()
		r.log.Info("monitor script finished", "script", args[0], "duration", time.Since(start))
	case ctx.Err() == context.DeadlineExceeded:
		r.metrics.scriptRuns.WithLabelValues("timeout").Inc()
		r.log.Error("monitor script timed out", "script", args[0], "timeout", r.timeout, "err", err)
	default:
		r.metrics.scriptRuns.WithLabelValues("failed").Inc()
		r.log.Error("monitor script failed", "script", args[0], "err", err)
	}
}

func scriptLogLevel(line string) (slog.Level, string) {
	for _, p := range []struct {
		prefix string
		level  slog.Level
	}{
		{"alert:", slog.LevelError}, {"error:", slog.LevelError}, {"warning:", slog.LevelWarn},
		{"notice:", slog.LevelInfo}, {"info:", slog.LevelInfo}, {"debug:", slog.LevelDebug},
	} {
		if len(line) >= len(p.prefix) && strings.EqualFold(line[:len(p.prefix)], p.prefix) {
			return p.level, strings.TrimSpace(line[len(p.prefix):])
		}
	}
	return slog.LevelInfo, line
}

// limitedBuffer keeps the first maxScriptOutput bytes and discards the rest,
// so a chatty script cannot grow the monitor's memory.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxScriptOutput - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// expand substitutes MaxScale's placeholders in every argument. Galera
// nodes have no replication parent or children, so $PARENT and $CHILDREN
// expand to nothing, as in galeramon.
func expand(argv []string, ev galera.Event, snap *topology.Snapshot) []string {
	var initiator string
	list := func(keep func(topology.State) bool) string {
		var parts []string
		for _, s := range snap.Servers {
			if keep(s.State) {
				parts = append(parts, scriptAddress(s.Address))
			}
		}
		return strings.Join(parts, ",")
	}
	if s := snap.Server(ev.Server); s != nil {
		initiator = scriptAddress(s.Address)
	}
	r := strings.NewReplacer(
		"$INITIATOR", initiator,
		"$EVENT", string(ev.Name),
		"$NODELIST", list(func(s topology.State) bool { return s.Up() }),
		"$SLAVELIST", list(func(s topology.State) bool { return s.Has(topology.Slave | topology.Running) }),
		"$MASTERLIST", list(func(s topology.State) bool { return s.Has(topology.Master | topology.Running) }),
		"$SYNCEDLIST", list(func(s topology.State) bool { return s.Has(topology.Synced | topology.Running) }),
		"$LIST", list(func(topology.State) bool { return true }),
		"$PARENT", "",
		"$CHILDREN", "",
	)
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = r.Replace(a)
	}
	return out
}

// scriptAddress formats host:port as MaxScale does: [host]:port.
func scriptAddress(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return "[" + host + "]:" + port
}

// splitCommand splits a script command line on blanks, honouring single
// and double quotes and backslash escapes outside single quotes.
func splitCommand(s string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inArg   bool
		quote   rune
		escaped bool
	)
	for _, c := range s {
		switch {
		case escaped:
			cur.WriteRune(c)
			escaped = false
		case c == '\\' && quote != '\'':
			escaped, inArg = true, true
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inArg = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(c)
			inArg = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, errors.New("empty command")
	}
	return args, nil
}
