package replicator

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/maxproxy/maxproxy/node/internal/fsutil"
	"github.com/maxproxy/maxproxy/node/writeset"
)

const (
	// StateFileName holds the FSM position (raft index, seqno, certification index) written on clean
	// shutdown; GrastateFileName is Galera's saved-state file for operators and tools (GALERA.md §5.5).
	StateFileName    = "replicator.state"
	GrastateFileName = "grastate.dat"
)

// ErrUnsafeBootstrap is Galera's refusal to bootstrap from a node that was not the last to leave.
var ErrUnsafeBootstrap = errors.New("It may not be safe to bootstrap the cluster from this node. " +
	"It was not the last one to leave the cluster and may not contain all the updates. " +
	"To force cluster bootstrap with this node, edit the grastate.dat file manually and set safe_to_bootstrap to 1 .")

// savedState is the FSM's position. Running is true from Start until a clean Close: a file found with
// Running set means the process did not stop cleanly.
type savedState struct {
	Running   bool   `json:"running"`
	Index     uint64 `json:"index"` // last raft index the FSM consumed
	Seqno     uint64 `json:"seqno"` // last seqno of the total order
	UUID      string `json:"uuid"`  // cluster state UUID, empty before the cluster entry
	ConfID    uint64 `json:"conf_id"`
	TOICount  uint64 `json:"toi_count"`  // TOI entries since the cluster entry: the next TOI's space range
	CertState []byte `json:"cert_state"` // certify.Certifier.AppendState
	View      view   `json:"view"`       // membership (view.go)
}

func readState(dir string) (*savedState, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replicator: read state: %w", err)
	}
	var st savedState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("replicator: corrupt %s: %w", StateFileName, err)
	}
	return &st, nil
}

func writeState(dir string, st *savedState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("replicator: encode state: %w", err)
	}
	return writeFileSync(dir, StateFileName, b)
}

// grastate is the content of grastate.dat.
type grastate struct {
	UUID            writeset.UUID
	Seqno           int64 // -1 while running or unknown
	SafeToBootstrap bool
}

func formatUUID(u writeset.UUID) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func parseUUID(s string) (writeset.UUID, error) {
	var u writeset.UUID
	h := strings.ReplaceAll(s, "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("replicator: bad uuid %q", s)
	}
	copy(u[:], b)
	return u, nil
}

func writeGrastate(dir string, g grastate) error {
	safe := 0
	if g.SafeToBootstrap {
		safe = 1
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# GALERA saved state\nversion: 2.1\nuuid:    %s\nseqno:   %d\nsafe_to_bootstrap: %d\n",
		formatUUID(g.UUID), g.Seqno, safe)
	return writeFileSync(dir, GrastateFileName, b.Bytes())
}

// readGrastate returns nil when the file does not exist.
func readGrastate(dir string) (*grastate, error) {
	f, err := os.Open(filepath.Join(dir, GrastateFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replicator: %w", err)
	}
	defer f.Close()
	g := &grastate{Seqno: -1}
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("replicator: %s: bad line %q", GrastateFileName, line)
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "uuid":
			if g.UUID, err = parseUUID(v); err != nil {
				return nil, err
			}
			seen++
		case "seqno":
			if g.Seqno, err = strconv.ParseInt(v, 10, 64); err != nil {
				return nil, fmt.Errorf("replicator: %s: bad seqno %q", GrastateFileName, v)
			}
			seen++
		case "safe_to_bootstrap":
			if v != "0" && v != "1" {
				return nil, fmt.Errorf("replicator: %s: bad safe_to_bootstrap %q", GrastateFileName, v)
			}
			g.SafeToBootstrap = v == "1"
			seen++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("replicator: read %s: %w", GrastateFileName, err)
	}
	if seen != 3 {
		return nil, fmt.Errorf("replicator: %s lacks uuid, seqno or safe_to_bootstrap", GrastateFileName)
	}
	return g, nil
}

// writeFileSync replaces dir/name atomically and durably (temp file, fsync, rename, fsync of the directory).
func writeFileSync(dir, name string, b []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("replicator: write %s: %w", name, err)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, filepath.Join(dir, name))
	}
	if werr == nil {
		werr = fsutil.SyncDir(dir)
	}
	if werr != nil {
		return fmt.Errorf("replicator: write %s: %w", name, werr)
	}
	return nil
}
