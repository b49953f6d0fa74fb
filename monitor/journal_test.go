package monitor

import (
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/maxproxy/maxproxy/monitor/galera"
)

func TestJournalRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, step := range []error{
		j.saveAdmin("a", galera.Admin{Maintenance: true}),
		j.saveAdmin("b", galera.Admin{Drain: true}),
		j.saveAdmin("gone", galera.Admin{Drain: true}),
		j.saveAdmin("b", galera.Admin{}),
		j.saveWriter("a", t0),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	known := map[string]bool{"a": true, "b": true}
	admin, writer, err := j.load(t0.Add(time.Hour), 2*time.Hour, known)
	if err != nil || writer != "a" || len(admin) != 1 || admin["a"] != (galera.Admin{Maintenance: true}) {
		t.Fatalf("load = %v %q %v", admin, writer, err)
	}
	if _, writer, _ := j.load(t0.Add(3*time.Hour), 2*time.Hour, known); writer != "" {
		t.Fatalf("expired writer %q restored", writer)
	}
	if _, writer, _ := j.load(t0, time.Hour, map[string]bool{"b": true}); writer != "" {
		t.Fatalf("writer %q of an unconfigured server restored", writer)
	}
	if err := j.saveWriter("", t0); err != nil {
		t.Fatal(err)
	}
	if _, writer, _ := j.load(t0, time.Hour, known); writer != "" {
		t.Fatalf("cleared writer restored as %q", writer)
	}
	if err := j.close(); err != nil {
		t.Fatal(err)
	}
}

func TestJournalErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	one := []Server{{Name: "a", Address: "127.0.0.1:1"}}
	m, err := New(Options{Name: "g", JournalPath: path}, one, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second monitor on the same file gives up instead of hanging.
	if _, err := New(Options{Name: "g2", JournalPath: path}, one, nil, nil); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("second opener: %v", err)
	}
	m.Close()

	// A damaged record is an error naming the server, not a silent reset.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketAdmin).Put([]byte("a"), []byte("{not json")) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Name: "g", JournalPath: path}, one, nil, nil); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("damaged journal: %v", err)
	}
	if _, err := New(Options{Name: "g", JournalPath: filepath.Join(path, "not-a-dir", "x.db")}, one, nil, nil); err == nil {
		t.Fatal("unopenable journal accepted")
	}
}

func TestAdminChangeThatCannotBeSavedIsNotApplied(t *testing.T) {
	m, err := New(Options{Name: "g", JournalPath: filepath.Join(t.TempDir(), "j.db")},
		[]Server{{Name: "a", Address: "127.0.0.1:1"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.journal.db.Close() // the disk went away
	if err := m.SetMaintenance("a"); err == nil {
		t.Fatal("unsaved maintenance reported as done")
	}
	if len(m.Admin()) != 0 {
		t.Fatalf("unsaved change applied: %v", m.Admin())
	}
}

// TestOperatorStopSurvivesARestart: a monitor an operator stopped comes
// back stopped, routing by the snapshot it last published (maintenance
// included), until it runs again; the first Run clears the record.
func TestOperatorStopSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "monitor-galera.db")
	h := newRig(t, Options{JournalPath: path}, 3, nil)
	h.next()
	if err := h.m.SetMaintenance("s3"); err != nil {
		t.Fatal(err)
	}
	frozen := h.next()
	if err := h.m.Stop(); err != nil {
		t.Fatal(err)
	}
	if !h.m.Stopped() {
		t.Error("Stopped() = false after Stop")
	}
	if err := h.m.Stop(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Stop: %v, want ErrClosed", err)
	}

	servers := []Server{{Name: "s1", Address: "127.0.0.1:3306"}, {Name: "s2", Address: "127.0.0.1:3307"}, {Name: "s3", Address: "127.0.0.1:3308"}}
	// The next process: stopped, with the frozen states published and
	// nothing probed.
	calls := h.fakes["s1"].probes()
	m2, err := New(Options{Name: "galera", JournalPath: path}, servers, nil, nil,
		WithProberFactory(func(s Server) Prober { return h.fakes[s.Name] }))
	if err != nil {
		t.Fatal(err)
	}
	if !m2.Stopped() {
		t.Error("restarted monitor is not stopped")
	}
	got := m2.Snapshot()
	if got == nil || got.Generation != frozen.Generation || !maps.Equal(states(got), states(frozen)) {
		t.Fatalf("restored snapshot %v, want %v", got, states(frozen))
	}
	if states(got)["s3"] != "Maintenance, Slave, Synced, Running" {
		t.Errorf("s3 restored as %q", states(got)["s3"])
	}
	if h.fakes["s1"].probes() != calls {
		t.Error("a stopped monitor probed")
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}

	// Starting it (Run) clears the record: the process after comes up
	// running.
	h3 := newRig(t, Options{JournalPath: path}, 3, nil)
	// The restored snapshot may be replaced by the first round's before
	// the test reads it; the round continues its generations.
	s := h3.next()
	if s.Generation == frozen.Generation {
		s = h3.next()
	}
	if s.Generation != frozen.Generation+1 {
		t.Errorf("first round: generation %d, want %d (continuing the restored one)", s.Generation, frozen.Generation+1)
	}
	if h3.m.Stopped() {
		t.Error("monitor still stopped after Run")
	}
	h3.close()
	m4, err := New(Options{Name: "galera", JournalPath: path}, servers, nil, nil,
		WithProberFactory(func(s Server) Prober { return h.fakes[s.Name] }))
	if err != nil {
		t.Fatal(err)
	}
	defer m4.Close()
	if m4.Stopped() || m4.Snapshot() != nil {
		t.Errorf("after a run: stopped %v, snapshot %v", m4.Stopped(), m4.Snapshot())
	}
}

// A stop record whose servers no longer match the configuration keeps the
// monitor stopped but publishes nothing stale.
func TestOperatorStopWithChangedServers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "monitor-galera.db")
	h := newRig(t, Options{JournalPath: path}, 2, nil)
	h.next()
	if err := h.m.Stop(); err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Name: "galera", JournalPath: path}, []Server{{Name: "s1", Address: "127.0.0.1:1"}, {Name: "other", Address: "127.0.0.1:2"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.Stopped() || m.Snapshot() != nil {
		t.Errorf("stopped %v, snapshot %v; want stopped with no snapshot", m.Stopped(), m.Snapshot())
	}
}

// A stop that cannot be recorded is refused and the monitor keeps running.
func TestOperatorStopThatCannotBeSaved(t *testing.T) {
	h := newRig(t, Options{JournalPath: filepath.Join(t.TempDir(), "j.db")}, 1, nil)
	h.next()
	h.m.journal.db.Close()
	if err := h.m.Stop(); err == nil {
		t.Fatal("unrecorded stop reported as done")
	}
	if h.m.Stopped() {
		t.Error("Stopped() after a failed Stop")
	}
	h.round() // still probing
}

func (f *fakeProber) probes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}
