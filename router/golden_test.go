package router

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/maxproxy/maxproxy/monitor/topology"
	"github.com/maxproxy/maxproxy/router/classify"
)

var update = flag.Bool("update", false, "rewrite testdata golden files with the actual decisions")

// The golden files are scripts. Directives:
//
//	topology NAME                 start a new topology (and a new session)
//	server NAME STATE, STATE …    add a server; states as maxctrl prints them
//	options k=v …                 readwritesplit options (reset to defaults first)
//	load NAME=N …                 per-server load (in-flight statements / connections)
//	session [tiebreak=N]          a fresh session
//	reply ok|err [status=F,F]     the reply the next statement gets (F: in_trans,
//	                              autocommit, read_only); default ok, no status
//	> SQL                         route a COM_QUERY, then advance the session
//	prepare ID SQL | execute ID | fetch ID | close ID | reset | initdb
//	connect ROLES [master_accept_reads=false]   a readconnroute decision
//
// After each routed line the driver writes "=> TARGET SERVER REASON"
// ("-" for no server); those lines are regenerated, everything else is
// copied, and the result must equal the file (-update rewrites it).

var stateByName = map[string]topology.State{
	"running": topology.Running, "synced": topology.Synced, "master": topology.Master,
	"slave": topology.Slave, "donor": topology.Donor, "maintenance": topology.Maintenance,
	"draining": topology.Draining, "auth error": topology.AuthError, "lagging": topology.Lagging,
	"master stickiness": topology.Sticky, "down": 0,
}

type script struct {
	t          *testing.T
	file       string
	line       int
	cls        *classify.Classifier
	snap       *topology.Snapshot
	opts       Options
	load       map[string]int
	sess       Session
	next       Reply
	statements int
}

func (sc *script) fail(format string, args ...any) {
	sc.t.Fatalf("%s:%d: %s", sc.file, sc.line, fmt.Sprintf(format, args...))
}

func (sc *script) loadFunc() Load {
	return func(name string) int { return sc.load[name] }
}

func formatDecision(d Decision) string {
	server := d.Server
	if server == "" {
		server = "-"
	}
	return fmt.Sprintf("=> %s %s %s\n", d.Target, server, d.Reason)
}

// step routes one request, advances the session and returns the output line.
func (sc *script) step(req Request) string {
	d := Route(req, &sc.sess, sc.snap, &sc.opts, sc.loadFunc())
	sc.sess.Advance(req, d, sc.next, &sc.opts)
	sc.next = Reply{OK: true}
	sc.statements++
	return formatDecision(d)
}

