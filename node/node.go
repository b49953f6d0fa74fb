package node

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pingcap/tidb/pkg/parser"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // the parser's value driver

	"github.com/maxproxy/maxproxy/node/config"
	"github.com/maxproxy/maxproxy/node/server"
	"github.com/maxproxy/maxproxy/node/sql"
	"github.com/maxproxy/maxproxy/node/storage"
)

// Version is maxnode's release, stamped at build time with
// -ldflags "-X github.com/maxproxy/maxproxy/node.Version=v1.2.3".
var Version = "dev"

// ServerVersion is the MariaDB version maxnode reports (VERSION(), the handshake).
const ServerVersion = "10.11.99-MariaDB-maxnode"

// shutdownGrace is how long running statements may finish after a stop is requested.
const shutdownGrace = 5 * time.Second

// Main runs maxnode with command-line args (without the program name) until ctx is cancelled, and
// returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("maxnode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration file (node.toml)")
	datadir := fs.String("datadir", "", "data directory (overrides datadir)")
	listen := fs.String("listen", "", "MySQL protocol address host:port (overrides listen)")
	nodeName := fs.String("node-name", "", "node name (overrides node_name)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "maxnode: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "maxnode %s (%s)\n", Version, ServerVersion)
		return 0
	}

	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintf(stderr, "maxnode: %v\n", err)
			return 2
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "datadir":
			cfg.DataDir = *datadir
		case "listen":
			cfg.Listen = *listen
		case "node-name":
			cfg.NodeName = *nodeName
		}
	})
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "maxnode: %v\n", err)
		return 2
	}
	if err := cfg.ValidateDataDir(); err != nil {
		fmt.Fprintf(stderr, "maxnode: %v\n", err)
		return 2
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel(cfg.LogLevel)}))
	n, err := Start(cfg, log)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	log.Info("ready for connections", "version", Version, "addr", n.Addr().String(), "node_name", cfg.NodeName)

	code := 0
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-n.served:
		log.Error("server stopped", "err", n.serveErr)
		code = 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	switch err := n.Close(sctx); {
	case err == nil:
		log.Info("shutdown complete")
	case errors.Is(err, context.DeadlineExceeded):
		// Statements still running after the grace period were interrupted and rolled back: a normal stop.
		log.Warn("shutdown interrupted running statements", "err", err)
	default:
		log.Error("shutdown", "err", err)
		code = 1
	}
	return code
}

func logLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Node is a running single maxnode: storage, SQL engine and protocol server.
type Node struct {
	db  *storage.DB
	srv *server.Server
	ln  net.Listener

	served   chan struct{} // closed when Serve returns
	serveErr error         // Serve's result, once served is closed

	closeOnce sync.Once
	closeErr  error
}

