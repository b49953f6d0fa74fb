package monitor

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/maxproxy/maxproxy/monitor/galera"
	"github.com/maxproxy/maxproxy/monitor/topology"
)

// The journal is a bbolt file with three buckets: "admin" maps a server
// name to its operator state, "writer" holds the failback writer with the
// time it was saved, and "run" holds, while an operator has the monitor
// stopped, the last snapshot it published. Operator state is written when
// it changes; the writer when it changes and otherwise at most once a
// minute, so that its age tells how long ago the monitor last stood behind
// it.
var (
	bucketAdmin  = []byte("admin")
	bucketWriter = []byte("writer")
	bucketRun    = []byte("run")
	keyWriter    = []byte("master")
	keyStopped   = []byte("stopped")
)

type journal struct {
	db *bolt.DB
}

type adminRecord struct {
	Maintenance bool `json:"maintenance,omitempty"`
	Drain       bool `json:"drain,omitempty"`
}

type writerRecord struct {
	Name  string    `json:"name"`
	Saved time.Time `json:"saved"`
}

func openJournal(path string) (*journal, error) {
	// A second process holding the file must not hang start-up.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open monitor journal %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAdmin, bucketWriter, bucketRun} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init monitor journal %s: %w", path, err)
	}
	return &journal{db: db}, nil
}

// load returns the saved operator state and the saved writer, the latter
// only if it is younger than maxAge at now. Entries for servers that are
// no longer configured are ignored.
func (j *journal) load(now time.Time, maxAge time.Duration, known map[string]bool) (map[string]galera.Admin, string, error) {
	admin := map[string]galera.Admin{}
	var writer string
	err := j.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketAdmin).ForEach(func(k, v []byte) error {
			var r adminRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("server %q: %w", k, err)
			}
			if known[string(k)] {
				admin[string(k)] = galera.Admin{Maintenance: r.Maintenance, Drain: r.Drain}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if v := tx.Bucket(bucketWriter).Get(keyWriter); v != nil {
			var w writerRecord
			if err := json.Unmarshal(v, &w); err != nil {
				return fmt.Errorf("writer: %w", err)
			}
			if known[w.Name] && now.Sub(w.Saved) <= maxAge {
				writer = w.Name
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("read monitor journal: %w", err)
	}
	return admin, writer, nil
}

func (j *journal) saveAdmin(server string, a galera.Admin) error {
	return j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAdmin)
		if !a.Maintenance && !a.Drain {
			return b.Delete([]byte(server))
		}
		v, err := json.Marshal(adminRecord{Maintenance: a.Maintenance, Drain: a.Drain})
		if err != nil {
			return err
		}
		return b.Put([]byte(server), v)
	})
}

func (j *journal) saveWriter(name string, now time.Time) error {
	return j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWriter)
		if name == "" {
			return b.Delete(keyWriter)
		}
		v, err := json.Marshal(writerRecord{Name: name, Saved: now})
		if err != nil {
			return err
		}
		return b.Put(keyWriter, v)
	})
}

// stoppedRecord says an operator stopped the monitor; Snapshot is what it
// had last published (nil if nothing), for the next process to route by.
type stoppedRecord struct {
	Saved    time.Time          `json:"saved"`
	Snapshot *topology.Snapshot `json:"snapshot,omitempty"`
}

func (j *journal) saveStopped(snap *topology.Snapshot, now time.Time) error {
	v, err := json.Marshal(stoppedRecord{Saved: now, Snapshot: snap})
	if err != nil {
		return err
	}
	return j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRun).Put(keyStopped, v) })
}

func (j *journal) clearStopped() error {
	return j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRun).Delete(keyStopped) })
}

// loadStopped returns the stop record, nil when the monitor was not left
// stopped by an operator.
func (j *journal) loadStopped() (*stoppedRecord, error) {
	var r *stoppedRecord
	err := j.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRun).Get(keyStopped)
		if v == nil {
			return nil
		}
		r = new(stoppedRecord)
		return json.Unmarshal(v, r)
	})
	if err != nil {
		return nil, fmt.Errorf("read monitor journal: stop record: %w", err)
	}
	return r, nil
}

func (j *journal) close() error {
	if j == nil {
		return nil
	}
	return j.db.Close()
}
