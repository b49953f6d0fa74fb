package classify

import (
	"testing"
)

// plainRead reports whether c may run on any reader: the only classes the
// fallback is allowed to produce when it is unsure are the others.
func plainRead(c Class) bool {
	const needsMaster = FlagForUpdate | FlagLastInsertID | FlagGetLock | FlagSequence |
		FlagUnknownFunc | FlagUserVarWrite | FlagIntoOutfile | FlagMultiStmt | FlagMasterOnly | FlagPrevious
	return (c.Kind == KindRead || c.Kind == KindShow) && c.Flags&needsMaster == 0
}

// TestFallbackIsConservative uses the parser as the oracle for the token
// fallback: over the corpus, whenever the parser finds a reason to keep a
// statement off the readers, the fallback (given the same canonical text)
// must find one too.
func TestFallbackIsConservative(t *testing.T) {
	fresh := New(0)
	checked := 0
	for _, path := range goldenFiles(t) {
		for _, gc := range readGolden(t, path) {
			parsed, _ := fresh.Classify([]byte(gc.sql))
			if parsed.Flags.Has(FlagFallback) {
				continue
			}
			canon, _ := Canonicalize(nil, []byte(gc.sql))
			fb := fallback(canon)
			checked++
			if !plainRead(parsed) && plainRead(fb) {
				t.Errorf("%s:%d %q: parser says %v, fallback would send it to a reader as %v",
					gc.file, gc.line, gc.sql, parsed, fb)
			}
			// Transaction and session effects must be seen by both.
			if parsed.Kind == KindBegin || parsed.Kind == KindCommit || parsed.Kind == KindRollback {
				if fb.Kind != parsed.Kind || fb.Flags.Has(FlagReadOnly) != parsed.Flags.Has(FlagReadOnly) {
					t.Errorf("%s:%d %q: parser says %v, fallback %v", gc.file, gc.line, gc.sql, parsed, fb)
				}
			}
			if parsed.Flags.Has(FlagTempCreate) && (!fb.Flags.Has(FlagTempCreate) || fb.Name != parsed.Name) {
				t.Errorf("%s:%d %q: parser says %v, fallback %v", gc.file, gc.line, gc.sql, parsed, fb)
			}
		}
	}
	if checked < 200 {
		t.Errorf("only %d parsed statements checked", checked)
	}
}
