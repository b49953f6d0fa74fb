package session

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func TestParseKill(t *testing.T) {
	for _, tc := range []struct {
		sql   string
		id    uint64
		query bool
		ok    bool
	}{
		{"KILL 12", 12, false, true},
		{"kill connection 7;", 7, false, true},
		{"KILL QUERY 9", 9, true, true},
		{"KILL HARD QUERY 9 ;  ", 9, true, true},
		{"KILL SOFT CONNECTION 3", 3, false, true},
		{"\n\tKill\t42\n", 42, false, true},
		{"KILL 4294967296", 4294967296, false, true}, // parsed; too large for a proxy id, refused later
		{"KILL QUERY ID 5", 0, false, false},         // a query id, not a connection id
		{"KILL USER app", 0, false, false},
		{"KILL CONNECTION_ID()", 0, false, false},
		{"KILL 1; KILL 2", 0, false, false},
		{"KILL", 0, false, false},
		{"KILL -1", 0, false, false},
		{"SELECT 1", 0, false, false},
	} {
		id, query, ok := parseKill([]byte(tc.sql))
		if id != tc.id || query != tc.query || ok != tc.ok {
			t.Errorf("parseKill(%q) = %d, %v, %v; want %d, %v, %v", tc.sql, id, query, ok, tc.id, tc.query, tc.ok)
		}
	}
}

func TestHistory(t *testing.T) {
	set := func(s string) []byte { return append([]byte{0x03}, s...) }
	names := func(h *history) string {
		var parts []string
		for _, c := range h.cmds {
			parts = append(parts, string(c[1:]))
		}
		return strings.Join(parts, ",")
	}
	t.Run("prune collapses repeats and drops the oldest", func(t *testing.T) {
		h := history{max: 3, prune: true}
		for _, s := range []string{"a", "b", "a", "c", "d"} {
			h.add(set(s))
		}
		if got := names(&h); got != "a,c,d" {
			t.Errorf("history = %s, want a,c,d (b dropped as oldest after a moved to the end)", got)
		}
		if !h.replayable() {
			t.Error("pruned history must stay replayable")
		}
	})
	t.Run("without prune a full history is abandoned", func(t *testing.T) {
		h := history{max: 2}
		for _, s := range []string{"a", "a", "b"} {
			h.add(set(s))
		}
		if h.replayable() || len(h.cmds) != 0 {
			t.Errorf("history %q replayable=%v; want abandoned", names(&h), h.replayable())
		}
		h.reset()
		h.add(set("x"))
		if !h.replayable() || names(&h) != "x" {
			t.Errorf("after reset: %q replayable=%v", names(&h), h.replayable())
		}
	})
	t.Run("disabled records nothing", func(t *testing.T) {
		h := history{max: 5, prune: true, disabled: true}
		h.add(set("a"))
		if len(h.cmds) != 0 || !h.replayable() {
			t.Errorf("disabled history recorded %q", names(&h))
		}
	})
	t.Run("commands are copied", func(t *testing.T) {
		h := history{max: 5}
		buf := set("a")
		h.add(buf)
		buf[1] = 'z'
		if names(&h) != "a" {
			t.Errorf("history aliases the caller's buffer: %q", names(&h))
		}
	})
}

// execute builds a COM_STMT_EXECUTE payload for two parameters.
func execute(id uint32, bound bool, types, values []byte) []byte {
	p := []byte{0x17}
	p = binary.LittleEndian.AppendUint32(p, id)
	p = append(p, 0)          // flags
	p = append(p, 1, 0, 0, 0) // iteration count
	p = append(p, 0)          // NULL bitmap for 2 params
	if bound {
		p = append(p, 1)
		p = append(p, types...)
	} else {
		p = append(p, 0)
	}
	return append(p, values...)
}

func TestRewriteExecute(t *testing.T) {
	s := &Session{}
	st := &stmt{params: 2}
	a := &stmtOn{id: 100}
	b := &stmtOn{id: 200}
	types := []byte{0x03, 0x00, 0xfe, 0x00} // LONG, STRING
	values := []byte{1, 0, 0, 0, 1, 'x'}

	// First EXECUTE carries the types: recorded, sent as is to a.
	got := s.rewriteExecute(execute(1, true, types, values), st, a)
	if want := execute(100, true, types, values); !bytes.Equal(got, want) {
		t.Fatalf("first execute = %x, want %x", got, want)
	}
	// Later EXECUTEs without types: a already has them.
	if got, want := s.rewriteExecute(execute(1, false, nil, values), st, a), execute(100, false, nil, values); !bytes.Equal(got, want) {
		t.Errorf("a: %x, want %x", got, want)
	}
	// b never saw them: they are injected once.
	if got, want := s.rewriteExecute(execute(1, false, nil, values), st, b), execute(200, true, types, values); !bytes.Equal(got, want) {
		t.Errorf("b first: %x, want %x", got, want)
	}
	if got, want := s.rewriteExecute(execute(1, false, nil, values), st, b), execute(200, false, nil, values); !bytes.Equal(got, want) {
		t.Errorf("b second: %x, want %x", got, want)
	}
	// New types sent to b: a gets them injected on its next EXECUTE.
	types2 := []byte{0x08, 0x00, 0xfe, 0x00}
	s.rewriteExecute(execute(1, true, types2, values), st, b)
	if got, want := s.rewriteExecute(execute(1, false, nil, values), st, a), execute(100, true, types2, values); !bytes.Equal(got, want) {
		t.Errorf("a after rebind: %x, want %x", got, want)
	}
	// A truncated packet is passed on for the server to refuse.
	short := []byte{0x17, 1, 0, 0, 0, 0}
	if got := s.rewriteExecute(short, st, a); len(got) != len(short) {
		t.Errorf("truncated packet changed length: %x", got)
	}
}

type recorder struct {
	discard
	packets [][]byte
}

func (r *recorder) WritePacket(p []byte) error {
	r.packets = append(r.packets, append([]byte(nil), p...))
	return nil
}

func TestIDRewriter(t *testing.T) {
	var r recorder
	var buf []byte
	w := &idRewriter{Client: &r, id: 7, buf: &buf}
	ok := []byte{0x00, 0x2a, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0}
	orig := append([]byte(nil), ok...)
	col := []byte{0x03, 'd', 'e', 'f'}
	_ = w.WritePacket(ok)
	_ = w.WritePacket(col)
	if !bytes.Equal(ok, orig) {
		t.Error("the backend's packet was modified in place (the reply tracker reads it afterwards)")
	}
	if got := binary.LittleEndian.Uint32(r.packets[0][1:]); got != 7 {
		t.Errorf("client saw statement id %d, want 7", got)
	}
	if !bytes.Equal(r.packets[1], col) {
		t.Errorf("later packets changed: %x", r.packets[1])
	}
	// An ERR reply passes untouched.
	r.packets = nil
	w = &idRewriter{Client: &r, id: 7, buf: &buf}
	errp := []byte{0xff, 0x28, 0x04, '#', '4', '2', '0', '0', '0', 'x'}
	_ = w.WritePacket(errp)
	if !bytes.Equal(r.packets[0], errp) {
		t.Errorf("ERR rewritten: %x", r.packets[0])
	}
}
