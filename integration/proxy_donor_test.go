package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maxproxy/maxproxy/integration/harness"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

// heldSST is an SST script that a test can hold on the donor side: while
// the file "hold" exists next to it (at most 60 s), the donor waits before
// it starts the transfer, and stays in state 2 (Donor/Desynced) meanwhile.
// The transfer itself is wsrep_sst_rsync's. It is installed as
// wsrep_sst_mariabackup because galeramon's available_when_donor applies
// only to a donor whose wsrep_sst_method is mariabackup or xtrabackup (the
// methods that leave a donor serving); the mariabackup tool itself is not
// needed (nor installed on CI).
const heldSST = `#!/bin/sh
role=
prev=
for a in "$@"; do
	[ "$prev" = "--role" ] && role=$a
	prev=$a
done
case "$role" in
donor|"'donor'")
	hold="$(dirname "$0")/hold"
	i=0
	while [ -e "$hold" ] && [ "$i" -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	;;
esac
exec wsrep_sst_rsync "$@"
`

// readsVia runs n reads through p, each in a new session.
func readsVia(t *testing.T, ctx context.Context, p *runningProxy, n int) {
	t.Helper()
	db := sqlOpen(t, harness.TCPDSN(p.rw, "app", "app", ""))
	db.SetMaxIdleConns(0)
	for range n {
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("read through the proxy: %v", err)
		}
	}
}

