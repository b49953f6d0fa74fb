// Package sql is maxnode's SQL engine: it executes TiDB parser ASTs over node/storage.
//
// An Engine is process-wide (catalog, accounts, global variables, status counters, metadata locks); a
// Session is one client connection (default database, transaction, session variables, warnings).
// Session.Execute runs one parsed statement and returns a materialised Result, or an *Error carrying the
// MySQL code, SQLSTATE and message the client must see. Sub-packages: types (values, decimals, dates,
// conversions, collations), codec (memcomparable keys, row images), catalog (definitions in space 0).
//
// # Storage layout
//
// Each table owns a storage space keyed by the memcomparable primary key (a hidden 8-byte row id when the
// table has none); rows are self-describing images keyed by column id, so ADD/DROP COLUMN keep old rows
// readable. Each secondary index owns a space: unique entries without NULLs are keyed by the index values
// alone (a duplicate collides), other entries append the row key; the value is always the row key.
// Strings are keyed by utf8mb4_general_ci weights (case- and accent-insensitive, PAD SPACE), so key order
// is SQL order. Definitions and accounts are JSON rows in space 0 written through ordinary transactions, so
// they replicate with the data; a replicated change to space 0 must be followed by Engine.InvalidateCatalog.
//
// # Transactions
//
//   - Autocommit statements run in their own storage transaction; BEGIN / START TRANSACTION [READ ONLY]
//     and autocommit=0 open a session transaction that reads one snapshot, taken (as InnoDB) by its first
//     statement.
//   - UPDATE, DELETE, INSERT's duplicate checks and SELECT ... FOR UPDATE / LOCK IN SHARE MODE are locking
//     current reads, as InnoDB. Lock waits end after innodb_lock_wait_timeout with 1205 (the statement is
//     rolled back, the transaction stays open); deadlocks and certification failures answer 1213 and roll
//     back the whole transaction.
//   - A failing statement inside a transaction undoes its own writes (statement atomicity, via an undo
//     list of the previous images it wrote).
//   - DDL commits the open transaction first (implicit commit) and takes exclusive metadata locks on the
//     tables it changes; a transaction that wrote a table holds a shared metadata lock on it until it ends
//     (waits honour lock_wait_timeout → 1205).
//
// # Planner
//
// Single-table access picks the index with the longest equality prefix (=, <=>, IN lists, IS NULL) plus a
// range (<, <=, >, >=, BETWEEN, or an OR of such ranges on one column) on the next column; unique indexes
// fully bound become point lookups. A search value is used only when it converts to the column type
// exactly (MySQL compares a string column with a number as DOUBLE, so such predicates fall back to a
// filtered scan). The whole WHERE clause is re-checked on every row read, so a plan only has to return a
// superset. Joins are nested loops in FROM order; an inner table is read through its index when the join
// condition binds its key to outer columns. ORDER BY ... LIMIT is satisfied by index order (forward or
// reverse) when it matches the chosen index, otherwise rows are sorted. A SELECT decodes only the stored
// columns it names (colneed.go); DISTINCT and GROUP BY key rows by equality-only keys (resultrows.go).
//
// # Supported and not
//
// DDL, DML, SELECT (inner/LEFT/RIGHT joins with ON or USING, aggregates, GROUP BY/HAVING, DISTINCT,
// ORDER BY, LIMIT), subqueries (scalar, IN, EXISTS; correlated one level deep), derived tables,
// UNION [ALL], multi-table UPDATE/DELETE, SET/SHOW, information_schema (SCHEMATA,
// TABLES, COLUMNS, STATISTICS, KEY_COLUMN_USAGE, TABLE_CONSTRAINTS, PROCESSLIST, *_STATUS, *_VARIABLES,
// ENGINES, CHARACTER_SETS, COLLATIONS, PARTITIONS, and empty FILES/ROUTINES/VIEWS/TRIGGERS/
// REFERENTIAL_CONSTRAINTS),
// mysql.user / mysql.db, accounts and global/database grants. Everything else answers 1235 naming the
// construct, among them: ANY/ALL subqueries, subqueries correlated two levels out, NATURAL joins, window
// functions, INTERSECT/EXCEPT, WITH, TIME/ENUM/SET/JSON/BIT columns, temporary tables, views, foreign
// keys, CHECK constraints, MODIFY/CHANGE COLUMN, ADD/DROP PRIMARY KEY, table- and column-level grants,
// SQL-level PREPARE, EXPLAIN, GET_LOCK and friends. SAVEPOINT / ROLLBACK TO / RELEASE work as InnoDB's
// (savepoint.go).
//
// LOCK TABLES ... READ/WRITE and UNLOCK TABLES follow MariaDB for what dump and restore need
// (locktables.go: other sessions wait, 1099/1100/1192 for the holder); locks are per table name, not
// per alias. TIME values exist as expression results (TIME(), TIMEDIFF(), ...), not as column types.
//
// Known differences from MariaDB 10.11: every connection uses utf8mb4 (SET NAMES is accepted and reported,
// strings are not transcoded); the isolation level is always snapshot (REPEATABLE READ reads, no gap
// locks, so locking range reads do not block phantoms); AUTO_INCREMENT values are reserved in durable
// blocks, so a restart may skip ahead; a non-unique key on a long string is silently prefix-limited to
// 3072 bytes (with a note, as MariaDB) while a long unique key (and UNIQUE on a TEXT/BLOB without a
// length, which MariaDB implements as a hash) answers 1071/1170; SELECT * over JOIN ... USING lists columns
// in table order instead of moving the USING columns first; TIMESTAMP values are stored as given and not
// converted between time zones; 1690 messages render the expression in normalised form.
//
// # Wiring (node/server)
//
// The server authenticates with Engine.Accounts().Lookup (AuthString is MariaDB's "*"+hex native hash),
// creates a Session per connection (NewSession, then SetClientFoundRows from the capability flags), runs
// Session.Execute per parsed statement (Session.Prepare for COM_STMT_PREPARE; markers are numbered by
// position; executing the same prepared AST again reuses its compiled SELECT, UPDATE or DELETE plan, see
// plancache.go and dmlcache.go), renders values with Column.AppendText, converts *Error into ERR packets, sends
// Result.Status / Session.StatusFlags, cancels the statement context for KILL QUERY and closes the
// connection when Session.Killed fires. Failed logins call Engine.AbortedConnect.
//
// # Tests
//
// testdata/*.slt is a logic-test corpus (format documented in logic_test.go) that TestLogic replays on
// the engine, and that integration/node_diff_test.go (TestNodeDifferential, part of make test) replays on
// bin/maxnode and a real MariaDB side by side; *.maxnode.slt files hold maxnode-specific answers (1235)
// and are not replayed against MariaDB.
package sql
