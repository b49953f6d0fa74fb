package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Tool names an external program (or, for Galera, a shared library) the
// harness needs.
type Tool string

// The tools the harness knows how to find.
const (
	Mariadbd  Tool = "mariadbd"
	InstallDB Tool = "mariadb-install-db"
	Client    Tool = "mariadb"
	GaleraLib Tool = "libgalera_smm.so"
	Garbd     Tool = "garbd"
	Rsync     Tool = "rsync"
	SSTRsync  Tool = "wsrep_sst_rsync"
	Sysbench  Tool = "sysbench"
	HAProxy   Tool = "haproxy"
)

// GaleraTools is what RequireGalera checks: everything a real cluster with
// rsync SST and an arbitrator needs.
var GaleraTools = []Tool{Mariadbd, InstallDB, Client, GaleraLib, Garbd, Rsync, SSTRsync}

// MariaDBTools is what RequireMariaDB checks: a plain server and its client.
var MariaDBTools = []Tool{Mariadbd, InstallDB, Client}

// tool describes where a tool may live and which Debian package ships it.
type tool struct {
	names []string // executable names tried on PATH and in sbinDirs
	files []string // absolute candidate paths (for libraries)
	pkg   string
}

var tools = map[Tool]tool{
	Mariadbd:  {names: []string{"mariadbd", "mysqld"}, pkg: "mariadb-server"},
	InstallDB: {names: []string{"mariadb-install-db", "mysql_install_db"}, pkg: "mariadb-server"},
	Client:    {names: []string{"mariadb", "mysql"}, pkg: "mariadb-client"},
	GaleraLib: {files: []string{
		"/usr/lib/galera/libgalera_smm.so",
		"/usr/lib/galera-4/libgalera_smm.so",
		"/usr/lib64/galera-4/libgalera_smm.so",
		"/usr/lib64/galera/libgalera_smm.so",
		"/usr/lib/libgalera_smm.so",
	}, pkg: "galera-4"},
	Garbd:    {names: []string{"garbd"}, pkg: "galera-arbitrator-4"},
	Rsync:    {names: []string{"rsync"}, pkg: "rsync"},
	SSTRsync: {names: []string{"wsrep_sst_rsync"}, pkg: "mariadb-server"},
	Sysbench: {names: []string{"sysbench"}, pkg: "sysbench"},
	HAProxy:  {names: []string{"haproxy"}, pkg: "haproxy"},
}

// sbinDirs are searched after PATH: a non-root PATH usually lacks them, and
// mariadbd and haproxy live there on Debian.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// galeraInstall is the one command that installs every tool in GaleraTools;
// skip messages always print it whole so a developer can paste it as is.
const galeraInstall = "apt-get install mariadb-server mariadb-client galera-4 galera-arbitrator-4 rsync"

// Tools records where each known tool was found.
type Tools struct {
	paths map[Tool]string
}

// Find locates every known tool. It never fails: missing tools are reported
// by Path and Require. The result is computed once per process.
func Find() Tools { return findOnce() }

var findOnce = sync.OnceValue(func() Tools {
	t := Tools{paths: make(map[Tool]string, len(tools))}
	for name, spec := range tools {
		if p := locate(spec); p != "" {
			t.paths[name] = p
		}
	}
	return t
})

func locate(spec tool) string {
	for _, f := range spec.files {
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			return f
		}
	}
	for _, n := range spec.names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, d := range sbinDirs {
			p := filepath.Join(d, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p
			}
		}
	}
	return ""
}

// Path returns where tool was found, or a *MissingError.
func (t Tools) Path(name Tool) (string, error) {
	if p, ok := t.paths[name]; ok {
		return p, nil
	}
	return "", &MissingError{Tools: []Tool{name}}
}

// Require returns a *MissingError naming every tool in names that is absent.
func (t Tools) Require(names ...Tool) error {
	var missing []Tool
	for _, n := range names {
		if _, ok := t.paths[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &MissingError{Tools: missing}
}

// MissingError says which tools are absent and how to install them. Shared
// fixtures turn it into a skip rather than a failure.
type MissingError struct {
	Tools []Tool
}

func (e *MissingError) Error() string {
	names := make([]string, len(e.Tools))
	for i, t := range e.Tools {
		names[i] = string(t)
	}
	return fmt.Sprintf("not installed: %s; install with: %s", strings.Join(names, ", "), e.InstallCommand())
}

// InstallCommand is the apt-get line that installs the missing tools. For
// anything in GaleraTools it is always the full Galera line, so one command
// fixes every Galera-related skip.
func (e *MissingError) InstallCommand() string {
	pkgs := []string{}
	galera := false
	for _, t := range e.Tools {
		if slices.Contains(GaleraTools, t) {
			galera = true
			continue
		}
		if p := tools[t].pkg; p != "" && !slices.Contains(pkgs, p) {
			pkgs = append(pkgs, p)
		}
	}
	if !galera {
		return "apt-get install " + strings.Join(pkgs, " ")
	}
	if len(pkgs) == 0 {
		return galeraInstall
	}
	return galeraInstall + " " + strings.Join(pkgs, " ")
}

// IsMissing reports whether err (or anything it wraps) is a *MissingError.
func IsMissing(err error) bool {
	var m *MissingError
	return errors.As(err, &m)
}

// RequireGalera skips the test, saying how to install them, unless every
// tool of a real Galera cluster is present. When they are present the test
// runs: there is no other switch that turns these tests off.
func RequireGalera(t testing.TB) Tools {
	t.Helper()
	return require(t, GaleraTools...)
}

// RequireMariaDB skips the test unless a plain MariaDB server can be started.
func RequireMariaDB(t testing.TB) Tools {
	t.Helper()
	return require(t, MariaDBTools...)
}

// RequireTools skips the test unless every named tool is present.
func RequireTools(t testing.TB, names ...Tool) Tools {
	t.Helper()
	return require(t, names...)
}

func require(t testing.TB, names ...Tool) Tools {
	t.Helper()
	return requireFrom(t, Find(), names...)
}

func requireFrom(t testing.TB, found Tools, names ...Tool) Tools {
	t.Helper()
	if err := found.Require(names...); err != nil {
		t.Skipf("integration: %v", err)
	}
	return found
}
