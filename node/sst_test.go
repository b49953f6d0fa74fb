package node

import (
	"context"
	"io"
	"testing"

	"github.com/maxproxy/maxproxy/node/consensus"
)

// gatedWriter holds the first write until released, so a test can look at a donor mid-transfer.
type gatedWriter struct {
	w       io.Writer
	started chan struct{}
	release chan struct{}
	first   bool
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	if !g.first {
		g.first = true
		close(g.started)
		<-g.release
	}
	return g.w.Write(p)
}

// donate runs a state transfer from n to a discarding joiner, held at its first write until the returned
// release function is called; release waits for the transfer to end.
func donate(t *testing.T, n *Node) (release func()) {
	t.Helper()
	pr, pw := io.Pipe()
	gw := &gatedWriter{w: pw, started: make(chan struct{}), release: make(chan struct{})}
	served := make(chan error, 1)
	go func() {
		err := n.repl.ServeStateTransfer(context.Background(), gw, consensus.StateTransferRequest{Joiner: 9})
		_ = pw.CloseWithError(err)
		served <- err
	}()
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, pr)
		read <- err
	}()
	<-gw.started
	return func() {
		close(gw.release)
		if err := <-served; err != nil {
			t.Errorf("donation: %v", err)
		}
		if err := <-read; err != nil {
			t.Errorf("reading the donation: %v", err)
		}
	}
}

// wsrep_sst_donor_rejects_queries: a donor with it ON answers client statements with 1047 while it
// streams a state transfer (so proxies route elsewhere), and serves again afterwards; with it OFF a donor
// keeps serving. Both variables are dynamic, and wsrep_sst_donor is validated.
func TestDonorRejectsQueries(t *testing.T) {
	nodes := startCluster(t, 2)
	db := openDB(t, nodes[1], "root", "", "", "")
	mustExec(t, db, "CREATE DATABASE d")
	mustExec(t, db, "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))")
	mustExec(t, db, "INSERT INTO d.t VALUES (1, 'a')")

	release := donate(t, nodes[1])
	if st := wsrepStatus(t, db); st["wsrep_local_state_comment"] != "Donor/Desynced" || st["wsrep_local_state"] != "2" {
		t.Errorf("donor's state %q (%s), want Donor/Desynced (2)", st["wsrep_local_state_comment"], st["wsrep_local_state"])
	}
	if got, err := tableContents(db); err != nil || got != "1=a;" {
		t.Fatalf("donor with wsrep_sst_donor_rejects_queries=OFF: %q, %v", got, err)
	}
	release()

	mustExec(t, db, "SET GLOBAL wsrep_sst_donor_rejects_queries = ON")
	var name, value string
	if err := db.QueryRow("SHOW GLOBAL VARIABLES LIKE 'wsrep_sst_donor_rejects_queries'").Scan(&name, &value); err != nil || value != "ON" {
		t.Fatalf("wsrep_sst_donor_rejects_queries reads %q, %v", value, err)
	}
	if got, err := tableContents(db); err != nil || got != "1=a;" {
		t.Fatalf("not donating, rejects_queries=ON: %q, %v", got, err)
	}
	release = donate(t, nodes[1])
	if _, err := tableContents(db); mysqlCode(err) != 1047 {
		t.Errorf("SELECT on a donor with wsrep_sst_donor_rejects_queries=ON: %v, want 1047", err)
	}
	if _, err := db.Exec("INSERT INTO d.t VALUES (2, 'b')"); mysqlCode(err) != 1047 {
		t.Errorf("INSERT on a donor with wsrep_sst_donor_rejects_queries=ON: %v, want 1047", err)
	}
	release()
	if got, err := tableContents(db); err != nil || got != "1=a;" {
		t.Fatalf("after the donation: %q, %v", got, err)
	}

	if _, err := db.Exec("SET GLOBAL wsrep_sst_donor = 'node1,,node3'"); err == nil {
		t.Fatal("SET GLOBAL wsrep_sst_donor accepted an empty node name")
	}
	mustExec(t, db, "SET GLOBAL wsrep_sst_donor = 'node1,'")
	if err := db.QueryRow("SHOW GLOBAL VARIABLES LIKE 'wsrep_sst_donor'").Scan(&name, &value); err != nil || value != "node1," {
		t.Fatalf("wsrep_sst_donor reads %q, %v", value, err)
	}
}
