package consensus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/scenarios/*.txt")

// TestScenarios runs the cluster scripts in testdata/scenarios. One command per line with its expected
// output after "=>"; "# ..." lines are comments. Run with -update to rewrite the expectations.
//
//	cluster N [noncandidate=ID]   start N voters (ids 1..N) on a fresh simulated network
//	campaign ID                   make ID the leader (campaign or leadership transfer) => leader ID
//	wait-leader ID...             wait until the nodes agree on a data-node leader among them => leader ID
//	propose ID DATA [TIMEOUT]     propose through ID            => committed | not committed | unknown
//	partition IDS | IDS ...       cut the links between the groups
//	isolate ID / heal             cut one node off / remove every fault
//	stop ID / start ID            crash / restart from the data directory
//	read ID                       ReadIndex on ID, then print what ID has applied
//	log ID...                     wait until the nodes applied the same log, print it
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScenario(t, file) })
	}
}

func runScenario(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var c *cluster
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		cmd, want, _ := strings.Cut(text, "=>")
		cmd = strings.TrimSpace(cmd)
		if cmd == "" || strings.HasPrefix(cmd, "#") {
			out.WriteString(text + "\n")
			continue
		}
		got, err := scenarioStep(t, &c, cmd)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", file, line, cmd, err)
		}
		if !*update && strings.TrimSpace(want) != got {
			t.Fatalf("%s:%d: %s\n got: %s\nwant: %s", file, line, cmd, got, strings.TrimSpace(want))
		}
		fmt.Fprintf(&out, "%s => %s\n", cmd, got)
	}
	if *update {
		if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func parseIDs(args []string) ([]uint64, error) {
	var ids []uint64
	for _, a := range args {
		id, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad node id %q", a)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func scenarioStep(t *testing.T, cp **cluster, cmd string) (string, error) {
	f := strings.Fields(cmd)
	c := *cp
	if f[0] != "cluster" && c == nil {
		return "", errors.New("no cluster yet")
	}
	var ids []uint64
	var err error
	switch f[0] {
	case "cluster", "partition", "propose", "heal":
	default:
		if ids, err = parseIDs(f[1:]); err != nil {
			return "", err
		}
		if len(ids) == 0 {
			return "", fmt.Errorf("%s needs a node id", f[0])
		}
	}
	switch f[0] {
	case "cluster":
		size, err := strconv.Atoi(f[1])
		if err != nil {
			return "", err
		}
		var nonCandidate uint64
		for _, a := range f[2:] {
			v, ok := strings.CutPrefix(a, "noncandidate=")
			if !ok {
				return "", fmt.Errorf("unknown cluster option %q", a)
			}
			if nonCandidate, err = strconv.ParseUint(v, 10, 64); err != nil {
				return "", err
			}
		}
		*cp = newCluster(t, 1, size, func(cfg *Config) { cfg.NonCandidate = cfg.ID == nonCandidate })
		(*cp).nonCandidate = nonCandidate
		return "ok", nil
	case "campaign":
		return campaign(c, ids[0])
	case "wait-leader":
		return fmt.Sprintf("leader %d", c.leader(ids...)), nil
	case "propose":
		id, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil || len(f) < 3 {
			return "", errors.New("usage: propose ID DATA [TIMEOUT]")
		}
		timeout := 10 * time.Second
		if len(f) > 3 {
			if timeout, err = time.ParseDuration(f[3]); err != nil {
				return "", err
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err = c.nodes[id].Propose(ctx, []byte(f[2]))
		switch {
		case err == nil:
			return "committed", nil
		case errors.Is(err, ErrNotCommitted):
			return "not committed", nil
		case errors.Is(err, ErrUnknownOutcome):
			return "unknown", nil
		}
		return "", err
	case "partition":
		var groups [][]uint64
		for _, g := range strings.Split(strings.Join(f[1:], " "), "|") {
			ids, err := parseIDs(strings.Fields(g))
			if err != nil {
				return "", err
			}
			groups = append(groups, ids)
		}
		c.net.Partition(groups...)
		return "ok", nil
	case "isolate":
		c.net.Isolate(ids[0])
		return "ok", nil
	case "heal":
		c.net.Heal()
		return "ok", nil
	case "stop":
		c.stop(ids[0])
		return "ok", nil
	case "start":
		c.start(ids[0], c.peers)
		return "ok", nil
	case "read":
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.nodes[ids[0]].ReadIndex(ctx); err != nil {
			return "", err
		}
		return strings.Join(c.fsms[ids[0]].log(), " "), nil
	case "log":
		return strings.Join(c.converged(0, ids...), " "), nil
	}
	return "", fmt.Errorf("unknown command %q", f[0])
}

// campaign makes id the leader: by leadership transfer when another node leads, else by campaigning.
func campaign(c *cluster, id uint64) (string, error) {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		st := c.nodes[id].Status()
		if st.State == "StateLeader" {
			return fmt.Sprintf("leader %d", id), nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if lead, ok := c.nodes[st.Lead]; ok && st.Lead != id {
			_ = lead.TransferLeadership(ctx, id)
		} else if err := c.nodes[id].Campaign(ctx); err != nil {
			cancel()
			return "", err
		}
		cancel()
		time.Sleep(50 * time.Millisecond) // one election round at the test tick
	}
	return "", fmt.Errorf("node %d did not become leader", id)
}
