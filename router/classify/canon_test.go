package classify

import (
	"strings"
	"testing"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name, sql, want string
		hint            Hint
	}{
		{"numbers", "SELECT 1, 2.5, -3, .5, 1e3, 1E-3, 0x1f, 0b1", "SELECT ?, ?, - ?, ?, ?, ?, ?, ?", Hint{}},
		{"identifier starting with digits", "SELECT 1a, a1 FROM 2t", "SELECT 1A, A1 FROM 2T", Hint{}},
		{"exponent needs digits", "SELECT 1e FROM t", "SELECT 1E FROM T", Hint{}},
		{"strings with escapes", `SELECT 'a\'b''c', "d\"e""f"`, "SELECT ?, ?", Hint{}},
		{"backslash before closing quote", `SELECT 'a\\' , 'b'`, "SELECT ?, ?", Hint{}},
		{"escaped quote at end is unterminated", `SELECT 'a\'`, "SELECT '?", Hint{}},
		{"backquotes keep case and doubled quotes", "SELECT `Mixed``Case` FROM `T`", "SELECT `Mixed``Case` FROM `T`", Hint{}},
		{"backslash is literal in backquotes", "SELECT `a\\` FROM t", "SELECT `a\\` FROM T", Hint{}},
		{"quote inside comment", "SELECT 1 /* it's */ , 2", "SELECT ?, ?", Hint{}},
		{"comment inside string", "SELECT '-- x', '# y', '/* z */'", "SELECT ?, ?, ?", Hint{}},
		{"dash dash needs a space", "SELECT 5--2", "SELECT ? - - ?", Hint{}},
		{"dash dash at end", "SELECT 5 --", "SELECT ?", Hint{}},
		{"dash dash tab", "SELECT 5 --\tx\nFROM t", "SELECT ? FROM T", Hint{}},
		{"hash comment to end of line", "SELECT 1 # c\n, 2", "SELECT ?, ?", Hint{}},
		{"executable comment kept", "SELECT /*!50000 SQL_NO_CACHE */ a", "SELECT /*!50000 SQL_NO_CACHE */ A", Hint{}},
		{"mariadb executable comment kept", "/*M!100100 SET x=1 */", "/*M!100100 SET X = ? */", Hint{}},
		{"optimizer hint dropped", "SELECT /*+ BKA(t) */ a FROM t", "SELECT A FROM T", Hint{}},
		{"set keeps autocommit", "SET autocommit=0", "SET AUTOCOMMIT = 0", Hint{}},
		{"set keeps autocommit forms", "SET @@autocommit:=1, @@session.autocommit = 'OFF', SESSION autocommit=ON",
			"SET @@AUTOCOMMIT := 1, @@SESSION.AUTOCOMMIT = 'OFF', SESSION AUTOCOMMIT = ON", Hint{}},
		{"set keeps isolation", "SET tx_isolation='SERIALIZABLE', transaction_isolation = 'READ-COMMITTED'",
			"SET TX_ISOLATION = 'SERIALIZABLE', TRANSACTION_ISOLATION = 'READ-COMMITTED'", Hint{}},
		{"set drops other values", "set sql_mode='ANSI', @a = 'x', @autocommit = 1, autocommit_x = 0",
			"SET SQL_MODE = ?, @A = ?, @AUTOCOMMIT = ?, AUTOCOMMIT_X = ?", Hint{}},
		{"set password value dropped", "SET PASSWORD = PASSWORD('secret')", "SET PASSWORD = PASSWORD(?)", Hint{}},
		{"autocommit outside SET", "SELECT @@autocommit = 1", "SELECT @@AUTOCOMMIT = ?", Hint{}},
		{"prepare keeps text", "PREPARE s FROM 'SELECT 1'", "PREPARE S FROM 'SELECT 1'", Hint{}},
		{"second statement after SET drops literals", "SET autocommit=1; SELECT 2", "SET AUTOCOMMIT = 1; SELECT ?", Hint{}},
		{"in list", "SELECT * FROM t WHERE a IN (1,2, 3)", "SELECT * FROM T WHERE A IN (?+)", Hint{}},
		{"in list of one", "SELECT * FROM t WHERE a IN ('x')", "SELECT * FROM T WHERE A IN (?+)", Hint{}},
		{"in with expressions kept", "SELECT * FROM t WHERE a IN (1, b)", "SELECT * FROM T WHERE A IN (?, B)", Hint{}},
		{"in subquery kept", "SELECT * FROM t WHERE a IN (SELECT 1)", "SELECT * FROM T WHERE A IN (SELECT ?)", Hint{}},
		{"values rows", "INSERT INTO t VALUES (1,'a'),(2,'b'), (3,'c')", "INSERT INTO T VALUES (?, ?)", Hint{}},
		{"values rows differ", "INSERT INTO t VALUES (1, 2), (3, NULL), (4, NULL)", "INSERT INTO T VALUES (?, ?), (?, NULL)", Hint{}},
		{"values nested", "INSERT INTO t VALUES (f(1), 2), (f(3), 4)", "INSERT INTO T VALUES (F(?), ?)", Hint{}},
		{"values then update", "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a=VALUES(a), b=VALUES(b)", "INSERT INTO T VALUES (?) ON DUPLICATE KEY UPDATE A = VALUES(A), B = VALUES(B)", Hint{}},
		{"whitespace", " \t\nSELECT\n\n a ,b\tFROM  t ; ", "SELECT A, B FROM T", Hint{}},
		{"function call spacing kept", "SELECT COUNT (*), COUNT(*)", "SELECT COUNT (*), COUNT(*)", Hint{}},
		{"operators", "SELECT a<=>b,a:=1,a->>'$'", "SELECT A <=> B, A := ?, A ->> ?", Hint{}},
		{"variables", "SELECT @a, @@session.x, @`q v`, @'s'", "SELECT @A, @@SESSION.X, @`q v`, @'s'", Hint{}},
		{"placeholders", "SELECT ? FROM t WHERE a = ?", "SELECT ? FROM T WHERE A = ?", Hint{}},
		{"hex and bit literals", "SELECT X'0F', b'1', N'x'", "SELECT ?, ?, ?", Hint{}},
		{"unterminated comment marked", "SELECT 1 /* oops", "SELECT ? /*", Hint{}},
		{"hint master", "SELECT 1 -- maxproxy route to master", "SELECT ?", Hint{Target: HintMaster}},
		{"hint slave block", "/* maxproxy route to slave */ SELECT 1", "SELECT ?", Hint{Target: HintSlave}},
		{"hint server", "SELECT 1 # maxproxy route to server db-2", "SELECT ?", Hint{Target: HintServer, Server: "db-2"}},
		{"hint last, maxscale spelling", "SELECT 1 -- MaxScale Route To Last", "SELECT ?", Hint{Target: HintLast}},
		{"last hint wins", "/* maxproxy route to slave */ SELECT 1 -- maxproxy route to master", "SELECT ?", Hint{Target: HintMaster}},
		{"not a hint", "SELECT 1 -- maxproxy route to server", "SELECT ?", Hint{}},
		{"hint in string is not a hint", "SELECT '-- maxproxy route to master'", "SELECT ?", Hint{}},
		{"empty", "", "", Hint{}},
		{"only comment", "/* x */", "", Hint{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, hint := Canonicalize(nil, []byte(tt.sql))
			if string(got) != tt.want {
				t.Errorf("Canonicalize(%q)\n got %q\nwant %q", tt.sql, got, tt.want)
			}
			if hint != tt.hint {
				t.Errorf("hint = %+v, want %+v", hint, tt.hint)
			}
		})
	}
}

func TestCanonicalizeReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 256)
	sql := []byte("SELECT c FROM sbtest1 WHERE id = 42")
	allocs := testing.AllocsPerRun(100, func() {
		out, _ := Canonicalize(buf, sql)
		buf = out[:0]
	})
	if allocs != 0 {
		t.Errorf("Canonicalize allocates %.1f times per call with a large enough buffer", allocs)
	}
}

func TestClassifyHitDoesNotAllocate(t *testing.T) {
	c := New(1024)
	sql := []byte("SELECT c FROM sbtest1 WHERE id=42 -- maxproxy route to slave")
	c.Classify(sql) // miss: parse and cache
	allocs := testing.AllocsPerRun(200, func() { c.Classify(sql) })
	if allocs != 0 {
		t.Errorf("cache hit allocates %.1f times per call", allocs)
	}
	if st := c.Stats(); st.Hits < 200 || st.Misses != 1 || st.Entries != 1 {
		t.Errorf("stats %+v, want >=200 hits, 1 miss, 1 entry", st)
	}
}

func TestCacheCollisionIsAMiss(t *testing.T) {
	c := New(64)
	a, b := []byte("SELECT ?"), []byte("DELETE FROM T")
	h := Hash(a)
	c.cache.put(h, string(a), Class{Kind: KindRead})
	// b looked up under a's hash, as if the two collided: must not hit.
	if _, ok := c.cache.get(h, b); ok {
		t.Fatal("a different text with the same hash hit the cache")
	}
	if cl, ok := c.cache.get(h, a); !ok || cl.Kind != KindRead {
		t.Fatalf("get(a) = %v, %v", cl, ok)
	}
}

