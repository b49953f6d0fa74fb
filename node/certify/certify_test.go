package certify

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/maxproxy/maxproxy/node/writeset"
)

var update = flag.Bool("update", false, "rewrite the expected verdicts in testdata/*.txt")

// Scripts in testdata: one command per line, "# ..." comments, expected output after "=>".
//
//	config window=N [pessimistic]            (first, optional)
//	ws SEQNO SOURCE LAST_SEEN FLAGS KEY...   FLAGS "-" or toi,pa_unsafe; KEY type:path, type one of
//	                                         s r u x, path parts separated by dots: u:db.t.1
//	advance SEQNO
//	stats
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScript(t, file) })
	}
}

func runScript(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	c := New(Config{}, 0)
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		cmd, want, hasWant := strings.Cut(text, "=>")
		cmd = strings.TrimSpace(cmd)
		if cmd == "" || strings.HasPrefix(cmd, "#") {
			out.WriteString(text + "\n")
			continue
		}
		got, err := execLine(&c, cmd)
		if err != nil {
			t.Fatalf("%s:%d: %v", file, line, err)
		}
		if got == "" {
			out.WriteString(cmd + "\n")
			continue
		}
		if !*update && (!hasWant || strings.TrimSpace(want) != got) {
			t.Errorf("%s:%d: %s\n got: %s\nwant: %s", file, line, cmd, got, strings.TrimSpace(want))
		}
		fmt.Fprintf(&out, "%s => %s\n", cmd, got)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var sources = map[string]writeset.UUID{}

func source(name string) writeset.UUID {
	if u, ok := sources[name]; ok {
		return u
	}
	var u writeset.UUID
	copy(u[:], name)
	sources[name] = u
	return u
}

func execLine(c **Certifier, cmd string) (string, error) {
	f := strings.Fields(cmd)
	switch f[0] {
	case "config":
		cfg := Config{}
		for _, a := range f[1:] {
			switch {
			case strings.HasPrefix(a, "window="):
				w, err := strconv.ParseUint(strings.TrimPrefix(a, "window="), 10, 64)
				if err != nil {
					return "", err
				}
				cfg.Window = w
			case a == "pessimistic":
				cfg.PessimisticPA = true
			default:
				return "", fmt.Errorf("unknown config %q", a)
			}
		}
		*c = New(cfg, 0)
		return "", nil
	case "advance":
		s, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return "", err
		}
		return "", (*c).Advance(s)
	case "stats":
		s := (*c).Stats()
		return fmt.Sprintf("certified=%d failed=%d toi=%d deps_dist_sum=%d interval_sum=%d index=%d position=%d",
			s.Certified, s.Failed, s.TOI, s.DepsDistSum, s.IntervalSum, s.IndexSize, s.Position), nil
	case "ws":
		if len(f) < 5 {
			return "", errors.New("ws needs SEQNO SOURCE LAST_SEEN FLAGS KEY...")
		}
		seqno, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return "", err
		}
		ws := &writeset.WriteSet{Source: source(f[2]), Flags: writeset.FlagCommit}
		if ws.LastSeen, err = strconv.ParseUint(f[3], 10, 64); err != nil {
			return "", err
		}
		if f[4] != "-" {
			for _, fl := range strings.Split(f[4], ",") {
				switch fl {
				case "toi":
					ws.Flags |= writeset.FlagTOI
				case "pa_unsafe":
					ws.Flags |= writeset.FlagPAUnsafe
				default:
					return "", fmt.Errorf("unknown flag %q", fl)
				}
			}
		}
		for _, k := range f[5:] {
			typ, path, ok := strings.Cut(k, ":")
			if !ok {
				return "", fmt.Errorf("bad key %q", k)
			}
			key := writeset.Key{}
			switch typ {
			case "s":
				key.Type = writeset.KeyShared
			case "r":
				key.Type = writeset.KeyReference
			case "u":
				key.Type = writeset.KeyUpdate
			case "x":
				key.Type = writeset.KeyExclusive
			default:
				return "", fmt.Errorf("bad key type %q", typ)
			}
			for _, p := range strings.Split(path, ".") {
				key.Parts = append(key.Parts, []byte(p))
			}
			ws.Keys = append(ws.Keys, key)
		}
		v, err := (*c).Certify(seqno, ws)
		if err != nil {
			return "", err
		}
		switch {
		case v.OK:
			return fmt.Sprintf("ok depends=%d", v.Depends), nil
		case v.Reason == ReasonConflict:
			return fmt.Sprintf("fail conflict with=%d", v.ConflictSeqno), nil
		default:
			return "fail " + v.Reason.String(), nil
		}
	}
	return "", fmt.Errorf("unknown command %q", f[0])
}

