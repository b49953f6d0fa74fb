package consensus

import (
	"fmt"
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

func TestDropSuperseded(t *testing.T) {
	app := func(to, term, commit uint64, ents int) *pb.Message {
		m := &pb.Message{Type: pb.MsgApp.Enum(), To: new(to), Term: new(term), Commit: new(commit)}
		for i := 0; i < ents; i++ {
			m.Entries = append(m.Entries, &pb.Entry{})
		}
		return m
	}
	resp := func(to, term, index uint64, reject bool) *pb.Message {
		return &pb.Message{Type: pb.MsgAppResp.Enum(), To: new(to), Term: new(term), Index: new(index), Reject: new(reject)}
	}
	hb := &pb.Message{Type: pb.MsgHeartbeat.Enum(), To: new(uint64(2)), Term: new(uint64(1))}
	a1, a2 := app(2, 1, 5, 0), app(2, 1, 6, 0)
	a3 := app(3, 1, 5, 0)
	e1, e2 := app(2, 1, 6, 1), app(2, 1, 7, 2)
	oldTerm := app(2, 1, 5, 0)
	newTerm := app(2, 2, 5, 0)
	r1, r2, r3 := resp(1, 1, 10, false), resp(1, 1, 12, false), resp(1, 1, 11, false)
	rej := resp(1, 1, 9, true)
	r4 := resp(1, 2, 8, false)
	for _, tc := range []struct {
		name string
		in   []*pb.Message
		want []*pb.Message
	}{
		{"commit broadcasts to one peer keep the last", []*pb.Message{a1, a2}, []*pb.Message{a2}},
		{"peers are separate", []*pb.Message{a1, a3}, []*pb.Message{a1, a3}},
		{"an append with entries supersedes an earlier broadcast", []*pb.Message{a1, hb, e1}, []*pb.Message{hb, e1}},
		{"appends with entries are never dropped", []*pb.Message{e1, e2, a2}, []*pb.Message{e1, e2, a2}},
		{"a later term does not supersede", []*pb.Message{oldTerm, newTerm}, []*pb.Message{oldTerm, newTerm}},
		{"acknowledgements keep the highest", []*pb.Message{r1, r2, r3}, []*pb.Message{r2, r3}},
		{"rejections are kept", []*pb.Message{rej, r1}, []*pb.Message{rej, r1}},
		{"acknowledgements of another term are kept", []*pb.Message{r1, r4}, []*pb.Message{r1, r4}},
		{"one message", []*pb.Message{a1}, []*pb.Message{a1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dropSuperseded(slices.Clone(tc.in))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %s, want %s", describe(got), describe(tc.want))
			}
		})
	}
}

func describe(msgs []*pb.Message) string {
	var s []string
	for _, m := range msgs {
		s = append(s, fmt.Sprintf("%s(to %d term %d idx %d commit %d ents %d)", m.GetType(), m.GetTo(), m.GetTerm(), m.GetIndex(), m.GetCommit(), len(m.GetEntries())))
	}
	return fmt.Sprint(s)
}
