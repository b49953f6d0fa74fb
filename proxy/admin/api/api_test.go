package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestPathEscapesIDs(t *testing.T) {
	cases := map[string]string{
		Path(TypeServers):              "/v1/servers",
		Path(TypeServers, "db1"):       "/v1/servers/db1",
		Path(TypeServers, "a b/c?d"):   "/v1/servers/a%20b%2Fc%3Fd",
		Path(TypeSessions, "7", "..."): "/v1/sessions/7/...",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestStatusAndSentinelAreInverse(t *testing.T) {
	for _, e := range []error{ErrNotFound, ErrInvalid, ErrConflict, ErrUnauthorized} {
		wrapped := fmt.Errorf("%w: server %q", e, "db1")
		if got := SentinelOf(StatusOf(wrapped)); got != e {
			t.Errorf("SentinelOf(StatusOf(%v)) = %v", wrapped, got)
		}
	}
	if StatusOf(errors.New("disk on fire")) != 500 || SentinelOf(500) != nil {
		t.Error("an unknown error must be a 500 without a sentinel")
	}
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(struct{ D Duration }{Duration(1500 * time.Millisecond)})
	if err != nil || string(b) != `{"D":"1.5s"}` {
		t.Fatalf("marshal: %s, %v", b, err)
	}
	var v struct{ D Duration }
	if err := json.Unmarshal(b, &v); err != nil || v.D != Duration(1500*time.Millisecond) {
		t.Errorf("unmarshal: %v, %v", v.D, err)
	}
	if err := json.Unmarshal([]byte(`{"D":"soon"}`), &v); err == nil {
		t.Error("a bad duration was accepted")
	}
}