func TestOutOfOrderSeqnoIsAnError(t *testing.T) {
	c := New(Config{}, 10)
	if _, err := c.Certify(12, &writeset.WriteSet{LastSeen: 10}); err == nil {
		t.Fatal("seqno gap accepted")
	}
	if err := c.Advance(10); err == nil {
		t.Fatal("replayed seqno accepted")
	}
	if v, err := c.Certify(11, &writeset.WriteSet{LastSeen: 9}); err != nil || v.Reason != ReasonBeforeInitial {
		t.Fatalf("last_seen before the initial position: %+v %v", v, err)
	}
}

func TestPolicyLastSeen(t *testing.T) {
	if got := PolicySnapshot.LastSeen(5, 9); got != 5 {
		t.Fatalf("snapshot policy: %d", got)
	}
	if got := PolicyGalera.LastSeen(5, 9); got != 9 {
		t.Fatalf("galera policy: %d", got)
	}
	if (Config{}).Policy != PolicySnapshot {
		t.Fatal("default policy must be snapshot")
	}
}

func TestExpandKeys(t *testing.T) {
	row := writeset.Key{Type: writeset.KeyUpdate, Parts: [][]byte{[]byte("db"), []byte("t"), []byte("1")}}
	tbl := writeset.Key{Type: writeset.KeyExclusive, Parts: [][]byte{[]byte("db"), []byte("t")}}
	got := expandKeys(nil, []writeset.Key{row, tbl, row})
	// zero-level, db, db.t (exclusive wins over the branch's shared), db.t.1
	if len(got) != 4 {
		t.Fatalf("expanded to %d keys: %+v", len(got), got)
	}
	types := map[uint64]writeset.KeyType{}
	for _, k := range got {
		types[k.hash] = k.typ
	}
	dbt := extend(extend(fnvOffset, []byte("db")), []byte("t"))
	if types[dbt] != writeset.KeyExclusive || types[extend(dbt, []byte("1"))] != writeset.KeyUpdate ||
		types[fnvOffset] != writeset.KeyShared || types[extend(fnvOffset, []byte("db"))] != writeset.KeyShared {
		t.Fatalf("types %+v", types)
	}
	// Part boundaries matter.
	if extend(fnvOffset, []byte("ab")) == extend(extend(fnvOffset, []byte("a")), []byte("b")) {
		t.Fatal("{ab} and {a,b} hash the same")
	}
	// The hash is protocol: pin one value so a change is noticed.
	if h := extend(fnvOffset, []byte("db")); h != 0xea260e187577db03 {
		t.Fatalf("hash of {db} changed: %#x", h)
	}
}

// ---- reference certifier: recomputes everything from the full history, O(n²) ----

type refTrx struct {
	seqno  uint64
	source writeset.UUID
	toi    bool
	paUns  bool
	keys   []hashedKey
	passed bool
}

type refCertifier struct {
	cfg     Config
	initial uint64
	hist    []refTrx
	pos     uint64
}

func (r *refCertifier) live(s uint64, t refTrx) bool {
	return t.passed && (s <= r.cfg.Window || t.seqno > s-r.cfg.Window)
}

func (r *refCertifier) certify(s uint64, ws *writeset.WriteSet) Verdict {
	r.pos = s
	L := ws.LastSeen
	rec := refTrx{seqno: s, source: ws.Source, toi: ws.Flags&writeset.FlagTOI != 0,
		paUns: ws.Flags&writeset.FlagPAUnsafe != 0, keys: expandKeys(nil, ws.Keys)}
	defer func() { r.hist = append(r.hist, rec) }()
	switch {
	case L >= s:
		return Verdict{Reason: ReasonBadLastSeen}
	case L < r.initial:
		return Verdict{Reason: ReasonBeforeInitial}
	case s-L > r.cfg.Window:
		return Verdict{Reason: ReasonTooOld}
	}
	var oldest uint64
	for _, t := range r.hist {
		if r.live(s, t) {
			oldest = t.seqno
			break
		}
	}
	var depends uint64
	switch {
	case rec.toi, oldest == 0:
		depends = s - 1
	default:
		depends = oldest - 1
		if r.cfg.PessimisticPA {
			depends = max(depends, L)
		}
	}
	if !rec.toi {
		for _, k := range rec.keys {
			for _, cl := range checks[k.typ] {
				// latest live passed write-set holding k with type cl.typ
				var latest *refTrx
				for i := len(r.hist) - 1; i >= 0 && latest == nil; i-- {
					t := &r.hist[i]
					if !r.live(s, *t) {
						continue
					}
					for _, tk := range t.keys {
						if tk.hash == k.hash && tk.typ == cl.typ {
							latest = t
							break
						}
					}
				}
				if latest == nil {
					continue
				}
				if cl.conflict && latest.seqno > L && (latest.toi || latest.source != ws.Source) {
					return Verdict{Reason: ReasonConflict, ConflictSeqno: latest.seqno}
				}
				depends = max(depends, latest.seqno)
			}
		}
	}
	for _, t := range r.hist {
		if t.passed && (t.toi || t.paUns) {
			depends = max(depends, t.seqno)
		}
	}
	rec.passed = true
	return Verdict{OK: true, Depends: depends}
}

