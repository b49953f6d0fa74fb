package harness

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is one mariadbd process, plain or a Galera node, with its own
// directory under the scope (datadir, tmpdir, socket, pid file, log). It
// implements Node.
type Server struct {
	scope   *Scope
	name    string
	dir     string
	datadir string
	socket  string
	port    int
	bin     string
	args    []string // every option except the per-start ones
	galera  *Galera  // nil for a plain server

	mu    sync.Mutex
	proc  *Process
	admin *sql.DB
}

var _ Node = (*Server)(nil)

// newServer prepares the directories of a server; it does not start it.
func newServer(s *Scope, tools Tools, name string, port int) (*Server, error) {
	bin, err := tools.Path(Mariadbd)
	if err != nil {
		return nil, err
	}
	dir, err := s.MkdirFor(name)
	if err != nil {
		return nil, err
	}
	srv := &Server{
		scope:   s,
		name:    name,
		dir:     dir,
		datadir: filepath.Join(dir, "data"),
		socket:  filepath.Join(dir, "mysqld.sock"),
		port:    port,
		bin:     bin,
	}
	s.OnClose(srv.closeAdmin)
	for _, d := range []string{"data", "tmp"} {
		if _, err := s.MkdirFor(filepath.Join(name, d)); err != nil {
			return nil, err
		}
	}
	srv.args = []string{
		// --no-defaults must come first; nothing from /etc/mysql leaks in.
		"--no-defaults",
		"--datadir=" + srv.datadir,
		"--socket=" + srv.socket,
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--tmpdir=" + filepath.Join(dir, "tmp"),
		"--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--skip-name-resolve",
		"--character-set-server=utf8mb4",
		"--collation-server=" + Collation,
		"--default-storage-engine=InnoDB",
		"--binlog-format=ROW",
		"--innodb-autoinc-lock-mode=2",
		// Small buffers and logs: start-up time and memory, not throughput,
		// matter on a 2-core CI machine running several servers.
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=16M",
		"--innodb-flush-log-at-trx-commit=2",
		"--performance-schema=OFF",
		"--max-connections=500",
	}
	return srv, nil
}

// installDB creates the system tables with root@localhost reachable without
// a password over the socket (the harness's administrative login).
func (srv *Server) installDB(ctx context.Context, tools Tools) error {
	bin, err := tools.Path(InstallDB)
	if err != nil {
		return err
	}
	_, err = srv.scope.RunProcess(ctx, ProcessSpec{
		Name: srv.name + "-install-db",
		Path: bin,
		Args: []string{
			"--no-defaults",
			"--datadir=" + srv.datadir,
			// Passed on to the bootstrap mariadbd: its temporary files stay in
			// this server's own directory, out of reach of whatever cleans /tmp.
			"--tmpdir=" + filepath.Join(srv.dir, "tmp"),
			"--auth-root-authentication-method=normal",
		},
		Dir:          srv.dir,
		AsServerUser: true,
	})
	if err != nil {
		return fmt.Errorf("%s: install db: %w", srv.name, err)
	}
	return nil
}

// Name is the server's name (the wsrep_node_name of a Galera node).
func (srv *Server) Name() string { return srv.name }

// Addr is 127.0.0.1:Port().
func (srv *Server) Addr() string { return loopback(srv.port) }

// Port is the MySQL port.
func (srv *Server) Port() int { return srv.port }

// Socket is the unix socket path.
func (srv *Server) Socket() string { return srv.socket }

// Dir is the server's directory; the datadir is Dir()/data.
func (srv *Server) Dir() string { return srv.dir }

// LogPath is the server's error log (its stderr).
func (srv *Server) LogPath() string { return filepath.Join(srv.scope.dir, srv.name+".log") }

// DSN returns a go-sql-driver/mysql DSN for user over TCP.
func (srv *Server) DSN(user, password, db string) string {
	return TCPDSN(srv.Addr(), user, password, db)
}

// PID is the running mariadbd's pid, or 0.
func (srv *Server) PID() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.proc == nil {
		return 0
	}
	if done, _ := srv.proc.Exited(); done {
		return 0
	}
	return srv.proc.PID()
}

// Process is the current (or last) mariadbd process, nil before the first
// start.
func (srv *Server) Process() *Process {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.proc
}