func TestCacheEvictsAndStaysBounded(t *testing.T) {
	c := New(1) // rounds up to one bucket per shard
	for i := 0; i < 1000; i++ {
		c.Classify([]byte("SELECT " + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + " FROM t"))
	}
	st := c.Stats()
	if st.Capacity != numShards*ways || st.Entries > st.Capacity {
		t.Errorf("cache holds %d entries, capacity %d, want capacity %d", st.Entries, st.Capacity, numShards*ways)
	}
	if st.Evictions == 0 {
		t.Errorf("no evictions after 1000 distinct statements: %+v", st)
	}
}

func TestClassifyConcurrent(t *testing.T) {
	c := New(128)
	stmts := [][]byte{
		[]byte("SELECT 1"), []byte("INSERT INTO t VALUES (1)"), []byte("BEGIN"),
		[]byte("SELECT * FROM t FOR UPDATE"), []byte("SET @a = 1"),
	}
	ref := New(0)
	want := make([]Class, len(stmts))
	for i, s := range stmts {
		want[i], _ = ref.Classify(s)
	}
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 500; i++ {
				k := i % len(stmts)
				if got, _ := c.Classify(stmts[k]); got != want[k] {
					done <- &mismatch{string(stmts[k])}
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

type mismatch struct{ sql string }

func (m *mismatch) Error() string { return "concurrent classification differs for " + m.sql }

func TestCacheSecondChance(t *testing.T) {
	c := newCache(1) // one bucket of four ways per shard
	// Texts forced into one bucket by sharing a hash.
	const h = 42
	texts := []string{"A", "B", "C", "D"}
	for i, txt := range texts {
		c.put(h, txt, Class{Kind: Kind(i + 1)})
	}
	// Hits give A, B and D their reference bit; C has none, so it is the
	// entry CLOCK evicts to make room for E.
	for _, txt := range []string{"A", "B", "D"} {
		if _, ok := c.get(h, []byte(txt)); !ok {
			t.Fatalf("%s not cached", txt)
		}
	}
	c.put(h, "E", Class{Kind: KindWrite})
	for _, txt := range []string{"A", "B", "D", "E"} {
		if _, ok := c.get(h, []byte(txt)); !ok {
			t.Errorf("%s was evicted; the unreferenced C should have been", txt)
		}
	}
	if _, ok := c.get(h, []byte("C")); ok {
		t.Error("C survived although it was the only entry never hit")
	}
	if st := c.stats(); st.Entries != 4 || st.Evictions != 1 {
		t.Errorf("stats %+v, want 4 entries and 1 eviction", st)
	}
}

func TestHostileStatementsFallBack(t *testing.T) {
	c := New(128)
	deep := []byte("SELECT " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000))
	if cl, _ := c.Classify(deep); !cl.Flags.Has(FlagFallback) || cl.Kind != KindRead {
		t.Errorf("deeply nested SELECT: %v, want a fallback read", cl)
	}
	big := []byte("INSERT INTO t VALUES ('" + strings.Repeat("x", MaxParseBytes) + "')")
	if cl, _ := c.Classify(big); !cl.Flags.Has(FlagFallback) || cl.Kind != KindWrite {
		t.Errorf("huge INSERT: %v, want a fallback write", cl)
	}
	// The huge statement's class is not cached: a normal-sized statement of
	// the same shape still gets the parser's answer.
	if cl, _ := c.Classify([]byte("INSERT INTO t VALUES ('x')")); cl.Flags.Has(FlagFallback) {
		t.Errorf("small INSERT after a huge one: %v, want the parsed class", cl)
	}
}