// Start opens (or initialises) the data directory, applies the configured accounts and starts
// serving on cfg.Listen.
func Start(cfg config.Config, log *slog.Logger) (*Node, error) {
	if err := cfg.ValidateDataDir(); err != nil {
		return nil, err
	}
	db, err := storage.Open(cfg.DataDir, storage.Options{FlushPolicy: flushPolicy(cfg.FlushLogAtTrxCommit), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	n, err := start(cfg, db, log)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return n, nil
}

func start(cfg config.Config, db *storage.DB, log *slog.Logger) (*Node, error) {
	_, portStr, _ := net.SplitHostPort(cfg.Listen)
	port, _ := strconv.Atoi(portStr) // 0 for a named port; the engine then reports its default
	eng, err := sql.NewEngine(db, sql.EngineOptions{
		ServerVersion: ServerVersion,
		Logger:        log,
		DataDir:       cfg.DataDir,
		Hostname:      cfg.NodeName,
		Port:          port,
	})
	if err != nil {
		return nil, fmt.Errorf("sql engine: %w", err)
	}
	if err := applyConfig(eng, cfg); err != nil {
		return nil, err
	}
	srv, err := server.New(server.Config{
		Engine:           engine{eng},
		Logger:           log,
		Version:          ServerVersion,
		MaxConnections:   cfg.MaxConnections,
		MaxAllowedPacket: cfg.MaxAllowedPacket,
		IdleTimeout:      time.Duration(cfg.WaitTimeout) * time.Second,
		WriteTimeout:     time.Duration(cfg.NetWriteTimeout) * time.Second,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	n := &Node{db: db, srv: srv, ln: ln, served: make(chan struct{})}
	go func() {
		n.serveErr = srv.Serve(ln)
		close(n.served)
	}()
	return n, nil
}

// flushPolicy maps innodb_flush_log_at_trx_commit onto the storage's policies: 1 is durable per commit;
// 0 and 2 both fsync about once a second.
func flushPolicy(v int) int {
	if v == 1 {
		return 1
	}
	return 2
}

// Addr is the address the node listens on.
func (n *Node) Addr() net.Addr { return n.ln.Addr() }

// Close shuts the node down gracefully: no new connections, running statements get until ctx is done,
// every session is closed (rolled back), then storage is closed durably. Later calls return the first
// call's result.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		err := n.srv.Shutdown(ctx)
		<-n.served
		if !errors.Is(n.serveErr, server.ErrServerClosed) {
			err = errors.Join(err, n.serveErr)
		}
		n.closeErr = errors.Join(err, n.db.Close())
	})
	return n.closeErr
}

// applyConfig makes the engine reflect the configuration: the global variables that mirror node.toml
// settings, and the configured accounts, created or brought up to date. It runs ordinary SQL on an
// internal session (connection id 0, which clients never get).
func applyConfig(eng *sql.Engine, cfg config.Config) error {
	sess := eng.NewSession(0, "root", "localhost")
	defer sess.Close()
	p := parser.New()
	ctx := context.Background()
	run := func(q string) error {
		stmt, err := p.ParseOneStmt(q, "", "")
		if err == nil {
			_, err = sess.Execute(ctx, stmt, q, nil)
		}
		if err != nil {
			return fmt.Errorf("%q: %w", q, err)
		}
		return nil
	}
	for _, q := range []string{
		fmt.Sprintf("SET GLOBAL innodb_lock_wait_timeout = %d", cfg.LockWaitTimeout),
		fmt.Sprintf("SET GLOBAL innodb_flush_log_at_trx_commit = %d", cfg.FlushLogAtTrxCommit),
		fmt.Sprintf("SET GLOBAL max_connections = %d", cfg.MaxConnections),
		fmt.Sprintf("SET GLOBAL max_allowed_packet = %d", cfg.MaxAllowedPacket),
		fmt.Sprintf("SET GLOBAL wait_timeout = %d", cfg.WaitTimeout),
		fmt.Sprintf("SET GLOBAL net_write_timeout = %d", cfg.NetWriteTimeout),
	} {
		if err := run(q); err != nil {
			return fmt.Errorf("apply settings: %w", err)
		}
	}
	for _, u := range cfg.Users {
		for _, q := range userStatements(u) {
			if err := run(q); err != nil {
				return fmt.Errorf("user %s@%s: %w", u.Name, u.Host, err)
			}
		}
	}
	return nil
}

// userStatements are the SQL statements that make account u exist as configured. The config
// validator has already refused names, hosts and passwords that could break out of the quotes.
func userStatements(u config.User) []string {
	acct := fmt.Sprintf("'%s'@'%s'", u.Name, u.Host)
	auth := ""
	switch {
	case u.PasswordHash != "":
		auth = fmt.Sprintf(" IDENTIFIED BY PASSWORD '%s'", u.PasswordHash)
	case u.Password != "":
		auth = fmt.Sprintf(" IDENTIFIED BY '%s'", quote(u.Password))
	}
	qs := []string{"CREATE USER IF NOT EXISTS " + acct + auth}
	if auth != "" {
		qs = append(qs, "ALTER USER "+acct+auth)
	}
	for _, g := range u.Grants {
		qs = append(qs, "GRANT "+g+" TO "+acct)
	}
	return qs
}

// quote escapes a string for a single-quoted SQL literal.
func quote(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
