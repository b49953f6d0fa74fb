package session

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/maxproxy/maxproxy/proxy/protocol"
)

// parseKill reads `KILL [HARD|SOFT] [CONNECTION|QUERY [ID]] <number>` and
// reports the id and whether only the query is to be killed. Other forms
// (KILL USER, an expression) are not the proxy's to answer: ok is false.
func parseKill(sql []byte) (id uint64, query bool, ok bool) {
	toks := killTokens(sql)
	if len(toks) < 2 || !eqFold(toks[0], "kill") {
		return 0, false, false
	}
	toks = toks[1:]
	if eqFold(toks[0], "hard") || eqFold(toks[0], "soft") {
		toks = toks[1:]
	}
	if len(toks) > 0 && eqFold(toks[0], "connection") {
		toks = toks[1:]
	} else if len(toks) > 0 && eqFold(toks[0], "query") {
		query = true
		toks = toks[1:]
		if len(toks) > 0 && eqFold(toks[0], "id") {
			// KILL QUERY ID n names a query id, which the proxy does not
			// map; let the writer answer it.
			return 0, false, false
		}
	}
	if len(toks) != 1 {
		return 0, false, false
	}
	n, err := strconv.ParseUint(toks[0], 10, 64)
	if err != nil {
		return 0, false, false
	}
	return n, query, true
}

// killTokens splits on whitespace and drops a trailing semicolon; comments
// are not expected in a KILL and make it unparsable (ok=false above).
func killTokens(sql []byte) []string {
	var toks []string
	start := -1
	for i := 0; i <= len(sql); i++ {
		end := i == len(sql) || sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r' || sql[i] == ';'
		if end {
			if start >= 0 {
				toks = append(toks, string(sql[start:i]))
				start = -1
			}
			if i < len(sql) && sql[i] == ';' {
				if rest := killTokens(sql[i+1:]); len(rest) > 0 {
					return nil // several statements
				}
				break
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return toks
}

func eqFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// kill handles KILL [QUERY] id where id is a proxy connection id: the
// statement is run as `KILL [QUERY] thread` on each server where the
// target session has a connection, through this session's own connections
// (so the backend applies MariaDB's privilege rules); KILL CONNECTION then
// ends the target session. A target without backend connections may be
// killed by its own user only.
func (s *Session) kill(id uint64, query bool) error {
	if id > math.MaxUint32 {
		return s.writeErr(errNoSuchThread(id))
	}
	t := s.svc.reg.lookup(uint32(id))
	if t == nil {
		return s.writeErr(errNoSuchThread(id))
	}
	if t == s {
		if query {
			return s.writeOK()
		}
		_ = s.writeErr(protocol.ErrConnectionKilled())
		return errQuit
	}
	t.mu.Lock()
	threads := append([]threadRef(nil), t.threads...)
	owner := t.user
	t.mu.Unlock()
	if len(threads) == 0 && owner != s.info.User {
		return s.writeErr(errKillDenied(id))
	}
	verb := "KILL "
	if query {
		verb = "KILL QUERY "
	}
	for _, th := range threads {
		c, err := s.open(th.srv)
		if err != nil {
			return s.writeErr(err)
		}
		_, err = c.bc.Exec(s.ctx, verb+strconv.FormatUint(uint64(th.id), 10))
		var pe *protocol.Error
		switch {
		case err == nil:
		case errors.As(err, &pe) && pe.Code == erNoSuchThread:
			// The connection ended meanwhile.
		case errors.As(err, &pe):
			return s.writeErr(pe)
		default:
			s.drop(c, err)
			return s.writeErr(errNoServer(s.svc.cfg.Name, "connection to server "+th.srv.Name, fmt.Sprintf("KILL failed: %v", err)))
		}
	}
	if !query {
		t.abort()
	}
	return s.writeOK()
}