func (sc *script) exec(line string) string {
	word, rest, _ := strings.Cut(line, " ")
	switch {
	case strings.HasPrefix(line, "> "):
		cl, hint := sc.cls.Classify([]byte(line[2:]))
		return sc.step(Request{Cmd: CmdQuery, Class: cl, Hint: hint})
	case word == "topology":
		sc.snap = &topology.Snapshot{}
		sc.sess = Session{}
		sc.load = map[string]int{}
	case word == "server":
		name, states, _ := strings.Cut(rest, " ")
		var st topology.State
		for _, s := range strings.Split(states, ",") {
			bit, ok := stateByName[strings.ToLower(strings.TrimSpace(s))]
			if !ok {
				sc.fail("unknown state %q", s)
			}
			st |= bit
		}
		sc.snap.Servers = append(sc.snap.Servers, topology.Server{Name: name, State: st})
	case word == "options":
		sc.opts = Options{}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			b := v == "true"
			switch k {
			case "use_sql_variables_in":
				sc.opts.UseSQLVariablesIn = map[string]VarsTarget{"all": VarsAll, "master": VarsMaster}[v]
			case "master_accept_reads":
				sc.opts.MasterAcceptReads = b
			case "strict_multi_stmt":
				sc.opts.StrictMultiStmt = b
			case "strict_sp_calls":
				sc.opts.StrictSPCalls = b
			case "read_from_synced":
				sc.opts.ReadFromSynced = b
			default:
				sc.fail("unknown option %q", k)
			}
		}
	case word == "load":
		sc.load = map[string]int{}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.Atoi(v)
			if err != nil {
				sc.fail("load %q: %v", kv, err)
			}
			sc.load[k] = n
		}
	case word == "session":
		sc.sess = Session{}
		if v, ok := strings.CutPrefix(rest, "tiebreak="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				sc.fail("tiebreak: %v", err)
			}
			sc.sess.TieBreak = uint32(n)
		}
	case word == "reply":
		f := strings.Fields(rest)
		if len(f) == 0 || (f[0] != "ok" && f[0] != "err") {
			sc.fail("reply ok|err [status=…]")
		}
		sc.next = Reply{OK: f[0] == "ok"}
		if len(f) > 1 {
			v, ok := strings.CutPrefix(f[1], "status=")
			if !ok {
				sc.fail("reply: want status=…")
			}
			sc.next.HasStatus = true
			for _, s := range strings.Split(v, ",") {
				switch s {
				case "in_trans":
					sc.next.Status |= StatusInTrans
				case "autocommit":
					sc.next.Status |= StatusAutocommit
				case "read_only":
					sc.next.Status |= StatusInTransReadOnly
				case "none":
				default:
					sc.fail("unknown status flag %q", s)
				}
			}
		}
	case word == "prepare":
		idText, sql, _ := strings.Cut(rest, " ")
		cl, hint := sc.cls.Classify([]byte(sql))
		return sc.step(Request{Cmd: CmdStmtPrepare, Class: cl, Hint: hint, StmtID: sc.id(idText)})
	case word == "execute":
		return sc.step(Request{Cmd: CmdStmtExecute, StmtID: sc.id(rest)})
	case word == "fetch":
		return sc.step(Request{Cmd: CmdStmtFetch, StmtID: sc.id(rest)})
	case word == "close":
		return sc.step(Request{Cmd: CmdStmtClose, StmtID: sc.id(rest)})
	case word == "reset":
		return sc.step(Request{Cmd: CmdResetConnection})
	case word == "initdb":
		return sc.step(Request{Cmd: CmdInitDB})
	case word == "connect":
		f := strings.Fields(rest)
		if len(f) == 0 {
			sc.fail("connect ROLES [master_accept_reads=…]")
		}
		roles, err := ParseRoles(f[0])
		if err != nil {
			sc.fail("%v", err)
		}
		o := ConnOptions{Roles: roles, MasterAcceptReads: true}
		if len(f) > 1 {
			o.MasterAcceptReads = f[1] != "master_accept_reads=false"
		}
		sc.statements++
		return formatDecision(RouteConnection(sc.snap, o, sc.loadFunc()))
	default:
		sc.fail("unknown directive %q", line)
	}
	return ""
}

func (sc *script) id(s string) uint32 {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		sc.fail("statement id %q: %v", s, err)
	}
	return uint32(n)
}

// runScript executes a golden file and returns the regenerated text.
func runScript(t *testing.T, cls *classify.Classifier, path string) (string, int) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := &script{t: t, file: path, cls: cls, next: Reply{OK: true}}
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		sc.line = i + 1
		if strings.HasPrefix(line, "=> ") {
			continue
		}
		b.WriteString(line + "\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if sc.snap == nil && !strings.HasPrefix(line, "topology ") {
			sc.fail("the first directive must be topology")
		}
		b.WriteString(sc.exec(line))
	}
	return b.String(), sc.statements
}

func TestGoldenDecisions(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	cls := classify.New(1024)
	total := 0
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got, n := runScript(t, cls, path)
			total += n
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got == string(want) {
				return
			}
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			actual := filepath.Join(t.TempDir(), filepath.Base(path))
			if err := os.WriteFile(actual, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			wl, gl := strings.Split(string(want), "\n"), strings.Split(got, "\n")
			for i := 0; i < len(wl) && i < len(gl); i++ {
				if wl[i] != gl[i] {
					t.Fatalf("%s:%d differs (actual output in %s; -update accepts it)\n want: %s\n  got: %s",
						path, i+1, actual, wl[i], gl[i])
				}
			}
			t.Fatalf("%s: length differs (actual output in %s)", path, actual)
		})
	}
	if total < 200 {
		t.Errorf("golden files route %d statements; keep at least 200", total)
	}
}
