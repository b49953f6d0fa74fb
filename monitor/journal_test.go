package monitor

import (
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