// Start starts the server and waits until it is ready. A Galera node joins
// the cluster (IST or SST) and is ready once Synced; after a crash its
// position is first recovered from InnoDB, as the distribution's service
// unit does, so it can rejoin by IST.
func (srv *Server) Start(ctx context.Context) error { return srv.start(ctx, false) }

// StartWith is Start with extra mariadbd options for this start only,
// after every other one, e.g. "--wsrep-sst-donor=node2" to choose the
// donor of a joiner's state transfer.
func (srv *Server) StartWith(ctx context.Context, extra ...string) error {
	return srv.start(ctx, false, extra...)
}

// Bootstrap starts a Galera node as a new primary component
// (--wsrep-new-cluster), as after a whole-cluster shutdown. Galera refuses
// when grastate.dat says safe_to_bootstrap: 0.
func (srv *Server) Bootstrap(ctx context.Context) error {
	if srv.galera == nil {
		return fmt.Errorf("%s: bootstrap needs a Galera node", srv.name)
	}
	return srv.start(ctx, true)
}

func (srv *Server) start(ctx context.Context, bootstrap bool, extra ...string) error {
	if srv.PID() != 0 {
		return fmt.Errorf("%s: already running (pid %d)", srv.name, srv.PID())
	}
	args := append([]string(nil), srv.args...)
	if srv.galera != nil {
		if bootstrap {
			args = append(args, "--wsrep-new-cluster")
		}
		pos, err := srv.recoverPosition(ctx)
		if err != nil {
			return err
		}
		if pos != "" {
			args = append(args, "--wsrep-start-position="+pos)
		}
	}
	args = append(args, extra...)
	proc, err := srv.scope.StartProcess(ProcessSpec{
		Name:         srv.name,
		Path:         srv.bin,
		Args:         args,
		Dir:          srv.dir,
		AsServerUser: true,
		StopTimeout:  60 * time.Second,
	})
	if err != nil {
		return err
	}
	admin, err := sql.Open("mysql", socketDSN(srv.socket))
	if err != nil {
		_ = proc.Kill()
		return fmt.Errorf("%s: %w", srv.name, err)
	}
	// No idle connections: a pooled one would be stale after the node
	// restarts or is killed, and a socket connection costs ~1 ms.
	admin.SetMaxOpenConns(4)
	admin.SetMaxIdleConns(0)
	srv.mu.Lock()
	if srv.admin != nil {
		srv.admin.Close()
	}
	srv.proc, srv.admin = proc, admin
	srv.mu.Unlock()
	return srv.waitReady(ctx, proc)
}

// waitReady polls until the server answers (plain) or is Synced (Galera),
// giving up at once if the process exits.
func (srv *Server) waitReady(ctx context.Context, proc *Process) error {
	what := srv.name + " accepting connections"
	if srv.galera != nil {
		what = srv.name + " Synced"
	}
	err := Poll(ctx, what, 100*time.Millisecond, func(ctx context.Context) error {
		if done, werr := proc.Exited(); done {
			return Permanent(fmt.Errorf("%s exited (%v)", srv.name, werr))
		}
		if srv.galera == nil {
			return srv.adminDB().PingContext(ctx)
		}
		return checkSynced(ctx, srv, "")
	})
	if err != nil {
		return fmt.Errorf("%w\n--- last %d lines of %s ---\n%s", err, tailLines, proc.LogPath(), proc.Tail(tailLines))
	}
	return nil
}

// WipeData empties the datadir of a stopped server, as a node whose disk
// was replaced: a Galera node then rejoins by full state transfer (SST).
func (srv *Server) WipeData() error {
	if pid := srv.PID(); pid != 0 {
		return fmt.Errorf("%s: wipe data: running (pid %d)", srv.name, pid)
	}
	entries, err := os.ReadDir(srv.datadir)
	if err != nil {
		return fmt.Errorf("%s: wipe data: %w", srv.name, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(srv.datadir, e.Name())); err != nil {
			return fmt.Errorf("%s: wipe data: %w", srv.name, err)
		}
	}
	return nil
}

// Stop shuts the server down with SIGTERM (a graceful Galera leave: the
// node writes its seqno to grastate.dat).
func (srv *Server) Stop() error { return srv.withProc((*Process).Stop) }

