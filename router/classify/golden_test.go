package classify

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files with the actual output")

// goldenCase is one statement of a testdata file.
type goldenCase struct {
	file string
	line int
	sql  string
}

// readGolden returns the statements of a golden file: each starts with
// "> " and may continue on lines starting with ">> " (joined with "\n").
// Other lines are comments (#), blank, or expected output.
func readGolden(t testing.TB, path string) []goldenCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []goldenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "> "):
			cases = append(cases, goldenCase{file: path, line: n, sql: line[2:]})
		case strings.HasPrefix(line, ">> ") && len(cases) > 0:
			cases[len(cases)-1].sql += "\n" + line[3:]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// render regenerates a golden file: comments and statements are copied,
// expected-output lines are replaced by what out returns for the statement.
func render(t testing.TB, path string, out func(sql string) string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if !strings.HasPrefix(line, "> ") {
			if line == "" || strings.HasPrefix(line, "#") {
				b.WriteString(line + "\n")
			}
			continue
		}
		sql := line[2:]
		b.WriteString(line + "\n")
		for i+1 < len(lines) && strings.HasPrefix(lines[i+1], ">> ") {
			i++
			sql += "\n" + lines[i][3:]
			b.WriteString(lines[i] + "\n")
		}
		b.WriteString(out(sql))
	}
	return b.String()
}

func describe(c *Classifier, sql string) string {
	canon, hint := Canonicalize(nil, []byte(sql))
	cl, _ := c.Classify([]byte(sql))
	s := fmt.Sprintf("canon: %s\n", canon)
	if hint.Target != HintNone {
		s += fmt.Sprintf("hint: %s %s\n", hint.Target, hint.Server)
		s = strings.TrimRight(s, " \n") + "\n"
	}
	return s + "class: " + cl.String() + "\n"
}

// checkGolden compares a regenerated golden file with the stored one. On
// mismatch the actual output is written next to the test's temp dir and
// the first differing line is reported; -update rewrites the file.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got == string(want) {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	actual := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(actual, []byte(got), 0o644); err != nil {
		t.Fatal(err)
	}
	wl, gl := strings.Split(string(want), "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			t.Fatalf("%s:%d differs (run with -update to accept; actual output in %s)\n want: %s\n  got: %s",
				path, i+1, actual, w, g)
		}
	}
}

func goldenFiles(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	return files
}

func TestGolden(t *testing.T) {
	c := New(0) // the golden output is the parser's; caching is checked below
	for _, path := range goldenFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			checkGolden(t, path, render(t, path, func(sql string) string { return describe(c, sql) }))
		})
	}
}

// TestCachedEqualsUncached runs the whole corpus twice through a cached
// classifier and compares every answer with a classifier that always
// parses. Statements that share a canonical text must share a class, or
// the cache would hand one statement another's route.
func TestCachedEqualsUncached(t *testing.T) {
	cached, fresh := New(1), New(0) // the smallest cache: evictions happen too
	var all []goldenCase
	for _, path := range goldenFiles(t) {
		all = append(all, readGolden(t, path)...)
	}
	if len(all) < 100 {
		t.Fatalf("corpus has only %d statements", len(all))
	}
	byCanon := map[string]goldenCase{}
	for round := 0; round < 2; round++ {
		for _, gc := range all {
			got, _ := cached.Classify([]byte(gc.sql))
			want, _ := fresh.Classify([]byte(gc.sql))
			if got != want {
				t.Errorf("%s:%d round %d: cached %v, parsed %v", gc.file, gc.line, round, got, want)
			}
			canon, _ := Canonicalize(nil, []byte(gc.sql))
			if prev, ok := byCanon[string(canon)]; ok {
				if p, _ := fresh.Classify([]byte(prev.sql)); p != want {
					t.Errorf("%s:%d and %s:%d share canonical %q but classify as %v and %v",
						prev.file, prev.line, gc.file, gc.line, canon, p, want)
				}
			}
			byCanon[string(canon)] = gc
		}
	}
	st := cached.Stats()
	if st.Hits == 0 || st.Misses == 0 || st.Evictions == 0 {
		t.Errorf("stats %+v: want hits, misses and evictions", st)
	}
}