// TestProxyDonorLeavesRouting wipes a reader of a 3-node cluster and
// restarts it, so that it needs a full state transfer from the other
// reader, held on the donor side until the test releases it. Two proxies
// watch the same transfer. With galeramon's defaults the donor (state 2,
// Donor/Desynced) is not Synced: reads never go there and a session that
// held a connection to it leaves it; with available_when_donor (and a
// mariabackup SST) it stays a reader and takes reads. After the transfer
// it is routed to again.
func TestProxyDonorLeavesRouting(t *testing.T) {
	harness.RequireGalera(t)
	ctx := ctxFor(t, 3*time.Minute)
	scope := harness.TestScope(t)
	// mariadbd looks for wsrep_sst_<method> in <basedir>/bin first (it
	// puts that directory at the front of its PATH).
	baseDir, err := scope.MkdirFor("basedir")
	if err != nil {
		t.Fatal(err)
	}
	sstDir, err := scope.MkdirFor("basedir/bin")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(sstDir, "wsrep_sst_mariabackup")
	if err := os.WriteFile(script, []byte(heldSST), 0o755); err != nil {
		t.Fatal(err)
	}
	g, err := harness.NewGalera(ctx, scope, 3, harness.GaleraOptions{
		ExtraArgs: []string{"--basedir=" + baseDir, "--wsrep-sst-method=mariabackup"},
	})
	if err != nil {
		t.Fatal(err)
	}

	strict := startProxyOn(t, g.Nodes(), "")
	avail := startProxyOn(t, g.Nodes(), "available_when_donor = true")
	master, slaves := roles(t, strict)
	if len(slaves) != 2 {
		t.Fatalf("readers %v, want 2", slaves)
	}
	donor, joiner := slaves[0], slaves[1]
	nodeOf := func(name string) *harness.Server {
		for i := 1; i <= g.Size(); i++ {
			if g.Server(i).Name() == name {
				return g.Server(i)
			}
		}
		t.Fatalf("no node %s", name)
		return nil
	}
	t.Logf("writer %s, donor %s, joiner %s", master, donor, joiner)

	// A session of the strict proxy that reads from the donor-to-be.
	db := sqlOpen(t, harness.TCPDSN(strict.rw, "app", "app", ""))
	held, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	err = harness.Poll(ctx, "a read of the held session on "+donor, 10*time.Millisecond, func(ctx context.Context) error {
		before := strict.routedTo(t, donor)
		var one int
		if err := held.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return harness.Permanent(err)
		}
		if strict.routedTo(t, donor) == before {
			return errors.New("read went elsewhere")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Wipe the joiner and restart it with the donor chosen; the donor
	// waits on the hold file.
	hold := filepath.Join(sstDir, "hold")
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(hold) })
	j := nodeOf(joiner)
	if err := j.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := j.WipeData(); err != nil {
		t.Fatal(err)
	}
	joined := make(chan error, 1)
	go func() { joined <- j.StartWith(ctx, "--wsrep-sst-donor="+donor) }()
	t.Cleanup(func() {
		_ = os.Remove(hold)
		select {
		case <-joined:
		case <-time.After(2 * time.Minute):
			t.Errorf("%s did not finish starting", joiner)
		}
	})

	d := nodeOf(donor)
	localState := func() string {
		v, err := d.Status(ctx, "wsrep_local_state")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	err = harness.Poll(ctx, donor+" donating in both proxies' views", 50*time.Millisecond, func(context.Context) error {
		if st := localState(); st != "2" {
			return fmt.Errorf("wsrep_local_state=%s", st)
		}
		s := strict.srv.Topology("rw").Server(donor)
		a := avail.srv.Topology("rw").Server(donor)
		if s == nil || a == nil || !s.State.Has(topology.Donor) || !a.State.Has(topology.Donor) {
			return fmt.Errorf("states %v / %v", s, a)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Strict: the donor is only Running (and Donor): no role, no reads.
	if st := strict.srv.Topology("rw").Server(donor).State; st.Has(topology.Synced) || st&(topology.Slave|topology.Master) != 0 {
		t.Errorf("donor %s in the default proxy: %s, want neither Synced nor a role", donor, st)
	}
	before := strict.routedTo(t, donor)
	readsVia(t, ctx, strict, 10)
	for range 2 { // the first may still find the donor as the previous statement's server
		var one int
		if err := held.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("read of the session that held a connection to the donor: %v", err)
		}
	}
	if got := strict.routedTo(t, donor) - before; got != 0 {
		t.Errorf("the donor %s got %v commands through the default proxy", donor, got)
	}
	if ids := strict.sessionsOn(donor); len(ids) != 0 {
		t.Errorf("sessions %v of the default proxy still hold a connection to the donor", ids)
	}

	// available_when_donor: the donor is still a reader, the only one.
	if st := avail.srv.Topology("rw").Server(donor).State; !st.Has(topology.Synced | topology.Slave | topology.Donor) {
		t.Errorf("donor %s with available_when_donor: %s, want Synced, Slave, Donor", donor, st)
	}
	before = avail.routedTo(t, donor)
	readsVia(t, ctx, avail, 10)
	if got := avail.routedTo(t, donor) - before; got != 10 {
		t.Errorf("with available_when_donor the donor got %v of 10 reads (the other reader is joining)", got)
	}
	if st := localState(); st != "2" {
		t.Fatalf("%s left state 2 (now %s) before the test released the transfer: the reads above were not during it", donor, st)
	}

	// Release the transfer: the joiner becomes Synced, the donor returns.
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	if err := <-joined; err != nil {
		t.Fatalf("%s rejoining: %v", joiner, err)
	}
	joined <- nil // for the cleanup
	err = harness.Poll(ctx, donor+" back in routing", 20*time.Millisecond, func(context.Context) error {
		st := strict.srv.Topology("rw").Server(donor).State
		if !st.Has(topology.Synced) || st.Has(topology.Donor) || st&(topology.Slave|topology.Master) == 0 {
			return fmt.Errorf("state %s", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strict.srv.Topology("rw").Server(donor).State.Has(topology.Slave) {
		err = harness.Poll(ctx, "a read on "+donor+" again", 10*time.Millisecond, func(ctx context.Context) error {
			before := strict.routedTo(t, donor)
			readsVia(t, ctx, strict, 1)
			if strict.routedTo(t, donor) == before {
				return errors.New("read went elsewhere")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