func (r *refCertifier) indexSize() int {
	hs := map[uint64]bool{}
	for _, t := range r.hist {
		if r.live(r.pos, t) {
			for _, k := range t.keys {
				hs[k.hash] = true
			}
		}
	}
	return len(hs)
}

func randomKeys(rng *rand.Rand, toi bool) []writeset.Key {
	tables := []string{"t1", "t2", "t3"}
	if toi {
		return []writeset.Key{{Type: writeset.KeyExclusive, Parts: [][]byte{[]byte("db"), []byte(tables[rng.IntN(3)])}}}
	}
	var keys []writeset.Key
	for range 1 + rng.IntN(4) {
		tbl := tables[rng.IntN(3)]
		typ := writeset.KeyType(rng.IntN(4))
		if rng.IntN(6) == 0 { // table-level key
			keys = append(keys, writeset.Key{Type: typ, Parts: [][]byte{[]byte("db"), []byte(tbl)}})
			continue
		}
		keys = append(keys, writeset.Key{Type: typ, Parts: [][]byte{[]byte("db"), []byte(tbl), {byte('0' + rng.IntN(6))}}})
	}
	return keys
}

// TestAgainstReference compares the certifier with the naive one over random histories: small windows so
// purging happens constantly, three sources, TOI, PA-unsafe, stale and invalid last_seen values.
func TestAgainstReference(t *testing.T) {
	seeds := uint64(60)
	if os.Getenv("MAXPROXY_TEST_LONG") != "" {
		seeds = 3000
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		cfg := Config{Window: uint64(2 + rng.IntN(12)), PessimisticPA: rng.IntN(2) == 0}
		initial := uint64(rng.IntN(3))
		c := New(cfg, initial)
		ref := &refCertifier{cfg: cfg, initial: initial, pos: initial}
		srcs := []writeset.UUID{{1}, {2}, {3}}
		for s := initial + 1; s <= initial+400; s++ {
			if rng.IntN(20) == 0 {
				if err := c.Advance(s); err != nil {
					t.Fatal(err)
				}
				ref.pos = s
				continue
			}
			ws := &writeset.WriteSet{Source: srcs[rng.IntN(3)]}
			if rng.IntN(25) == 0 {
				ws.Flags |= writeset.FlagTOI
			}
			if rng.IntN(25) == 0 {
				ws.Flags |= writeset.FlagPAUnsafe
			}
			back := uint64(1 + rng.IntN(int(cfg.Window)+3))
			if back <= s {
				ws.LastSeen = s - back
			}
			if rng.IntN(50) == 0 {
				ws.LastSeen = s // invalid
			}
			ws.Keys = randomKeys(rng, ws.Flags&writeset.FlagTOI != 0)
			got, err := c.Certify(s, ws)
			if err != nil {
				t.Fatal(err)
			}
			want := ref.certify(s, ws)
			if got != want {
				t.Fatalf("seed %d seqno %d (window %d, last_seen %d, flags %b): got %+v want %+v",
					seed, s, cfg.Window, ws.LastSeen, ws.Flags, got, want)
			}
			if gs, ws := c.Stats().IndexSize, ref.indexSize(); gs != ws {
				t.Fatalf("seed %d seqno %d: index size %d, reference %d", seed, s, gs, ws)
			}
			// Now and then continue from a restored copy: state transfer must not change any verdict.
			if rng.IntN(100) == 0 {
				restored, err := Restore(c.AppendState(nil))
				if err != nil {
					t.Fatalf("seed %d: restore: %v", seed, err)
				}
				if restored.Stats() != c.Stats() || restored.Config() != c.Config() {
					t.Fatalf("seed %d: restored stats/config differ", seed)
				}
				c = restored
			}
		}
	}
}

