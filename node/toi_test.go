package node

import (
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// catalogAndData renders every table of database d — SHOW CREATE TABLE and all rows — so that two nodes
// can be compared.
func catalogAndData(db *sql.DB) (string, error) {
	rows, err := db.Query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'd' ORDER BY table_name")
	if err != nil {
		return "", err
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return "", err
		}
		tables = append(tables, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, tbl := range tables {
		var name, ddl string
		if err := db.QueryRow("SHOW CREATE TABLE d."+tbl).Scan(&name, &ddl); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s\n", ddl)
		rows, err := db.Query("SELECT * FROM d." + tbl + " ORDER BY 1")
		if err != nil {
			return "", err
		}
		cols, _ := rows.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", err
			}
			fmt.Fprintf(&b, "  %v\n", vals)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// TestClusterTOIConcurrentDDL runs DDL on every node of a 3-node cluster at once: each statement is
// executed at its place in the total order on every node, so the nodes end with identical catalogs and
// data, a CREATE TABLE that lost a race fails with 1050 on its origin only, and tables created
// concurrently on different nodes never share storage.
func TestClusterTOIConcurrentDDL(t *testing.T) {
	nodes := startCluster(t, 3)
	dbs := make([]*sql.DB, len(nodes))
	for i, n := range nodes {
		dbs[i] = openDB(t, n, "root", "", "", "")
	}
	mustExec(t, dbs[0], "CREATE DATABASE d")
	// Other nodes run it at the same position, asynchronously (as Galera applies remote write-sets).
	for _, db := range dbs {
		waitFor(t, func() bool { _, err := db.Exec("USE d"); return err == nil })
	}

	// Round 1: every node creates its own table and all race for the same name.
	var wg sync.WaitGroup
	ownErrs := make([]error, len(dbs))
	sameErrs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Go(func() {
			// The origin executes DDL at its position before returning.
			_, ownErrs[i] = db.Exec(fmt.Sprintf("CREATE TABLE d.t%d (id INT PRIMARY KEY, v INT)", i))
			_, sameErrs[i] = db.Exec("CREATE TABLE d.same (id INT PRIMARY KEY, v VARCHAR(10))")
		})
	}
	wg.Wait()
	for i, err := range ownErrs {
		if err != nil {
			t.Fatalf("node %d: CREATE TABLE d.t%d: %v", i+1, i, err)
		}
	}
	won := 0
	for i, err := range sameErrs {
		switch {
		case err == nil:
			won++
		case mysqlCode(err) != 1050:
			t.Errorf("node %d: CREATE TABLE d.same: %v, want success or 1050", i+1, err)
		}
	}
	if won != 1 {
		t.Errorf("%d nodes created d.same, want exactly one (errors %v)", won, sameErrs)
	}

	// Round 2: concurrent ALTERs on different nodes, and rows written on every node into every table.
	alters := []string{
		"ALTER TABLE d.t1 ADD COLUMN c INT",
		"CREATE INDEX ix ON d.t0 (v)",
		"ALTER TABLE d.same ADD COLUMN w INT",
	}
	// Each node must know every table before altering or writing it.
	for _, db := range dbs {
		waitFor(t, func() bool {
			var n int
			return db.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'd'").Scan(&n) == nil && n == 4
		})
	}
	alterErrs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Go(func() { _, alterErrs[i] = db.Exec(alters[i]) })
	}
	wg.Wait()
	for i, err := range alterErrs {
		if err != nil {
			t.Fatalf("node %d: %s: %v", i+1, alters[i], err)
		}
	}
	for _, db := range dbs {
		waitFor(t, func() bool {
			var n int
			return db.QueryRow("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = 'd' AND column_name IN ('c', 'w')").Scan(&n) == nil && n == 2
		})
	}
	for i, db := range dbs {
		for j := range dbs {
			mustExec(t, db, fmt.Sprintf("INSERT INTO d.t%d (id, v) VALUES (?, ?)", j), i, 10*i+j)
		}
		mustExec(t, db, "INSERT INTO d.same (id, v) VALUES (?, ?)", i, fmt.Sprintf("n%d", i))
	}

	want, err := catalogAndData(dbs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range dbs[1:] {
		waitFor(t, func() bool { got, err := catalogAndData(db); return err == nil && got == want })
	}
	for j := range dbs {
		// Each table holds exactly its own rows: no two tables share a storage space.
		var n int
		if err := dbs[0].QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM d.t%d WHERE v %% 10 = %d", j, j)).Scan(&n); err != nil || n != 3 {
			t.Errorf("d.t%d holds %d of its 3 rows (%v):\n%s", j, n, err, want)
		}
	}
	if !strings.Contains(want, "KEY `ix` (`v`)") || !strings.Contains(want, "`c` int") || !strings.Contains(want, "`w` int") {
		t.Errorf("ALTERs missing from the catalog:\n%s", want)
	}
	// The index built by TOI serves lookups on every node, including rows written after it.
	for i, db := range dbs {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM d.t0 WHERE v = 20").Scan(&n); err != nil || n != 1 {
			t.Errorf("node %d: indexed lookup found %d rows (%v)", i+1, n, err)
		}
	}
}

// TestClusterTOIAbortsConflictingTransaction: an open transaction that wrote a table loses to DDL on that
// table ordered from another node (Galera BF-aborts it): its next statement answers 1213 and nothing it
// wrote survives, on any node.
func TestClusterTOIAbortsConflictingTransaction(t *testing.T) {
	nodes := startCluster(t, 3)
	db0 := openDB(t, nodes[0], "root", "", "", "")
	db1 := openDB(t, nodes[1], "root", "", "", "")
	mustExec(t, db0, "CREATE DATABASE d")
	mustExec(t, db0, "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))")
	mustExec(t, db0, "INSERT INTO d.t VALUES (1, 'a')")

	conn, err := db0.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExec(t, holder2(conn), "BEGIN")
	mustExec(t, holder2(conn), "UPDATE d.t SET v = 'victim' WHERE id = 1")

	waitFor(t, func() bool { got, err := tableContents(db1); return err == nil && got == "1=a;" })
	mustExec(t, db1, "ALTER TABLE d.t ADD COLUMN c INT")
	// The ALTER has run on node 1; node 0 runs it at the same position, aborting the transaction.
	waitFor(t, func() bool {
		var n int
		return db0.QueryRow("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema='d' AND table_name='t' AND column_name='c'").Scan(&n) == nil && n == 1
	})
	// BF-aborted, not merely doomed at certification: the victim's very next statement fails.
	_, err = conn.ExecContext(t.Context(), "UPDATE d.t SET v = 'again' WHERE id = 1")
	if code := mysqlCode(err); code != 1213 {
		t.Fatalf("next statement of the BF-aborted transaction: %v, want 1213", err)
	}
	mustExec(t, holder2(conn), "ROLLBACK")
	for _, db := range []*sql.DB{db0, db1} {
		if got, err := tableContents(db); err != nil || got != "1=a;" {
			t.Errorf("table %q (%v), want the victim's update gone", got, err)
		}
	}
}
