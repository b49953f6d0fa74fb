package consensus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/maxproxy/maxproxy/node/consensus"
	"github.com/maxproxy/maxproxy/node/consensus/simnet"
)

type printFSM struct{}

func (printFSM) Apply(index uint64, data []byte) any {
	fmt.Printf("apply %q at index %d\n", data, index)
	return len(data)
}

// A one-voter cluster on the simulated network: start, wire the transport's inbound side, propose.
func Example() {
	dir, err := os.MkdirTemp("", "consensus-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	net := simnet.New(1)
	defer net.Close()
	ep := net.Endpoint(1)
	n, err := consensus.Start(consensus.Config{
		ID: 1, DataDir: dir, Peers: []uint64{1}, TickInterval: 10 * time.Millisecond,
		Transport: ep, FSM: printFSM{},
	})
	if err != nil {
		panic(err)
	}
	defer n.Close()
	ep.Handle(n.Step)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		res, err := n.Propose(ctx, []byte("hello"))
		if errors.Is(err, consensus.ErrNotCommitted) {
			// No leader yet (the first election takes an election timeout): known not committed, retry.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			panic(err)
		}
		fmt.Printf("committed at index %d, FSM returned %v\n", res.Index, res.Value)
		break
	}
	// Output:
	// apply "hello" at index 3
	// committed at index 3, FSM returned 5
}