// Kill crashes the server with SIGKILL (grastate.dat keeps seqno -1).
func (srv *Server) Kill() error { return srv.withProc((*Process).Kill) }

// Pause freezes the server with SIGSTOP; peers see it stop answering.
func (srv *Server) Pause() error { return srv.withProc((*Process).Pause) }

// Resume continues a paused server.
func (srv *Server) Resume() error { return srv.withProc((*Process).Resume) }

func (srv *Server) withProc(f func(*Process) error) error {
	p := srv.Process()
	if p == nil {
		return fmt.Errorf("%s: never started", srv.name)
	}
	if err := f(p); err != nil {
		return fmt.Errorf("%s: %w", srv.name, err)
	}
	return nil
}

func (srv *Server) adminDB() *sql.DB {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.admin
}

func (srv *Server) closeAdmin() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.admin != nil {
		srv.admin.Close()
		srv.admin = nil
	}
}

// Exec runs a statement as root over the unix socket.
func (srv *Server) Exec(ctx context.Context, query string, args ...any) error {
	db := srv.adminDB()
	if db == nil {
		return fmt.Errorf("%s: not started", srv.name)
	}
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("%s: %w", srv.name, err)
	}
	return nil
}

// Query runs a query as root and returns all rows as strings.
func (srv *Server) Query(ctx context.Context, query string, args ...any) ([][]string, error) {
	db := srv.adminDB()
	if db == nil {
		return nil, fmt.Errorf("%s: not started", srv.name)
	}
	rows, err := queryRows(ctx, db, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", srv.name, err)
	}
	return rows, nil
}

// QueryString runs a query as root and returns the first column of its
// first row.
func (srv *Server) QueryString(ctx context.Context, query string, args ...any) (string, error) {
	db := srv.adminDB()
	if db == nil {
		return "", fmt.Errorf("%s: not started", srv.name)
	}
	v, err := queryString(ctx, db, query, args...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", srv.name, err)
	}
	return v, nil
}

// Status reads a global status variable.
func (srv *Server) Status(ctx context.Context, name string) (string, error) {
	db := srv.adminDB()
	if db == nil {
		return "", fmt.Errorf("%s: not started", srv.name)
	}
	return globalStatus(ctx, db, name)
}

var recoveredPosition = regexp.MustCompile(`WSREP: Recovered position: ([0-9a-f-]{36}:-?[0-9]+)`)

// recoverPosition returns the position to start a Galera node from after a
// crash, or "" when grastate.dat already has it (clean shutdown) or there is
// no state yet. Like the galera_recovery script it runs mariadbd
// --wsrep-recover, which reads the last committed XID from InnoDB; without
// it a crashed node would need a full SST instead of IST.
func (srv *Server) recoverPosition(ctx context.Context) (string, error) {
	uuid, seqno, err := readGrastate(filepath.Join(srv.datadir, "grastate.dat"))
	if err != nil || uuid == "" || seqno != -1 || strings.Trim(uuid, "0-") == "" {
		return "", err
	}
	out, err := srv.scope.RunProcess(ctx, ProcessSpec{
		Name:         srv.name + "-recover",
		Path:         srv.bin,
		Args:         append(append([]string(nil), srv.args...), "--wsrep-recover"),
		Dir:          srv.dir,
		AsServerUser: true,
	})
	if err != nil {
		return "", fmt.Errorf("%s: wsrep recovery: %w", srv.name, err)
	}
	m := recoveredPosition.FindSubmatch(out)
	if m == nil {
		return "", nil
	}
	pos := string(m[1])
	if strings.HasSuffix(pos, ":-1") {
		return "", nil
	}
	return pos, nil
}

// readGrastate parses uuid and seqno from grastate.dat; a missing file is
// not an error (the node has no state yet).
func readGrastate(path string) (uuid string, seqno int64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("harness: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "uuid":
			uuid = strings.TrimSpace(v)
		case "seqno":
			if seqno, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
				return "", 0, fmt.Errorf("harness: %s: seqno: %w", path, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", 0, fmt.Errorf("harness: read %s: %w", path, err)
	}
	return uuid, seqno, nil
}