func TestRestoreRejectsCorruptState(t *testing.T) {
	c := New(Config{Window: 4}, 0)
	src := writeset.UUID{1}
	for s := uint64(1); s <= 6; s++ {
		if _, err := c.Certify(s, &writeset.WriteSet{Source: src, LastSeen: s - 1,
			Keys: []writeset.Key{{Type: writeset.KeyUpdate, Parts: [][]byte{[]byte("a"), {byte(s)}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	good := c.AppendState(nil)
	if _, err := Restore(good); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(good); n++ {
		if _, err := Restore(good[:n]); !errors.Is(err, ErrBadState) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	bad := bytes.Clone(good)
	bad[5] ^= 1
	if _, err := Restore(bad); !errors.Is(err, ErrBadState) {
		t.Fatalf("bit flip: %v", err)
	}
}

func FuzzRestore(f *testing.F) {
	c := New(Config{Window: 3}, 0)
	for s := uint64(1); s <= 5; s++ {
		_, _ = c.Certify(s, &writeset.WriteSet{LastSeen: s - 1, Keys: []writeset.Key{{Type: writeset.KeyUpdate, Parts: [][]byte{{byte(s % 2)}}}}})
	}
	f.Add(c.AppendState(nil))
	f.Add([]byte("CI\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Restore(b)
		if err != nil {
			if !errors.Is(err, ErrBadState) {
				t.Fatalf("error does not wrap ErrBadState: %v", err)
			}
			return
		}
		// A restored certifier keeps working and re-serialises to an equivalent state.
		if _, err := Restore(r.AppendState(nil)); err != nil {
			t.Fatalf("restored state does not round-trip: %v", err)
		}
		_, _ = r.Certify(r.Position()+1, &writeset.WriteSet{LastSeen: r.Position(), Keys: []writeset.Key{{Type: writeset.KeyExclusive, Parts: [][]byte{{0}}}}})
	})
}

func BenchmarkCertify(b *testing.B) {
	c := New(Config{}, 0)
	srcs := []writeset.UUID{{1}, {2}, {3}}
	wss := make([]*writeset.WriteSet, 1024)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range wss {
		// sysbench-like: a few row updates in one table out of 100k rows
		ws := &writeset.WriteSet{Source: srcs[i%3]}
		for range 4 {
			pk := strconv.Itoa(rng.IntN(100000))
			ws.Keys = append(ws.Keys, writeset.Key{Type: writeset.KeyUpdate, Parts: [][]byte{[]byte("sbtest"), []byte("sbtest1"), []byte(pk)}})
		}
		wss[i] = ws
	}
	b.ReportAllocs()
	s := uint64(0)
	for b.Loop() {
		s++
		ws := wss[s%1024]
		ws.LastSeen = s - 1
		if _, err := c.Certify(s, ws); err != nil {
			b.Fatal(err)
		}
	}
}

func TestInvalidKeysAreAnErrorNotAVerdict(t *testing.T) {
	c := New(Config{}, 0)
	for _, k := range []writeset.Key{{Type: 7, Parts: [][]byte{{1}}}, {Type: writeset.KeyUpdate}} {
		if _, err := c.Certify(1, &writeset.WriteSet{Keys: []writeset.Key{k}}); err == nil {
			t.Fatalf("key %+v accepted", k)
		}
	}
	if c.Position() != 0 {
		t.Fatalf("a rejected write-set consumed seqno: position %d", c.Position())
	}
}

// Every node certifies the write-set it decodes from the log; the origin may hold the in-memory one. Both
// must give the same verdicts, so the codec must preserve everything certification reads.
func TestCertifyDecodedEqualsOriginal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	a, b := New(Config{Window: 16}, 0), New(Config{Window: 16}, 0)
	srcs := []writeset.UUID{{1}, {2}}
	for s := uint64(1); s <= 500; s++ {
		ws := &writeset.WriteSet{Source: srcs[rng.IntN(2)], Flags: writeset.FlagCommit}
		if s > 3 {
			ws.LastSeen = s - 1 - uint64(rng.IntN(3))
		}
		if rng.IntN(30) == 0 {
			ws.Flags |= writeset.FlagTOI
		}
		ws.Keys = randomKeys(rng, ws.Flags&writeset.FlagTOI != 0)
		if rng.IntN(10) == 0 {
			ws.Keys = append(ws.Keys, writeset.Key{Type: writeset.KeyUpdate, Parts: [][]byte{[]byte("db"), {}}}) // empty part
		}
		enc, err := ws.Encode()
		if err != nil {
			t.Fatal(err)
		}
		var dec writeset.WriteSet
		if err := writeset.Decode(enc, &dec); err != nil {
			t.Fatal(err)
		}
		va, err := a.Certify(s, ws)
		if err != nil {
			t.Fatal(err)
		}
		vb, err := b.Certify(s, &dec)
		if err != nil {
			t.Fatal(err)
		}
		if va != vb {
			t.Fatalf("seqno %d: original %+v, decoded %+v", s, va, vb)
		}
	}
	if sa, sb := a.Stats(), b.Stats(); sa != sb || sa.Failed == 0 || sa.Certified == 0 {
		t.Fatalf("stats %+v vs %+v (want equal, with passes and failures)", sa, sb)
	}
	if d := a.Stats().DepsDistance(); d <= 0 {
		t.Fatalf("deps distance %v", d)
	}
}
