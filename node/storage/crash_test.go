package storage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const crashHelperEnv = "STORAGE_CRASH_HELPER" // "<dir>:<policy>:<round>:<checkpoint bytes>"

// helperMain runs the crash helper when the test binary is re-executed by TestKill9KeepsAcknowledgedCommits.
// It commits from four goroutines forever and prints "<writer> <seq> <counter>" after each acknowledged commit.
func helperMain() bool {
	spec := os.Getenv(crashHelperEnv)
	if spec == "" {
		return false
	}
	parts := strings.Split(spec, ":")
	if len(parts) != 4 {
		fmt.Fprintln(os.Stderr, "helper: bad spec", spec)
		os.Exit(2)
	}
	dir, round := parts[0], parts[2]
	policy, _ := strconv.Atoi(parts[1])
	ckpt, _ := strconv.ParseInt(parts[3], 10, 64)
	db, err := Open(dir, Options{FlushPolicy: policy, checkpointBytes: ckpt})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				ctr, err := db.NextCounter([]byte("ids"), 1, 0)
				if err != nil {
					fmt.Fprintln(os.Stderr, "helper counter:", err)
					os.Exit(2)
				}
				tx := db.Begin(TxOptions{})
				key := fmt.Sprintf("r%s-w%d-%08d", round, w, i)
				if err := tx.Put(context.Background(), 1, []byte(key), []byte(strconv.FormatUint(ctr, 10))); err != nil {
					fmt.Fprintln(os.Stderr, "helper put:", err)
					os.Exit(2)
				}
				if err := tx.Commit(context.Background()); err != nil {
					fmt.Fprintln(os.Stderr, "helper commit:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%s %d\n", key, ctr)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return true
}

// TestKill9KeepsAcknowledgedCommits kills a committing process twice and checks every acknowledged commit
// survived, with the default checkpoint size (the commits are replayed from the log) and with tiny
// checkpoints (killed while checkpoints copy the log into bbolt and delete segments).
func TestKill9KeepsAcknowledgedCommits(t *testing.T) {
	for _, tc := range []struct {
		policy int
		ckpt   int64
	}{{1, 0}, {2, 0}, {1, 2048}, {2, 2048}} {
		policy := tc.policy
		t.Run(fmt.Sprintf("policy%d/checkpoint%d", policy, tc.ckpt), func(t *testing.T) {
			dir := t.TempDir()
			acked := map[string]uint64{}
			var maxCtr uint64
			// Two crash rounds: the second starts from a store recovered after a kill.
			for round := range 2 {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d:%d:%d", crashHelperEnv, dir, policy, round, tc.ckpt))
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(out)
				n := 0
				for n < 400 && sc.Scan() {
					key, ctrS, ok := strings.Cut(sc.Text(), " ")
					ctr, err := strconv.ParseUint(ctrS, 10, 64)
					if !ok || err != nil {
						t.Fatalf("bad helper line %q", sc.Text())
					}
					acked[key] = ctr
					maxCtr = max(maxCtr, ctr)
					n++
				}
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
				_ = cmd.Wait()
				if n < 400 {
					t.Fatalf("round %d: helper stopped after %d acks: %s", round, n, stderr.String())
				}
			}
			db := openDB(t, dir, policy)
			tx := db.Begin(TxOptions{ReadOnly: true})
			defer tx.Rollback()
			for key, ctr := range acked {
				v, ok, err := tx.Get(1, []byte(key))
				if err != nil || !ok || v == nil || string(v) != strconv.FormatUint(ctr, 10) {
					t.Fatalf("acknowledged commit %s lost after kill -9: %q %v %v", key, v, ok, err)
				}
			}
			next, err := db.NextCounter([]byte("ids"), 1, 0)
			if err != nil || next <= maxCtr {
				t.Fatalf("counter after kill -9 = %d (%v), but %d was handed out", next, err, maxCtr)
			}
			if db.LastCommitted() < uint64(len(acked)) {
				t.Fatalf("LastCommitted %d < %d acknowledged commits", db.LastCommitted(), len(acked))
			}
		})
	}
}
